import { registry } from "@web/core/registry";

// Migrating a Python automation in the real UI (issue 14 §2): convert the
// server action, activate the draft, switch the rule to it, roll back.
// tests/test_ui_migration.py prepares the rule and checks the database.
registry.category("web_tour.tours").add("iota_scripts_migration_tour", {
    steps: () => [
        {
            content: "Convert the Python action",
            trigger: ".o_form_view button[name=action_iota_convert_to_script]",
            run: "click",
        },
        {
            content: "The draft script opens, converted from the action",
            trigger: ".o_form_view .o_field_widget[name=migration_state]:contains('Converted')",
        },
        {
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run() {
                const name = document.querySelector(
                    ".o_form_view .o_field_widget[name=name] input"
                ).value;
                if (name !== "Python on save (JavaScript)") {
                    throw new Error(`draft named "${name}"`);
                }
            },
        },
        {
            content: "Activate it",
            trigger: ".o_form_view .o_form_statusbar button[name=action_activate]",
            run: "click",
        },
        {
            content: "Switch the rule to the script",
            trigger: ".o_form_view .o_form_statusbar button[name=action_iota_switch_from_python]",
            run: "click",
        },
        {
            content: "Switched: Roll back is offered",
            trigger:
                ".o_form_view:has(.o_field_widget[name=migration_state]:contains('Switched')) .o_form_statusbar button[name=action_iota_rollback_to_python]",
            run: "click",
        },
        {
            content: "Rolled back: Switch is offered again",
            trigger:
                ".o_form_view:has(.o_field_widget[name=migration_state]:contains('Rolled back')) .o_form_statusbar button[name=action_iota_switch_from_python]",
        },
    ],
});
