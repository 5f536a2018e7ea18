"""Executions: one record per run, written only by the engine path.

How a run goes is the run path's business (``run/pipeline.py``): every
trigger builds a ``RunRequest`` and calls :meth:`IotaScriptExecution._run`.
In short: the site switch and the run chain decide whether the run starts
now, is queued behind the running script, or is dropped; the version and the
run-as user are resolved; the execution is opened (manual and live runs are
created first, a queued run already exists, any other run is written once,
with its outcome, under an id reserved first: ``run/pending.py``); the
engine runs the version in a V8 runner process, its ``sdk.db`` /
``sdk.events`` / ``sdk.scripts`` calls coming back to this thread
(``sdk_host/``) inside a savepoint that a failure rolls back; the outcome is
recorded, or counted when the recording policy does not keep the run
(``models/iota_script_record_policy.py``); then it is announced
(``script.executed`` / ``script.failed``, and :meth:`_iota_after_run`).

Runs happen in the caller's transaction and never raise for script faults
(the execution tells). Executions are written with the engine sentinel:
``create`` and ``write`` from anywhere else (RPC included) are refused.
Old executions are pruned daily (``iota_scripts.retention_days``).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from odoo import api, fields, models

from ..run import pipeline
from ..run import start as run_start
from ..run.request import RunRequest
from ..tools.sentinel import is_engine
from ..tools.settings import get_setting

_logger = logging.getLogger(__name__)


class IotaScriptExecution(models.Model):
    _name = "iota.script.execution"
    _inherit = ["iota.script.engine.written"]
    _description = "Script Execution"
    _iota_engine_only_message = "Executions are written by the script engine only."
    _order = "id desc"

    script_id = fields.Many2one(
        "iota.script", required=True, index=True, ondelete="cascade", readonly=True
    )
    version_id = fields.Many2one(
        "iota.script.version",
        string="Script Version",
        index=True,
        ondelete="set null",
        readonly=True,
    )
    version_number = fields.Integer(related="version_id.number", string="Version")
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    user_id = fields.Many2one(
        "res.users",
        string="Run As",
        readonly=True,
        ondelete="set null",
        context={"active_test": False},
    )
    triggered_by_id = fields.Many2one(
        "res.users",
        string="Triggered By",
        readonly=True,
        ondelete="set null",
        context={"active_test": False},
    )
    trigger = fields.Selection(
        [
            ("manual", "Manual"),
            ("automation", "Automation Rule"),
            ("cron", "Scheduled Action"),
            ("endpoint", "Endpoint"),
            ("event", "Event"),
            ("script", "Another Script"),
        ],
        required=True,
        readonly=True,
        index=True,
    )
    trigger_json = fields.Text(string="Trigger Details", readonly=True)
    generation = fields.Integer(
        readonly=True,
        default=1,
        help="1 for a run started from outside; n+1 for a run triggered by a run of generation n.",
    )
    res_model = fields.Char(string="Model", readonly=True, index=True)
    res_ids = fields.Text(
        string="Record IDs", readonly=True, help="JSON list of the ids in ctx.records."
    )
    state = fields.Selection(
        [
            ("queued", "Queued"),
            ("running", "Running"),
            ("succeeded", "Succeeded"),
            ("failed", "Failed"),
            ("timed_out", "Timed Out"),
            ("cancelled", "Cancelled"),
            ("dead", "Dead"),
        ],
        required=True,
        default="queued",
        readonly=True,
        index=True,
    )
    date_start = fields.Datetime(string="Started", readonly=True)
    date_end = fields.Datetime(string="Ended", readonly=True)
    wall_ms = fields.Float(string="Wall Time (ms)", readonly=True, aggregator="avg")
    cpu_ms = fields.Float(string="CPU Time (ms)", readonly=True, aggregator="avg")
    heap_peak_bytes = fields.Integer(string="Peak Heap (bytes)", readonly=True, aggregator="max")
    host_calls = fields.Integer(string="sdk Calls", readonly=True, aggregator="sum")
    units_used = fields.Integer(
        string="Units",
        readonly=True,
        aggregator="sum",
        help="Governance units the run used (docs/operations/governance.md).",
    )
    input_json = fields.Text(string="Input", readonly=True)
    input_truncated = fields.Boolean(readonly=True)
    result_json = fields.Text(string="Result", readonly=True)
    result_truncated = fields.Boolean(readonly=True)
    log_json = fields.Text(string="Logs (JSON)", readonly=True)
    log_count = fields.Integer(string="Log Lines", readonly=True)
    logs_dropped = fields.Integer(
        readonly=True, help="Lines over the per-run cap, or cut when stored."
    )
    log_text = fields.Text(string="Logs", compute="_compute_log_text")
    error_code = fields.Char(readonly=True, index=True)
    error_message = fields.Text(readonly=True)
    error_line = fields.Integer(readonly=True)
    error_column = fields.Integer(readonly=True)
    error_stack = fields.Text(readonly=True)
    # endpoint calls (trigger "endpoint")
    endpoint_id = fields.Many2one(
        "iota.script.endpoint", readonly=True, index="btree_not_null", ondelete="set null"
    )
    http_method = fields.Char(string="HTTP Method", readonly=True)
    http_path = fields.Char(string="HTTP Path", readonly=True)
    http_status = fields.Integer(string="HTTP Status", readonly=True, aggregator=None)
    latency_ms = fields.Float(string="Latency (ms)", readonly=True, aggregator="avg")
    request_body = fields.Text(
        readonly=True, help="Kept only when the endpoint stores request bodies; capped."
    )
    request_body_truncated = fields.Boolean(readonly=True)

    # ---- display ----------------------------------------------------------------
    @api.depends("script_id.name")
    def _compute_display_name(self):
        for execution in self:
            execution.display_name = f"{execution.script_id.name or ''} #{execution.id or ''}"

    @api.depends("log_json")
    def _compute_log_text(self):
        for execution in self:
            try:
                lines = json.loads(execution.log_json or "[]")
            except ValueError:
                lines = []
            out = []
            for line in lines if isinstance(lines, list) else []:
                text = f"{line.get('t_ms', 0):>9.1f} ms  {str(line.get('level', '')).upper():<5}  {line.get('message', '')}"
                if line.get("fields"):
                    text += "  " + json.dumps(line["fields"], ensure_ascii=False)
                out.append(text)
            execution.log_text = "\n".join(out)

    # ---- the sentinel -----------------------------------------------------------
    @api.model
    def _prepare_create_values(self, vals_list):
        # The engine creates a run with the id it reserved before the run
        # (_PendingExecution); the ORM drops "id" from create values otherwise.
        result = super()._prepare_create_values(vals_list)
        if is_engine(self.env):
            for vals, given in zip(result, vals_list, strict=True):
                if given.get("id"):
                    vals["id"] = given["id"]
        return result

    # ---- running ----------------------------------------------------------------
    @api.model
    def _run(self, request: RunRequest):
        """Runs ``request`` (see ``run/pipeline.py``); returns the execution, maybe empty."""
        return pipeline.run(self, request)

    @api.model
    def _execute(self, request: RunRequest, generation, chain):
        """Runs ``request`` now, in ``chain`` (a step of ``run/pipeline.py``)."""
        return pipeline.execute(self, request, generation, chain)

    @api.model
    def _run_env(self, script, user):
        """The environment sdk.db runs in: the run-as user, no superuser, pinned company."""
        return run_start.run_env(self, script, user)[0]

    def _iota_after_run(self):
        """Called on a recorded execution once its run ended and was announced.

        An extension point: alert rules wake here (iota_script_execution_alert.py)."""

    # ---- retention ------------------------------------------------------------------
    @api.model
    def _cron_prune(self, batch_size=1000):
        """Deletes executions (and dispatched events) older than ``retention_days``."""
        days = get_setting(self.env, "retention_days")
        if days <= 0:
            return
        limit = fields.Datetime.now() - timedelta(days=days)
        old = self.sudo().search([("create_date", "<", limit)], limit=batch_size)
        remaining = self.sudo().search_count([("create_date", "<", limit)]) - len(old)
        old.unlink()
        self.env["iota.script.event"].sudo()._prune(limit, batch_size)
        self.env["iota.script.run.stat"].sudo()._prune(limit, batch_size)
        self.env["ir.cron"]._notify_progress(done=len(old), remaining=remaining)
