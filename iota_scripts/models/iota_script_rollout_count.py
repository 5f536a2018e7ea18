"""Counts of the runs of a gradual rollout, per candidate and channel.

While a script has a candidate version (``iota_script_rollout.py``), every
finished run adds itself to one row: the candidate, the channel that ran
(``stable`` or ``candidate``), the database connection that ran it. A row
sums the runs and the failed ones. The automatic rollback reads the sum of
the candidate's rows after each candidate run (a few rows, by index), and
the dashboard compares the two channels' error rates from them, exactly,
whatever the recording policy kept.

Why the connection is in the key: as in ``iota_script_run_stat.py``, two
open transactions never update the same row, so counting never makes a
serialization failure (which would replay the request, and the run). The
upsert runs in the run's transaction: a rolled-back request counts nothing.
"""

from __future__ import annotations

from odoo import api, fields, models
from odoo.tools import SQL


class IotaScriptRolloutCount(models.Model):
    _name = "iota.script.rollout.count"
    _description = "Script Rollout Counts"
    _log_access = False

    script_id = fields.Many2one(
        "iota.script", required=True, index=True, readonly=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, ondelete="cascade")
    candidate_id = fields.Many2one(
        "iota.script.version", required=True, index=True, readonly=True, ondelete="cascade"
    )
    channel = fields.Selection(
        [("stable", "Stable"), ("candidate", "Candidate")], required=True, readonly=True
    )
    slot = fields.Integer(readonly=True, help="The database connection that counted the runs.")
    runs = fields.Integer(readonly=True)
    errors = fields.Integer(readonly=True)

    _sql_constraints = [
        (
            "key_uniq",
            "unique (candidate_id, channel, slot)",
            "One row per candidate, channel and connection.",
        )
    ]

    @api.model
    def _count(self, script, candidate_id, channel, failed):
        """Adds one finished run of ``channel`` to the rollout of ``candidate_id``."""
        self.env.cr.execute(
            SQL(
                """INSERT INTO iota_script_rollout_count AS c
                       (script_id, company_id, candidate_id, channel, slot, runs, errors)
                   VALUES (%s, %s, %s, %s, pg_backend_pid(), 1, %s)
                   ON CONFLICT (candidate_id, channel, slot) DO UPDATE
                      SET runs = c.runs + 1, errors = c.errors + EXCLUDED.errors""",
                script.id,
                script.company_id.id,
                candidate_id,
                channel,
                1 if failed else 0,
            )
        )

    @api.model
    def _totals(self, candidate_id, channel) -> tuple[int, int]:
        """``(runs, failed runs)`` of ``channel`` in the rollout of ``candidate_id``."""
        if not candidate_id:
            return 0, 0
        self.env.cr.execute(
            SQL(
                """SELECT COALESCE(sum(runs), 0), COALESCE(sum(errors), 0)
                     FROM iota_script_rollout_count WHERE candidate_id = %s AND channel = %s""",
                candidate_id,
                channel,
            )
        )
        runs, errors = self.env.cr.fetchone()
        return int(runs), int(errors)

    @api.model
    def _forget(self, candidate_id):
        """Drops the counts of ``candidate_id`` (it goes out again from zero)."""
        self.env.cr.execute(
            SQL("DELETE FROM iota_script_rollout_count WHERE candidate_id = %s", candidate_id)
        )
