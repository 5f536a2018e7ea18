import { registry } from "@web/core/registry";
import { screenshot, waitUntil } from "./tour_helpers";

// The Run panel (static/src/run_panel/) and the log viewer
// (static/src/log_viewer/), driven by tests/test_ui_run_panel.py.

const PANEL = ".o_form_view .o_iota_scripts_run_panel";

registry.category("web_tour.tours").add("iota_scripts_run_panel_live_tour", {
    steps: () => [
        {
            content: "The Run page comes first and is open",
            trigger: ".o_form_view .o_notebook a[name=run].active",
        },
        {
            content: "Rename the script, without saving",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run: "edit Live tour script renamed",
        },
        {
            content: "Type broken JSON input",
            trigger: `${PANEL} .o_iota_scripts_run_raw_input`,
            run: "edit {broken",
        },
        {
            content: "The JSON editor says why",
            trigger: `${PANEL} .o_iota_scripts_run_raw_error:contains('Not valid JSON')`,
        },
        {
            content: "Run is refused meanwhile",
            trigger: `${PANEL} .o_iota_scripts_run_button:disabled`,
        },
        {
            content: "Type valid JSON input",
            trigger: `${PANEL} .o_iota_scripts_run_raw_input`,
            run: 'edit {"who": "tour"}',
        },
        {
            content: "Run: the form is saved first",
            trigger: `${PANEL}:not(:has(.o_iota_scripts_run_raw_error)) .o_iota_scripts_run_button:enabled`,
            run: "click",
        },
        {
            content: "A log line arrives while the run goes, before any result",
            trigger: `${PANEL}[data-status=running]:not(:has(.o_iota_scripts_run_result)) .o_iota_scripts_log_line:contains('early bird tour')`,
        },
        screenshot("run_panel_live"),
        {
            content: "Then the result",
            trigger: `${PANEL}[data-status=done] .o_iota_scripts_run_result:contains('late')`,
        },
        {
            content: "With the run's usage and all its logs",
            trigger: `${PANEL} .o_iota_scripts_run_usage_wall:contains('ms'):not(:contains(' 0.0 ms'))`,
        },
        {
            trigger: `${PANEL} .o_iota_scripts_log_message:contains('done waiting')`,
        },
        {
            content: "The renamed script was saved",
            trigger: ".o_breadcrumb:contains('Live tour script renamed')",
        },
        {
            content: "Nothing is left to save",
            trigger: ".o_form_view .o_form_status_indicator:not(:has(.o_form_status_indicator_buttons:not(.invisible)))",
        },
        screenshot("run_panel_result"),
    ],
});

registry.category("web_tour.tours").add("iota_scripts_run_panel_cancel_tour", {
    steps: () => [
        {
            content: "Run the endless script",
            trigger: `${PANEL} .o_iota_scripts_run_button:enabled`,
            run: "click",
        },
        {
            content: "It runs (its first line came)",
            trigger: `${PANEL}[data-status=running] .o_iota_scripts_log_line:contains('spinning')`,
        },
        {
            content: "Cancel it",
            trigger: `${PANEL} .o_iota_scripts_cancel_button:enabled`,
            run: "click",
        },
        {
            content: "It ends as cancelled",
            trigger: `${PANEL}[data-status=done] .o_iota_scripts_run_error_code:contains('cancelled')`,
        },
        {
            trigger: `${PANEL} .o_iota_scripts_run_state:contains('Cancelled')`,
        },
    ],
});

registry.category("web_tour.tours").add("iota_scripts_run_panel_error_tour", {
    steps: () => [
        {
            content: "Run the failing script",
            trigger: `${PANEL} .o_iota_scripts_run_button:enabled`,
            run: "click",
        },
        {
            content: "The error comes with its position",
            trigger: `${PANEL}[data-status=done] .o_iota_scripts_run_error:contains('kaput') .o_iota_scripts_run_error_position:contains('Line 6')`,
        },
        {
            content: "Listen for the jump to the line",
            trigger: "body",
            run() {
                const { env } = odoo.__WOWL_DEBUG__.root;
                env.bus.addEventListener(
                    "IOTA_SCRIPTS:REVEAL_POSITION",
                    ({ detail }) => {
                        document.body.dataset.iotaReveal = `${detail.line}:${detail.column}`;
                    },
                    { once: true }
                );
            },
        },
        {
            content: "Click the position",
            trigger: `${PANEL} .o_iota_scripts_run_error_position`,
            run: "click",
        },
        {
            content: "The editor was asked to reveal line 6",
            trigger: "body[data-iota-reveal^='6:']",
        },
        {
            content: "The Source page opens",
            trigger: ".o_form_view .o_notebook a[name=source].active",
        },
        {
            content: "The editor selects line 6",
            trigger: ".o_field_widget[name=source] .o_iota_scripts_monaco_frame:iframe .monaco-editor .view-lines",
            async run() {
                const frame = document.querySelector(".o_field_widget[name=source] iframe");
                await waitUntil(
                    () => frame.contentWindow.monaco?.editor.getEditors()[0]?.getSelection().startLineNumber === 6,
                    "the error's line selected in the editor",
                    20000
                );
            },
        },
        {
            content: "Open the script's runs",
            trigger: ".o_form_view button[name=action_view_executions]",
            run: "click",
        },
        {
            content: "Open the failed run",
            trigger: ".o_list_view .o_data_row .o_data_cell:contains('Failed')",
            run: "click",
        },
        {
            content: "The log viewer shows every line, with times",
            trigger: ".o_field_widget[name=log_json] .o_iota_scripts_log_count:contains('4 / 4')",
        },
        {
            trigger: ".o_field_widget[name=log_json] .o_iota_scripts_log_line .o_iota_scripts_log_time",
        },
        {
            content: "Hide debug lines",
            trigger: ".o_field_widget[name=log_json] .o_iota_scripts_log_level_toggle[data-level=debug]",
            run: "click",
        },
        {
            content: "Three lines are left, none of them debug",
            trigger: ".o_field_widget[name=log_json]:not(:has(.o_iota_scripts_log_debug)) .o_iota_scripts_log_count:contains('3 / 4')",
        },
        {
            content: "Search the logs",
            trigger: ".o_field_widget[name=log_json] .o_iota_scripts_log_search",
            run: "edit needle",
        },
        {
            content: "Only the matching line is left",
            trigger: ".o_field_widget[name=log_json] .o_iota_scripts_log_count:contains('1 / 4')",
        },
        {
            trigger: ".o_field_widget[name=log_json] .o_iota_scripts_log_warn .o_iota_scripts_log_message:contains('warn needle')",
        },
        screenshot("execution_log_viewer"),
        {
            content: "From the run to its version",
            trigger: ".o_form_view .o_field_widget[name=version_id] a",
            run: "click",
        },
        {
            content: "From the version to its runs",
            trigger: ".o_form_view button[name=action_view_executions] .o_stat_value:contains('1')",
            run: "click",
        },
        {
            content: "The version's run is listed",
            trigger: ".o_list_view .o_data_row:only-child .o_data_cell:contains('Failed')",
        },
    ],
});

registry.category("web_tour.tours").add("iota_scripts_run_panel_schema_tour", {
    steps: () => [
        {
            content: "The input schema gives a form, not the JSON editor",
            trigger: `${PANEL} .o_iota_scripts_run_form [data-name=n] input[type=number]`,
        },
        {
            trigger: `${PANEL}:not(:has(.o_iota_scripts_run_raw_input)) .o_iota_scripts_run_form [data-name=unit] select`,
        },
        {
            content: "Run without the required number",
            trigger: `${PANEL} .o_iota_scripts_run_button:enabled`,
            run: "click",
        },
        {
            content: "The form says it is required",
            trigger: `${PANEL} [data-name=n] .invalid-feedback:contains('Required')`,
        },
        {
            content: "Fill the number",
            trigger: `${PANEL} [data-name=n] input`,
            run: "edit 21",
        },
        {
            content: "Choose the unit",
            trigger: `${PANEL} [data-name=unit] select`,
            run: "selectByLabel kg",
        },
        {
            content: "Tick the flag",
            trigger: `${PANEL} [data-name=loud] input[type=checkbox]`,
            run: "click",
        },
        {
            content: "Run",
            trigger: `${PANEL}:not(:has(.invalid-feedback)) .o_iota_scripts_run_button:enabled`,
            run: "click",
        },
        {
            content: "The script got the typed input",
            trigger: `${PANEL}[data-status=done] .o_iota_scripts_run_result:contains('42 kg!')`,
        },
        {
            content: "The raw editor is still there when wanted",
            trigger: `${PANEL} .o_iota_scripts_run_toggle_raw`,
            run: "click",
        },
        {
            trigger: `${PANEL} .o_iota_scripts_run_raw_input`,
        },
    ],
});

// A dry-run writes a partner: the write diff shows, and nothing is kept
// (tests/test_ui_run_panel.py checks the database after the tour).
registry.category("web_tour.tours").add("iota_scripts_run_panel_dry_run_tour", {
    steps: () => [
        {
            content: "Dry run",
            trigger: `${PANEL} .o_iota_scripts_dry_run_button:enabled`,
            run: "click",
        },
        {
            content: "The write diff shows the partner's field, before and after",
            trigger: `${PANEL}[data-status=done] .o_iota_scripts_dry_run_change[data-model='res.partner'][data-field=ref] .o_iota_scripts_dry_run_after:contains('dry-tour')`,
        },
        {
            content: "The run's result and logs, as for a run",
            trigger: `${PANEL} .o_iota_scripts_run_result:contains('written')`,
        },
        {
            trigger: `${PANEL} .o_iota_scripts_log_message:contains('wrote the partner')`,
        },
        {
            content: "It says it was a dry run, and links no execution",
            trigger: `${PANEL}:not(:has(.o_iota_scripts_run_execution_link)) .o_iota_scripts_run_state:contains('Dry run')`,
        },
        screenshot("run_panel_dry_run"),
    ],
});
