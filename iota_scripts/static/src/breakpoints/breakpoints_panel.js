import { _t } from "@web/core/l10n/translation";
import { useBus, useService } from "@web/core/utils/hooks";
import { Component, onWillStart, useState } from "@odoo/owl";

/**
 * The breakpoints of a script's saved version, below its editor (issue 12 §4).
 *
 * Lines are toggled by a click in the editor's margin (the MonacoField calls
 * `toggle`); each breakpoint may get a condition (a JS expression) and a log
 * message (a logpoint). They apply to dry-runs at once; "Arm" makes the next
 * N live runs of any trigger take them. Stored in iota.script.breakpoint
 * (set_from_editor, arm), which refuses lines without a statement and
 * conditions that do not parse: the message is shown here.
 *
 * Props: scriptId, getSource() (the editor's text), onChange(items) (the
 * field draws the margin), bus (its "toggle" events carry a line).
 */
export class BreakpointsPanel extends Component {
    static template = "iota_scripts.BreakpointsPanel";
    static props = {
        scriptId: Number,
        getSource: Function,
        onChange: Function,
        readonly: { type: Boolean, optional: true },
        bus: Object,
    };

    setup() {
        this.orm = useService("orm");
        this.state = useState({ items: [], error: "", runs: 1, version: 0, busy: false });
        onWillStart(() => this.load());
        useBus(this.props.bus, "toggle", ({ detail }) => this.toggle(detail));
    }

    get armed() {
        return this.state.items.reduce((n, b) => Math.max(n, b.runs_left || 0), 0);
    }

    apply(result) {
        this.state.items = result.breakpoints;
        this.state.version = result.version_number;
        this.state.error = "";
        this.props.onChange(this.state.items);
    }

    async load() {
        try {
            this.apply(
                await this.orm.call("iota.script.breakpoint", "editor_state", [this.props.scriptId])
            );
        } catch (e) {
            this.state.error =
                e?.data?.message || e?.message || _t("The breakpoints could not be read.");
        }
    }

    async save(items) {
        if (this.props.readonly) {
            return;
        }
        this.state.busy = true;
        try {
            const payload = items.map((b) => ({
                line: b.line,
                condition: b.condition || "",
                log: b.log || "",
            }));
            this.apply(
                await this.orm.call("iota.script.breakpoint", "set_from_editor", [
                    this.props.scriptId,
                    payload,
                    this.props.getSource(),
                ])
            );
        } catch (e) {
            this.state.error =
                e?.data?.message || e?.message || _t("The breakpoints could not be saved.");
            this.props.onChange(this.state.items);
        } finally {
            this.state.busy = false;
        }
    }

    /** A click in the margin: adds the line's breakpoint, or removes it. */
    toggle(line) {
        const items = this.state.items.filter((b) => b.line !== line);
        if (items.length === this.state.items.length) {
            items.push({ line, condition: "", log: "" });
            items.sort((a, b) => a.line - b.line);
        }
        return this.save(items);
    }

    remove(line) {
        return this.save(this.state.items.filter((b) => b.line !== line));
    }

    onEdit(bp, key, ev) {
        const value = ev.target.value;
        if ((bp[key] || "") === value) {
            return;
        }
        return this.save(
            this.state.items.map((b) => (b.line === bp.line ? { ...b, [key]: value } : b))
        );
    }

    async arm(runs) {
        this.state.busy = true;
        try {
            this.apply(
                await this.orm.call("iota.script.breakpoint", "arm", [this.props.scriptId, runs])
            );
        } catch (e) {
            this.state.error =
                e?.data?.message || e?.message || _t("The breakpoints could not be armed.");
        } finally {
            this.state.busy = false;
        }
    }

    onRuns(ev) {
        this.state.runs = Math.max(1, Math.min(100, parseInt(ev.target.value, 10) || 1));
    }
}
