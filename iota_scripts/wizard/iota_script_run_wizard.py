"""The "Run" dialog: JSON input in, outcome, result and logs out."""

import json

from odoo import _, fields, models
from odoo.exceptions import UserError


class IotaScriptRunWizard(models.TransientModel):
    _name = "iota.script.run.wizard"
    _description = "Run a Script"

    script_id = fields.Many2one("iota.script", required=True, ondelete="cascade")
    input_json = fields.Text(string="Input (JSON)", default="{}")
    background = fields.Boolean(
        string="Run in Background",
        help="Queue the run and close nothing: a queue worker runs it in its own transaction.",
    )
    execution_id = fields.Many2one("iota.script.execution", readonly=True, ondelete="cascade")
    state = fields.Selection(related="execution_id.state")
    result_json = fields.Text(related="execution_id.result_json")
    log_text = fields.Text(related="execution_id.log_text")
    error_code = fields.Char(related="execution_id.error_code")
    error_message = fields.Text(related="execution_id.error_message")
    error_line = fields.Integer(related="execution_id.error_line")
    error_column = fields.Integer(related="execution_id.error_column")
    wall_ms = fields.Float(related="execution_id.wall_ms")

    def _input(self):
        text = (self.input_json or "").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise UserError(_("The input is not valid JSON: %s", e)) from None

    def action_run(self):
        self.ensure_one()
        self.execution_id = self.script_id.action_run(
            input=self._input(), background=self.background
        )
        return {
            "type": "ir.actions.act_window",
            "name": _("Run %s", self.script_id.name),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
