"""The script form's "Add Automation Rule": pick a model and a trigger, get a prefilled rule.

Automation rules live under Settings > Technical (debug mode) in Odoo. This
dialog asks for the two things a rule cannot do without (the model and the
trigger) and opens Odoo's own rule form, unsaved, with one action "Run
JavaScript script" on this script: the user reviews it (filters, watched
fields) and saves it there. Nothing is created here but the (optional)
activation of the script: automation rules run active scripts only.

Trap: the model comes first because ``base.automation`` drops every action
whose model differs from the rule's when its model changes
(``_compute_action_server_ids``); with ``default_model_id`` in the context the
rule form also hides its model field outside debug mode.
"""

from odoo import Command, _, fields, models

#: The rule triggers offered here (the others need more settings: time, fields, webhook).
TRIGGERS = ("on_create_or_write", "on_unlink", "on_archive", "on_unarchive")


class IotaScriptAutomationWizard(models.TransientModel):
    _name = "iota.script.automation.wizard"
    _description = "Add an Automation Rule to a Script"

    script_id = fields.Many2one("iota.script", required=True, ondelete="cascade")
    script_state = fields.Selection(related="script_id.state")
    model_id = fields.Many2one(
        "ir.model",
        string="Model",
        required=True,
        ondelete="cascade",
        domain="[('transient', '=', False)]",
        default=lambda self: self.env["ir.model"]._get("res.partner"),
        help="The records whose changes run the script (ctx.records).",
    )
    trigger = fields.Selection(
        lambda self: [
            (key, label)
            for key, label in self.env["base.automation"]._fields["trigger"]._description_selection(
                self.env
            )
            if key in TRIGGERS
        ],
        required=True,
        default="on_create_or_write",
    )
    activate = fields.Boolean(
        string="Activate the Script",
        default=True,
        help="Automation rules run active scripts only; a Draft script's runs are refused.",
    )

    def _rule_context(self):
        return {
            "default_name": _("%(script)s on %(model)s", script=self.script_id.name, model=self.model_id.name),
            "default_model_id": self.model_id.id,
            "default_trigger": self.trigger,
            "default_action_server_ids": [
                Command.create(
                    {
                        "model_id": self.model_id.id,
                        "state": "iota_script",
                        "iota_script_id": self.script_id.id,
                    }
                )
            ],
        }

    def action_open_rule(self):
        """Opens Odoo's automation rule form, unsaved, prefilled for this script."""
        self.ensure_one()
        self.script_id.check_access("read")
        if self.activate and self.script_id.state != "active":
            self.script_id.action_activate()
        return {
            "type": "ir.actions.act_window",
            "name": _("New Automation Rule"),
            "res_model": "base.automation",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
            "context": self._rule_context(),
        }
