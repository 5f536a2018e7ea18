/**
 * The editor page's script (served by /iota_scripts/editor, in an iframe).
 *
 * Not an Odoo module: it runs in the iframe's own window with Monaco's AMD
 * loader, under the page's Content-Security-Policy. It talks to its parent
 * (the `iota_scripts_monaco` field) with postMessage, same origin only:
 *
 *   frame -> parent: {type: "ready"} | {type: "error", message}
 *                    | {type: "change", value} | {type: "blur"} | {type: "save"}
 *                    | {type: "gutter", line}  (a click in the breakpoint margin, or F9 on
 *                                              a line: toggle its breakpoint; 1-based)
 *   parent -> frame: {type: "init", value, readonly, language, theme: "vs" | "vs-dark",
 *                     extraLibs: [{path, content}],
 *                     mode: "editor" | "diff", original?}
 *                    | {type: "markers", markers: [{line, column, message, severity}]}
 *                    | {type: "reveal", line, column}  (1-based)
 *                    | {type: "breakpoints", items: [{line, armed, condition, log}], hit: line|0}
 *
 * Messages from any other window or origin are ignored.
 */
(function () {
    "use strict";
    const ORIGIN = window.location.origin;
    const container = document.getElementById("o_iota_scripts_editor");
    const state = {
        editor: null,
        diff: null,
        libs: new Map(),
        applying: false,
        schema: {},
        breakpoints: null,
    };

    /**
     * {model: {field: {type, doc}}} read back from the live-schema declarations
     * (the format of iota_scripts/tools/typings.py), for the field hover.
     */
    function parseSchema(dts) {
        const schema = {};
        let model = null;
        let doc = "";
        for (const line of dts.split("\n")) {
            let m;
            if ((m = /^  ("(?:[^"\\]|\\.)*"): \{$/.exec(line))) {
                model = schema[JSON.parse(m[1])] = {};
            } else if ((m = /^    \/\*\* (.*) \*\/$/.exec(line))) {
                doc = m[1];
            } else if (model && (m = /^    ("(?:[^"\\]|\\.)*"): (.*);$/.exec(line))) {
                model[JSON.parse(m[1])] = { type: m[2], doc };
                doc = "";
            }
        }
        return schema;
    }

    /** The quoted token under `position`, or null. */
    function stringAt(model, position) {
        const line = model.getLineContent(position.lineNumber);
        const re = /(["'])((?:(?!\1)[^\\]|\\.)*)\1/g;
        let m;
        while ((m = re.exec(line))) {
            const start = m.index + 1;
            const end = m.index + m[0].length;
            if (position.column >= start && position.column <= end) {
                return { text: m[2], startColumn: start, endColumn: end + 1 };
            }
        }
        return null;
    }

    function fieldHover(monaco, model, position) {
        const token = stringAt(model, position);
        if (!token) {
            return null;
        }
        const range = new monaco.Range(position.lineNumber, token.startColumn, position.lineNumber, token.endColumn);
        if (state.schema[token.text]) {
            const count = Object.keys(state.schema[token.text]).length;
            return { range, contents: [{ value: `**${token.text}**: model, ${count} readable fields` }] };
        }
        const before = model.getValueInRange(
            new monaco.Range(Math.max(1, position.lineNumber - 20), 1, position.lineNumber, token.startColumn)
        );
        const call = /sdk\.db\.(?:read|searchRead|search|searchCount)\(\s*(["'])([\w.]+)\1[^()]*$/.exec(before);
        const field = call && state.schema[call[2]]?.[token.text];
        if (!field) {
            return null;
        }
        return {
            range,
            contents: [
                { value: "```typescript\n" + `${token.text}: ${field.type}` + "\n```" },
                { value: `${field.doc} — field of \`${call[2]}\`` },
            ],
        };
    }

    function post(message) {
        if (window.parent && window.parent !== window) {
            window.parent.postMessage({ source: "iota_scripts_editor", ...message }, ORIGIN);
        }
    }
    function fail(message) {
        post({ type: "error", message: String(message).slice(0, 500) });
    }

    /**
     * Ctrl+S / Cmd+S and Alt+S (Odoo's save hotkey) pressed in the editor.
     * Keyboard events do not leave an iframe, so Odoo's hotkey service never
     * sees them: the frame asks its parent to save instead, and keeps the
     * browser's own "Save page as" dialog away.
     */
    function isSaveKey(ev) {
        if (ev.code !== "KeyS" && (ev.key || "").toLowerCase() !== "s") {
            return false;
        }
        const command = (ev.ctrlKey || ev.metaKey) && !ev.altKey;
        const odooHotkey = ev.altKey && !ev.ctrlKey && !ev.metaKey;
        return !ev.shiftKey && (command || odooHotkey);
    }
    window.addEventListener(
        "keydown",
        (ev) => {
            if (isSaveKey(ev)) {
                ev.preventDefault();
                ev.stopPropagation();
                if (!ev.repeat) {
                    post({ type: "save" });
                }
            }
        },
        true // before Monaco's own keybindings
    );

    // A policy violation means something in Monaco needs more than the CSP
    // allows: the parent falls back to Ace rather than run half an editor.
    document.addEventListener("securitypolicyviolation", (ev) => {
        fail(`Content-Security-Policy refused ${ev.violatedDirective}: ${ev.blockedURI}`);
    });

    function setLibs(monaco, libs) {
        const ts = monaco.languages.typescript;
        for (const lib of libs || []) {
            if (typeof lib.path !== "string" || typeof lib.content !== "string") {
                continue;
            }
            const previous = state.libs.get(lib.path);
            if (previous && previous.content === lib.content) {
                continue;
            }
            if (previous) {
                previous.js.dispose();
                previous.ts.dispose();
            }
            if (lib.path.endsWith("/models.d.ts")) {
                state.schema = parseSchema(lib.content);
            }
            state.libs.set(lib.path, {
                content: lib.content,
                js: ts.javascriptDefaults.addExtraLib(lib.content, lib.path),
                ts: ts.typescriptDefaults.addExtraLib(lib.content, lib.path),
            });
        }
        // tours and tests wait on this: how many extra libs the editor has
        document.body.dataset.libs = String(state.libs.size);
    }

    function configure(monaco) {
        const ts = monaco.languages.typescript;
        for (const defaults of [ts.javascriptDefaults, ts.typescriptDefaults]) {
            defaults.setCompilerOptions({
                target: ts.ScriptTarget.ES2022,
                module: ts.ModuleKind.ESNext,
                // approved npm packages' typings live under file:///node_modules/<name>/
                moduleResolution: ts.ModuleResolutionKind.NodeJs,
                lib: ["es2022"],
                allowJs: true,
                allowNonTsExtensions: true,
                noEmit: true,
            });
            // Syntax errors come from Monaco; the server check adds the engine's view.
            defaults.setDiagnosticsOptions({ noSemanticValidation: true, noSyntaxValidation: false });
            defaults.setEagerModelSync(true);
        }
        monaco.languages.registerHoverProvider("javascript", {
            provideHover: (model, position) => fieldHover(monaco, model, position),
        });
    }

    /**
     * The languages whose Monaco modules this copy ships (static/lib/monaco holds
     * the JavaScript/TypeScript parts only). Asking for another one (json) makes
     * the AMD loader fetch a module that is not there and fail in an unhandled
     * promise: such text is edited as plain text instead.
     */
    const SHIPPED_LANGUAGES = ["javascript", "typescript", "plaintext"];

    function openEditor(monaco, msg) {
        if (!state.editor) {
            const language = SHIPPED_LANGUAGES.includes(msg.language) ? msg.language : "plaintext";
            const model = monaco.editor.createModel(
                msg.value || "",
                language,
                monaco.Uri.parse(language === "javascript" ? "file:///script.js" : "file:///text.txt")
            );
            state.editor = monaco.editor.create(container, {
                model,
                readOnly: !!msg.readonly,
                automaticLayout: true,
                minimap: { enabled: false },
                fontSize: 13,
                scrollBeyondLastLine: false,
                fixedOverflowWidgets: true,
                tabSize: 2,
                // model and field names are strings: complete them as they are typed,
                // not only on Ctrl+Space (the typings list them as string literals)
                quickSuggestions: { other: true, comments: false, strings: true },
                // the breakpoint margin (see setBreakpoints)
                glyphMargin: true,
            });
            state.breakpoints = state.editor.createDecorationsCollection([]);
            // F9 (as in VS Code) and the context menu toggle the cursor line's breakpoint
            state.editor.addAction({
                id: "iota.toggleBreakpoint",
                label: "Toggle Breakpoint",
                keybindings: [monaco.KeyCode.F9],
                contextMenuGroupId: "navigation",
                run: (ed) => {
                    const position = ed.getPosition();
                    if (position) {
                        post({ type: "gutter", line: position.lineNumber });
                    }
                },
            });
            state.editor.onMouseDown((ev) => {
                const t = ev.target;
                const types = monaco.editor.MouseTargetType;
                if (
                    t &&
                    t.position &&
                    (t.type === types.GUTTER_GLYPH_MARGIN || t.type === types.GUTTER_LINE_DECORATIONS)
                ) {
                    post({ type: "gutter", line: t.position.lineNumber });
                }
            });
            model.onDidChangeContent(() => {
                if (!state.applying) {
                    post({ type: "change", value: model.getValue() });
                }
            });
            state.editor.onDidBlurEditorText(() => post({ type: "blur" }));
        } else {
            state.editor.updateOptions({ readOnly: !!msg.readonly });
            const model = state.editor.getModel();
            if (typeof msg.value === "string" && msg.value !== model.getValue()) {
                // an outside change (discard, onchange, restore): not an edit
                state.applying = true;
                try {
                    model.pushEditOperations(
                        [],
                        [{ range: model.getFullModelRange(), text: msg.value }],
                        () => null
                    );
                } finally {
                    state.applying = false;
                }
            }
        }
    }

    function openDiff(monaco, msg) {
        const original = monaco.editor.createModel(msg.original || "", "javascript");
        const modified = monaco.editor.createModel(msg.value || "", "javascript");
        if (state.diff) {
            const old = state.diff.getModel();
            state.diff.setModel({ original, modified });
            old.original.dispose();
            old.modified.dispose();
            return;
        }
        state.diff = monaco.editor.createDiffEditor(container, {
            readOnly: true,
            originalEditable: false,
            automaticLayout: true,
            renderSideBySide: true,
            minimap: { enabled: false },
            scrollBeyondLastLine: false,
        });
        state.diff.setModel({ original, modified });
    }

    function setMarkers(monaco, markers) {
        if (!state.editor) {
            return;
        }
        const model = state.editor.getModel();
        const lineCount = model.getLineCount();
        monaco.editor.setModelMarkers(
            model,
            "iota_scripts",
            (markers || []).map((m) => {
                const line = Math.min(Math.max(parseInt(m.line, 10) || 1, 1), lineCount);
                const column = Math.max(parseInt(m.column, 10) || 1, 1);
                return {
                    severity: m.severity === "warning" ? monaco.MarkerSeverity.Warning : monaco.MarkerSeverity.Error,
                    message: String(m.message || ""),
                    startLineNumber: line,
                    startColumn: column,
                    endLineNumber: line,
                    endColumn: Math.max(column + 1, model.getLineMaxColumn(line)),
                };
            })
        );
    }

    /** Breakpoint dots in the margin (red; orange when armed; a diamond for a
     * logpoint) and the line of the hit shown below the editor. */
    function setBreakpoints(monaco, msg) {
        if (!state.editor || !state.breakpoints) {
            return;
        }
        const lineCount = state.editor.getModel().getLineCount();
        const decorations = [];
        for (const bp of Array.isArray(msg.items) ? msg.items : []) {
            const line = parseInt(bp.line, 10);
            if (!(line >= 1 && line <= lineCount)) {
                continue;
            }
            const kind = bp.log ? "log" : "break";
            decorations.push({
                range: new monaco.Range(line, 1, line, 1),
                options: {
                    glyphMarginClassName: `o_iota_bp o_iota_bp_${kind}${bp.armed ? " o_iota_bp_armed" : ""}`,
                    glyphMarginHoverMessage: {
                        value: [
                            bp.log ? `Logpoint: ${bp.log}` : "Breakpoint",
                            bp.condition ? `when ${bp.condition}` : "",
                            bp.armed ? `armed for ${bp.armed} run(s)` : "",
                        ].filter(Boolean).join(" — "),
                    },
                },
            });
        }
        const hit = parseInt(msg.hit, 10);
        if (hit >= 1 && hit <= lineCount) {
            decorations.push({
                range: new monaco.Range(hit, 1, hit, 1),
                options: { isWholeLine: true, className: "o_iota_bp_hit_line" },
            });
            state.editor.revealLineInCenterIfOutsideViewport(hit);
        }
        state.breakpoints.set(decorations);
    }

    function reveal(msg) {
        if (!state.editor) {
            return;
        }
        const line = Math.max(parseInt(msg.line, 10) || 1, 1);
        const column = Math.max(parseInt(msg.column, 10) || 1, 1);
        state.editor.revealPositionInCenter({ lineNumber: line, column });
        state.editor.setSelection({
            startLineNumber: line,
            startColumn: column,
            endLineNumber: line,
            endColumn: column + 1,
        });
        state.editor.focus();
    }

    function start(monaco) {
        configure(monaco);
        window.addEventListener("message", (ev) => {
            if (ev.origin !== ORIGIN || ev.source !== window.parent) {
                return;
            }
            const msg = ev.data;
            if (!msg || typeof msg !== "object" || msg.source !== "iota_scripts_field") {
                return;
            }
            try {
                if (msg.type === "init") {
                    setLibs(monaco, msg.extraLibs);
                    monaco.editor.setTheme(msg.theme === "vs-dark" ? "vs-dark" : "vs");
                    if (msg.mode === "diff") {
                        openDiff(monaco, msg);
                    } else {
                        openEditor(monaco, msg);
                    }
                } else if (msg.type === "markers") {
                    setMarkers(monaco, msg.markers);
                } else if (msg.type === "reveal") {
                    reveal(msg);
                } else if (msg.type === "breakpoints") {
                    setBreakpoints(monaco, msg);
                }
            } catch (e) {
                fail(e && e.message ? e.message : e);
            }
        });
        post({ type: "ready" });
    }

    // The server found Monaco missing (controllers/editor.py): the page shows
    // why, and the field falls back to Ace with the same words.
    if (container.dataset.error) {
        fail(container.dataset.error);
        return;
    }
    const vs = container.dataset.vs;
    if (typeof window.require !== "function" || !vs) {
        fail("the Monaco loader did not load");
        return;
    }
    // Workers from this origin's file, not from a blob: URL (the CSP has no
    // blob:). workerMain.js finds the AMD modules at ../../../ from itself.
    window.MonacoEnvironment = { getWorkerUrl: () => `${vs}/base/worker/workerMain.js` };
    window.require.config({ paths: { vs } });
    window.require.onError = (err) => fail(err && err.message ? err.message : err);
    window.require(["vs/editor/editor.main"], () => start(window.monaco), fail);
})();
