import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { Component } from "@odoo/owl";

/** Namespace colours of the bars (an error is always red). */
const TONES = { db: "primary", http: "info", cache: "secondary", events: "warning", scripts: "dark", flags: "success" };

/**
 * Bars of a waterfall: each row's left edge and width in percent of the span
 * (the run's wall time, or the last call's end when that is later). A bar is
 * at least 0.4 % wide, so a call of a few microseconds stays visible.
 */
export function layoutRows(rows, wallMs) {
    const end = Math.max(Number(wallMs) || 0, ...rows.map((r) => r.start_ms + r.duration_ms), 0.001);
    return rows.map((r) => ({
        ...r,
        left: (100 * r.start_ms) / end,
        width: Math.max(0.4, (100 * r.duration_ms) / end),
        tone: r.outcome === "ok" ? TONES[r.namespace] || "primary" : "danger",
    }));
}

/**
 * `iota_scripts_waterfall`: the sdk calls of an execution (the computed
 * ``waterfall_json``: ``{rows: [{seq, call, namespace, start_ms, duration_ms,
 * outcome}], calls, wall_ms}``) as bars on the run's time line, plain CSS.
 */
export class WaterfallField extends Component {
    static template = "iota_scripts.WaterfallField";
    static props = { ...standardFieldProps };

    get data() {
        try {
            const value = JSON.parse(this.props.record.data[this.props.name] || "{}");
            return { rows: value.rows || [], calls: value.calls || 0, wall_ms: value.wall_ms || 0 };
        } catch {
            return { rows: [], calls: 0, wall_ms: 0 };
        }
    }

    get rows() {
        const data = this.data;
        return layoutRows(data.rows, data.wall_ms);
    }

    get notShown() {
        const data = this.data;
        return Math.max(0, data.calls - data.rows.length);
    }

    get emptyText() {
        return _t("This run made no sdk call (or was recorded without its calls).");
    }

    title(row) {
        return `${row.call}: ${row.start_ms.toFixed(1)} ms + ${row.duration_ms.toFixed(1)} ms (${row.outcome})`;
    }
}

registry.category("fields").add("iota_scripts_waterfall", {
    component: WaterfallField,
    displayName: _t("sdk call waterfall (IOTA Scripts)"),
    supportedTypes: ["text"],
});
