import { _t } from "@web/core/l10n/translation";
import { Component, useState } from "@odoo/owl";

export const LEVELS = ["debug", "info", "warn", "error"];

/**
 * Parses stored log JSON (a list of {level, message, t_ms, fields}) into lines.
 * Anything that is not a list of objects gives no line.
 */
export function parseLogJson(text) {
    let value;
    try {
        value = JSON.parse(text || "[]");
    } catch {
        return [];
    }
    return Array.isArray(value) ? value.filter((l) => l && typeof l === "object") : [];
}

/** "+1234.5 ms" style offset of a line from the start of its run. */
export function formatOffset(tMs) {
    const ms = Number(tMs) || 0;
    return ms >= 10000 ? `+${(ms / 1000).toFixed(2)} s` : `+${ms.toFixed(1)} ms`;
}

/** The text of a line that the search looks into: message and fields. */
export function lineText(line) {
    const fields = line.fields ? " " + JSON.stringify(line.fields) : "";
    return `${line.message ?? ""}${fields}`;
}

/** Lines kept by a level filter (a Set of levels) and a case-insensitive search. */
export function filterLines(lines, levels, search) {
    const needle = (search || "").trim().toLowerCase();
    return lines.filter(
        (line) =>
            levels.has(LEVELS.includes(line.level) ? line.level : "info") &&
            (!needle || lineText(line).toLowerCase().includes(needle))
    );
}

/**
 * A list of log lines with a level filter, a text search and timestamps.
 * Shared by the execution form (stored logs) and the Run panel (live lines).
 */
export class LogList extends Component {
    static template = "iota_scripts.LogList";
    static props = {
        lines: { type: Array },
        // luxon DateTime of the run's start: shows wall-clock times too
        startedAt: { type: Object, optional: true },
        dropped: { type: Number, optional: true },
        emptyText: { type: String, optional: true },
    };

    setup() {
        this.state = useState({ levels: new Set(LEVELS), search: "" });
        this.LEVELS = LEVELS;
        this.levelLabels = {
            debug: _t("Debug"),
            info: _t("Info"),
            warn: _t("Warning"),
            error: _t("Error"),
        };
    }

    get emptyText() {
        return this.props.emptyText || _t("No log lines.");
    }

    get visibleLines() {
        return filterLines(this.props.lines, this.state.levels, this.state.search);
    }

    countOf(level) {
        return this.props.lines.filter((l) => (l.level || "info") === level).length;
    }

    toggleLevel(level) {
        const levels = new Set(this.state.levels);
        if (levels.has(level)) {
            levels.delete(level);
        } else {
            levels.add(level);
        }
        this.state.levels = levels;
    }

    onSearch(ev) {
        this.state.search = ev.target.value;
    }

    offset(line) {
        return formatOffset(line.t_ms);
    }

    clock(line) {
        if (!this.props.startedAt) {
            return "";
        }
        return this.props.startedAt
            .plus({ milliseconds: Number(line.t_ms) || 0 })
            .toLocal()
            .toFormat("HH:mm:ss.SSS");
    }

    fieldsText(line) {
        return line.fields ? JSON.stringify(line.fields) : "";
    }
}
