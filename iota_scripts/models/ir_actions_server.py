"""The server-action type "Run JavaScript script".

One type reaches every Odoo trigger: automation rules (``base.automation``
runs server actions), scheduled actions (``ir.cron`` delegates to one) and
contextual actions (the "Actions" menu of a list or form). The script gets
``ctx.records = {model, ids}`` from the action's records and ``ctx.trigger``
from where the action sits: ``automation`` (with the rule and its trigger),
``cron`` (with the job) or ``manual``.

An automation that fires again because its own script wrote the record does
not run the script again (see ``tools/chain.py``).
"""

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("iota_script", "Run JavaScript script")],
        ondelete={"iota_script": "cascade"},
    )
    iota_script_id = fields.Many2one(
        "iota.script",
        string="Script",
        ondelete="restrict",
        index="btree_not_null",
        domain="[('state', '!=', 'disabled')]",
        help="The JavaScript script to run. It runs as the script's run-as user, "
        "in the script's company, with ctx.records set to the action's records.",
    )

    iota_script_background = fields.Boolean(
        string="Run in Background",
        help="Queue the run instead of running it in the transaction of the trigger: "
        "the trigger returns at once and a queue worker runs the script in its own "
        "transaction (with retries, see Settings).",
    )

    @api.constrains("state", "iota_script_id")
    def _check_iota_script(self):
        for action in self:
            if action.state == "iota_script" and not action.iota_script_id:
                raise ValidationError(_("Choose the script that the action %s runs.", action.name))

    def _iota_script_trigger(self):
        """``ctx.trigger`` for a run started by this action."""
        self.ensure_one()
        if self.usage == "ir_cron":
            cron = (
                self.env["ir.cron"].sudo().search([("ir_actions_server_id", "=", self.id)], limit=1)
            )
            return {"type": "cron", "cron_id": cron.id, "cron_name": cron.name or self.name}
        automation = self.sudo().base_automation_id
        if automation:
            trigger = {
                "type": "automation",
                "automation_id": automation.id,
                "automation_name": automation.name,
                "event": automation.trigger,
            }
            old_values = self.env.context.get("old_values")
            if old_values:
                trigger["changed_fields"] = sorted(
                    {name for vals in old_values.values() for name in vals}
                )
            return trigger
        return {"type": "manual", "action_id": self.id}

    def _run_action_iota_script_multi(self, eval_context=None):
        if self.env.context.get("iota_scripts_no_trigger") or not self.iota_script_id:
            return False
        eval_context = eval_context or {}
        records = eval_context.get("records") or eval_context.get("record") or None
        if self.iota_script_background:
            self.env["iota.script.execution"]._enqueue(
                self.iota_script_id, self._iota_script_trigger(), records=records
            )
            return False
        self.env["iota.script.execution"]._run_script(
            self.iota_script_id,
            self._iota_script_trigger(),
            records=records,
            guard=("ir.actions.server", self.id),
        )
        return False
