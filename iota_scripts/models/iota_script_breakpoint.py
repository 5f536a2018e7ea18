"""Snapshot breakpoints and logpoints of a script (issue 12 §4).

A breakpoint is a line of one version of a script (``version_id``: the lines
of another version would not match), an optional condition (a JS
expression) and, for a logpoint, a message template. Set in the editor
(``set_from_editor``), it applies to the dry-runs of that version
(``run/dry_run.py``), to replays that pass it, and, once **armed**, to the
next ``runs_left`` live runs of that version whatever their trigger
(``armed_for``): each of those runs takes one from ``runs_left``. Live runs
never pause; the hits are stored on the execution
(``iota_script_execution_breakpoints.py``).

Developers of the script's company set and arm them (record rule by
company); arming and disarming are logged in the audit trail. A breakpoint
on a line without a statement, or with a condition that does not parse, is
refused with the engine's ``invalid_breakpoint`` message.

Zero cost when nothing is armed: the run path asks :meth:`_iota_armed_script_ids`
(cached per registry, cleared when an armed count changes) before any query.
"""

from __future__ import annotations

from typing import Any

from iota_scripts_sdk import Breakpoint, ScriptError
from iota_scripts_sdk.breakpoints import MAX_BREAKPOINTS, MAX_EXPRESSION_CHARS
from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools.ormcache import ormcache
from ..tools.settings import get_engine

#: Runs one arming may cover.
MAX_ARMED_RUNS = 100


class IotaScriptBreakpoint(models.Model):
    _name = "iota.script.breakpoint"
    _description = "Script Breakpoint"
    _inherit = ["iota.script.audited"]
    _iota_audit_values = frozenset({"line", "runs_left", "condition", "log_message"})
    _order = "script_id, line, id"
    _check_company_auto = True

    script_id = fields.Many2one("iota.script", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(
        related="script_id.company_id", store=True, index=True, readonly=True
    )
    version_id = fields.Many2one(
        "iota.script.version",
        required=True,
        ondelete="cascade",
        help="The version whose lines the breakpoint names; runs of other versions skip it.",
    )
    line = fields.Integer(required=True)
    condition = fields.Char(help="A JavaScript expression: the hit is taken when it is true.")
    log_message = fields.Char(
        string="Log Message",
        help="A logpoint: logs this text, with {expression} parts evaluated at the line.",
    )
    runs_left = fields.Integer(
        string="Armed For (runs)",
        default=0,
        help="The next live runs of this version (any trigger) that take the breakpoint.",
    )

    _sql_constraints = [
        ("line_unique", "unique(version_id, line)", "One breakpoint per line."),
        ("runs_left_positive", "CHECK(runs_left >= 0)", "Armed runs cannot be negative."),
    ]

    @api.constrains("condition", "log_message", "line")
    def _check_expressions(self):
        for bp in self:
            for text in (bp.condition, bp.log_message):
                if text and len(text) > MAX_EXPRESSION_CHARS:
                    raise ValidationError(
                        _(
                            "Line %(line)s: at most %(n)s characters.",
                            line=bp.line,
                            n=MAX_EXPRESSION_CHARS,
                        )
                    )
        for version in self.version_id:
            mine = self.search([("version_id", "=", version.id)])
            if len(mine) > MAX_BREAKPOINTS:
                raise ValidationError(_("At most %s breakpoints per version.", MAX_BREAKPOINTS))
            error = get_engine(self.env).check_breakpoints(
                version.sudo().source, [b._iota_breakpoint() for b in mine]
            )
            if error is not None:
                raise ValidationError(error.message)

    def _iota_breakpoint(self) -> Breakpoint:
        self.ensure_one()
        return Breakpoint(self.line, condition=self.condition or None, log=self.log_message or None)

    # ---- the editor ------------------------------------------------------------
    @api.model
    def editor_state(self, script_id: int) -> dict[str, Any]:
        """The breakpoints of the script's current version, for the editor."""
        script = self.env["iota.script"].browse(script_id)
        script.check_access("read")
        version = script.version_id
        bps = self.search([("script_id", "=", script.id), ("version_id", "=", version.id)])
        return {
            "version_id": version.id,
            "version_number": version.number,
            "breakpoints": [
                {
                    "id": b.id,
                    "line": b.line,
                    "condition": b.condition or "",
                    "log": b.log_message or "",
                    "runs_left": b.runs_left,
                }
                for b in bps
            ],
        }

    @api.model
    def set_from_editor(self, script_id: int, items: list[dict[str, Any]], source: str):
        """Replaces the script's breakpoints of its current version by ``items``
        (``{line, condition, log}``); ``source`` is the editor's text, which must
        be the current version's (lines of unsaved text would not match).
        Armed counts of lines that stay are kept. Returns :meth:`editor_state`."""
        script = self.env["iota.script"].browse(script_id)
        script.check_access("write")
        version = script.version_id
        if not version:
            raise UserError(_("Save the script before setting breakpoints."))
        if source != version.sudo().source:
            raise UserError(
                _("Save the script first: breakpoints name lines of the saved version.")
            )
        if not isinstance(items, list) or len(items) > MAX_BREAKPOINTS:
            raise UserError(_("At most %s breakpoints per version.", MAX_BREAKPOINTS))
        self._iota_check_items(version, items)
        old = {
            b.line: b
            for b in self.search([("script_id", "=", script.id), ("version_id", "=", version.id)])
        }
        keep = self.browse()
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("line"), int):
                raise UserError(_("A breakpoint needs a line number."))
            vals = {
                "condition": (item.get("condition") or "").strip() or False,
                "log_message": (item.get("log") or "").strip() or False,
            }
            bp = old.pop(item["line"], None)
            if bp is None:
                bp = self.create(
                    {"script_id": script.id, "version_id": version.id, "line": item["line"], **vals}
                )
            elif (bp.condition or False, bp.log_message or False) != (
                vals["condition"],
                vals["log_message"],
            ):
                bp.write(vals)
            keep |= bp
        gone = self.browse([b.id for b in old.values()])
        armed_change = any(b.runs_left for b in gone)
        gone.unlink()
        if armed_change:
            self._iota_armed_changed()
        return self.editor_state(script.id)

    @api.model
    def _iota_check_items(self, version, items):
        """Refuses ``items`` before anything is written: a clear message, nothing half-saved."""
        try:
            wanted = [
                Breakpoint(
                    item.get("line"),
                    condition=(item.get("condition") or "").strip() or None,
                    log=(item.get("log") or "").strip() or None,
                )
                for item in items
            ]
        except (AttributeError, ScriptError) as e:
            message = getattr(e, "message", None) or _("A breakpoint needs a line number.")
            raise ValidationError(message) from None
        error = get_engine(self.env).check_breakpoints(version.sudo().source, wanted)
        if error is not None:
            raise ValidationError(error.message)

    @api.model
    def arm(self, script_id: int, runs: int) -> dict[str, Any]:
        """Arms every breakpoint of the script's current version for its next
        ``runs`` live runs (0 disarms). Returns :meth:`editor_state`."""
        script = self.env["iota.script"].browse(script_id)
        script.check_access("write")
        if not isinstance(runs, int) or isinstance(runs, bool) or not 0 <= runs <= MAX_ARMED_RUNS:
            raise UserError(_("Arm for 0 to %s runs.", MAX_ARMED_RUNS))
        bps = self.search(
            [("script_id", "=", script.id), ("version_id", "=", script.version_id.id)]
        )
        if runs and not bps:
            raise UserError(_("Set a breakpoint first (click in the editor's margin)."))
        bps.write({"runs_left": runs})
        self._iota_armed_changed()
        return self.editor_state(script.id)

    def _iota_armed_changed(self):
        """The armed scripts changed: the cached set goes now and again after the
        commit (a run of another thread may have read it meanwhile, without this)."""
        registry = self.env.registry
        registry.clear_cache()
        self.env.cr.postcommit.add(registry.clear_cache)

    # ---- the run path ----------------------------------------------------------
    @api.model
    @ormcache()
    def _iota_armed_script_ids(self) -> frozenset[int]:
        """Ids of the scripts with an armed breakpoint (cached; cleared on arming)."""
        self.flush_model(["script_id", "runs_left"])
        self.env.cr.execute(
            "SELECT DISTINCT script_id FROM iota_script_breakpoint WHERE runs_left > 0"
        )
        return frozenset(r[0] for r in self.env.cr.fetchall())

    @api.model
    def _iota_for_run(self, script: Any, version: Any, dry_run: bool) -> list[Breakpoint]:
        """The breakpoints a run of ``version`` takes: all of them for a dry-run,
        else the armed ones, each of which then counts the run."""
        if not dry_run and script.id not in self._iota_armed_script_ids():
            return []
        domain = [("script_id", "=", script.id), ("version_id", "=", version.id)]
        if not dry_run:
            domain.append(("runs_left", ">", 0))
        bps = self.sudo().search(domain)
        if not dry_run and bps:
            self.env.cr.execute(
                "UPDATE iota_script_breakpoint SET runs_left = runs_left - 1 "
                "WHERE id IN %s AND runs_left > 0 RETURNING runs_left",
                [tuple(bps.ids)],
            )
            if any(r[0] == 0 for r in self.env.cr.fetchall()):
                self._iota_armed_changed()
            bps.invalidate_recordset(["runs_left"])
        return [b._iota_breakpoint() for b in bps]
