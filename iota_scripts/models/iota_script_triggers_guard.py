"""Odoo's own triggers of a privileged script: server actions, scheduled actions, automation rules.

A server action of type "Run JavaScript script" runs its script, and so do
the scheduled actions and automation rules built on one. Creating, changing
or deleting any of them changes when the script runs, so on a privileged
script (one that runs as another user than its company's runner, see
``models/iota_script.py``) only that user or an IOTA Scripts administrator
may do it, as for the script's own subscriptions and schedules. And an
action may point only at a script its author may read: Odoo checks no
company on ``iota_script_id``, and a user of one company would otherwise run
another company's script, as that script's run-as user.
"""

from odoo import api, models


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    @api.model_create_multi
    def create(self, vals_list):
        actions = super().create(vals_list)
        actions._check_iota_script_reachable()
        return actions

    def write(self, vals):
        self.iota_script_id._check_may_change()
        res = super().write(vals)
        if "iota_script_id" in vals:
            self._check_iota_script_reachable()
        return res

    def _check_iota_script_reachable(self):
        scripts = self.iota_script_id
        if scripts and not self.env.su:
            scripts.check_access("read")
        scripts._check_may_change()

    def unlink(self):
        self.iota_script_id._check_may_change()
        return super().unlink()


class IrCron(models.Model):
    _inherit = "ir.cron"

    def write(self, vals):
        # the interval and next call live on the cron, not on its server action
        self.ir_actions_server_id.iota_script_id._check_may_change()
        return super().write(vals)


class BaseAutomation(models.Model):
    _inherit = "base.automation"

    def write(self, vals):
        # the trigger and the record filter live on the rule, not on its actions
        self.action_server_ids.iota_script_id._check_may_change()
        return super().write(vals)

    def unlink(self):
        self.action_server_ids.iota_script_id._check_may_change()
        return super().unlink()
