import { registry } from "@web/core/registry";

// Migrating a Python automation in the real UI (issue 14 §2), in two tours
// around three record saves made by tests/test_ui_migration.py:
// 1. convert the server action and start shadow mode;
// 2. (after the saves) read the comparison, activate the draft, switch the
//    rule to it, roll back.

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
            content: "Three shadow runs are offered by default",
            trigger: ".o_form_view .o_field_widget[name=shadow_runs_wanted] input",
            run() {
                const value = this.anchor.value;
                if (value !== "3") {
                    throw new Error(`shadow runs: "${value}"`);
                }
            },
        },
        {
            content: "Shadow the Python action",
            trigger: ".o_form_view .o_form_statusbar button[name=action_iota_shadow]",
            run: "click",
        },
        {
            content: "Shadowing, three runs to come",
            trigger:
                ".o_form_view:has(.o_field_widget[name=migration_state]:contains('Shadowing')) .o_field_widget[name=shadow_remaining]:contains('3')",
        },
    ],
});

registry.category("web_tour.tours").add("iota_scripts_migration_switch_tour", {
    steps: () => [
        {
            content: "The comparison: the Shadow Runs page",
            trigger: ".o_form_view .o_notebook a[name=shadow_runs]",
            run: "click",
        },
        {
            content: "Three runs, each a match",
            trigger:
                ".o_form_view .o_field_widget[name=shadow_run_ids] .o_data_row:nth-child(3) .o_field_widget[name=outcome]:contains('Match')",
        },
        {
            trigger: ".o_form_view .o_field_widget[name=shadow_run_ids]",
            run() {
                const rows = this.anchor.querySelectorAll(".o_data_row");
                const outcomes = [...rows].map(
                    (r) => r.querySelector(".o_field_widget[name=outcome]").textContent.trim()
                );
                if (outcomes.join() !== "Match,Match,Match") {
                    throw new Error(`shadow runs: ${outcomes.join()}`);
                }
                const diff = rows[0].querySelector("[name=script_diff_html]");
                if (!diff || !diff.textContent.includes("python")) {
                    throw new Error("the script's write diff is not shown");
                }
            },
        },
        {
            content: "Activate the draft",
            trigger: ".o_form_view .o_form_statusbar button[name=action_activate]",
            run: "click",
        },
        {
            content: "Switch the rule to the script",
            trigger:
                ".o_form_view:not(:has(.o_form_statusbar button[name=action_activate])) .o_form_statusbar button[name=action_iota_switch_from_python]",
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
