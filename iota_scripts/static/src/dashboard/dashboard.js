import { Component, onWillStart, onWillUnmount, useEffect, useRef, useState } from "@odoo/owl";
import { loadBundle } from "@web/core/assets";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardActionServiceProps } from "@web/webclient/actions/action_service";
import { CHARTS } from "./chart_configs";

/**
 * The scripts dashboard (client action `iota_scripts.dashboard`).
 *
 * All numbers come from one call, `iota.script.execution.get_dashboard_data`
 * (record rules and the company switcher apply). Charts are drawn with Odoo's
 * own Chart.js (`web.chartjs_lib`, loaded on demand, as the graph view does).
 */
export class IotaScriptsDashboard extends Component {
    static template = "iota_scripts.Dashboard";
    static props = { ...standardActionServiceProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.periods = [
            { days: 1, label: _t("24 hours") },
            { days: 7, label: _t("7 days") },
            { days: 30, label: _t("30 days") },
        ];
        this.state = useState({ periodDays: 7, data: null, loading: true });
        this.canvases = Object.fromEntries(Object.keys(CHARTS).map((name) => [name, useRef(name)]));
        this.charts = [];

        onWillStart(async () => {
            await Promise.all([loadBundle("web.chartjs_lib"), this.load()]);
        });
        useEffect(
            () => this.renderCharts(),
            () => [this.state.data]
        );
        onWillUnmount(() => this.destroyCharts());
    }

    async load() {
        this.state.loading = true;
        this.state.data = await this.orm.call("iota.script.execution", "get_dashboard_data", [
            this.state.periodDays,
        ]);
        this.state.loading = false;
    }

    get isEmpty() {
        return !this.state.data || this.state.data.totals.runs === 0;
    }

    formatRate(rate) {
        return rate === null || rate === undefined ? "–" : `${rate.toFixed(1)} %`;
    }

    formatMs(ms) {
        return ms === null || ms === undefined ? "–" : `${Math.round(ms)} ms`;
    }

    async onPeriod(days) {
        if (days !== this.state.periodDays) {
            this.state.periodDays = days;
            await this.load();
        }
    }

    destroyCharts() {
        for (const chart of this.charts) {
            chart.destroy();
        }
        this.charts = [];
    }

    renderCharts() {
        this.destroyCharts();
        if (this.isEmpty) {
            return;
        }
        for (const [name, config] of Object.entries(CHARTS)) {
            const canvas = this.canvases[name].el;
            if (canvas) {
                this.charts.push(new Chart(canvas, config(this.state.data)));
            }
        }
    }

    /** The failed runs (failed, timed out, dead) of one script, in the period. */
    get stableLabel() {
        return _t("Stable");
    }

    get candidateLabel() {
        return _t("Candidate");
    }

    openFailingRuns(script) {
        const data = this.state.data;
        this.action.doAction({
            type: "ir.actions.act_window",
            name: _t("Failed runs: %s", script.name),
            res_model: "iota.script.execution",
            views: [
                [false, "list"],
                [false, "form"],
            ],
            domain: [
                ["script_id", "=", script.script_id],
                ["state", "in", data.error_states],
                ["date_start", ">=", data.since],
            ],
            context: { search_default_script_id: script.script_id },
        });
    }

    openQueue() {
        this.action.doAction("iota_scripts.iota_script_execution_action_queue");
    }

    openDeadLetters() {
        this.action.doAction("iota_scripts.iota_script_delivery_action_dead");
    }

    /** The schedules with missed slots, or waiting for their script (the "Missed slots" card). */
    openMissedSlots() {
        const waiting = this.state.data.schedules?.waiting;
        this.action.doAction("iota_scripts.iota_script_schedule_action", {
            additionalContext: waiting ? { search_default_waiting: 1 } : { search_default_missed: 1 },
        });
    }

    openEventsWaiting() {
        this.action.doAction("iota_scripts.iota_script_event_action", {
            additionalContext: { search_default_pending: 1 },
        });
    }
}

registry.category("actions").add("iota_scripts.dashboard", IotaScriptsDashboard);
