"""The script form's "Add Automation Rule": pick a model and a trigger, get the rule.

Automation rules live under Settings > Technical (debug mode) in Odoo. This
dialog asks for the two things a rule cannot do without (the model and the
trigger), creates the rule with one action "Run JavaScript script" on this
script, and opens it in Odoo's own form, where the user refines it (filters,
watched fields), archives or deletes it. It also activates the script unless
told not to: automation rules run active scripts only.

Trap: the rule is created here rather than prefilled through ``default_*``
context keys: the rule form shows its actions in a kanban whose fields do not
include the action's model and script, so a prefilled action would be saved
without them.
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
            for key, label in self.env["base.automation"]
            ._fields["trigger"]
            ._description_selection(self.env)
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

    def action_open_rule(self):
        """Creates the rule (model, trigger, one action running this script) and opens it."""
        self.ensure_one()
        self.script_id.check_access("read")
        if self.activate and self.script_id.state != "active":
            self.script_id.action_activate()
        rule = self.env["base.automation"].create(
            {
                "name": _(
                    "%(script)s on %(model)s", script=self.script_id.name, model=self.model_id.name
                ),
                "model_id": self.model_id.id,
                "trigger": self.trigger,
                "action_server_ids": [
                    Command.create(
                        {
                            # as the rule form names it (models/ir_actions_server.py)
                            "name": _("Run script: %s", self.script_id.name),
                            "model_id": self.model_id.id,
                            "state": "iota_script",
                            "iota_script_id": self.script_id.id,
                        }
                    )
                ],
            }
        )
        return {
            "type": "ir.actions.act_window",
            "name": rule.name,
            "res_model": "base.automation",
            "res_id": rule.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }
