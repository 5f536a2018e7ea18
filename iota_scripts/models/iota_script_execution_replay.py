"""Replay, behavioural diff and the waterfall of sdk calls (docs/guide/replay-and-profiler.md).

Every recorded execution keeps the ``ctx`` its script saw and the journal of
its sdk calls (``iota_scripts_sdk/journal.py``: call, arguments, answer,
start, duration; capped at ``journal_max_bytes``). From them:

* the execution form draws the **waterfall** of its sdk calls
  (``waterfall_json``, the ``iota_scripts_waterfall`` field widget);
* **Replay** runs it again on its version, another version of the script or
  the editor's unsaved draft, with every sdk call answered from the journal
  (``run/replay.py``): nothing live is touched, and the report lists where
  the new source diverges;
* **Behavioural diff** replays the last real runs of a script on a new source.

Replaying shows recorded data and runs code given by the caller: IOTA Scripts
developers only, on executions they can read.
"""

from __future__ import annotations

import json

from iota_scripts_sdk.journal import waterfall
from odoo import _, fields, models
from odoo.exceptions import AccessError, UserError

from ..run import replay as run_replay
from .iota_script import GROUP_DEVELOPER


def _check_developer(env):
    _ = env._
    if not (env.su or env.user.has_group(GROUP_DEVELOPER)):
        raise AccessError(_("Only IOTA Scripts developers may replay runs."))


def _source_to_run(script, source, version_id):
    """``(source, label, version)``: a draft's text, a version of ``script``, or its current one."""
    _ = script.env._
    if source is not None:
        if not isinstance(source, str) or not source.strip():
            raise UserError(_("The draft to replay on is empty."))
        problem = script._source_problem(source)
        if problem:
            raise UserError(problem["message"])
        return source, _("draft"), None
    Version = script.env["iota.script.version"].sudo()
    version = Version.browse(version_id) if version_id else script.sudo().version_id
    if not version.exists() or version.script_id != script:
        raise UserError(_("The version to replay on is not one of this script's."))
    return version.source, _("v%s", version.number), version


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    ctx_json = fields.Text(string="Context", readonly=True, help="The ctx the script saw (capped).")
    ctx_truncated = fields.Boolean(readonly=True)
    journal_json = fields.Text(
        string="sdk Calls (JSON)",
        readonly=True,
        groups=GROUP_DEVELOPER,
        help="Every sdk call of the run with its arguments and answer, for replay (capped).",
    )
    journal_truncated = fields.Boolean(
        readonly=True, help="The journal passed its size cap: the run cannot be replayed."
    )
    waterfall_json = fields.Text(
        string="sdk Call Waterfall",
        compute="_compute_waterfall_json",
        help="Start, duration, namespace and outcome of each sdk call.",
    )

    def _compute_waterfall_json(self):
        for execution in self:
            text = execution.sudo().journal_json
            try:
                journal = json.loads(text) if text else {}
            except ValueError:
                journal = {}
            rows = waterfall(journal) if isinstance(journal, dict) else []
            execution.waterfall_json = json.dumps(
                {
                    "rows": rows,
                    "calls": journal.get("calls", len(rows)) if isinstance(journal, dict) else 0,
                    "wall_ms": execution.wall_ms,
                }
            )

    def action_replay(self, source=None, version_id=None):
        """Replays this run on ``source`` (an unsaved draft), ``version_id``, or
        the script's current version; returns the report (``run/replay.py``)."""
        self.ensure_one()
        _check_developer(self.env)
        self.check_access("read")
        script = self.sudo().script_id
        text, label, version = _source_to_run(script, source, version_id)
        breakpoints = None
        if version is None and script.version_id and text == script.version_id.source:
            # an unchanged draft: the lines of the saved version are its lines
            breakpoints = self.env["iota.script.breakpoint"]._iota_for_run(
                script, script.version_id, True
            )
        return run_replay.replay(self, text, label, version, breakpoints=breakpoints)

    def action_open_replay(self):
        """The execution form's Replay button: on the script's current version."""
        self.ensure_one()
        report = self.action_replay()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _(
                    "Replay of #%(id)s on %(ran)s: %(state)s",
                    id=self.id,
                    ran=report["ran"],
                    state=report["state"],
                ),
                "message": _("%s divergence(s)", len(report["divergences"])),
                "type": "success" if not report["divergences"] else "warning",
                "sticky": False,
            },
        }


class IotaScript(models.Model):
    _inherit = "iota.script"

    def action_replay_execution(self, execution_id, source=None, version_id=None):
        """The Replay panel: replays one of this script's executions on the editor's
        draft ``source`` (or ``version_id``, or the current version)."""
        self.ensure_one()
        execution = self.env["iota.script.execution"].browse(execution_id)
        if not execution.exists() or execution.sudo().script_id != self:
            raise UserError(_("That run is not one of this script's."))
        return execution.action_replay(source=source, version_id=version_id)

    def action_behaviour_diff(self, source=None, version_id=None, limit=10):
        """Replays the last ``limit`` real runs on the draft ``source`` (or a version)."""
        self.ensure_one()
        _check_developer(self.env)
        self.check_access("read")
        text, label, version = _source_to_run(self.sudo(), source, version_id)
        return run_replay.behaviour_diff(self, text, label, limit, version)

    def iota_replayable_runs(self, limit=20):
        """The Replay panel's list: recent runs of this script, each replayable or why not."""
        self.ensure_one()
        _check_developer(self.env)
        runs = self.env["iota.script.execution"].search(
            [("script_id", "=", self.id), ("state", "in", ("succeeded", "failed", "timed_out"))],
            limit=min(int(limit or 20), 100),
        )
        return [
            {
                "id": run.id,
                "trigger": run.trigger,
                "state": run.state,
                "error_code": run.error_code or False,
                "version_number": run.version_number,
                "date_start": fields.Datetime.to_string(run.date_start)
                if run.date_start
                else False,
                "why_not": run_replay.replayable(run.sudo()) or False,
            }
            for run in runs
        ]
