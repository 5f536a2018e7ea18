import { registry } from "@web/core/registry";
import { waitUntil } from "./tour_helpers";

// npm packages in the editor (issue 13): the company's approved package ships
// a .d.ts, and Monaco completes its exports inside an import declaration.

const FRAME = ".o_field_widget[name=source] .o_iota_scripts_monaco_frame";

function sourceEditor() {
    const frame = document.querySelector(
        ".o_field_widget[name=source] iframe.o_iota_scripts_monaco_frame"
    );
    const monaco = frame?.contentWindow?.monaco;
    return monaco ? { monaco, editor: monaco.editor.getEditors()[0], frame } : null;
}

function suggestions(frame) {
    return [...frame.contentDocument.querySelectorAll(".suggest-widget .monaco-list-row")].map(
        (row) => row.getAttribute("aria-label")
    );
}

registry.category("web_tour.tours").add("iota_scripts_npm_completion_tour", {
    steps: () => [
        {
            content: "Open the Source page",
            trigger: ".o_form_view .o_notebook a[name=source]",
            run: "click",
        },
        {
            // sdk.d.ts, models.d.ts, and the package's index.d.ts and package.json
            content: "Monaco has the package's typings",
            trigger: `${FRAME}:iframe body[data-libs='4'] .monaco-editor`,
            timeout: 60000,
        },
        {
            content: "Ask for completion inside the import of the approved package",
            trigger: `${FRAME}:iframe .monaco-editor`,
            timeout: 30000,
            async run() {
                const { editor, frame } = sourceEditor();
                editor
                    .getModel()
                    .setValue(
                        'import { to } from "iota-tiny";\nexport default async function (ctx) {\n  return 1;\n}\n'
                    );
                editor.setPosition({ lineNumber: 1, column: 12 });
                editor.focus();
                await waitUntil(
                    () => {
                        editor.trigger("keyboard", "editor.action.triggerSuggest", {});
                        return suggestions(frame).includes("total");
                    },
                    "the completion of the package's export total",
                    25000
                );
            },
        },
        {
            content: "The suggestion widget offers total, from the package's .d.ts",
            trigger: `${FRAME}:iframe .suggest-widget .monaco-list-row[aria-label="total"]`,
        },
        {
            content: "Leave the source as it was",
            trigger: ".o_form_view .o_form_button_cancel",
            run: "click",
        },
        {
            content: "The saved source is back in the editor",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines:contains(ctx.records)`,
        },
    ],
});
