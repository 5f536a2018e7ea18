import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { Component, onWillStart, useState } from "@odoo/owl";

/** Icons of the known templates (tools/templates.py); others get a generic one. */
const ICONS = {
    manual_report: "fa-table",
    record_change: "fa-bolt",
    scheduled_job: "fa-clock-o",
    http_endpoint: "fa-globe",
    event_handler: "fa-bell-o",
};

/**
 * `iota_scripts_template_gallery`: the `template` selection of a new script
 * as a row of cards (label, what it is for, how to hook it up). Choosing a
 * card sets the field; the form's onchange replaces the source and names the
 * script (models/iota_script_studio.py). The summaries are the templates'
 * opening comment lines, read once per gallery (`iota_template_gallery`).
 */
export class TemplateGallery extends Component {
    static template = "iota_scripts.TemplateGallery";
    static props = { ...standardFieldProps };

    setup() {
        this.orm = useService("orm");
        this.state = useState({ summaries: {} });
        onWillStart(async () => {
            this.state.summaries = await this.orm.call("iota.script", "iota_template_gallery", []);
        });
    }

    get cards() {
        const selection = this.props.record.fields[this.props.name].selection || [];
        return selection.map(([key, label]) => ({
            key,
            label,
            icon: ICONS[key] || "fa-file-code-o",
            summary: this.state.summaries[key] || "",
            selected: this.props.record.data[this.props.name] === key,
        }));
    }

    async choose(key) {
        if (!this.props.readonly) {
            await this.props.record.update({ [this.props.name]: key });
        }
    }
}

export const templateGallery = {
    component: TemplateGallery,
    displayName: _t("Template gallery (IOTA Scripts)"),
    supportedTypes: ["selection"],
};

registry.category("fields").add("iota_scripts_template_gallery", templateGallery);
