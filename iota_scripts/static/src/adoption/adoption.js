import { Component, onWillStart, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";
import { standardActionServiceProps } from "@web/webclient/actions/action_service";

/** Labels of the trigger kinds counted by `get_adoption_data` (scripts by trigger). */
export const TRIGGER_KINDS = {
    automation: _t("Automation rules"),
    scheduled_action: _t("Scheduled actions"),
    schedule: _t("Schedules"),
    endpoint: _t("Endpoints"),
    event: _t("Event handlers"),
    manual: _t("By hand only"),
};

/** The triggers that ran in the period, in a stable order, from `runs_per_day`. */
export function runTriggers(runsPerDay) {
    const seen = new Set();
    for (const counts of Object.values(runsPerDay || {})) {
        Object.keys(counts).forEach((trigger) => seen.add(trigger));
    }
    return [...seen].sort();
}

/**
 * Adoption (client action `iota_scripts.adoption`): is the product used?
 * Per company (the company switcher), or every company for IOTA Scripts
 * administrators. One call: `iota.script.execution.get_adoption_data(scope)`,
 * under the same access rules as the dashboard.
 */
export class IotaScriptsAdoption extends Component {
    static template = "iota_scripts.Adoption";
    static props = { ...standardActionServiceProps };

    setup() {
        this.orm = useService("orm");
        this.kinds = TRIGGER_KINDS;
        this.state = useState({ scope: "company", data: null, isAdmin: false });
        onWillStart(async () => {
            this.state.isAdmin = await user.hasGroup("iota_scripts.iota_scripts_group_admin");
            await this.load();
        });
    }

    async load() {
        this.state.data = await this.orm.call("iota.script.execution", "get_adoption_data", [
            this.state.scope,
        ]);
    }

    async onScope(scope) {
        if (scope !== this.state.scope) {
            this.state.scope = scope;
            await this.load();
        }
    }

    get triggers() {
        return runTriggers(this.state.data?.runs_per_day);
    }

    get days() {
        return Object.entries(this.state.data?.runs_per_day || {});
    }

    formatShare(share) {
        return share === null || share === undefined ? "–" : `${share.toFixed(1)} %`;
    }
}

registry.category("actions").add("iota_scripts.adoption", IotaScriptsAdoption);
