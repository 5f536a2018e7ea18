"""Alert rules: conditions, cool-down, activity and message, company scoping."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from ..tools.sentinel import as_engine
from .common import IotaScriptsCase

SOURCE = "export default () => 1;\n"
FAILING = 'export default () => { throw new Error("boom"); };\n'


@tagged("post_install", "-at_install")
class TestAlertRule(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_a = new_test_user(
            cls.env,
            "iota_admin_a",
            groups="base.group_user,iota_scripts.iota_scripts_group_admin",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        # created by the developer: the developer is its responsible
        cls.script = (
            cls.env["iota.script"]
            .with_user(cls.dev_a)
            .create({"name": "Watched", "company_id": cls.company_a.id, "source": SOURCE})
        )
        cls.other = cls._script(SOURCE, name="Other of A")
        cls.script_b = cls._script(SOURCE, name="Failing of B", company=cls.company_b)
        cls.Rule = cls.env["iota.script.alert.rule"]

    def _runs(self, script, states, minutes_ago=1):
        Execution = as_engine(self.env["iota.script.execution"])
        for state in states:
            Execution.create(
                {
                    "script_id": script.id,
                    "company_id": script.company_id.id,
                    "trigger": "manual",
                    "state": state,
                    "date_start": fields.Datetime.now() - timedelta(minutes=minutes_ago),
                }
            )

    def _activities(self, script):
        return self.env["mail.activity"].search(
            [("res_model", "=", "iota.script"), ("res_id", "=", script.id)]
        )

    def test_responsible_defaults_to_the_creator(self):
        self.assertEqual(self.script.user_id, self.dev_a)
        self.assertEqual(self.script._responsible(), self.dev_a)
        # made as superuser (data files, code): no responsible, the creator answers
        self.assertFalse(self.other.user_id)
        self.assertEqual(self.other._responsible(), self.other.create_uid)

    def test_failures_rule_fires_once_then_cools_down(self):
        rule = self.Rule.create(
            {
                "name": "Watched fails",
                "company_id": self.company_a.id,
                "script_id": self.script.id,
                "kind": "failures",
                "failure_count": 3,
                "window_min": 60,
                "cooldown_min": 30,
            }
        )
        # failures outside the window and of other scripts do not count
        self._runs(self.script, ["failed"] * 5, minutes_ago=90)
        self._runs(self.other, ["failed"] * 5)
        self._runs(self.script, ["failed", "timed_out", "succeeded", "cancelled"])
        self.assertFalse(self.Rule._cron_evaluate())
        self.assertFalse(self._activities(self.script))
        self._runs(self.script, ["dead"])
        alerts = self.Rule._cron_evaluate()
        self.assertEqual(len(alerts), 1)
        self.assertEqual((alerts.rule_id, alerts.script_id), (rule, self.script))
        self.assertEqual((alerts.errors, alerts.runs), (3, 4))
        activity = self._activities(self.script)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.dev_a)
        self.assertEqual(activity.activity_type_id, self.env.ref("mail.mail_activity_data_todo"))
        self.assertEqual(alerts.activity_id, activity)
        self.assertIn("Watched", activity.summary)
        message = self.script.message_ids.filtered(lambda m: "3 of 4 runs failed" in m.body)
        self.assertEqual(len(message), 1)
        self.assertIn("Watched fails", message.body)
        # the condition still holds: quiet during the cool-down
        self._runs(self.script, ["failed"])
        self.assertFalse(self.Rule._cron_evaluate())
        self.assertEqual(len(self._activities(self.script)), 1)
        # once the cool-down is over, it fires again
        self.env.cr.execute(
            "UPDATE iota_script_alert SET create_date = create_date - interval '31 minutes' "
            "WHERE id = %s",
            [alerts.id],
        )
        alerts.invalidate_recordset(["create_date"])
        again = self.Rule._cron_evaluate()
        self.assertEqual((len(again), again.errors), (1, 4))
        self.assertEqual(len(self._activities(self.script)), 2)
        self.assertEqual(rule.alert_count, 2)

    def test_error_rate_rule_for_all_scripts_of_a_company(self):
        self.Rule.create(
            {
                "name": "Half fails",
                "company_id": self.company_a.id,
                "kind": "error_rate",
                "error_rate_pct": 50,
                "min_runs": 4,
                "window_min": 30,
            }
        )
        self._runs(self.script, ["failed", "failed", "failed", "succeeded"])  # 75 %
        self._runs(self.other, ["failed", "failed", "succeeded", "succeeded"])  # 50 %: not above
        self._runs(self.script_b, ["failed"] * 10)  # another company
        alerts = self.Rule._cron_evaluate()
        self.assertEqual(alerts.script_id, self.script)
        self.assertIn("75.0 %", alerts.message)
        self.assertFalse(self._activities(self.other))
        self.assertFalse(self._activities(self.script_b))
        self.assertFalse(self.script_b.message_ids.filtered(lambda m: "failed" in (m.body or "")))
        # a company B rule sees company B's runs only
        rule_b = self.Rule.create(
            {
                "name": "B fails",
                "company_id": self.company_b.id,
                "kind": "error_rate",
                "error_rate_pct": 10,
                "min_runs": 3,
                "window_min": 30,
            }
        )
        fired = rule_b._evaluate()
        self.assertEqual((fired.script_id, fired.company_id), (self.script_b, self.company_b))

    def test_minimum_runs(self):
        self.Rule.create(
            {
                "name": "Rate",
                "company_id": self.company_a.id,
                "script_id": self.script.id,
                "kind": "error_rate",
                "error_rate_pct": 10,
                "min_runs": 5,
                "window_min": 30,
            }
        )
        self._runs(self.script, ["failed"] * 4)
        self.assertFalse(self.Rule._cron_evaluate())
        self._runs(self.script, ["succeeded"])
        # through the scheduled action itself
        self.env.ref("iota_scripts.iota_script_alert_rule_cron").method_direct_trigger()
        self.assertEqual(len(self._activities(self.script)), 1)
        self.assertEqual(len(self.Rule.search([("script_id", "=", self.script.id)]).alert_ids), 1)

    def test_failed_run_wakes_the_job(self):
        """A run that fails through the engine triggers the alert job (only when rules exist)."""
        cron = self.env.ref("iota_scripts.iota_script_alert_rule_cron")
        Trigger = self.env["ir.cron.trigger"]
        failing = self._script(FAILING, name="Thrower")
        before = Trigger.search_count([("cron_id", "=", cron.id)])
        self.assertEqual(failing.action_run().state, "failed")
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before)
        self.Rule.create({"name": "Any", "company_id": self.company_a.id, "failure_count": 1})
        # as in a new transaction
        self.env.cr.postcommit.data.pop("iota_scripts.alert_woken", None)
        self.env.cr.postcommit.data.pop("iota_scripts.cron_wake", None)
        self.assertEqual(failing.action_run().state, "failed")
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before + 1)
        # once per transaction, and never for a successful run
        failing.action_run()
        self.other.action_run()
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before + 1)
        alerts = self.Rule._cron_evaluate()
        self.assertEqual(alerts.script_id, failing)
        self.assertEqual((alerts.errors, alerts.runs), (3, 3))

    def test_access_and_companies(self):
        values = {"name": "Rule", "company_id": self.company_a.id}
        with self.assertRaises(AccessError):
            self.Rule.with_user(self.dev_a).create(values)
        rule = self.Rule.with_user(self.admin_a).create(values)
        self.assertEqual(self.Rule.with_user(self.dev_a).search([("id", "=", rule.id)]), rule)
        self.assertFalse(self.Rule.with_user(self.dev_b).search([("id", "=", rule.id)]))
        with self.assertRaises(AccessError):
            rule.with_user(self.dev_a).write({"failure_count": 9})
        # a rule may only watch a script of its own company
        with self.assertRaises(UserError):
            self.Rule.create(
                {"name": "Wrong", "company_id": self.company_a.id, "script_id": self.script_b.id}
            )
        for bad in ({"window_min": 0}, {"failure_count": 0}, {"cooldown_min": -1}):
            with self.assertRaises(ValidationError):
                self.Rule.create({**values, **bad})
        with self.assertRaises(ValidationError):
            self.Rule.create({**values, "kind": "error_rate", "error_rate_pct": 100})

    def test_views_load(self):
        for user in (self.dev_a, self.admin_a):
            for model, types in (
                ("iota.script.alert.rule", ["list", "form", "search"]),
                ("iota.script", ["list", "form", "search"]),
            ):
                views = self.env[model].with_user(user).get_views([(False, t) for t in types])
                self.assertEqual(set(views["views"]), set(types), model)
        arch = self.env["iota.script"].get_views([(False, "search")])["views"]["search"]["arch"]
        for name in ("trigger_endpoint", "last_run_failed", "never_ran", "late_schedule"):
            self.assertIn(f'name="{name}"', arch)
