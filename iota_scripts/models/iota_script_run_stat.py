"""Counts of the runs that left no execution record (recording policies).

What it holds
-------------
A successful run that its recording policy does not keep
(``models/iota_script_record_policy.py``) adds itself to one row of
``iota.script.run.stat``: its company, script, trigger and state, the minute
it started (UTC) and the database connection that ran it. A row sums the
runs, wall and CPU milliseconds and sdk calls, and keeps the largest peak
heap. The dashboard and the alert rules add these rows to the executions, so
their counts and durations are exact under every policy; percentiles, which
sums cannot give, are over the recorded runs.

Why the connection is in the key
--------------------------------
Odoo runs transactions in REPEATABLE READ: two transactions that update the
same row fail with a serialization error, and Odoo would replay the whole
request, running the script again. A connection runs one transaction at a
time, so keying by ``pg_backend_pid()`` means no two open transactions ever
touch the same row, while a busy minute still takes one row per connection,
not one per run. The upsert is one statement, in the run's transaction: a
rolled-back request counts nothing.

Rows are pruned with the executions (``retention_days``).
"""

from __future__ import annotations

from odoo import api, fields, models
from odoo.tools import SQL


class IotaScriptRunStat(models.Model):
    _name = "iota.script.run.stat"
    _description = "Script Run Counts (Unrecorded Runs)"
    _order = "bucket desc, id desc"
    _log_access = False

    company_id = fields.Many2one(
        "res.company", required=True, index=True, readonly=True, ondelete="cascade"
    )
    script_id = fields.Many2one(
        "iota.script", required=True, index=True, readonly=True, ondelete="cascade"
    )
    trigger = fields.Selection(
        lambda self: self.env["iota.script.execution"]._fields["trigger"].selection,
        required=True,
        readonly=True,
    )
    state = fields.Selection(
        lambda self: self.env["iota.script.execution"]._fields["state"].selection,
        required=True,
        readonly=True,
    )
    bucket = fields.Datetime(
        string="Minute", required=True, index=True, readonly=True, help="UTC, to the minute."
    )
    slot = fields.Integer(readonly=True, help="The database connection that counted the runs.")
    runs = fields.Integer(readonly=True, aggregator="sum")
    wall_ms = fields.Float(string="Wall Time (ms, sum)", readonly=True, aggregator="sum")
    cpu_ms = fields.Float(string="CPU Time (ms, sum)", readonly=True, aggregator="sum")
    heap_peak_bytes = fields.Integer(string="Peak Heap (bytes)", readonly=True, aggregator="max")
    host_calls = fields.Integer(string="sdk Calls", readonly=True, aggregator="sum")

    _sql_constraints = [
        (
            "key_uniq",
            "unique (company_id, script_id, trigger, state, bucket, slot)",
            "One row per company, script, trigger, state, minute and connection.",
        )
    ]

    @api.model
    def _iota_count(self, vals):
        """Adds one run to its row, in one statement.

        ``vals``: ``company_id``, ``script_id``, ``trigger``, ``state``,
        ``date_start`` (naive UTC) and the run's ``wall_ms``, ``cpu_ms``,
        ``heap_peak_bytes``, ``host_calls``. Runs as the engine's caller: the
        row is written with SQL, which no access right guards (the engine
        path only calls it)."""
        bucket = vals["date_start"].replace(second=0, microsecond=0)
        self.env.cr.execute(
            SQL(
                """INSERT INTO iota_script_run_stat AS s
                       (company_id, script_id, trigger, state, bucket, slot,
                        runs, wall_ms, cpu_ms, heap_peak_bytes, host_calls)
                   VALUES (%s, %s, %s, %s, %s, pg_backend_pid(), 1, %s, %s, %s, %s)
                   ON CONFLICT (company_id, script_id, trigger, state, bucket, slot) DO UPDATE
                      SET runs = s.runs + 1,
                          wall_ms = s.wall_ms + EXCLUDED.wall_ms,
                          cpu_ms = s.cpu_ms + EXCLUDED.cpu_ms,
                          heap_peak_bytes = GREATEST(s.heap_peak_bytes, EXCLUDED.heap_peak_bytes),
                          host_calls = s.host_calls + EXCLUDED.host_calls""",
                vals["company_id"],
                vals["script_id"],
                vals["trigger"],
                vals["state"],
                bucket,
                vals.get("wall_ms") or 0.0,
                vals.get("cpu_ms") or 0.0,
                int(vals.get("heap_peak_bytes") or 0),
                int(vals.get("host_calls") or 0),
            )
        )

    @api.model
    def _prune(self, before, batch_size):
        """Deletes up to ``batch_size`` rows older than ``before`` (with the executions)."""
        self.env.cr.execute(
            SQL(
                """DELETE FROM iota_script_run_stat WHERE id IN (
                       SELECT id FROM iota_script_run_stat WHERE bucket < %s LIMIT %s)""",
                before,
                batch_size,
            )
        )
