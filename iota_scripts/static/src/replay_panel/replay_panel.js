import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { Component, onWillStart, useState } from "@odoo/owl";
import { LogList } from "../log_viewer/log_list";
import { BreakpointHits } from "../breakpoints/breakpoint_hits";

/** One divergence of a replay (run/replay.py) as one line of text. */
export function describeDivergence(d) {
    const json = (v) => JSON.stringify(v);
    switch (d.kind) {
        case "different_argument":
            return _t("sdk.%(call)s called with %(args)s; the recorded run passed %(recorded)s", {
                call: d.call,
                args: json(d.args),
                recorded: json(d.recorded),
            });
        case "different_call":
            return _t("sdk.%(call)s called where the recorded run called sdk.%(expected)s", {
                call: d.call,
                expected: d.expected || "nothing",
            });
        case "extra_call":
            return _t("sdk.%(call)s was not called by the recorded run (answered replay_diverged)", {
                call: d.call,
            });
        case "missing_calls":
            return _t("%(count)s recorded call(s) not made: %(calls)s", {
                count: d.count,
                calls: d.calls.map((c) => `sdk.${c.call}`).join(", "),
            });
        case "different_result":
            return _t("the outcome changed: %(before)s → %(after)s", {
                before: json(d.recorded),
                after: json(d.replayed),
            });
    }
    return json(d);
}

/**
 * The Replay page of the script form (``<widget name="iota_scripts_replay_panel"/>``).
 *
 * Lists the script's recent runs; "Replay on draft" runs one of them again on
 * the source in the editor, saved or not, with every sdk call answered from
 * the run's journal (nothing live is touched), and shows the outcome and the
 * divergences. "Behavioural diff" does it for the last N real runs.
 */
export class ReplayPanel extends Component {
    static template = "iota_scripts.ReplayPanel";
    static components = { LogList, BreakpointHits };
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.state = useState({ runs: [], report: null, diff: null, busy: false, limit: 10 });
        onWillStart(() => this.loadRuns());
    }

    async loadRuns() {
        const resId = this.props.record.resId;
        this.state.runs = resId
            ? await this.orm.call("iota.script", "iota_replayable_runs", [[resId]], { limit: 20 })
            : [];
    }

    /** The source in the editor, saved or not (its pending edit committed first). */
    async draft() {
        await this.props.record.isDirty();
        return this.props.record.data.source || "";
    }

    async replay(run) {
        this.state.busy = true;
        try {
            this.state.diff = null;
            this.state.report = await this.orm.call(
                "iota.script",
                "action_replay_execution",
                [[this.props.record.resId], run.id],
                { source: await this.draft() }
            );
        } finally {
            this.state.busy = false;
        }
    }

    async behaviourDiff() {
        this.state.busy = true;
        try {
            this.state.report = null;
            this.state.diff = await this.orm.call(
                "iota.script",
                "action_behaviour_diff",
                [[this.props.record.resId]],
                { source: await this.draft(), limit: Number(this.state.limit) || 10 }
            );
        } finally {
            this.state.busy = false;
        }
    }

    onLimit(ev) {
        this.state.limit = ev.target.value;
    }

    describe(d) {
        return describeDivergence(d);
    }

    stateClass(state) {
        return state === "succeeded" ? "text-bg-success" : "text-bg-danger";
    }

    json(value) {
        return JSON.stringify(value ?? null, null, 2);
    }
}

registry.category("view_widgets").add("iota_scripts_replay_panel", {
    component: ReplayPanel,
    fieldDependencies: [{ name: "source", type: "text" }],
});
