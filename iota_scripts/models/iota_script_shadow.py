"""Shadow mode: the Python action keeps running; its converted script dry-runs beside it.

A script made by "Convert to JavaScript script" (``ir_actions_server_convert.py``)
can **shadow** its Python action before the switch: for the next N times the
action runs (N chosen on the script, 3 by default), the script also runs, as
a dry-run (``run/dry_run.py``), on the same records, and nothing it does is
kept. Each time, an ``iota.script.shadow.run`` records both write diffs and
whether they match (``tools/write_diff.py``'s ``same_writes``); the script
form lists them (the comparison view).

How the two diffs are made comparable
-------------------------------------
* The script's dry-run goes **first**, on the records as the save left them,
  and is rolled back; then the Python runs, for real, from the same state.
  Had the Python gone first, the script would find its work done and write
  nothing.
* The Python's writes are captured by the same ORM-level capture as the
  dry-run's (``tools/write_capture.py``: the ``base`` model's ``write``,
  ``create`` and ``unlink`` report to it while it is active), made active
  around the action only. So both diffs say the same thing in the same
  format: every record written, by the code itself or as a consequence, field
  by field, before and after. A snapshot of the triggering records only
  would miss the Python's writes to other records.

Never in the way of the user's save: a shadow dry-run that fails, raises or
cannot start is recorded as ``error`` with its message; a capture that fails
to read is logged. Shadow runs do not happen inside a dry-run, nor inside a
script's run chain (a script's write that triggers the Python action).

The migration state is ``shadowing`` from **Shadow** until **Switch**
(``iota_script_migration.py``), whether or not the N runs have come.
"""

import json
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..run.dry_run import dry_run
from ..run.request import RunRequest
from ..tools import chain as run_chain
from ..tools import write_capture, write_diff

_logger = logging.getLogger(__name__)

#: Most shadow runs one Shadow asks for.
MAX_SHADOW_RUNS = 100
#: Cursor cache key: the Python action whose script is being dry-run in its shadow.
_SHADOWED_KEY = "iota_scripts.shadowed_action"


class IotaScript(models.Model):
    _inherit = "iota.script"

    shadow_runs_wanted = fields.Integer(
        string="Shadow Runs",
        default=3,
        copy=False,
        help="How many times the Python action's trigger also dry-runs this script "
        "(shadow mode), nothing written, before you compare and switch.",
    )
    shadow_round = fields.Integer(readonly=True, copy=False)
    # developers only: a diff shows the values of whatever the Python action wrote
    shadow_run_ids = fields.One2many(
        "iota.script.shadow.run",
        "script_id",
        readonly=True,
        groups="iota_scripts.iota_scripts_group_developer",
    )
    shadow_remaining = fields.Integer(compute="_compute_shadow_counts")
    shadow_match_count = fields.Integer(compute="_compute_shadow_counts")
    shadow_differ_count = fields.Integer(compute="_compute_shadow_counts")

    @api.depends("shadow_run_ids", "shadow_round", "shadow_runs_wanted", "migration_state")
    def _compute_shadow_counts(self):
        for script in self:
            current = script.shadow_round
            runs = script.sudo().shadow_run_ids.filtered(
                lambda r, current=current: r.round == current
            )
            shadowing = script.migration_state == "shadowing"
            script.shadow_remaining = max(0, script.shadow_runs_wanted - len(runs)) * shadowing
            script.shadow_match_count = len(runs.filtered(lambda r: r.outcome == "match"))
            script.shadow_differ_count = len(runs) - script.shadow_match_count

    def action_iota_shadow(self):
        """Starts shadow mode: the next ``shadow_runs_wanted`` triggers of the Python
        action also dry-run this script and compare the write diffs."""
        self.ensure_one()
        self._check_may_change()
        if not self.migrated_from_action_id:
            raise UserError(_("This script was not converted from a Python action."))
        if self.migration_state == "switched":
            raise UserError(_("The trigger runs this script already: roll back first to shadow."))
        if not 1 <= self.shadow_runs_wanted <= MAX_SHADOW_RUNS:
            raise UserError(_("Shadow between 1 and %s runs.", MAX_SHADOW_RUNS))
        if not self.version_id:
            raise UserError(_("The script has no source to dry-run."))
        self.write({"migration_state": "shadowing", "shadow_round": self.shadow_round + 1})
        self.message_post(
            body=_(
                "Shadow mode: the next %s runs of the Python action also dry-run this script.",
                self.shadow_runs_wanted,
            )
        )
        return True

    def _iota_shadow(self, action, records, python):
        """Runs this script as a dry-run on ``records``, then the Python ``action``
        for real (``python()``); records the comparison. Returns the action's result."""
        report, error = self._iota_shadow_dry_run(action, records)
        capture = write_capture.WriteCapture()
        with write_capture.capturing(action.env.cr, capture):
            result = python()
        try:
            python_diff = capture.diff(action.env)
        except Exception:
            _logger.exception("shadow of script %s: the Python diff failed", self.id)
            python_diff, error = {}, error or _("The Python action's diff could not be read.")
        self._iota_shadow_record(action, records, python_diff, report, error)
        return result

    def _iota_shadow_dry_run(self, action, records):
        """``(report, None)`` of the script's dry-run, or ``(None, why)``: never raises."""
        request = RunRequest(self, action._iota_script_trigger(), records=records or None)
        cache = action.env.cr.cache
        # Once switched, the rule runs the script *instead of* the Python: when
        # the script's write fires the rule again, the Python must not run
        # within the dry-run (see IrActionsServer._run_action_code_multi).
        cache[_SHADOWED_KEY] = action.id
        try:
            return dry_run(action.env["iota.script.execution"], request), None
        except Exception as e:  # noqa: BLE001 - the user's save goes on (module docstring)
            _logger.info("shadow dry-run of script %s failed: %s", self.id, e)
            why = e.args[0] if isinstance(e, UserError) and e.args else _("the dry-run failed")
            return None, str(why)
        finally:
            cache.pop(_SHADOWED_KEY, None)

    def _iota_shadow_record(self, action, records, python_diff, report, error):
        script_diff = (report or {}).get("dry_run") or {}
        failed = report and report.get("error")
        if failed:
            error = f"{failed['code']}: {failed['message']}"
        if error:
            outcome = "error"
        else:
            outcome = "match" if write_diff.same_writes(python_diff, script_diff) else "differ"
        self.env["iota.script.shadow.run"].sudo().create(
            {
                "script_id": self.id,
                "round": self.shadow_round,
                "action_id": action.id,
                "res_model": records._name if records is not None else False,
                "res_ids": json.dumps(records.ids) if records is not None else False,
                "python_diff_json": json.dumps(python_diff),
                "script_diff_json": json.dumps(script_diff),
                "outcome": outcome,
                "error": error or False,
            }
        )


class IotaScriptShadowRun(models.Model):
    _name = "iota.script.shadow.run"
    _description = "Shadow Run (Python action vs. converted script)"
    _order = "id desc"

    script_id = fields.Many2one("iota.script", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="script_id.company_id", store=True)
    round = fields.Integer(readonly=True)
    action_id = fields.Many2one("ir.actions.server", string="Python Action", ondelete="set null")
    res_model = fields.Char(string="Model", readonly=True)
    res_ids = fields.Char(string="Record IDs", readonly=True)
    outcome = fields.Selection(
        [("match", "Match"), ("differ", "Differ"), ("error", "Error")], readonly=True
    )
    error = fields.Text(readonly=True)
    python_diff_json = fields.Text(readonly=True)
    script_diff_json = fields.Text(readonly=True)
    python_diff_html = fields.Html(
        string="Python Wrote", compute="_compute_diff_html", sanitize=False
    )
    script_diff_html = fields.Html(
        string="Script Would Write", compute="_compute_diff_html", sanitize=False
    )

    @api.depends("python_diff_json", "script_diff_json")
    def _compute_diff_html(self):
        for run in self:
            run.python_diff_html = write_diff.to_html(json.loads(run.python_diff_json or "{}"))
            run.script_diff_html = write_diff.to_html(json.loads(run.script_diff_json or "{}"))


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    def _run_action_code_multi(self, eval_context):
        if self.env.cr.cache.get(_SHADOWED_KEY) == self.id:
            return False  # its script is being dry-run in its place
        script = self._iota_shadowing_script()
        if not script:
            return super()._run_action_code_multi(eval_context)
        records = eval_context.get("records") or eval_context.get("record")
        if records and self._iota_shadowed_already(records):
            return super()._run_action_code_multi(eval_context)
        parent = super()  # here: a lambda has no zero-argument super()
        return script._iota_shadow(
            self, records or None, lambda: parent._run_action_code_multi(eval_context)
        )

    def _iota_shadowed_already(self, records):
        """True when this firing belongs to a save already shadowed.

        Odoo fires an "On save" rule once for the write and once more for
        each stored computed field it then recomputes, the recomputations
        first (``_filter_post`` searches, which flushes): one save runs the
        Python two or three times, and its work is done by the first firing.
        So the first firing of a save is shadowed; the next ones of the same
        records run the Python only, until the firing of the write itself
        (``_iota_script_changed`` keeps its records), which closes the save.
        A save whose first firing is the write's own leaves no mark. The marks
        live in ``precommit.data``: a commit or a rollback drops them (a
        recomputation that no write follows leaves its mark: the next save of
        those records in the same transaction then runs unshadowed).
        """
        marks = self.env.cr.precommit.data.setdefault("iota_scripts.shadowed", set())
        keys = {(self.id, records._name, rid) for rid in records.ids}
        if not keys <= marks:
            if not self._iota_script_changed(
                records
            ):  # a recomputation: the write's firing follows
                marks.update(keys)
            return False
        if self._iota_script_changed(records):  # the write's own firing: the save ends
            marks.difference_update(keys)
        return True

    def _iota_shadowing_script(self):
        """The script shadowing this Python action now, if any (see the module docstring)."""
        cr = self.env.cr
        if write_capture.current(cr) is not None or run_chain.current(cr) is not None:
            return self.env["iota.script"]
        scripts = (
            self.env["iota.script"]
            .sudo()
            .with_context(active_test=False)  # an archived script is recorded as an error
            .search(
                [("migrated_from_action_id", "=", self.id), ("migration_state", "=", "shadowing")]
            )
        )
        return scripts.filtered("shadow_remaining")[:1]
