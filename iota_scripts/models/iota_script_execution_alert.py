"""Failed runs wake the alert rules job (see ``iota_script_alert_rule.py``)."""

from __future__ import annotations

from odoo import models

from ..tools import cron_wake
from ..tools.run_states import ERROR_STATES
from .iota_script_alert_rule import CRON_XMLID


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    def _iota_after_run(self):
        super()._iota_after_run()
        if self.state in ERROR_STATES:
            self._wake_alert_rules()

    def _wake_alert_rules(self):
        """Wakes the alert job after this transaction when the company has rules.

        At most once per transaction (a failing automation over many records
        makes one wake-up, not one per run); one indexed count otherwise.
        """
        # postcommit.data lives as long as the transaction (precommit.data is
        # emptied by every flush, e.g. at each run's savepoint)
        woken = self.env.cr.postcommit.data.setdefault("iota_scripts.alert_woken", set())
        company = self.sudo().company_id.id
        if company in woken:
            return
        woken.add(company)
        rules = self.env["iota.script.alert.rule"].sudo()
        if not rules.search_count([("company_id", "=", company)], limit=1):
            return
        cron_wake.wake(self.env, CRON_XMLID)
