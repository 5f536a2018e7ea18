import { registry } from "@web/core/registry";

// Open a script, check the code editor, run it from the "Run" dialog and
// read the result: the UI path of a manual run, end to end.
registry.category("web_tour.tours").add("iota_scripts_run_tour", {
    url: "/odoo/action-iota_scripts.iota_script_action",
    steps: () => [
        {
            content: "Open the script",
            trigger: ".o_list_view .o_data_cell:contains('Tour script')",
            run: "click",
        },
        {
            // the Run page comes first (static/src/run_panel/)
            content: "Open the Source page",
            trigger: ".o_form_view .o_notebook a[name=source]",
            run: "click",
        },
        {
            content: "The source is shown in the code editor",
            trigger: ".o_form_view .o_field_widget[name=source] .o_iota_scripts_monaco_frame:iframe .monaco-editor .view-lines",
        },
        {
            content: "Open the Run dialog",
            trigger: ".o_form_view button[name=action_open_run_wizard]",
            run: "click",
        },
        {
            content: "Run it",
            trigger: ".modal button[name=action_run]",
            run: "click",
        },
        {
            content: "The run succeeded",
            trigger: ".modal .o_field_widget[name=state]:contains('Succeeded')",
        },
        {
            content: "The result is shown",
            trigger: ".modal .o_field_widget[name=result_json]:contains('tour-ok')",
        },
        {
            content: "The log line is shown",
            trigger: ".modal .o_notebook a:contains('Logs')",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=log_text]:contains('hello from the tour')",
        },
    ],
});
