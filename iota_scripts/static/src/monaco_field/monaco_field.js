import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";
import { useBus, useService } from "@web/core/utils/hooks";
import { useDebounced } from "@web/core/utils/timing";
import { CodeEditor } from "@web/core/code_editor/code_editor";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { formatText } from "@web/views/fields/formatters";
import { useRecordObserver } from "@web/model/relational_model/utils";
import { Component, EventBus, onMounted, onWillUnmount, useRef, useState } from "@odoo/owl";

import { BreakpointsPanel } from "../breakpoints/breakpoints_panel";

import { EditorChannel, toMarkers } from "./editor_channel";
import { editorTheme, loadEditorTypings } from "./typings";
import { REVEAL_POSITION, takePendingReveal } from "./reveal";

/**
 * `iota_scripts_monaco`: a JavaScript source in Monaco, inside an iframe
 * (/iota_scripts/editor) so that Monaco's AMD loader never touches Odoo's
 * window. Saves like Odoo's Ace field: edits are committed to the record on
 * blur, after a pause, and whenever the model asks (WILL_SAVE_URGENTLY,
 * NEED_LOCAL_CHANGES), so none is lost. Problems found by the server check
 * (/iota_scripts/editor/check) become markers. Falls back to Ace when the
 * frame fails or does not start.
 *
 * Ctrl+S / Cmd+S / Alt+S pressed in the frame (where Odoo's hotkeys do not
 * reach) arrive as a `save` message: the edit is committed and the record
 * saved, as the form's Save button does.
 *
 * Listens to `IOTA_SCRIPTS:REVEAL_POSITION` ({resId, line, column}, 1-based)
 * on env.bus to jump to a position of its record's source, and reveals the
 * position asked for before it was mounted (see ./reveal.js).
 */
export class MonacoField extends Component {
    static template = "iota_scripts.MonacoField";
    static components = { CodeEditor, BreakpointsPanel };
    static props = {
        ...standardFieldProps,
        diagnostics: { type: Boolean, optional: true },
        breakpoints: { type: Boolean, optional: true },
        height: { type: String, optional: true },
        language: { type: String, optional: true },
        readyTimeoutMs: { type: Number, optional: true },
    };
    // Most of the viewport: the page scrolls the form's header away and the
    // editor fills what remains (min-height in the scss); "Full screen" takes all.
    static defaultProps = {
        diagnostics: true,
        height: "calc(100vh - 9rem)",
        language: "javascript",
        readyTimeoutMs: 15000,
    };

    setup() {
        this.action = useService("action");
        this.iframeRef = useRef("iframe");
        this.rootRef = useRef("root");
        this.state = useState({ fallback: false, reason: "", value: "", fullscreen: false });
        this.value = "";
        this.lastCommitted = null;
        this.observedResId = null;
        this.isDirty = false;
        this.typings = null;
        // margin clicks go to the breakpoints panel (../breakpoints/breakpoints_panel.js)
        this.breakpointBus = new EventBus();
        this.breakpointItems = [];

        useRecordObserver((record) => {
            const incoming = formatText(record.data[this.props.name]);
            // The pager keeps this component for the next record: what was
            // committed to the previous one says nothing about this one.
            if (this.observedResId && record.resId !== this.observedResId) {
                this.lastCommitted = null;
            }
            this.observedResId = record.resId;
            if (incoming === this.value || incoming === this.lastCommitted) {
                return; // our own commit coming back, or nothing new
            }
            this.value = incoming;
            this.state.value = incoming;
            this.setDirty(false);
            this.sendInit();
            this.scheduleCheck();
        });

        const { model } = this.props.record;
        useBus(model.bus, "WILL_SAVE_URGENTLY", () => this.commitChanges());
        useBus(model.bus, "NEED_LOCAL_CHANGES", ({ detail }) =>
            detail.proms.push(this.commitChanges())
        );
        useBus(this.env.bus, REVEAL_POSITION, ({ detail }) => {
            // positions are in the script's source: another Monaco field of the
            // form (the input schema) must not take them
            if (
                this.isSource &&
                detail &&
                detail.resId === this.props.record.resId &&
                !this.state.fallback
            ) {
                detail.handled = true;
                this.channel.send("reveal", { line: detail.line, column: detail.column });
            }
        });

        // an edit made less than a pause before the field goes (another notebook page) is kept
        this.debouncedCommit = useDebounced(() => this.commitChanges(), 1000, {
            execBeforeUnmount: true,
        });
        this.scheduleCheck = useDebounced(() => this.check(), 600);

        this.channel = new EditorChannel({
            getFrameWindow: () => this.iframeRef.el?.contentWindow || null,
            readyTimeoutMs: this.props.readyTimeoutMs,
            onMessage: (msg) => this.onFrameMessage(msg),
            onFail: (reason) => this.fallBack(reason),
        });
        onMounted(() => {
            this.bringIntoView();
            this.channel.start();
            loadEditorTypings().then((typings) => {
                this.typings = typings;
                this.sendInit();
            });
        });
        onWillUnmount(() => {
            this.channel.stop();
            document.removeEventListener("keydown", this.onFullscreenKey);
        });
        this.onFullscreenKey = (ev) => {
            if (ev.key === "Escape") {
                this.toggleFullscreen(false);
            }
        };
    }

    get isSource() {
        return this.props.name === "source";
    }

    /**
     * Room for code: opening the Source page of a script that has source
     * scrolls the form so that the editor starts near the top of the view
     * (the name, key and run-as fields stay one scroll up); the editor then
     * fills the window (``height``). A new script keeps its header in view:
     * its name is the first thing to fill.
     */
    bringIntoView() {
        const el = this.rootRef.el;
        if (!el || !this.isSource || !this.props.record.data.source) {
            return;
        }
        if (el.getBoundingClientRect().top > 0.3 * window.innerHeight) {
            el.scrollIntoView({ block: "start", behavior: "instant" });
        }
    }

    /** Full screen: the editor covers the window until toggled back (button or Escape). */
    toggleFullscreen(on = !this.state.fullscreen) {
        this.state.fullscreen = on;
        if (on) {
            document.addEventListener("keydown", this.onFullscreenKey);
        } else {
            document.removeEventListener("keydown", this.onFullscreenKey);
        }
    }

    /** Breakpoints: the saved script's source, in Monaco (not in the Ace fallback). */
    get showBreakpoints() {
        return (
            this.props.breakpoints &&
            this.isSource &&
            this.props.record.resModel === "iota.script" &&
            !!this.props.record.resId &&
            !this.state.fallback
        );
    }

    /** A new script, or a new saved version: the panel reads its breakpoints again. */
    get breakpointsKey() {
        const v = this.props.record.data.version_id;
        const versionId = Array.isArray(v) ? v[0] : v?.id || 0;
        return `${this.props.record.resId}:${versionId}`;
    }

    /** The panel's breakpoints, drawn in the editor's margin. */
    onBreakpoints(items) {
        this.breakpointItems = items;
        this.sendBreakpoints();
    }

    sendBreakpoints() {
        this.channel.send("breakpoints", {
            items: this.breakpointItems.map((b) => ({
                line: b.line,
                armed: b.runs_left || 0,
                condition: b.condition || "",
                log: b.log || "",
            })),
        });
    }

    get frameSrc() {
        return "/iota_scripts/editor";
    }

    get canCompare() {
        return !this.props.readonly && !!this.props.record.resId && this.props.name === "source";
    }

    /** The unsaved text against the saved versions, in a dialog (the form stays as is). */
    compareDraft() {
        this.action.doAction({
            type: "ir.actions.client",
            tag: "iota_scripts.version_diff",
            name: _t("Compare with the saved versions"),
            target: "new",
            params: { script_id: this.props.record.resId, draft: this.value },
        });
    }

    get fallbackNotice() {
        return _t(
            "The Monaco editor is not available (%s); using the basic code editor.",
            this.state.reason
        );
    }

    get aceTheme() {
        return editorTheme() === "vs-dark" ? "monokai" : "";
    }

    get frameStyle() {
        return this.state.fullscreen ? "" : `height: ${this.props.height};`;
    }

    sendInit() {
        if (!this.channel?.ready) {
            return; // sent on "ready"
        }
        this.channel.send("init", {
            mode: "editor",
            value: this.value,
            readonly: !!this.props.readonly,
            language: this.props.language,
            theme: editorTheme(),
            extraLibs: this.props.language === "javascript" ? this.typings?.libs || [] : [],
        });
        if (this.breakpointItems.length) {
            this.sendBreakpoints();
        }
    }

    onFrameMessage(msg) {
        if (msg.type === "ready") {
            this.sendInit();
            this.scheduleCheck();
            const position =
                this.isSource &&
                this.props.record.resId &&
                takePendingReveal(this.props.record.resId);
            if (position) {
                this.channel.send("reveal", position);
            }
        } else if (msg.type === "change") {
            this.handleChange(msg.value);
        } else if (msg.type === "blur") {
            this.commitChanges();
        } else if (msg.type === "save") {
            this.saveRecord();
        } else if (msg.type === "gutter" && this.showBreakpoints) {
            this.breakpointBus.trigger("toggle", msg.line);
        }
    }

    /** The save hotkey from the frame: commit the edit, then save the record. */
    async saveRecord() {
        if (this.props.readonly) {
            return;
        }
        await this.commitChanges();
        await this.props.record.save();
    }

    setDirty(dirty) {
        if (this.isDirty !== dirty) {
            this.isDirty = dirty;
            this.props.record.model.bus.trigger("FIELD_IS_DIRTY", dirty);
        }
    }

    handleChange(value) {
        if (this.props.readonly) {
            return;
        }
        this.value = value;
        this.state.value = value;
        this.setDirty(value !== formatText(this.props.record.data[this.props.name]));
        this.debouncedCommit();
        this.scheduleCheck();
    }

    async commitChanges() {
        if (this.props.readonly || !this.isDirty) {
            return;
        }
        const value = this.value;
        if (value !== formatText(this.props.record.data[this.props.name])) {
            this.lastCommitted = value;
            await this.props.record.update({ [this.props.name]: value });
        }
        if (this.value === value) {
            this.setDirty(false);
        }
    }

    async check() {
        if (this.props.readonly || !this.props.diagnostics || this.state.fallback) {
            return;
        }
        const source = this.value;
        let result;
        try {
            // a library script has named exports and no default export (npm packages guide)
            const library = this.props.record.data.is_library === true;
            result = await rpc("/iota_scripts/editor/check", { source, library }, { silent: true });
        } catch {
            return; // the save check will still refuse a bad source
        }
        if (source === this.value) {
            this.channel.send("markers", { markers: toMarkers(result.markers) });
        }
    }

    fallBack(reason) {
        this.state.fallback = true;
        this.state.reason = reason;
        this.state.value = this.value;
    }

    // Ace fallback: the same contract as Odoo's ace field.
    onAceChange(value) {
        this.handleChange(value);
    }
}

export const monacoField = {
    component: MonacoField,
    displayName: _t("Monaco Editor (IOTA Scripts)"),
    supportedTypes: ["text"],
    supportedOptions: [
        { label: _t("Server diagnostics"), name: "diagnostics", type: "boolean" },
        { label: _t("Breakpoints (a script's source)"), name: "breakpoints", type: "boolean" },
        { label: _t("Height (CSS)"), name: "height", type: "string" },
        { label: _t("Language (javascript, json)"), name: "language", type: "string" },
    ],
    extractProps: ({ options }) => ({
        diagnostics: options.diagnostics !== false,
        breakpoints: !!options.breakpoints,
        height: options.height || undefined,
        language: options.language || undefined,
    }),
};

registry.category("fields").add("iota_scripts_monaco", monacoField);
