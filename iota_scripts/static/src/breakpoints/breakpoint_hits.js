import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { Component, useState } from "@odoo/owl";

/**
 * One captured value as a tree (`VarTree`): objects and arrays open and
 * close, leaves show their JSON. Values come from the engine's capture
 * (iota_scripts_sdk/breakpoints.py): plain JSON, where strings such as
 * "[masked]", "[Function f]" or "[Circular]" describe what was not copied.
 */
export class VarTree extends Component {
    static template = "iota_scripts.BreakpointVarTree";
    static props = {
        name: String,
        value: { optional: true },
        depth: { type: Number, optional: true },
    };

    setup() {
        this.state = useState({ open: false });
    }

    get isBranch() {
        return this.props.value !== null && typeof this.props.value === "object";
    }

    get entries() {
        const v = this.props.value;
        return Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    }

    get summary() {
        const v = this.props.value;
        return Array.isArray(v)
            ? `Array(${v.length})`
            : `{${Object.keys(v).slice(0, 4).join(", ")}${Object.keys(v).length > 4 ? ", …" : ""}}`;
    }

    get leaf() {
        return JSON.stringify(this.props.value);
    }
}
VarTree.components = { VarTree };

/**
 * The hits of one run: "Hit i of n", previous/next, the line, the captured
 * locals and `this` as trees, the script's own call stack; a logpoint's
 * message and a failed condition's note. `onLine(line)` (optional) shows the
 * hit's line in an editor.
 */
export class BreakpointHits extends Component {
    static template = "iota_scripts.BreakpointHits";
    static components = { VarTree };
    static props = {
        hits: Array,
        dropped: { type: Number, optional: true },
        onLine: { type: Function, optional: true },
    };

    setup() {
        this.state = useState({ index: 0 });
    }

    get hit() {
        return this.props.hits[Math.min(this.state.index, this.props.hits.length - 1)] || null;
    }

    get vars() {
        return Object.entries((this.hit && this.hit.vars) || {});
    }

    step(delta) {
        const n = this.props.hits.length;
        this.state.index = Math.max(0, Math.min(n - 1, this.state.index + delta));
        if (this.props.onLine && this.hit) {
            this.props.onLine(this.hit.line);
        }
    }
}

/** `iota_scripts_breakpoint_hits`: BreakpointHits on an execution's JSON text field. */
export class BreakpointHitsField extends Component {
    static template = "iota_scripts.BreakpointHitsField";
    static components = { BreakpointHits };
    static props = { ...standardFieldProps };

    get hits() {
        try {
            const hits = JSON.parse(this.props.record.data[this.props.name] || "[]");
            return Array.isArray(hits) ? hits : [];
        } catch {
            return [];
        }
    }

    get dropped() {
        return this.props.record.data.breakpoint_hits_dropped || 0;
    }
}

registry.category("fields").add("iota_scripts_breakpoint_hits", {
    component: BreakpointHitsField,
    displayName: _t("Breakpoint hits (IOTA Scripts)"),
    supportedTypes: ["text"],
});
