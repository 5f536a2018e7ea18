"""Migration from Python server actions: "Convert to JavaScript script".

On a server action of type "Execute Code" (and on a scheduled action, whose
form is the server action's), the button creates a draft IOTA script: the
Python kept whole in a comment and a JavaScript draft of its common idioms,
each doubt marked TODO (``tools/py_to_js.py``; the idioms side by side in
docs/guide/migrating.md). The Python action is not changed: it keeps running
until someone moves the trigger to the script.
"""

from odoo import _, models
from odoo.exceptions import UserError

from ..tools import py_to_js


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    def action_iota_convert_to_script(self):
        """ "Convert to JavaScript script": a draft script from this Python action.

        The draft holds the Python in a comment and a JavaScript draft of its
        common idioms (``tools/py_to_js.py``); this action is not changed.
        Opens the draft. Only IOTA Scripts developers (who may create scripts)."""
        self.ensure_one()
        if self.state != "code":
            raise UserError(_("Only Python code actions can be converted."))
        # base_automation names a rule's actions after their type ("Execute
        # Code"): the rule's name says what the draft is for
        origin = self.base_automation_id.name if self.base_automation_id else self.name
        try:
            source = py_to_js.convert(self.code or "", origin)
        except py_to_js.ConversionError as e:
            raise UserError(_("This action cannot be converted: %s", e)) from None
        script = self.env["iota.script"].create(
            {
                "name": _("%s (JavaScript)", origin),
                "state": "draft",
                "source": source,
                "migrated_from_action_id": self.id,
                "migration_state": "converted",
                "description": _(
                    "Converted from the Python server action %(name)s (id %(id)s).",
                    name=self.name,
                    id=self.id,
                ),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "iota.script",
            "res_id": script.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }


class IrCron(models.Model):
    _inherit = "ir.cron"

    def action_iota_convert_to_script(self):
        """The scheduled action's form is its server action's: convert that one."""
        self.ensure_one()
        return self.ir_actions_server_id.action_iota_convert_to_script()
