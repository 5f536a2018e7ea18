"""The server-action type "Run JavaScript script".

One type reaches every Odoo trigger: automation rules (``base.automation``
runs server actions), scheduled actions (``ir.cron`` delegates to one) and
contextual actions (the "Actions" menu of a list or form). The script gets
``ctx.records = {model, ids}`` from the action's records and ``ctx.trigger``
from where the action sits: ``automation`` (with the rule and its trigger),
``cron`` (with the job) or ``manual``.

An automation that fires again because its own script wrote the record does
not run the script again (see ``tools/chain.py``), and an "On save" rule
without trigger fields runs the script when a record is created or written,
not again for each stored field Odoo recomputes (see ``_iota_script_changed``).
"""

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..run.request import RunRequest
from ..tools.sentinel import as_engine


def _delete_iota_script_actions(actions):
    """On uninstall, the actions of this type go, and so do the scheduled actions running them.

    A scheduled action needs its server action (``ondelete="restrict"``): a
    plain cascade failed on the first one (made by the "Schedule" button, or
    by hand), and left every action of this type behind.
    """
    crons = (
        actions.env["ir.cron"]
        .with_context(active_test=False)
        .search([("ir_actions_server_id", "in", actions.ids)])
    )
    crons.unlink()
    actions.exists().unlink()


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[
            ("iota_script", "Run JavaScript script"),
            ("iota_event", "Emit script event"),
        ],
        ondelete={"iota_script": _delete_iota_script_actions, "iota_event": "cascade"},
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
        # only active scripts are offered: triggers refuse to run the others (not_active)
        domain="[('state', '=', 'active')]",
        help="The JavaScript script to run (active scripts only: activate a Draft one first). "
        "It runs as the script's run-as user, "
        "in the script's company, with ctx.records set to the action's records.",
    )

    iota_script_background = fields.Boolean(
        string="Run in Background",
        help="Queue the run instead of running it in the transaction of the trigger: "
        "the trigger returns at once and a queue worker runs the script in its own "
        "transaction (with retries, see Settings).",
    )

    @api.depends("iota_script_id")
    def _compute_name(self):
        # base_automation names the actions of a rule after what they do;
        # "Run JavaScript script" alone would not say which script.
        super()._compute_name()
        for action in self:
            if (
                action.base_automation_id
                and action.state == "iota_script"
                and action.iota_script_id
            ):
                action.name = _("Run script: %s", action.iota_script_id.sudo().name)

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

    def _iota_script_changed(self, records):
        """``records`` less those an "On save" rule fired for without a save.

        Odoo fires a rule without trigger fields ("On save", any field) after
        every write *and after every recomputation* of a stored computed
        field of the record, whether or not a value changed: creating one
        contact fired such a rule three or four times in one transaction
        (its computed fields are computed while it is being created), and
        renaming a contact twice (``complete_name`` follows ``name``). For
        such a rule the script runs when the record is saved:

        * created (no old values): always;
        * written: when a written value really changed.

        A recomputation alone (the fields being computed are protected while
        Odoo processes it) does not run the script. To react to a computed
        field, name it in the rule's trigger fields ("When updating"): rules
        with trigger fields are left to Odoo, which compares their values.
        """
        automation = self.sudo().base_automation_id
        old_values = self.env.context.get("old_values")
        if records is None or not automation or old_values is None:
            return records
        if automation.trigger_field_ids:
            return records
        env = records.env

        def saved(record):
            record = record.sudo()  # the values are compared, never shown
            old = {
                name: value
                for name, value in (old_values.get(record.id) or {}).items()
                if name in record._fields
            }
            if old and all(env.is_protected(record._fields[name], record) for name in old):
                return False  # a recomputation
            return any(record[name] != value for name, value in old.items())

        return records.filtered(saved)

    def action_iota_dry_run(self):
        """ "Test on a record": the dry-run dialog (``wizard/iota_script_dry_run_wizard.py``)."""
        self.ensure_one()
        wizard = self.env["iota.script.dry.run.wizard"].create({"action_id": self.id})
        return {
            "type": "ir.actions.act_window",
            "name": _("Test on a record"),
            "res_model": wizard._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

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
                origin="record",
            )
        return False

    def _run_action_iota_script_multi(self, eval_context=None):
        if self.env.context.get("iota_scripts_no_trigger") or not self.iota_script_id:
            return False
        eval_context = eval_context or {}
        records = eval_context.get("records") or eval_context.get("record") or None
        if records is not None:
            records = self._iota_script_changed(records)
            if not records:
                return False
        request = RunRequest(self.iota_script_id, self._iota_script_trigger(), records=records)
        if self.iota_script_background:
            self.env["iota.script.execution"]._enqueue(request)
            return False
        self.env["iota.script.execution"]._run(
            request.replace(guard=("ir.actions.server", self.id))
        )
        return False


class IrCron(models.Model):
    _inherit = "ir.cron"

    def action_iota_dry_run(self):
        """The scheduled action's form is its server action's: try that one."""
        self.ensure_one()
        return self.ir_actions_server_id.action_iota_dry_run()
