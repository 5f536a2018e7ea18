import { registry } from "@web/core/registry";
import { screenshot, waitUntil } from "./tour_helpers";

// Snapshot breakpoints (static/src/breakpoints/), driven by
// tests/test_ui_breakpoints.py: set one in the editor and arm it for the next
// run of a scheduled script; then, once the schedule ran, step through its
// hits in the execution form.

const FRAME = ".o_field_widget[name=source] .o_iota_scripts_monaco_frame";
const PANEL = ".o_field_widget[name=source] .o_iota_scripts_breakpoints";

registry.category("web_tour.tours").add("iota_scripts_breakpoint_arm_tour", {
    steps: () => [
        {
            content: "Open the Source page",
            trigger: ".o_form_view .o_notebook a[name=source]",
            run: "click",
        },
        {
            content: "The breakpoints panel invites a click in the margin",
            trigger: `${PANEL}:contains('left margin')`,
        },
        {
            content: "Line 5 in the editor: Toggle Breakpoint (F9, or a click in the margin)",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines:contains('total += n')`,
            async run() {
                const frame = document.querySelector(`${FRAME}`);
                const editor = await waitUntil(
                    () => frame.contentWindow.monaco?.editor.getEditors()[0],
                    "the Monaco editor"
                );
                editor.setPosition({ lineNumber: 5, column: 5 });
                editor.focus();
                await editor.getAction("iota.toggleBreakpoint").run();
            },
        },
        {
            content: "The breakpoint is listed on line 5",
            trigger: `${PANEL} .o_iota_bp_row[data-line='5']`,
        },
        {
            content: "...and drawn in the margin",
            trigger: `${FRAME}:iframe .o_iota_bp_break`,
        },
        {
            content: "Arm it for the next live run",
            trigger: `${PANEL} .o_iota_bp_arm:enabled`,
            run: "click",
        },
        {
            content: "Armed for one run",
            trigger: `${PANEL} .o_iota_bp_armed_badge:contains('Armed for 1 run')`,
        },
        {
            content: "The margin shows it armed",
            trigger: `${FRAME}:iframe .o_iota_bp_armed`,
        },
        screenshot("breakpoint-armed"),
    ],
});

registry.category("web_tour.tours").add("iota_scripts_breakpoint_hits_tour", {
    steps: () => [
        {
            content: "The scheduled run's breakpoints",
            trigger: ".o_form_view .o_notebook a[name=breakpoints]",
            run: "click",
        },
        {
            content: "The first of three hits, on line 5",
            trigger: ".o_iota_bp_hits .o_iota_bp_position:contains('Hit 1 of 3')",
        },
        {
            content: "n was 1 and total 0 there",
            trigger:
                ".o_iota_bp_vars:has(.o_iota_bp_var[data-name='n'] .o_iota_bp_value:contains('1'))" +
                ":has(.o_iota_bp_var[data-name='total'] .o_iota_bp_value:contains('0'))",
        },
        {
            content: "The secret-looking local is masked",
            trigger: ".o_iota_bp_var[data-name='apiToken'] .o_iota_bp_value:contains('[masked]')",
        },
        {
            content: "The call stack: the script's own frame",
            trigger: ".o_iota_bp_stack li:contains('main'):contains('line 5')",
        },
        {
            content: "Step to the next hit",
            trigger: ".o_iota_bp_hits .o_iota_bp_next:enabled",
            run: "click",
        },
        {
            content: "Hit 2: n is 2, total 1",
            trigger:
                ".o_iota_bp_hits:has(.o_iota_bp_position:contains('Hit 2 of 3'))" +
                " .o_iota_bp_var[data-name='n'] .o_iota_bp_value:contains('2')",
        },
        {
            content: "Open ctx in the variables tree",
            trigger: ".o_iota_bp_var[data-name='ctx'] > .o_iota_bp_toggle",
            run: "click",
        },
        {
            content: "Open ctx.trigger",
            trigger:
                ".o_iota_bp_var[data-name='ctx'] .o_iota_bp_var[data-name='trigger'] > .o_iota_bp_toggle",
            run: "click",
        },
        {
            content: "The run was the schedule's",
            trigger:
                ".o_iota_bp_var[data-name='trigger'] .o_iota_bp_var[data-name='type'] .o_iota_bp_value:contains('cron')",
        },
        screenshot("breakpoint-hits"),
    ],
});
