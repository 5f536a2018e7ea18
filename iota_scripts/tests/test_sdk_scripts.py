"""sdk.scripts.enqueue from real runs: lookup, refusals, transactions, the depth guard."""

import json
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import TransactionCase, tagged

from .common import IotaScriptsCase, RealCursorMixin

#: Runs every call in ctx.input.calls ([name, key, input, options]) and
#: reports {name: {ok, value} | {ok: false, code, message}}.
PROBE = """\
export default async function (ctx) {
  const out = {};
  for (const [name, ...args] of ctx.input.calls) {
    try {
      out[name] = { ok: true, value: await sdk.scripts.enqueue(...args) };
    } catch (e) {
      out[name] = { ok: false, code: e.code, message: e.message };
    }
  }
  return out;
}
"""
TARGET = "export default (ctx) => ({ got: ctx.input, trigger: ctx.trigger });"
SELF_FOREVER = """\
export default async (ctx) => {
  const n = (ctx.input && ctx.input.n) || 1;
  await sdk.scripts.enqueue(ctx.script.key, { n: n + 1 });
  return { n };
};
"""


@tagged("post_install", "-at_install")
class TestSdkScripts(IotaScriptsCase):
    def _probe(self, calls, **values):
        script = self._script(PROBE, name="enqueuer", key=values.pop("key", "enqueuer"), **values)
        execution = script.action_run(input={"calls": calls})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        out = json.loads(execution.result_json)
        for outcome in out.values():
            if not outcome["ok"]:
                self.assertNoLeak(outcome["message"])
        return script, execution, out

    def test_enqueue_by_key_queues_a_run_committed_with_the_caller(self):
        target = self._script(TARGET, name="target", key="target")
        before = fields.Datetime.now()
        script, caller, out = self._probe(
            [
                ["plain", "target", {"a": 1}],
                ["later", "target", None, {"delaySec": 120, "priority": 30}],
            ]
        )
        self.assertTrue(out["plain"]["ok"], out)
        plain = self.env["iota.script.execution"].browse(out["plain"]["value"]["id"])
        later = self.env["iota.script.execution"].browse(out["later"]["value"]["id"])
        runner = self.company_a._iota_scripts_runner_user()
        self.assertEqual(plain.script_id, target)
        self.assertEqual(plain.state, "queued")
        self.assertEqual(plain.trigger, "script")
        self.assertEqual(
            json.loads(plain.trigger_json),
            {
                "type": "script",
                "script_id": script.id,
                "key": "enqueuer",
                "execution_id": caller.id,
            },
        )
        self.assertEqual(json.loads(plain.input_json), {"a": 1})
        self.assertEqual(plain.triggered_by_id, runner)
        self.assertEqual(plain.user_id, runner)
        self.assertEqual(plain.company_id, self.company_a)
        self.assertEqual(plain.generation, 2)
        self.assertEqual((plain.priority, plain.eta), (10, False))
        self.assertEqual(later.priority, 30)
        self.assertGreaterEqual(later.eta, before + timedelta(seconds=119))
        self.assertLessEqual(later.eta, fields.Datetime.now() + timedelta(seconds=121))
        # the worker is woken after commit
        cron = self.env.ref("iota_scripts.iota_script_execution_cron_queue")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))

    def test_refusals_are_named(self):
        self._script(TARGET, name="draft", key="draft_one", state="draft")
        self._script(TARGET, name="archived", key="archived_one", active=False)
        self._script(TARGET, name="disabled", key="disabled_one", state="disabled")
        self._script(TARGET, name="other user", key="as_bot", run_as_user_id=self.bot_a.id)
        self._script(TARGET, name="of B", key="of_b", company=self.company_b)
        self._script(TARGET, name="ok", key="fine")
        _script, _caller, out = self._probe(
            [
                ["missing", "no_such_key"],
                ["other_company", "of_b"],
                ["draft", "draft_one"],
                ["archived", "archived_one"],
                ["disabled", "disabled_one"],
                ["other_user", "as_bot"],
                ["bad_key", 42],
                ["bad_options", "fine", None, {"delay": 1}],
                ["bad_delay", "fine", None, {"delaySec": -1}],
                ["bad_priority", "fine", None, {"priority": 1.5}],
                ["null_key", None],
            ]
        )
        codes = {name: (o["ok"] or o["code"]) for name, o in out.items()}
        self.assertEqual(
            codes,
            {
                "missing": "not_found",
                "other_company": "not_found",
                "draft": "not_active",
                "archived": "not_active",
                "disabled": "not_active",
                "other_user": "access_denied",
                "bad_key": "invalid_argument",
                "bad_options": "invalid_argument",
                "bad_delay": "invalid_argument",
                "bad_priority": "invalid_argument",
                "null_key": "invalid_argument",
            },
        )
        # another company's script is not named, nor told apart from a missing key
        self.assertNotIn("of B", json.dumps(out))
        self.assertEqual(
            out["other_company"]["message"].replace("of_b", "K"),
            out["missing"]["message"].replace("no_such_key", "K"),
        )
        self.assertFalse(self.env["iota.script.execution"].search([("trigger", "=", "script")]))

    def test_a_script_running_as_the_same_user_may_be_queued(self):
        target = self._script(TARGET, name="as bot", key="as_bot", run_as_user_id=self.bot_a.id)
        _script, _caller, out = self._probe([["same", "as_bot"]], run_as_user_id=self.bot_a.id)
        self.assertTrue(out["same"]["ok"], out)
        queued = self.env["iota.script.execution"].browse(out["same"]["value"]["id"])
        self.assertEqual((queued.script_id, queued.user_id), (target, self.bot_a))

    def test_input_too_large_and_per_run_budget(self):
        self._script(TARGET, name="ok", key="fine")
        source = """\
export default async () => {
  const out = [];
  try { await sdk.scripts.enqueue("fine", "x".repeat(70000)); } catch (e) { out.push(e.code); }
  for (let i = 0; i < 4; i++) {
    try { await sdk.scripts.enqueue("fine", i); out.push("ok"); } catch (e) { out.push(e.code); }
  }
  return out;
};
"""
        script = self._script(source, name="budget", key="budget")
        with patch.dict("os.environ", {"IOTA_SCRIPTS_MAX_ENQUEUES_PER_RUN": "3"}):
            execution = script.action_run()
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(
            json.loads(execution.result_json),
            ["argument_too_large", "ok", "ok", "ok", "budget_exceeded"],
        )
        queued = self.env["iota.script.execution"].search([("trigger", "=", "script")])
        self.assertEqual(len(queued), 3)

    def test_a_failed_run_queues_nothing(self):
        self._script(TARGET, name="ok", key="fine")
        script = self._script(
            "export default async () => { await sdk.scripts.enqueue('fine'); throw new Error('no'); };",
            key="thrower",
        )
        execution = script.action_run()
        self.assertEqual((execution.state, execution.error_code), ("failed", "script_error"))
        self.assertFalse(self.env["iota.script.execution"].search([("trigger", "=", "script")]))


@tagged("post_install", "-at_install")
class TestSdkScriptsWorker(RealCursorMixin, TransactionCase):
    def test_a_script_queueing_itself_stops_at_max_depth(self):
        script_id = self._committed_script(SELF_FOREVER)
        with self._env() as env:
            env["iota.script"].browse(script_id).action_run(background=True)
        for _round in range(10):
            with self._env() as env:
                if not env["iota.script.execution"]._cron_process_queue(budget_sec=30):
                    break
        with self._env() as env:
            runs = env["iota.script.execution"].search_read(
                [("script_id", "=", script_id)],
                ["state", "generation", "error_code", "error_message", "result_json", "trigger"],
                order="id",
            )
        self.assertEqual(
            [(r["state"], r["generation"], r["trigger"]) for r in runs],
            [("succeeded", 1, "manual"), ("succeeded", 2, "script"), ("failed", 3, "script")],
            runs,
        )
        self.assertEqual([json.loads(r["result_json"])["n"] for r in runs[:2]], [1, 2])
        self.assertEqual(runs[2]["error_code"], "budget_exceeded")
        self.assertIn("at most 3 runs deep", runs[2]["error_message"])


@tagged("post_install", "-at_install")
class TestSdkScriptsPriority(IotaScriptsCase):
    """Issue 17, "Fairness": priorities 0-9 go before every company's turn."""

    def _probe(self, calls, **values):
        script = self._script(PROBE, name="enqueuer", **values)
        execution = script.action_run(input={"calls": calls})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        return json.loads(execution.result_json)

    def test_reserved_priorities_are_refused_to_non_administrators(self):
        self._script(TARGET, name="target", key="target")
        out = self._probe(
            [
                ["reserved", "target", None, {"priority": 9}],
                ["top", "target", None, {"priority": 0}],
                ["fine", "target", None, {"priority": 10}],
            ],
            key="enqueuer",
        )
        self.assertEqual(out["reserved"]["code"], "priority_reserved")
        self.assertEqual(out["top"]["code"], "priority_reserved")
        self.assertIn("reserved", out["reserved"]["message"])
        self.assertNoLeak(out["reserved"]["message"])
        self.assertTrue(out["fine"]["ok"], out)
        queued = self.env["iota.script.execution"].search([("trigger", "=", "script")])
        self.assertEqual(queued.mapped("priority"), [10], "nothing queued at a reserved priority")

    def test_a_run_as_an_administrator_may_use_them(self):
        admin = self._user("iota_prio_admin", "iota_scripts.iota_scripts_group_admin")
        self._script(TARGET, name="admin target", key="admin_target", run_as_user_id=admin.id)
        out = self._probe(
            [["top", "admin_target", None, {"priority": 0}]],
            key="admin_enqueuer",
            run_as_user_id=admin.id,
        )
        self.assertTrue(out["top"]["ok"], out)
        queued = self.env["iota.script.execution"].browse(out["top"]["value"]["id"])
        self.assertEqual(queued.priority, 0)
