import { registry } from "@web/core/registry";
import { screenshot, waitUntil } from "./tour_helpers";

// Replay (static/src/replay_panel/) and the waterfall (static/src/waterfall/),
// driven by tests/test_replay_ui.py.

const FORM = ".o_form_view";
const PANEL = `${FORM} .o_iota_scripts_replay_panel`;
const FIXED_LINE = 'return { domain: p.email ? p.email.split("@")[1] : null, seen };';

function sourceModel() {
    const frame = document.querySelector(".o_field_widget[name=source] iframe.o_iota_scripts_monaco_frame");
    const monaco = frame?.contentWindow?.monaco;
    return monaco?.editor.getEditors()[0]?.getModel() || null;
}

registry.category("web_tour.tours").add("iota_scripts_replay_fixed_draft_tour", {
    steps: () => [
        {
            content: "Open the Source page",
            trigger: `${FORM} .o_notebook a[name=source]`,
            run: "click",
        },
        {
            content: "Fix the bug in the editor, without saving",
            trigger: ".o_field_widget[name=source] .o_iota_scripts_monaco_frame:iframe .monaco-editor .view-lines:contains('split')",
            timeout: 30000,
            async run() {
                const model = await waitUntil(sourceModel, "the editor's model", 25000);
                const text = model.getValue();
                const fixed = text.replace('return { domain: p.email.split("@")[1], seen };', FIXED_LINE);
                if (fixed === text) {
                    throw new Error("the buggy line is not in the editor");
                }
                model.setValue(fixed);
            },
        },
        {
            content: "The form knows the draft (not saved)",
            trigger: `${FORM} .o_form_status_indicator_buttons:not(.invisible)`,
        },
        {
            content: "Open the Replay page",
            trigger: `${FORM} .o_notebook a[name=replay]`,
            run: "click",
        },
        {
            content: "The failed event run is listed; replay it on the draft",
            trigger: `${PANEL} .o_iota_scripts_replay_run[data-trigger=event]:contains('failed') .o_iota_scripts_replay_button`,
            run: "click",
        },
        {
            content: "A report (or an error) comes back",
            trigger: `${PANEL} .o_iota_scripts_replay_report, .modal .modal-body`,
            run() {
                const report = document.querySelector(`${PANEL} .o_iota_scripts_replay_report`);
                if (!report || report.dataset.state !== "succeeded") {
                    const modal = document.querySelector(".modal .modal-body");
                    throw new Error(`no successful replay: ${(report || modal).textContent}`);
                }
            },
        },
        {
            content: "The replay succeeds",
            trigger: `${PANEL} .o_iota_scripts_replay_report[data-state=succeeded] .o_iota_scripts_replay_state:contains('succeeded')`,
        },
        {
            content: "The recorded run failed",
            trigger: `${PANEL} .o_iota_scripts_replay_report:contains('recorded: failed')`,
        },
        {
            content: "The divergence is shown: the outcome changed",
            trigger: `${PANEL} .o_iota_scripts_replay_divergence[data-kind=different_result]:contains('script_error')`,
        },
        {
            content: "The sdk calls were served from the journal",
            trigger: `${PANEL} .o_iota_scripts_replay_report:contains('2 sdk call(s) served')`,
        },
        screenshot("replay_fixed_draft"),
        {
            content: "Behavioural diff of the last real runs on the draft",
            trigger: `${PANEL} .o_iota_scripts_behaviour_diff_button:enabled`,
            run: "click",
        },
        {
            content: "The failed run now succeeds: one run changed",
            trigger: `${PANEL} .o_iota_scripts_behaviour_diff_changed:contains('1 of 1 run(s) changed')`,
        },
        {
            trigger: `${PANEL} .o_iota_scripts_behaviour_diff_run[data-changed='1']:contains('different_result')`,
        },
        screenshot("replay_behaviour_diff"),
        {
            content: "The draft is still unsaved: discard it",
            trigger: `${FORM} .o_form_status_indicator_buttons:not(.invisible) .o_form_button_cancel`,
            run: "click",
        },
        {
            content: "Nothing is left to save",
            trigger: `${FORM} .o_form_status_indicator:not(:has(.o_form_status_indicator_buttons:not(.invisible)))`,
        },
    ],
});

registry.category("web_tour.tours").add("iota_scripts_waterfall_tour", {
    steps: () => [
        {
            content: "Open the sdk Calls page of the execution",
            trigger: `${FORM} .o_notebook a[name=sdk_calls]`,
            run: "click",
        },
        {
            content: "One bar per sdk call, in order",
            trigger: `${FORM} .o_iota_scripts_waterfall .o_iota_scripts_waterfall_row[data-call='db.read'] + .o_iota_scripts_waterfall_row[data-call='cache.incr']`,
        },
        {
            content: "The bars are drawn on the time line, later calls further right",
            trigger: `${FORM} .o_iota_scripts_waterfall_bar`,
            run() {
                const bars = [...document.querySelectorAll(".o_iota_scripts_waterfall_bar")];
                const boxes = bars.map((b) => b.getBoundingClientRect());
                if (boxes.length !== 2 || boxes.some((b) => b.width < 1 || b.height < 1)) {
                    throw new Error(`bars: ${JSON.stringify(boxes)}`);
                }
                if (!(boxes[1].left >= boxes[0].left)) {
                    throw new Error("the second call starts before the first");
                }
            },
        },
        screenshot("waterfall"),
    ],
});

registry.category("web_tour.tours").add("iota_scripts_profile_tour", {
    steps: () => [
        {
            content: "Profile the script from the Run page",
            trigger: `${FORM} .o_iota_scripts_run_panel .o_iota_scripts_profile_button:enabled`,
            run: "click",
        },
        {
            content: "The flame graph is drawn: main on top of busy",
            trigger: `${FORM} .o_iota_scripts_run_profile .o_iota_scripts_flame_box[data-name='busy (line 8)']`,
            run() {
                const box = (name) =>
                    document.querySelector(`.o_iota_scripts_run_profile .o_iota_scripts_flame_box[data-name='${name}']`);
                const main = box("main (line 1)").getBoundingClientRect();
                const busy = box("busy (line 8)").getBoundingClientRect();
                if (!(busy.top > main.top && busy.width > 0 && busy.width <= main.width + 1)) {
                    throw new Error(`main ${JSON.stringify(main)} busy ${JSON.stringify(busy)}`);
                }
            },
        },
        screenshot("profile_flame_graph"),
    ],
});
