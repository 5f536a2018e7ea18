import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { Component } from "@odoo/owl";

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/**
 * The one format of byte counts (peak heap) on every screen: binary units
 * (1 KB = 1024 B), one decimal from KB up: "0 B", "512 B", "1.5 MB".
 */
export function formatBytes(bytes) {
    let value = Number(bytes) || 0;
    let unit = 0;
    while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
        value /= 1024;
        unit++;
    }
    return unit === 0 ? `${value} ${UNITS[0]}` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** States whose runs were stopped from outside the runner: their heap was not measured. */
export const UNMEASURED_STATES = ["cancelled", "timed_out", "dead"];

/**
 * `iota_scripts_bytes`: an integer byte count shown with `formatBytes`. A
 * zero on a run stopped from outside (cancelled, timed out) reads "not
 * measured": the runner was stopped before it could report.
 */
export class BytesField extends Component {
    static template = "iota_scripts.BytesField";
    static props = { ...standardFieldProps };

    get text() {
        const value = this.props.record.data[this.props.name];
        if (!value && UNMEASURED_STATES.includes(this.props.record.data.state)) {
            return _t("not measured");
        }
        return formatBytes(value);
    }
}

export const bytesField = {
    component: BytesField,
    displayName: _t("Bytes (IOTA Scripts)"),
    supportedTypes: ["integer", "float"],
};

registry.category("fields").add("iota_scripts_bytes", bytesField);
