""" "Test on this record": dry-run the script of a server action on one record.

From a "Run JavaScript script" server action (an automation rule's action or
a contextual one): choose a record of the action's model, press Dry run. The
script runs through the one manual entry point (``iota.script._run_by_hand``
with ``dry_run``), with the ``ctx.trigger`` that the action would give it,
against the real record, in a savepoint that is always rolled back
(``run/dry_run.py``). The dialog shows the outcome and the write diff; a run
that cannot start raises its error to the user.
"""

import json

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools import write_diff


class IotaScriptDryRunWizard(models.TransientModel):
    _name = "iota.script.dry.run.wizard"
    _description = "Dry-run a Script on a Record"

    action_id = fields.Many2one("ir.actions.server", required=True, ondelete="cascade")
    res_model_id = fields.Many2one(related="action_id.model_id")
    record_ref = fields.Reference(selection="_selection_models", string="Record")
    input_json = fields.Text(string="Input (JSON)", default="")
    state = fields.Char(readonly=True)
    error = fields.Text(readonly=True)
    result_json = fields.Text(readonly=True)
    report_json = fields.Text(readonly=True)
    report_html = fields.Html(compute="_compute_report_html", sanitize=False)

    @api.model
    def _selection_models(self):
        return [(m.model, m.name) for m in self.env["ir.model"].sudo().search([])]

    @api.depends("report_json")
    def _compute_report_html(self):
        for wizard in self:
            report = json.loads(wizard.report_json) if wizard.report_json else None
            wizard.report_html = write_diff.to_html(report)

    def action_dry_run(self):
        self.ensure_one()
        action = self.action_id
        if action.state != "iota_script" or not action.iota_script_id:
            raise UserError(_("Only a “Run JavaScript script” action can be tried on a record."))
        record = self.record_ref
        if not record or record._name != action.model_id.model:
            raise UserError(_("Choose a record of %s.", action.model_id.name))
        try:
            input_value = json.loads(self.input_json) if (self.input_json or "").strip() else None
        except ValueError as e:
            raise UserError(_("The input is not valid JSON: %s", e)) from None
        script = action.iota_script_id
        report = script._run_by_hand(
            input_value,
            records=record,
            dry_run={"trigger": action._iota_script_trigger()},
        )
        error = report.get("error")
        self.write(
            {
                "state": report["state"],
                "error": error and f"{error['code']}: {error['message']}",
                "result_json": json.dumps(report.get("result"), indent=2),
                "report_json": json.dumps(report["dry_run"]),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }
