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

from ..tools.sentinel import as_engine


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[
            ("iota_script", "Run JavaScript script"),
            ("iota_event", "Emit script event"),
        ],
        ondelete={"iota_script": "cascade", "iota_event": "cascade"},
    )
    iota_event_type = fields.Char(
        string="Event Type",
        help="The event written to the outbox for each record, e.g. partner.created. "
        "Its payload is {model, id, display_name, changed_fields}; subscriptions "
        "of the record's company (or the current company) receive it after commit.",
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

    def _run_action_iota_event_multi(self, eval_context=None):
        if self.env.context.get("iota_scripts_no_trigger") or not self.iota_event_type:
            return False
        eval_context = eval_context or {}
        records = eval_context.get("records") or eval_context.get("record") or None
        old_values = self.env.context.get("old_values") or {}
        Event = as_engine(self.env["iota.script.event"])
        for record in records or []:
            company = (
                record.company_id if "company_id" in record._fields and record.company_id else None
            ) or self.env.company
            Event._record(
                self.iota_event_type,
                {
                    "model": record._name,
                    "id": record.id,
                    "display_name": record.display_name,
                    "changed_fields": sorted(old_values.get(record.id, {})),
                },
                company=company,
                user=self.env.user,
                origin="system",
            )
        return False

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
