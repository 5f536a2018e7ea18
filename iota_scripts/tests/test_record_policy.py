"""Recording policies through real triggers: HTTP calls to the Odoo test
server, an automation rule on a record save, and a manual run.

Requests carry the test cookie, so the server runs them on this test's
cursor: what they write is visible here without a commit.
"""

from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged

from ..models.iota_script_record_policy import keeps

OK = "export default async function (ctx) { return {ok: true, id: ctx.execution.id}; }"
THROWS = "export default async function (ctx) { throw new Error('boom'); }"
EMITS = """
export default async function (ctx) {
  sdk.events.emit("bench.done", {n: 1});
  return {id: ctx.execution.id};
}
"""
EMITS_THEN_THROWS = """
export default async function (ctx) {
  await sdk.db.searchCount("res.partner", []);
  sdk.events.emit("bench.lost", {n: 1});
  throw new Error("after the event");
}
"""
MIXED = """
export default async function (ctx) {
  if (ctx.request.query.fail) throw new Error("asked to fail");
  return {ok: true};
}
"""
MAYBE = """
export default async function (ctx) {
  if (ctx.records && ctx.records.ids.length && (await sdk.db.read("res.partner", ctx.records.ids, ["name"]))[0].name.startsWith("bad")) {
    throw new Error("bad partner");
  }
  return {ok: true};
}
"""


@tagged("post_install", "-at_install")
class TestRecordPolicy(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the demo rules would add runs of their own to the partners created here
        demo = cls.env["ir.actions.server"].search([("state", "=", "iota_script")])
        demo.base_automation_id.active = False
        cls.env["ir.config_parameter"].sudo().set_param(
            "iota_scripts.redis_url", "redis://127.0.0.1:6379/0"
        )
        cls.company = cls.env["res.company"].create({"name": "IOTA Recording Company"})
        cls.scripts = {
            key: cls.env["iota.script"].create(
                {
                    "name": f"policy {key}",
                    "company_id": cls.company.id,
                    "state": "active",
                    "source": source,
                }
            )
            for key, source in (
                ("ok", OK),
                ("throws", THROWS),
                ("emits", EMITS),
                ("maybe", MAYBE),
                ("mixed", MIXED),
                ("emits_throws", EMITS_THEN_THROWS),
            )
        }

    def _endpoint(self, script, path, **values):
        return self.env["iota.script.endpoint"].create(
            {
                "script_id": self.scripts[script].id,
                "path": path,
                "auth_mode": "public",
                "methods": "GET",
                "rate_limit_per_min": 10000,
                **values,
            }
        )

    def _get(self, path):
        return self.opener.get(f"{self.base_url()}/iota/api/v1{path}", timeout=30)

    def _executions(self, script, trigger="endpoint"):
        return self.env["iota.script.execution"].search(
            [("script_id", "=", self.scripts[script].id), ("trigger", "=", trigger)]
        )

    def _counted(self, script, state="succeeded"):
        rows = self.env["iota.script.run.stat"].search(
            [("script_id", "=", self.scripts[script].id), ("state", "=", state)]
        )
        return sum(rows.mapped("runs"))

    # ---- what each policy keeps ------------------------------------------------------
    def test_every_run_by_default_written_once_with_the_answer(self):
        endpoint = self._endpoint("ok", "/rec/all")
        self.assertEqual(endpoint.record_policy, "all")
        ids = []
        for _i in range(3):
            response = self._get("/rec/all")
            self.assertEqual(response.status_code, 200, response.text)
            ids.append(response.json()["id"])
        executions = self._executions("ok")
        # ctx.execution.id is the id of the row written after the run
        self.assertEqual(sorted(executions.ids), sorted(ids))
        for execution in executions:
            self.assertEqual(execution.state, "succeeded")
            self.assertEqual(execution.http_status, 200)
            self.assertGreater(execution.latency_ms, 0)
            self.assertEqual(execution.endpoint_id, endpoint)
            self.assertEqual(execution.result_json, f'{{"ok": true, "id": {execution.id}}}')
            # what a kept row stores besides its outcome: the input, the ctx, the journal
            self.assertEqual(execution.input_json, "null")
            self.assertIn(f'"execution": {{"id": {execution.id}}}', execution.ctx_json)
            self.assertIn('"calls": 0', execution.journal_json)
        self.assertEqual(self._counted("ok"), 0)

    def test_failures_only_keeps_no_success_and_every_failure(self):
        self._endpoint("ok", "/rec/ok", record_policy="failures")
        self._endpoint("throws", "/rec/throws", record_policy="failures")
        for _i in range(10):
            response = self._get("/rec/ok")
            self.assertEqual(response.status_code, 200, response.text)
            # the id the script saw names no row
            self.assertFalse(
                self.env["iota.script.execution"].browse(response.json()["id"]).exists()
            )
        for _i in range(3):
            self.assertEqual(self._get("/rec/throws").status_code, 500)
        self.assertFalse(self._executions("ok"))
        self.assertEqual(self._counted("ok"), 10)
        failed = self._executions("throws")
        self.assertEqual(len(failed), 3)
        self.assertEqual(set(failed.mapped("state")), {"failed"})
        self.assertEqual(set(failed.mapped("http_status")), {500})
        self.assertEqual(self._counted("throws", "failed"), 0)
        # the 500 names the execution that was kept
        response = self._get("/rec/throws")
        self.assertIn(f"execution {self._executions('throws')[0].id}", response.text)

    def test_sampled_keeps_about_one_in_n_and_every_failure(self):
        self._endpoint("ok", "/rec/sampled", record_policy="sampled", record_sample_every=4)
        self._endpoint(
            "throws", "/rec/sampled-fail", record_policy="sampled", record_sample_every=4
        )
        calls = 80
        for _i in range(calls):
            self.assertEqual(self._get("/rec/sampled").status_code, 200)
        for _i in range(4):
            self.assertEqual(self._get("/rec/sampled-fail").status_code, 500)
        kept = len(self._executions("ok"))
        # binomial(80, 1/4): mean 20, sd 3.9; outside [6, 40] has odds below 1e-4
        self.assertTrue(6 <= kept <= 40, kept)
        self.assertEqual(kept + self._counted("ok"), calls)
        self.assertEqual(len(self._executions("throws")), 4)

    def test_sampling_rule(self):
        draws = iter([0.24, 0.26, 0.0, 0.99])
        self.assertTrue(keeps("sampled", 4, True, rand=lambda: next(draws)))
        self.assertFalse(keeps("sampled", 4, True, rand=lambda: next(draws)))
        self.assertTrue(keeps("sampled", 1, True, rand=lambda: next(draws)))  # N=1: every run
        self.assertFalse(keeps("failures", 4, True))
        self.assertTrue(keeps("failures", 4, False))
        self.assertTrue(keeps("sampled", 1000, False))
        self.assertTrue(keeps("all", 4, True))

    def test_a_run_that_emits_events_is_kept(self):
        self._endpoint("emits", "/rec/emits", record_policy="failures")
        response = self._get("/rec/emits")
        self.assertEqual(response.status_code, 200, response.text)
        execution = self._executions("emits")
        self.assertEqual(execution.ids, [response.json()["id"]])
        self.assertEqual(execution.state, "succeeded")
        self.assertEqual(execution.http_status, 200)
        # the row created for the event, before the outcome, stores the same
        self.assertEqual(execution.input_json, "null")
        self.assertEqual(execution.result_json, f'{{"id": {execution.id}}}')
        self.assertIn(f'"execution": {{"id": {execution.id}}}', execution.ctx_json)
        event = self.env["iota.script.event"].search([("type", "=", "bench.done")])
        self.assertEqual(event.execution_id, execution)

    def test_a_failed_run_whose_row_was_rolled_back_is_written_again(self):
        # sdk.db opened the run's savepoint first: the row created for the event
        # goes with the rollback, and the failure is written after it
        self._endpoint("emits_throws", "/rec/emits-throws", record_policy="failures")
        response = self._get("/rec/emits-throws")
        self.assertEqual(response.status_code, 500, response.text)
        execution = self._executions("emits_throws")
        self.assertEqual(len(execution), 1)
        self.assertEqual((execution.state, execution.http_status), ("failed", 500))
        self.assertIn("after the event", execution.error_message)
        self.assertEqual(execution.input_json, "null")
        self.assertIn(f'"execution": {{"id": {execution.id}}}', execution.ctx_json)
        self.assertFalse(self.env["iota.script.event"].search([("type", "=", "bench.lost")]))

    def test_cached_script_columns_follow_writes(self):
        self._endpoint("ok", "/rec/cache")
        self.assertEqual(self._get("/rec/cache").status_code, 200)
        self.scripts["ok"].state = "disabled"
        self.assertEqual(self._get("/rec/cache").status_code, 404)
        self.scripts["ok"].write({"state": "active", "source": OK.replace("ok: true", "ok: 'v2'")})
        self.assertEqual(self._get("/rec/cache").json()["ok"], "v2")
        self.scripts["ok"].record_policy = "failures"
        self.assertEqual(self._get("/rec/cache").status_code, 200)
        self.assertEqual(self._counted("ok"), 0)  # the endpoint's policy, not the script's

    # ---- exact counts ----------------------------------------------------------------
    def test_dashboard_and_alerts_count_every_run_under_sampling(self):
        self._endpoint("ok", "/rec/dash", record_policy="sampled", record_sample_every=5)
        self._endpoint("throws", "/rec/dash-fail", record_policy="sampled", record_sample_every=5)
        for _i in range(30):
            self.assertEqual(self._get("/rec/dash").status_code, 200)
        for _i in range(6):
            self.assertEqual(self._get("/rec/dash-fail").status_code, 500)
        self.assertLess(len(self._executions("ok")), 30)  # some were not kept...
        Execution = self.env["iota.script.execution"].with_context(
            allowed_company_ids=self.company.ids
        )
        data = Execution.get_dashboard_data(1)
        by_script = {s["script_id"]: s for s in data["scripts"]}
        ok, throws = by_script[self.scripts["ok"].id], by_script[self.scripts["throws"].id]
        # ...and every run is counted
        self.assertEqual((ok["runs"], ok["errors"], ok["finished"]), (30, 0, 30))
        self.assertEqual((throws["runs"], throws["errors"]), (6, 6))
        self.assertEqual(data["totals"]["runs"], 36)
        self.assertEqual(data["totals"]["error_rate"], round(100 * 6 / 36, 2))
        self.assertEqual(sum(data["runs_by_state"]["succeeded"]), 30)
        self.assertEqual(sum(data["runs_by_state"]["failed"]), 6)
        self.assertGreater(ok["wall_ms_avg"], 0)

    def test_alert_rules_count_the_runs_nobody_kept(self):
        self._endpoint("mixed", "/rec/mixed", record_policy="sampled", record_sample_every=5)
        for i in range(20):
            query = "?fail=1" if i % 10 == 0 else ""
            self.assertEqual(self._get(f"/rec/mixed{query}").status_code, 500 if query else 200)
        self.assertLess(len(self._executions("mixed")), 20)
        rule = self.env["iota.script.alert.rule"].create(
            {
                "name": "error rate",
                "company_id": self.company.id,
                "script_id": self.scripts["mixed"].id,
                "kind": "error_rate",
                "error_rate_pct": 15,
                "min_runs": 20,
                "window_min": 60,
                "cooldown_min": 0,
            }
        )
        # 2 failures in 20 runs: 10 %; counting the kept runs only would say 2 in ~6
        self.assertFalse(rule._evaluate())
        rule.error_rate_pct = 5
        alert = rule._evaluate()
        self.assertEqual(
            (alert.script_id, alert.runs, alert.errors), (self.scripts["mixed"], 20, 2)
        )

    # ---- the script's policy: other triggers; manual runs always kept ----------------
    def test_script_policy_applies_to_automation_and_never_to_manual_runs(self):
        script = self.scripts["maybe"]
        script.record_policy = "failures"
        partner_model = self.env["ir.model"]._get("res.partner")
        self.env["base.automation"].create(
            {
                "name": "policy rule",
                "model_id": partner_model.id,
                "trigger": "on_create_or_write",
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Run maybe",
                            "model_id": partner_model.id,
                            "state": "iota_script",
                            "iota_script_id": script.id,
                        },
                    )
                ],
            }
        )
        Partner = self.env["res.partner"].with_company(self.company)
        Partner.create([{"name": f"good {i}", "company_id": self.company.id} for i in range(3)])
        Partner.create({"name": "bad one", "company_id": self.company.id})
        self.env.flush_all()
        automation = self._executions("maybe", trigger="automation")
        self.assertEqual(automation.mapped("state"), ["failed"])
        self.assertEqual(automation.error_message.count("bad partner"), 1)
        self.assertEqual(self._counted("maybe"), 3)
        # a manual run is kept whatever the policy
        manual = script.action_run()
        self.assertEqual(manual.state, "succeeded")
        self.assertEqual(manual.trigger, "manual")
        self.assertTrue(manual.exists())

    # ---- bad values ------------------------------------------------------------------
    def test_invalid_policy_values_are_refused_with_a_named_error(self):
        with self.assertRaisesRegex(
            ValidationError, r"Unknown recording policy 'sometimes'.*all, sampled, failures"
        ):
            self._endpoint("ok", "/rec/bad", record_policy="sometimes")
        with self.assertRaisesRegex(ValidationError, "Unknown recording policy"):
            self.scripts["ok"].write({"record_policy": "never"})
        with self.assertRaisesRegex(ValidationError, "N must be from 1 to"):
            self._endpoint("ok", "/rec/bad-n", record_policy="sampled", record_sample_every=0)
        with self.assertRaisesRegex(ValidationError, "N must be from 1 to"):
            self.scripts["ok"].write({"record_sample_every": -3})
        self.assertEqual(self.scripts["ok"].record_policy, "all")
