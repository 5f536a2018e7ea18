"""The runs of a version: a smart button from a version to its executions."""

from __future__ import annotations

from odoo import fields, models


class IotaScriptVersion(models.Model):
    _inherit = "iota.script.version"

    execution_count = fields.Integer(string="Runs", compute="_compute_execution_count")

    def _compute_execution_count(self):
        counts = dict(
            self.env["iota.script.execution"]._read_group(
                [("version_id", "in", self.ids)], ["version_id"], ["__count"]
            )
        )
        for version in self:
            version.execution_count = counts.get(version, 0)

    def action_view_executions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "iota_scripts.iota_script_execution_action"
        )
        action["domain"] = [("version_id", "=", self.id)]
        action["context"] = {"search_default_script_id": self.script_id.id}
        return action
