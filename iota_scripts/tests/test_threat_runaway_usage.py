"""Threat: a script or a company uses more sdk calls than budgeted (run budget, daily pool).

Governance units on real Odoo (issue 10 §5): run budgets per trigger, the company's
daily pool, and the units stored on each execution.

The costs are the engine's table (``iota_scripts_sdk.units``): a db read 10,
a db write 20, a log line 1.
"""

from odoo.tests import tagged

from .common import IotaScriptsCase

SEARCHES = """export default async (ctx) => {
  for (let i = 0; i < ctx.input.n; i++) await sdk.db.search("res.partner", [], { limit: 1 });
  return ctx.input.n;
}"""


@tagged("post_install", "-at_install")
class TestGovernanceUnits(IotaScriptsCase):
    def _param(self, key, value):
        self.env["ir.config_parameter"].sudo().set_param(f"iota_scripts.{key}", value)

    def test_the_execution_stores_the_units_used(self):
        script = self._script(
            """export default async () => {
              sdk.log.info("one"); console.log("two");
              await sdk.db.search("res.partner", [], { limit: 1 });
              const [id] = await sdk.db.search("res.partner", [["name", "=", "Partner of A"]]);
              await sdk.db.write("res.partner", [id], { comment: "seen" });
              return 1;
            }""",
            run_as_user_id=self.bot_a.id,
        )
        execution = script.action_run()
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(execution.units_used, 1 + 1 + 10 + 10 + 20)
        self.assertEqual(execution._run_panel_values()["units_used"], 42)

    def test_the_run_budget_of_the_trigger_cuts_the_run_and_names_itself(self):
        self._param("units_budget_manual", 25)
        script = self._script(SEARCHES)
        execution = script.action_run(input={"n": 5})
        self.assertEqual((execution.state, execution.error_code), ("failed", "budget_exceeded"))
        self.assertIn("the run budget of trigger manual is 25 units", execution.error_message)
        self.assertEqual(execution.units_used, 20)
        self.assertEqual(script.action_run(input={"n": 2}).state, "succeeded")
        # another trigger has its own budget
        self._param("units_budget_automation", 15)
        model = self.env["ir.model"]._get("res.partner")
        rule = self.env["base.automation"].create(
            {"name": "units", "model_id": model.id, "trigger": "on_create"}
        )
        self.env["ir.actions.server"].create(
            {
                "name": "searches",
                "model_id": model.id,
                "state": "iota_script",
                "iota_script_id": script.id,
                "base_automation_id": rule.id,
            }
        )
        script.sudo().write(
            {"source": SEARCHES.replace("ctx.input.n", "2")}
        )  # input is empty for automation runs
        self.env["res.partner"].create({"name": "trigger", "company_id": self.company_a.id})
        run = self._executions(script)[-1]
        self.assertEqual((run.trigger, run.error_code), ("automation", "budget_exceeded"))
        self.assertIn("the run budget of trigger automation is 15 units", run.error_message)

    def test_the_company_daily_pool_spans_runs(self):
        Pool = self.env["iota.script.unit.pool"]
        self.company_a.iota_scripts_units_daily_pool = 50
        script = self._script(SEARCHES)
        first = script.action_run(input={"n": 3})
        self.assertEqual(first.state, "succeeded", first.error_message)
        self.assertEqual(first.units_used, 30)
        # the run gave back what it reserved and did not use
        self.assertEqual(Pool._iota_used_today(self.company_a.id), 30)
        second = script.action_run(input={"n": 3})
        self.assertEqual((second.state, second.error_code), ("failed", "budget_exceeded"))
        self.assertIn("the company's daily pool of 50 units is used up", second.error_message)
        self.assertEqual(second.units_used, 20)
        self.assertEqual(Pool._iota_used_today(self.company_a.id), 50)
        # another company's runs draw on their own pool (none here)
        other = self._script(SEARCHES, company=self.company_b)
        self.assertEqual(other.action_run(input={"n": 3}).state, "succeeded")
        self.assertEqual(Pool._iota_used_today(self.company_b.id), 0)
