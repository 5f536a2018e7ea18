"""The "Run" dialog: JSON input in, outcome, result and logs out.

Only the server sets ``execution_id`` (the run this dialog started): a client
that could write it would read any execution by id through the fields below.
Those fields read the execution as the current user (``compute_sudo=False``),
so its record rules apply even to a value set on the server.
"""

import json

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

#: Set by action_run only; refused in create/write from clients.
_SERVER_FIELDS = frozenset({"execution_id"})


def _execution_field(name, field_class):
    return field_class(related=f"execution_id.{name}", compute_sudo=False)


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
    state = _execution_field("state", fields.Selection)
    result_json = _execution_field("result_json", fields.Text)
    log_text = _execution_field("log_text", fields.Text)
    error_code = _execution_field("error_code", fields.Char)
    error_message = _execution_field("error_message", fields.Text)
    error_line = _execution_field("error_line", fields.Integer)
    error_column = _execution_field("error_column", fields.Integer)
    wall_ms = _execution_field("wall_ms", fields.Float)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_client_values(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_client_values(vals)
        return super().write(vals)

    @api.model
    def _check_client_values(self, vals):
        if _SERVER_FIELDS & set(vals) and not self.env.su:
            raise AccessError(_("The run of this dialog is set by running the script."))

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
        execution = self.script_id.action_run(input=self._input(), background=self.background)
        # the write override refuses execution_id from clients; this one is ours
        super().write({"execution_id": execution.id})
        return {
            "type": "ir.actions.act_window",
            "name": _("Run %s", self.script_id.name),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
