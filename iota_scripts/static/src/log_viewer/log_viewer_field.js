import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { Component } from "@odoo/owl";
import { LogList, parseLogJson } from "./log_list";

/**
 * Read-only field widget for an execution's stored logs (``log_json``):
 * level filter, text search, offsets and wall-clock times (from
 * ``date_start``), and the count of dropped lines (``logs_dropped``).
 */
export class LogViewerField extends Component {
    static template = "iota_scripts.LogViewerField";
    static components = { LogList };
    static props = { ...standardFieldProps };

    get lines() {
        return parseLogJson(this.props.record.data[this.props.name]);
    }

    get startedAt() {
        return this.props.record.data.date_start || undefined;
    }

    get dropped() {
        return this.props.record.data.logs_dropped || 0;
    }

    get emptyText() {
        return _t("This run logged nothing.");
    }
}

registry.category("fields").add("iota_scripts_log_viewer", {
    component: LogViewerField,
    displayName: _t("Script logs"),
    supportedTypes: ["text"],
    fieldDependencies: [
        { name: "date_start", type: "datetime" },
        { name: "logs_dropped", type: "integer" },
    ],
});
