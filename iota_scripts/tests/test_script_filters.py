"""Search filters on scripts: each returns exactly the expected scripts."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..tools.sentinel import as_engine
from .common import IotaScriptsCase

SOURCE = "export default () => 1;\n"


@tagged("post_install", "-at_install")
class TestScriptFilters(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        make = cls._script
        cls.s_action = make(SOURCE, name="F contextual action")
        cls.s_rule = make(SOURCE, name="F automation rule")
        cls.s_rule_off = make(SOURCE, name="F archived automation rule")
        cls.s_cron = make(SOURCE, name="F scheduled action")
        cls.s_cron_off = make(SOURCE, name="F paused scheduled action")
        cls.s_schedule = make(SOURCE, name="F schedule")
        cls.s_subscription = make(SOURCE, name="F subscription")
        cls.s_endpoint = make(SOURCE, name="F endpoint")
        cls.s_manual = make(SOURCE, name="F manual")
        cls.s_b = make(SOURCE, name="F of B", company=cls.company_b)
        cls.all = (
            cls.s_action
            | cls.s_rule
            | cls.s_rule_off
            | cls.s_cron
            | cls.s_cron_off
            | cls.s_schedule
            | cls.s_subscription
            | cls.s_endpoint
            | cls.s_manual
            | cls.s_b
        )
        model_id = cls.env["ir.model"]._get_id("res.partner")

        def action(script, name):
            return {
                "name": name,
                "model_id": model_id,
                "state": "iota_script",
                "iota_script_id": script.id,
            }

        cls.env["ir.actions.server"].create(action(cls.s_action, "Contextual"))
        for script, active in ((cls.s_rule, True), (cls.s_rule_off, False)):
            cls.env["base.automation"].create(
                {
                    "name": script.name,
                    "model_id": model_id,
                    "trigger": "on_create_or_write",
                    "active": active,
                    "action_server_ids": [(0, 0, action(script, script.name))],
                }
            )
        for script, active in ((cls.s_cron, True), (cls.s_cron_off, False)):
            cls.env["ir.cron"].create(
                {
                    **action(script, script.name),
                    "model_id": cls.env["ir.model"]._get_id("iota.script"),
                    "interval_number": 1,
                    "interval_type": "days",
                    "active": active,
                }
            )
        cls.schedule = cls.env["iota.script.schedule"].create(
            {"script_id": cls.s_schedule.id, "cron": "0 3 * * *"}
        )
        cls.env["iota.script.subscription"].create(
            {"event_type": "partner.created", "script_id": cls.s_subscription.id}
        )
        cls.env["iota.script.endpoint"].create(
            {"script_id": cls.s_endpoint.id, "path": "/filters/test", "methods": "GET"}
        )

    def _find(self, domain, user=None):
        Script = self.env["iota.script"].with_user(user) if user else self.env["iota.script"]
        return Script.search([("id", "in", self.all.ids), *domain])

    def test_trigger_types(self):
        cases = {
            "has_automation": self.s_action | self.s_rule,
            "has_schedule": self.s_cron | self.s_schedule,
            "has_subscription": self.s_subscription,
            "has_endpoint": self.s_endpoint,
            "is_manual_only": self.s_manual | self.s_rule_off | self.s_cron_off | self.s_b,
        }
        for field, expected in cases.items():
            self.assertEqual(self._find([(field, "=", True)]), expected, field)
            self.assertEqual(self._find([(field, "!=", True)]), self.all - expected, field)
            self.assertEqual(self._find([(field, "=", False)]), self.all - expected, field)
            # the computed values agree with the searches
            self.assertEqual(self.all.filtered(field), expected, field)
        self.assertEqual(self.s_cron.trigger_summary, "Schedule")
        self.assertEqual(self.s_manual.trigger_summary, "Manual")
        self.assertEqual(self.s_action.trigger_summary, "Automation Rule")
        with self.assertRaises(UserError):
            self._find([("has_endpoint", "ilike", "x")])

    def test_last_run_state(self):
        Execution = as_engine(self.env["iota.script.execution"])

        def run(script, state):
            Execution.create(
                {
                    "script_id": script.id,
                    "company_id": script.company_id.id,
                    "trigger": "manual",
                    "state": state,
                    "date_start": fields.Datetime.now(),
                }
            )

        run(self.s_action, "succeeded")
        run(self.s_rule, "succeeded")
        run(self.s_rule, "failed")  # newest: failed
        run(self.s_cron, "failed")
        run(self.s_cron, "succeeded")  # newest: succeeded
        run(self.s_schedule, "timed_out")
        # and a real failed run through the engine
        failing = self._script(
            'export default () => { throw new Error("x"); };\n', name="F thrower"
        )
        self.all |= failing
        self.assertEqual(failing.action_run().state, "failed")
        never = self.all - self.s_action - self.s_rule - self.s_cron - self.s_schedule - failing
        failed = self.s_rule | self.s_schedule | failing
        self.assertEqual(
            self._find([("last_execution_state", "=", "succeeded")]), self.s_action | self.s_cron
        )
        self.assertEqual(
            self._find([("last_execution_state", "in", ("failed", "timed_out", "dead"))]), failed
        )
        self.assertEqual(self._find([("last_execution_state", "=", False)]), never)
        self.assertEqual(self._find([("last_execution_state", "!=", False)]), self.all - never)
        self.assertEqual(
            self._find([("last_execution_state", "not in", ("succeeded", False))]), failed
        )
        self.assertEqual(
            self.all.filtered(lambda s: s.last_execution_state == "failed"), self.s_rule | failing
        )
        with self.assertRaises(UserError):
            self._find([("last_execution_state", "ilike", "fail")])

    def test_late_schedule(self):
        self.assertFalse(self._find([("has_late_schedule", "=", True)]))
        self.env.cr.execute(
            "UPDATE iota_script_schedule SET next_run = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(hours=2), self.schedule.id],
        )
        self.schedule.invalidate_recordset(["next_run"])
        self.assertEqual(self._find([("has_late_schedule", "=", True)]), self.s_schedule)
        self.assertTrue(self.s_schedule.has_late_schedule)
        self.assertEqual(
            self._find([("has_late_schedule", "=", False)]), self.all - self.s_schedule
        )
        self.schedule.active = False
        self.assertFalse(self._find([("has_late_schedule", "=", True)]))

    def test_tags_state_company_and_responsible(self):
        tag = self.env["iota.script.tag"].create({"name": "Billing"})
        (self.s_action | self.s_b).tag_ids = tag
        self.s_manual.state = "disabled"
        self.s_endpoint.user_id = self.dev_a
        self.assertEqual(self._find([("tag_ids", "in", tag.ids)]), self.s_action | self.s_b)
        self.assertEqual(self._find([("state", "=", "disabled")]), self.s_manual)
        self.assertEqual(self._find([("company_id", "=", self.company_b.id)]), self.s_b)
        self.assertEqual(self._find([("user_id", "=", self.dev_a.id)]), self.s_endpoint)
        # filters never reach across companies: a user of B sees B's scripts only
        self.assertEqual(self._find([("is_manual_only", "=", True)], user=self.dev_b), self.s_b)
        self.assertEqual(
            self._find([("has_automation", "=", True)], user=self.dev_b), self.env["iota.script"]
        )
        # grouping by responsible and company works (stored fields)
        groups = self.env["iota.script"]._read_group(
            [("id", "in", self.all.ids)], ["company_id"], ["__count"]
        )
        self.assertEqual(dict(groups), {self.company_a: 9, self.company_b: 1})
