"""Moving a trigger from a Python server action to its converted script, and back.

A script made by "Convert to JavaScript script" (``ir_actions_server_convert.py``)
remembers its Python action. **Switch to this script** moves what triggered
that action to the script in one step; **Roll back to Python** moves it back.
Before the switch, **Shadow** (``iota_script_shadow.py``) dry-runs the script
beside the Python for a few triggers and compares their writes. The Python
action is never deleted: it is detached from its automation rule
(or its scheduled action is archived) and kept, ready for a roll back. Both
steps are posted in the script's history and counted on the Adoption screen
(``migration_state``).

* an automation rule: the rule's Python action is detached, and a "Run
  JavaScript script" action takes its place on the same rule; rolling back
  re-attaches the Python action and deletes the script's action;
* a scheduled action: it is archived, and a copy that runs the script takes
  over with the same interval and next call; rolling back archives the copy
  and restores the Python one.
"""

from odoo import _, fields, models
from odoo.exceptions import UserError

MIGRATION_STATES = [
    ("converted", "Converted"),
    ("shadowing", "Shadowing"),
    ("switched", "Switched to the script"),
    ("rolled_back", "Rolled back to Python"),
]


class IotaScript(models.Model):
    _inherit = "iota.script"

    migrated_from_action_id = fields.Many2one(
        "ir.actions.server",
        string="Converted From",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The Python server action this script was converted from.",
    )
    migration_state = fields.Selection(MIGRATION_STATES, readonly=True, copy=False)
    migration_rule_id = fields.Many2one(
        "base.automation", readonly=True, copy=False, ondelete="set null"
    )
    migration_cron_id = fields.Many2one(
        "ir.cron",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The scheduled action that runs this script instead of the Python one.",
    )

    def _iota_migration_checks(self, to_state):
        self.ensure_one()
        self._check_may_change()
        python = self.migrated_from_action_id
        if not python:
            raise UserError(_("This script was not converted from a Python action."))
        if to_state == "switched" and self.migration_state == "switched":
            raise UserError(_("The trigger already runs this script."))
        if to_state == "rolled_back" and self.migration_state != "switched":
            raise UserError(_("The trigger does not run this script: nothing to roll back."))
        if to_state == "switched" and self.state != "active":
            raise UserError(_("Activate the script first: a draft does not run on triggers."))
        return python

    def action_iota_switch_from_python(self):
        """Moves the Python action's automation rule or scheduled action to this script."""
        python = self._iota_migration_checks("switched")
        rule = python.base_automation_id or self.migration_rule_id
        crons = (
            self.env["ir.cron"]
            .with_context(active_test=False)
            .search([("ir_actions_server_id", "=", python.id)])
        )
        if rule:
            self.env["ir.actions.server"].create(
                {
                    "name": self.name,
                    "model_id": python.model_id.id,
                    "state": "iota_script",
                    "iota_script_id": self.id,
                    "base_automation_id": rule.id,
                }
            )
            python.base_automation_id = False  # detached, kept
            self.migration_rule_id = rule
            where = _("the automation rule %s", rule.name)
        elif crons:
            cron = crons[:1]
            self.migration_cron_id = self.migration_cron_id or cron.copy(
                {
                    "name": self.name,
                    "state": "iota_script",
                    "iota_script_id": self.id,
                    "code": False,
                }
            )
            self.migration_cron_id.write({"active": True, "nextcall": cron.nextcall})
            cron.active = False  # archived, kept
            where = _("the scheduled action %s", cron.name)
        else:
            raise UserError(
                _(
                    "The Python action runs from no automation rule or scheduled action: nothing to move."
                )
            )
        self.migration_state = "switched"
        self.message_post(body=_("Switched %s from Python to this script.", where))
        return True

    def action_iota_rollback_to_python(self):
        """Gives the trigger back to the Python action (kept since the switch)."""
        python = self._iota_migration_checks("rolled_back")
        if self.migration_rule_id:
            rule = self.migration_rule_id
            rule.action_server_ids.filtered(lambda a: a.iota_script_id == self).unlink()
            python.base_automation_id = rule
            where = _("the automation rule %s", rule.name)
        else:
            cron = (
                self.env["ir.cron"]
                .with_context(active_test=False)
                .search([("ir_actions_server_id", "=", python.id)], limit=1)
            )
            self.migration_cron_id.active = False
            cron.write(
                {"active": True, "nextcall": self.migration_cron_id.nextcall or cron.nextcall}
            )
            where = _("the scheduled action %s", cron.name)
        self.migration_state = "rolled_back"
        self.message_post(body=_("Rolled %s back to the Python action.", where))
        return True
