"""Threat: a script or a company uses more sdk calls than budgeted (run budget, daily pool).

Governance units on real Odoo (issue 10 §5): run budgets per trigger, the company's
daily pool, and the units stored on each execution.

The costs are the engine's table (``iota_scripts_sdk.units``): a db read 10,
a db write 20, a log line 1.
"""

import threading

from odoo.tests import tagged

from .common import IotaScriptsCase, RealCursorMixin

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


@tagged("post_install", "-at_install")
class TestUnitPoolConcurrency(RealCursorMixin, IotaScriptsCase):
    """The daily pool between real connections, as under ``--workers``: each draw
    commits on its own cursor; concurrent draws neither lose nor double-count."""

    COMPANY = 987654321  # a plain integer column: no company row is needed

    def _cleanup(self):
        with self._env() as env:
            env.cr.execute(
                "DELETE FROM iota_script_unit_pool WHERE company_id = %s", [self.COMPANY]
            )

    def test_concurrent_draws_grant_the_pool_exactly_once(self):
        self._cleanup()
        self.addCleanup(self._cleanup)
        granted, errors = [], []
        lock = threading.Lock()

        def run(step):
            try:
                with self._env() as env:
                    Pool = env["iota.script.unit.pool"].with_context(
                        iota_scripts_pool_own_transaction=True
                    )
                    step(Pool)
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(repr(e))

        def take(Pool):
            mine = [Pool._iota_take(self.COMPANY, 1000, 7) for _ in range(25)]
            with lock:
                granted.extend(mine)

        def give_back(Pool):
            Pool._iota_give_back(self.COMPANY, 3)

        def in_threads(step):
            threads = [threading.Thread(target=run, args=(step,)) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            self.assertEqual(errors, [])
            with self._env() as env:
                env.cr.execute(
                    "SELECT used FROM iota_script_unit_pool WHERE company_id = %s", [self.COMPANY]
                )
                return env.cr.fetchall()

        # 6 x 25 draws of 7 = 1050 wanted from a pool of 1000: exactly 1000 granted, once
        self.assertEqual(in_threads(take), [(1000,)])
        self.assertEqual(sum(granted), 1000)
        self.assertEqual(granted.count(6), 1, "one partial draw: what was left")
        self.assertEqual(in_threads(give_back), [(1000 - 6 * 3,)])
