import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { Component, onWillUnmount, useRef, useState } from "@odoo/owl";
import { LogList } from "../log_viewer/log_list";
import { BreakpointHits } from "../breakpoints/breakpoint_hits";
import { FlameGraph } from "../flame_graph/flame_graph";
import { REVEAL_POSITION, requestReveal } from "../monaco_field/reveal";
import { buildInput, initialValues, parseJsonInput, parseSchema, schemaFields } from "./input_schema";
import * as live from "./live_stream";
import { UNMEASURED_STATES, formatBytes } from "../bytes_field/bytes_field";

/** Bus notification types sent by tools/live.py. */
export const BUS = {
    started: "iota_scripts.execution/started",
    log: "iota_scripts.execution/log",
    done: "iota_scripts.execution/done",
};

export { REVEAL_POSITION };

/** The form's notebook page that holds the source editor. */
const SOURCE_PAGE = "source";

/** A field value of a write diff as one short line (many2one ``[id, name]`` as its name). */
export function formatValue(value) {
    if (value === false || value === null || value === undefined) {
        return "∅";
    }
    if (Array.isArray(value) && value.length === 2 && typeof value[1] === "string") {
        return value[1];
    }
    return typeof value === "string" ? value : JSON.stringify(value);
}

function newToken() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The Run panel of the script form (``<widget name="iota_scripts_run_panel"/>``).
 *
 * Input: a form generated from ``input_schema``, or a raw JSON editor. Run
 * saves the record first, then calls ``action_run_live`` with a random token;
 * while that RPC is pending, the bus brings the run's id
 * (``.../started``) and its log lines (``.../log``) for that token, shown
 * live. The RPC's answer brings the result, the error and the usage, and
 * replaces the streamed lines with the stored ones. Cancel asks the server
 * to stop the run (``action_cancel_live``), which kills its runner.
 */
export class RunPanel extends Component {
    static template = "iota_scripts.RunPanel";
    static components = { LogList, BreakpointHits, FlameGraph };
    static props = { ...standardWidgetProps };

    setup() {
        this.rootRef = useRef("root");
        this.orm = useService("orm");
        this.busService = useService("bus_service");
        this.state = useState({
            status: "idle", // idle | running | done
            rawInput: "",
            formValues: {},
            formErrors: {},
            useRawEditor: false,
            lines: [],
            dropped: 0,
            units: 0, // the live governance units meter (live_stream.js)
            executionId: null,
            cancelling: false,
            outcome: null, // the answer of action_run_live (or action_dry_run)
            dryRunning: false,
        });
        this.token = null;
        // see live_stream.js (a replayed RPC streams a new execution)
        this.onStarted = (payload) => live.onStarted(this.state, this.token, payload);
        this.onLog = (payload) => live.onLog(this.state, this.token, payload);
        this.onDone = (payload) => live.onDone(this.state, this.token, payload);
        this.busService.subscribe(BUS.started, this.onStarted);
        this.busService.subscribe(BUS.log, this.onLog);
        this.busService.subscribe(BUS.done, this.onDone);
        if (!this.busService.isActive) {
            this.busService.start();
        }
        onWillUnmount(() => {
            this.busService.unsubscribe(BUS.started, this.onStarted);
            this.busService.unsubscribe(BUS.log, this.onLog);
            this.busService.unsubscribe(BUS.done, this.onDone);
        });
    }

    // ---- input ------------------------------------------------------------
    /** The generated form's fields, or null (no usable schema, or raw editor chosen). */
    get formFields() {
        return this.state.useRawEditor ? null : this.schemaFormFields;
    }

    get schemaFormFields() {
        return schemaFields(parseSchema(this.props.record.data.input_schema || ""));
    }

    formValue(field) {
        const values = this.state.formValues;
        return field.name in values ? values[field.name] : initialValues([field])[field.name];
    }

    get rawError() {
        return parseJsonInput(this.state.rawInput).error;
    }

    onRawInput(ev) {
        this.state.rawInput = ev.target.value;
    }

    onFormInput(field, ev) {
        const value = field.kind === "boolean" ? ev.target.checked : ev.target.value;
        this.state.formValues = { ...this.state.formValues, [field.name]: value };
        const { [field.name]: _gone, ...errors } = this.state.formErrors;
        this.state.formErrors = errors;
    }

    errorLabel(code) {
        return {
            required: _t("Required"),
            not_integer: _t("Not a whole number"),
            not_number: _t("Not a number"),
            not_json: _t("Not valid JSON"),
        }[code];
    }

    toggleRawEditor() {
        this.state.useRawEditor = !this.state.useRawEditor;
    }

    /** The input to send, or undefined (and the errors shown) when invalid. */
    collectInput() {
        const fields = this.formFields;
        if (fields) {
            const raw = Object.fromEntries(fields.map((f) => [f.name, this.formValue(f)]));
            const { value, errors } = buildInput(fields, raw);
            this.state.formErrors = errors;
            return Object.keys(errors).length ? undefined : value;
        }
        return parseJsonInput(this.state.rawInput).value;
    }

    // ---- run and cancel -----------------------------------------------------
    get canRun() {
        const data = this.props.record.data;
        return (
            this.state.status !== "running" &&
            data.active !== false &&
            data.state !== "disabled" &&
            !(this.formFields === null && this.rawError)
        );
    }

    /**
     * What Run and Dry run do first: the input, and the record saved (a run
     * executes the saved source). Undefined when the run cannot go ahead.
     */
    async inputForRun() {
        if (!this.canRun) {
            return undefined;
        }
        const input = this.collectInput();
        if (input === undefined) {
            return undefined;
        }
        const record = this.props.record;
        if (record.isNew || (await record.isDirty())) {
            if (!(await record.save())) {
                return undefined;
            }
        }
        return input;
    }

    async run() {
        const input = await this.inputForRun();
        if (input === undefined) {
            return;
        }
        const record = this.props.record;
        this.token = newToken();
        Object.assign(this.state, {
            status: "running",
            lines: [],
            dropped: 0,
            units: 0,
            executionId: null,
            cancelling: false,
            outcome: null,
        });
        try {
            const outcome = await this.orm.call(
                "iota.script",
                "action_run_live",
                [[record.resId]],
                { input_value: input, token: this.token }
            );
            Object.assign(this.state, {
                outcome,
                executionId: outcome.id,
                lines: outcome.logs,
                dropped: outcome.logs_dropped,
            });
        } finally {
            this.state.status = this.state.outcome ? "done" : "idle";
            this.state.cancelling = false;
            // the run may have added a version or changed the counters
            if (!record.isNew && !(await record.isDirty())) {
                await record.load();
            }
        }
    }

    /**
     * "Dry run": runs the saved script now against the real records, in a
     * savepoint the server always rolls back (run/dry_run.py). The answer is
     * the panel's values plus ``dry_run``: the write diff and the HTTP calls,
     * events and enqueues that were captured, not sent. No live lines (the
     * run is short-lived and leaves no execution); a run that cannot start
     * raises, and Odoo shows the error.
     */
    async dryRun() {
        const input = await this.inputForRun();
        if (input === undefined) {
            return;
        }
        const record = this.props.record;
        Object.assign(this.state, {
            status: "running",
            dryRunning: true,
            lines: [],
            dropped: 0,
            executionId: null,
            outcome: null,
        });
        try {
            const outcome = await this.orm.call("iota.script", "action_dry_run", [[record.resId]], {
                input_value: input,
            });
            Object.assign(this.state, { outcome, lines: outcome.logs, dropped: outcome.logs_dropped });
        } finally {
            this.state.status = this.state.outcome ? "done" : "idle";
            this.state.dryRunning = false;
        }
    }

    /**
     * "Profile": runs the saved script now, instrumented (run/profiling.py);
     * the answer is the panel's values plus ``profile``, the call tree drawn
     * as a flame graph. Not live: the lines come with the answer.
     */
    async profile() {
        const input = await this.inputForRun();
        if (input === undefined) {
            return;
        }
        const record = this.props.record;
        Object.assign(this.state, { status: "running", lines: [], dropped: 0, executionId: null, outcome: null });
        try {
            const outcome = await this.orm.call("iota.script", "action_profile", [[record.resId]], {
                input_value: input,
            });
            Object.assign(this.state, {
                outcome,
                executionId: outcome.id,
                lines: outcome.logs,
                dropped: outcome.logs_dropped,
            });
        } finally {
            this.state.status = this.state.outcome ? "done" : "idle";
        }
    }

    /** The dry-run's report (``null`` after a real run). */
    get dryRunReport() {
        return this.state.outcome?.dry_run || null;
    }

    /** One row per changed field: ``{key, model, id, name, field, before, after}``. */
    get dryRunChanges() {
        const rows = [];
        for (const w of this.dryRunReport?.writes || []) {
            for (const [field, [before, after]] of Object.entries(w.changes)) {
                rows.push({
                    key: `${w.model},${w.id},${field}`,
                    model: w.model,
                    id: w.id,
                    name: w.name,
                    field,
                    before: formatValue(before),
                    after: formatValue(after),
                });
            }
        }
        return rows;
    }

    get dryRunNothing() {
        const r = this.dryRunReport;
        return (
            r &&
            !r.writes.length &&
            !r.created.length &&
            !r.deleted.length &&
            !r.http.length &&
            !r.events.length &&
            !r.enqueued.length
        );
    }

    formatValue(value) {
        return formatValue(value);
    }

    async cancel() {
        if (this.state.status !== "running" || !this.state.executionId) {
            return;
        }
        this.state.cancelling = true;
        await this.orm.call("iota.script.execution", "action_cancel_live", [
            this.state.executionId,
        ]);
    }

    // ---- output -------------------------------------------------------------
    get resultText() {
        const outcome = this.state.outcome;
        if (!outcome || outcome.state !== "succeeded") {
            return "";
        }
        if (outcome.result_truncated && typeof outcome.result === "string") {
            return outcome.result;
        }
        return JSON.stringify(outcome.result ?? null, null, 2);
    }

    get stateLabel() {
        return {
            running: _t("Running"),
            succeeded: this.dryRunReport ? _t("Dry run: succeeded") : _t("Succeeded"),
            failed: this.dryRunReport ? _t("Dry run: failed") : _t("Failed"),
            timed_out: _t("Timed out"),
            cancelled: _t("Cancelled"),
        }[this.state.status === "running" ? "running" : this.state.outcome?.state];
    }

    get stateClass() {
        const state = this.state.status === "running" ? "running" : this.state.outcome?.state;
        const tone = {
            running: "text-bg-info",
            succeeded: "text-bg-success",
            failed: "text-bg-danger",
            timed_out: "text-bg-danger",
        }[state];
        return `o_iota_scripts_run_state_${state} ${tone || "text-bg-secondary"}`;
    }

    get logsEmptyText() {
        return this.state.status === "running"
            ? _t("Waiting for log lines…")
            : _t("The run logged nothing.");
    }

    get usage() {
        const o = this.state.outcome;
        if (!o) {
            return [];
        }
        const heap =
            !o.heap_peak_bytes && UNMEASURED_STATES.includes(o.state)
                ? _t("not measured")
                : formatBytes(o.heap_peak_bytes);
        return [
            { name: "wall", label: _t("Duration"), value: `${(o.wall_ms || 0).toFixed(1)} ms` },
            { name: "cpu", label: _t("CPU"), value: `${(o.cpu_ms || 0).toFixed(1)} ms` },
            { name: "memory", label: _t("Peak heap"), value: heap },
            { name: "calls", label: _t("sdk calls"), value: String(o.host_calls || 0) },
            { name: "units", label: _t("Units"), value: String(o.units_used || 0) },
        ];
    }

    /**
     * Whether this form shows the source (developers only: the field and its
     * page carry groups, so a plain user's view has no ``source`` at all).
     */
    get canRevealSource() {
        return "source" in this.props.record.activeFields;
    }

    /**
     * Jumps to the error's position in the source editor. The editor lives on
     * another notebook page, unmounted while the Run page is shown: the page is
     * opened, and the editor reveals the position once it has started.
     */
    revealError() {
        const error = this.state.outcome?.error;
        if (!error || !error.line) {
            return;
        }
        const position = { resId: this.props.record.resId, line: error.line, column: error.column || 1 };
        if (!requestReveal(this.env.bus, position)) {
            const form = this.rootRef.el?.closest(".o_form_view, .o_form_renderer");
            form?.querySelector(`.o_notebook_headers .nav-link[name=${SOURCE_PAGE}]`)?.click();
        }
    }
}

registry.category("view_widgets").add("iota_scripts_run_panel", {
    component: RunPanel,
    fieldDependencies: [
        { name: "input_schema", type: "text" },
        { name: "state", type: "selection" },
        { name: "active", type: "boolean" },
    ],
});
