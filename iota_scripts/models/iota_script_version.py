"""Versions: the immutable history of a script's source.

A version is created by saving a script whose source changed (see
``iota.script.write``), never directly. Once created it cannot be edited or
deleted: ``create``, ``write`` and ``unlink`` require the engine sentinel
(:mod:`..tools.sentinel`), which RPC cannot send. Deleting the script
deletes its versions (database cascade); archiving it keeps them.

Runs name the version they executed, so an execution always shows the exact
source it ran (``sha256`` identifies it to the engine's warm contexts).
"""

from __future__ import annotations

import hashlib

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools.sentinel import is_engine
from .iota_script import GROUP_DEVELOPER


class IotaScriptVersion(models.Model):
    _name = "iota.script.version"
    _description = "Script Version"
    _order = "script_id, number desc"
    _rec_names_search = ["script_id"]

    script_id = fields.Many2one(
        "iota.script", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one(related="script_id.company_id", store=True, index=True)
    number = fields.Integer(required=True, readonly=True)
    source = fields.Text(groups=GROUP_DEVELOPER, readonly=True)
    sha256 = fields.Char(string="SHA-256", readonly=True, index=True)
    author_id = fields.Many2one("res.users", string="Author", readonly=True, ondelete="set null")
    create_date = fields.Datetime(string="Saved On", readonly=True)
    note = fields.Char(readonly=True)
    imported_author = fields.Char(
        readonly=True,
        help="The author as a bundle named them, when no user of this database has their "
        "login (see models/iota_script_bundle.py).",
    )
    is_current = fields.Boolean(compute="_compute_is_current")
    size_bytes = fields.Integer(
        string="Size (bytes)", compute="_compute_size_bytes", store=True, readonly=True
    )

    _sql_constraints = [
        (
            "script_number_uniq",
            "unique (script_id, number)",
            "Version numbers are unique per script.",
        ),
    ]

    @api.depends("script_id.name", "number")
    def _compute_display_name(self):
        for version in self:
            version.display_name = _(
                "%(script)s v%(number)s", script=version.script_id.name, number=version.number
            )

    @api.depends("source")
    def _compute_size_bytes(self):
        for version in self:
            version.size_bytes = len((version.source or "").encode("utf-8", "surrogatepass"))

    def _compute_is_current(self):
        for version in self:
            version.is_current = version.script_id.version_id == version

    @api.model_create_multi
    def create(self, vals_list):
        if not is_engine(self.env):
            raise UserError(_("Versions are created by saving a script's source."))
        for vals in vals_list:
            source = vals.get("source") or ""
            vals["sha256"] = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
            if not vals.get("number"):
                # The unique constraint turns a concurrent save into a
                # serialization-style failure instead of a duplicate number.
                self.env.cr.execute(
                    "SELECT COALESCE(MAX(number), 0) + 1 FROM iota_script_version WHERE script_id = %s",
                    [vals["script_id"]],
                )
                vals["number"] = self.env.cr.fetchone()[0]
        return super().create(vals_list)

    def write(self, vals):
        if not is_engine(self.env):
            raise UserError(
                _("Script versions cannot be changed; save the script to create a new one.")
            )
        return super().write(vals)

    def unlink(self):
        if not is_engine(self.env):
            raise UserError(_("Script versions cannot be deleted; archive the script instead."))
        return super().unlink()

    def action_restore(self):
        """Makes this version's source the script's source again, as a new version."""
        self.ensure_one()
        script = self.script_id
        script.with_context(iota_scripts_version_note=_("Restored from v%s", self.number)).write(
            {"source": self.sudo().source}
        )
        return script.version_id

    def action_open_restore(self):
        """Button: restores, then shows the script."""
        self.action_restore()
        return {
            "type": "ir.actions.act_window",
            "res_model": "iota.script",
            "res_id": self.script_id.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_open_diff(self):
        """Button: compares this version with the script's current source (Monaco diff)."""
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "iota_scripts.version_diff",
            "name": _("Compare versions of %s", self.script_id.name),
            "params": {"script_id": self.script_id.id, "left_id": self.id},
        }
