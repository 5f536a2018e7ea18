import { registry } from "@web/core/registry";
import { screenshot, waitUntil } from "./tour_helpers";

// The script studio in a real browser: Monaco in its iframe, completion from
// the live schema, markers, the version diff with restore, and Odoo's own Ace
// fields and graph views still working after the editor was opened.

const FRAME = ".o_field_widget[name=source] .o_iota_scripts_monaco_frame";

/** The Monaco editor of the source field (inside the iframe). */
function sourceEditor() {
    const frame = document.querySelector(".o_field_widget[name=source] iframe.o_iota_scripts_monaco_frame");
    const monaco = frame?.contentWindow?.monaco;
    return monaco ? { monaco, editor: monaco.editor.getEditors()[0], frame } : null;
}

/** Types `text` at the cursor, as the keyboard does (auto-closing quotes and brackets included). */
function type(editor, text) {
    editor.focus();
    editor.trigger("keyboard", "type", { text });
}

function suggestions(frame) {
    return [...frame.contentDocument.querySelectorAll(".suggest-widget .monaco-list-row")].map(
        (row) => row.getAttribute("aria-label")
    );
}

function waitEditor() {
    return [
        {
            // the Run page comes first (static/src/run_panel/)
            content: "Open the Source page",
            trigger: ".o_form_view .o_notebook a[name=source]",
            run: "click",
        },
        {
            content: "Monaco shows the source",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines`,
        },
    ];
}

registry.category("web_tour.tours").add("iota_scripts_studio_editor_tour", {
    steps: () => [
        ...waitEditor(),
        {
            content: "The editor has the sdk and live-schema typings",
            trigger: `${FRAME}:iframe body[data-libs='2'] .monaco-editor`,
            timeout: 60000, // the first typings of a database are generated on demand
        },
        screenshot("studio_editor"),
        {
            content: "Type a call and ask for completion of the model name",
            trigger: `${FRAME}:iframe .monaco-editor`,
            timeout: 30000, // the TypeScript worker may be slow to start on a busy machine
            async run() {
                const { editor, frame } = sourceEditor();
                const model = editor.getModel();
                model.setValue("export default async function (ctx) {\n  \n}\n");
                editor.setPosition({ lineNumber: 2, column: 3 });
                type(editor, 'const rows = await sdk.db.searchRead("res.pa');
                // the live typings arrive after the editor starts: ask until they are there
                await waitUntil(
                    () => {
                        editor.trigger("keyboard", "editor.action.triggerSuggest", {});
                        return suggestions(frame).includes("res.partner");
                    },
                    "the res.partner completion",
                    25000
                );
            },
        },
        {
            content: "The suggestion widget offers res.partner",
            trigger: `${FRAME}:iframe .suggest-widget .monaco-list-row[aria-label="res.partner"]`,
        },
        screenshot("studio_completion_model"),
        {
            content: "Complete the field list of res.partner",
            trigger: `${FRAME}:iframe .monaco-editor`,
            timeout: 30000, // the TypeScript worker may be slow to start on a busy machine
            async run() {
                const { editor, frame } = sourceEditor();
                editor.trigger("keyboard", "hideSuggestWidget", {});
                type(editor, 'rtner", [], ["na');
                await waitUntil(
                    () => {
                        editor.trigger("keyboard", "editor.action.triggerSuggest", {});
                        return suggestions(frame).includes("name");
                    },
                    "the name field completion",
                    25000
                );
            },
        },
        {
            content: "The suggestion widget offers the name field",
            trigger: `${FRAME}:iframe .suggest-widget .monaco-list-row[aria-label="name"]`,
        },
        screenshot("studio_completion_field"),
        {
            content: "Make a syntax error",
            trigger: `${FRAME}:iframe .monaco-editor`,
            timeout: 30000, // the TypeScript worker may be slow to start on a busy machine
            async run() {
                const { editor, monaco } = sourceEditor();
                editor.trigger("keyboard", "hideSuggestWidget", {});
                type(editor, 'me"]);\nreturn 1 +;');
                if (editor.getModel().getLineContent(3) !== "  return 1 +;") {
                    throw new Error(`unexpected source:\n${editor.getModel().getValue()}`);
                }
                const marker = await waitUntil(
                    () =>
                        monaco.editor
                            .getModelMarkers({ owner: "iota_scripts" })
                            .find((m) => m.startLineNumber === 3 && m.startColumn === 13),
                    "the server marker",
                    25000
                );
                if (!/Unexpected token/.test(marker.message)) {
                    throw new Error(`unexpected marker: ${marker.message}`);
                }
            },
        },
        {
            content: "The error is underlined",
            trigger: `${FRAME}:iframe .monaco-editor .squiggly-error`,
        },
        screenshot("studio_marker"),
        {
            content: "Hover a field name: its type and label",
            trigger: `${FRAME}:iframe .monaco-editor`,
            timeout: 30000, // the TypeScript worker may be slow to start on a busy machine
            async run() {
                const { editor, frame } = sourceEditor();
                editor.trigger("keyboard", "hideSuggestWidget", {});
                const column = editor.getModel().getLineContent(2).indexOf('"name"') + 2;
                await waitUntil(
                    () => {
                        editor.setPosition({ lineNumber: 2, column });
                        editor.trigger("keyboard", "editor.action.showHover", {});
                        return [...frame.contentDocument.querySelectorAll(".monaco-hover-content")].some(
                            (el) => el.innerText.includes("name: string | false")
                        );
                    },
                    "the field hover",
                    25000
                );
            },
        },
        {
            content: "The hover shows the field's type",
            trigger: `${FRAME}:iframe .monaco-hover-content:contains(res.partner)`,
        },
        screenshot("studio_hover_field"),
        {
            // issue 18: no Ctrl+Space needed inside the field list
            content: "Typing a field name inside the list's string offers completions by itself",
            trigger: `${FRAME}:iframe .monaco-editor`,
            timeout: 30000,
            async run() {
                const { editor, frame, monaco } = sourceEditor();
                editor.trigger("keyboard", "hideSuggestWidget", {});
                const model = editor.getModel();
                const saved = model.getValue();
                const position = editor.getPosition();
                model.setValue(
                    'export default async function (ctx) {\n  await sdk.db.searchRead("res.partner", [], ["nmae", ""]);\n}\n'
                );
                // the cursor between the quotes of the last name
                const line = model.getLineContent(2);
                editor.setPosition({ lineNumber: 2, column: line.indexOf('""]') + 2 });
                type(editor, "emai");
                await waitUntil(() => suggestions(frame).includes("email"), "the email field offered while typing", 25000);
                // and the unknown field "nmae" is marked from the live schema
                const warning = await waitUntil(
                    () =>
                        monaco.editor
                            .getModelMarkers({ owner: "iota_scripts" })
                            .find((m) => m.severity === monaco.MarkerSeverity.Warning && /no field "nmae"/.test(m.message)),
                    "the unknown-field warning",
                    25000
                );
                if (warning.startLineNumber !== 2) {
                    throw new Error(`warning on line ${warning.startLineNumber}`);
                }
                editor.trigger("keyboard", "hideSuggestWidget", {});
                model.setValue(saved);
                editor.setPosition(position);
            },
        },
        {
            content: "Try to save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Saving is refused, with the reason",
            trigger: ".modal:contains('Line 3, column 13')",
        },
        screenshot("studio_save_refused"),
        {
            content: "Close the message",
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Discard the broken source",
            trigger: ".o_form_view .o_form_button_cancel",
            run: "click",
        },
        {
            content: "The saved source is back in the editor",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines:contains(studio-saved)`,
        },
        {
            content: "The run panel's jump to a position reaches the editor",
            trigger: `${FRAME}:iframe .monaco-editor`,
            async run() {
                const { editor } = sourceEditor();
                const resId = parseInt(window.location.pathname.split("/").at(-1), 10);
                const { bus } = odoo.__WOWL_DEBUG__.root.env;
                editor.setPosition({ lineNumber: 1, column: 1 });
                // another record's position is not ours
                bus.trigger("IOTA_SCRIPTS:REVEAL_POSITION", { resId: resId + 1000, line: 2, column: 5 });
                await new Promise((resolve) => setTimeout(resolve, 500));
                if (editor.getSelection().startLineNumber !== 1) {
                    throw new Error("revealed another record's position");
                }
                bus.trigger("IOTA_SCRIPTS:REVEAL_POSITION", { resId, line: 3, column: 3 });
                await waitUntil(
                    () => {
                        const sel = editor.getSelection();
                        return sel.startLineNumber === 3 && sel.startColumn === 3;
                    },
                    "the revealed position",
                    5000
                );
            },
        },
    ],
});

/** Presses `keys` ({ctrlKey, altKey}) + S where Monaco has the focus, inside the frame. */
function pressSaveInFrame(keys) {
    const { frame } = sourceEditor();
    const target = frame.contentDocument.activeElement || frame.contentDocument.body;
    const init = { key: "s", code: "KeyS", bubbles: true, cancelable: true, ...keys };
    target.dispatchEvent(new frame.contentWindow.KeyboardEvent("keydown", init));
}

function saveFromFrameSteps(keys, line, versions) {
    return [
        {
            content: `Type a line, then press the save keys in the editor (${JSON.stringify(keys)})`,
            trigger: `${FRAME}:iframe .monaco-editor`,
            run() {
                const { editor } = sourceEditor();
                editor.setPosition({ lineNumber: 1, column: 1 });
                type(editor, `${line}\n`);
                pressSaveInFrame(keys);
            },
        },
        {
            content: "The form saved: a new version (Odoo's hotkeys do not reach into the iframe)",
            trigger: `.o_form_view .o_field_widget[name=version_count] .o_stat_value:contains(${versions})`,
        },
        {
            content: "Nothing is left to save",
            trigger: ".o_form_view .o_form_status_indicator_buttons.invisible:not(:visible)",
        },
    ];
}

registry.category("web_tour.tours").add("iota_scripts_studio_hotkey_tour", {
    steps: () => [
        ...waitEditor(),
        ...saveFromFrameSteps({ ctrlKey: true }, "// saved-with-ctrl-s", 2),
        ...saveFromFrameSteps({ altKey: true }, "// saved-with-alt-s", 3),
    ],
});

registry.category("web_tour.tours").add("iota_scripts_studio_diff_tour", {
    steps: () => [
        ...waitEditor(),
        {
            content: "Edit the source without saving",
            trigger: `${FRAME}:iframe .monaco-editor`,
            run() {
                const { editor } = sourceEditor();
                editor.setPosition({ lineNumber: 1, column: 1 });
                type(editor, "// an unsaved draft line\n");
            },
        },
        {
            content: "Compare the draft with the saved versions",
            trigger: ".o_iota_scripts_monaco_compare",
            run: "click",
        },
        {
            content: "The draft is on the right",
            trigger: ".modal .o_iota_scripts_diff_right option:selected:contains('Unsaved draft'):not(:visible)",
        },
        {
            // issue 18: a draft is compared with the current version, not the one before
            content: "The current version (v2) is on the left",
            trigger: ".modal .o_iota_scripts_diff_left option:selected:contains('v2'):not(:visible)",
        },
        {
            content: "The diff shows the draft's new line",
            trigger: ".modal .o_iota_scripts_diff_frame:iframe .monaco-diff-editor .line-insert",
        },
        {
            content: "... and only that line: nothing removed from the current version",
            trigger: ".modal .o_iota_scripts_diff_frame:iframe .monaco-diff-editor:not(:has(.line-delete))",
        },
        {
            content: "A dialog has no control panel of its own",
            trigger: ".modal:not(:has(.o_control_panel)) .o_iota_scripts_version_diff",
        },
        screenshot("studio_diff_draft"),
        {
            content: "Close the comparison",
            trigger: ".modal .btn-close",
            run: "click",
        },
        {
            content: "Discard the draft",
            trigger: "body:not(:has(.modal)) .o_form_view .o_form_button_cancel",
            run: "click",
        },
        {
            content: "Open the versions",
            trigger: ".o_notebook .nav-link:contains('Versions')",
            run: "click",
        },
        {
            content: "Compare version 1",
            trigger: ".o_field_widget[name=version_ids] .o_data_row:has(.o_data_cell[name=number]:contains('1')) button[name=action_open_diff]",
            run: "click",
        },
        {
            content: "Version 1 is on the left, with who, when, note and size",
            trigger: ".o_iota_scripts_diff_left option:selected:contains('v1'):contains('bytes'):contains('Created'):not(:visible)",
        },
        {
            content: "The diff shows the changes",
            trigger: ".o_iota_scripts_diff_frame:iframe .monaco-diff-editor .line-insert",
        },
        screenshot("studio_diff"),
        {
            content: "Restore version 1",
            trigger: ".o_iota_scripts_diff_restore:enabled",
            run: "click",
        },
        {
            content: "It is restored as a new version",
            trigger: ".o_notification:contains('restored as version 3')",
        },
        {
            // issue 18: the diff page was a dead end
            content: "The breadcrumb leads back to the script",
            trigger: ".o_control_panel .o_breadcrumb .breadcrumb-item a:contains('Studio tour')",
            run: "click",
        },
        {
            content: "Back on the script's form",
            trigger: ".o_form_view .o_field_widget[name=name] input",
        },
    ],
});

registry.category("web_tour.tours").add("iota_scripts_studio_compat_tour", {
    steps: () => [
        ...waitEditor(),
        {
            content: "Monaco's AMD loader stayed in its frame",
            trigger: `${FRAME}:iframe .monaco-editor`,
            async run() {
                const { frame } = sourceEditor();
                if (typeof frame.contentWindow.define !== "function") {
                    throw new Error("Monaco's loader is not in the frame");
                }
                if (window.define && window.define.amd && !window.ace) {
                    throw new Error("an AMD define leaked into Odoo's window");
                }
                const { orm, action } = odoo.__WOWL_DEBUG__.root.env.services;
                const [id] = await orm.search("ir.actions.server", [["name", "=", "Ace after Monaco"]]);
                await action.doAction({
                    type: "ir.actions.act_window",
                    res_model: "ir.actions.server",
                    res_id: id,
                    views: [[false, "form"]],
                    target: "current",
                });
            },
        },
        {
            content: "Ace edits a server action's Python code",
            trigger: ".o_field_widget[name=code] .ace_editor",
            run() {
                const el = document.querySelector(".o_field_widget[name=code] .ace_editor");
                const ace = window.ace.edit(el);
                ace.focus();
                ace.navigateFileEnd();
                ace.insert("\n# typed after Monaco\n");
                ace.blur(); // the Ace field commits on blur
            },
        },
        {
            content: "Ace shows the typed line",
            trigger: ".o_field_widget[name=code] .ace_line:contains('typed after Monaco')",
        },
        screenshot("studio_compat_ace"),
        {
            content: "Open a graph view",
            trigger: ".o_form_view",
            run() {
                odoo.__WOWL_DEBUG__.root.env.services.action.doAction({
                    type: "ir.actions.act_window",
                    name: "Contacts graph",
                    res_model: "res.partner",
                    views: [[false, "graph"]],
                    target: "current",
                });
            },
        },
        {
            content: "Chart.js draws the chart",
            trigger: ".o_graph_view .o_graph_renderer canvas",
            async run() {
                await new Promise((resolve) => setTimeout(resolve, 1000)); // the bars' animation
            },
        },
        screenshot("studio_compat_graph"),
    ],
});

// A company policy rule (iota_scripts/tests/test_studio_ui.py makes "No outbound
// HTTP in this tour") marks its violation in the editor, at its position.
registry.category("web_tour.tours").add("iota_scripts_studio_policy_tour", {
    steps: () => [
        ...waitEditor(),
        {
            content: "Call sdk.http, which a policy rule forbids",
            trigger: `${FRAME}:iframe .monaco-editor`,
            timeout: 30000, // the TypeScript worker may be slow to start on a busy machine
            async run() {
                const { editor, monaco } = sourceEditor();
                editor.getModel().setValue(
                    'export default async function (ctx) {\n  return sdk.http.fetch("https://example.com");\n}\n'
                );
                const marker = await waitUntil(
                    () =>
                        monaco.editor
                            .getModelMarkers({ owner: "iota_scripts" })
                            .find((m) => /not allowed by policy/.test(m.message)),
                    "the policy marker",
                    25000
                );
                const expected = "`sdk.http` is not allowed by policy 'No outbound HTTP in this tour'";
                if (marker.message !== expected || marker.startLineNumber !== 2 || marker.startColumn !== 10) {
                    throw new Error(`unexpected marker: ${JSON.stringify(marker)}`);
                }
            },
        },
        {
            content: "The violation is underlined as an error",
            trigger: `${FRAME}:iframe .monaco-editor .squiggly-error`,
        },
        screenshot("studio_policy_marker"),
        {
            content: "Discard the draft",
            trigger: ".o_form_view .o_form_button_cancel",
            run: "click",
        },
        {
            content: "The saved source is back in the editor",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines:not(:contains(sdk.http))`,
        },
    ],
});
