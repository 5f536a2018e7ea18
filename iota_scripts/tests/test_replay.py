"""Replay of recorded runs, behavioural diff and the waterfall (run/replay.py).

Real V8, real PostgreSQL: the runs are made through their triggers (an event
delivery through the queue, an automation rule, by hand), then replayed.
"""

import json
import os
from unittest.mock import patch

from iota_scripts_sdk import _http
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import IotaScriptsCase, emit_on_create, work_queue

# The event handler of the acceptance story: it reads the new partner and
# fails on partners without an email (a bug); the fix handles them.
BUGGY = """\
export default async (ctx) => {
  const [p] = await sdk.db.read("res.partner", [ctx.event.payload.id], ["name", "email"]);
  const seen = await sdk.cache.incr("seen:" + p.id);
  sdk.log.info("greeting " + p.name);
  return { domain: p.email.split("@")[1], seen };
};
"""
FIXED = BUGGY.replace(
    'return { domain: p.email.split("@")[1], seen };',
    'return { domain: p.email ? p.email.split("@")[1] : null, seen };',
)
# a fix that also writes: the write is not done, it diverges
WRITING = FIXED.replace(
    "  return {",
    '  await sdk.db.write("res.partner", [p.id], { comment: "replayed" });\n  return {',
)
FETCHER = """\
export default async (ctx) => {
  let code = null;
  try {
    await sdk.http.get("https://unresolvable.invalid/x", { headers: { Authorization: "Bearer s3cret" } });
  } catch (e) { code = e.code; }
  const n = await sdk.db.searchCount("res.partner", []);
  return { code, n: n > 0 };
};
"""


@tagged("post_install", "-at_install")
class TestReplay(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.handler = cls._script(BUGGY, name="Greeter", run_as_user_id=cls.bot_a.id)
        cls.env["iota.script.subscription"].create(
            {"event_type": "partner.created", "script_id": cls.handler.id}
        )
        emit_on_create(cls.env, "partner.created")

    def _failed_event_run(self, name="Replay Ada"):
        partner = self.env["res.partner"].create({"name": name, "company_id": self.company_a.id})
        work_queue(self)
        run = self._executions(self.handler).filtered(lambda e: e.trigger == "event")[-1:]
        self.assertEqual((run.state, run.error_code), ("failed", "script_error"))
        return run, partner

    def test_a_failed_event_run_replayed_on_a_fixed_draft_succeeds(self):
        run, partner = self._failed_event_run()
        journal = json.loads(run.journal_json)
        self.assertEqual([e["call"] for e in journal["entries"]], ["db.read", "cache.incr"])
        self.assertEqual(journal["entries"][0]["result"][0]["name"], "Replay Ada")
        self.assertEqual(json.loads(run.ctx_json)["event"]["payload"]["id"], partner.id)
        # the cache's answer is the recorded one, whatever the live cache holds now
        seen = journal["entries"][1]["result"]
        report = self.handler.with_user(self.dev_a).action_replay_execution(run.id, source=FIXED)
        self.assertEqual(report["state"], "succeeded", report)
        self.assertEqual(report["result"], {"domain": None, "seen": seen})
        self.assertEqual(report["ran"], "draft")
        self.assertEqual(report["recorded"]["state"], "failed")
        self.assertEqual(report["calls_served"], 2)
        self.assertEqual(
            report["divergences"],
            [
                {
                    "kind": "different_result",
                    "recorded": {"state": "failed", "result": None, "error_code": "script_error"},
                    "replayed": {
                        "state": "succeeded",
                        "result": {"domain": None, "seen": seen},
                        "error_code": None,
                    },
                }
            ],
        )
        self.assertEqual([line["message"] for line in report["logs"]], ["greeting Replay Ada"])
        # the same version again: it fails as it did, no divergence
        again = run.with_user(self.dev_a).action_replay()
        self.assertEqual((again["state"], again["error_code"]), ("failed", "script_error"))
        self.assertEqual(again["divergences"], [])
        self.assertEqual(again["ran"], f"v{self.handler.version_id.number}")

    def test_a_replay_writes_nothing_and_serves_the_cache_from_the_journal(self):
        run, partner = self._failed_event_run()
        executions = self.env["iota.script.execution"].search_count([])
        events = self.env["iota.script.event"].search_count([])
        # the live cache has moved on: the replay still sees the recorded answer
        report = self.handler.with_user(self.dev_a).action_replay_execution(run.id, source=WRITING)
        self.assertEqual(report["state"], "failed")
        self.assertEqual(report["error_code"], "replay_diverged")
        kinds = [d["kind"] for d in report["divergences"]]
        self.assertEqual(kinds, ["extra_call", "different_result"])
        self.assertEqual(report["divergences"][0]["call"], "db.write")
        self.env.invalidate_all()
        self.assertFalse(partner.comment)
        self.assertEqual(self.env["iota.script.execution"].search_count([]), executions)
        self.assertEqual(self.env["iota.script.event"].search_count([]), events)

    def test_a_replay_sends_no_http_and_masks_secrets(self):
        script = self._script(
            FETCHER, allowed_hosts="unresolvable.invalid", run_as_user_id=self.bot_a.id
        )
        real_fetch = _http.fetch
        with patch.object(_http, "fetch", side_effect=real_fetch) as fetch:
            run = script.with_user(self.dev_a)._run_by_hand(None)
            self.assertEqual(fetch.call_count, 1)
            self.assertEqual(run.state, "succeeded")
            self.assertNotIn("s3cret", run.sudo().journal_json)
            report = run.with_user(self.dev_a).action_replay()
            self.assertEqual(fetch.call_count, 1, "the replay sent an HTTP request")
        self.assertEqual(report["result"], json.loads(run.result_json))
        self.assertEqual(report["divergences"], [])

    def test_replay_on_another_version_and_a_different_argument(self):
        run, _partner = self._failed_event_run()
        first = self.handler.version_id
        self.handler.source = FIXED.replace('["name", "email"]', '["name", "email", "phone"]')
        self.assertNotEqual(self.handler.version_id, first)
        report = run.with_user(self.dev_a).action_replay(version_id=self.handler.version_id.id)
        self.assertEqual(report["ran"], f"v{self.handler.version_id.number}")
        self.assertEqual(report["state"], "succeeded")
        self.assertEqual(
            [d["kind"] for d in report["divergences"]], ["different_argument", "different_result"]
        )
        self.assertEqual(report["divergences"][0]["args"][2], ["name", "email", "phone"])
        other = self._script(FIXED)
        with self.assertRaises(UserError):
            run.with_user(self.dev_a).action_replay(version_id=other.version_id.id)

    def test_a_replay_takes_the_breakpoints_of_its_version(self):
        run, _partner = self._failed_event_run("Hit Ada")
        seen = json.loads(run.journal_json)["entries"][1]["result"]
        plain = run.with_user(self.dev_a).action_replay()
        self.assertEqual((plain["hits"], plain["hits_dropped"]), ([], 0))
        Breakpoint = self.env["iota.script.breakpoint"].with_user(self.dev_a)
        Breakpoint.set_from_editor(self.handler.id, [{"line": 4}], self.handler.version_id.source)
        report = run.with_user(self.dev_a).action_replay()
        self.assertEqual(len(report["hits"]), 1, report["hits"])
        hit = report["hits"][0]
        self.assertEqual(hit["line"], 4)
        self.assertEqual(hit["vars"]["p"]["name"], "Hit Ada")
        self.assertEqual(hit["vars"]["seen"], seen)
        self.assertEqual(hit["vars"]["ctx"]["trigger"]["replay"], True)
        # the draft as saved takes them; an edited draft's lines are not the version's
        script = self.handler.with_user(self.dev_a)
        same = script.action_replay_execution(run.id, source=self.handler.version_id.source)
        self.assertEqual([h["vars"]["p"]["name"] for h in same["hits"]], ["Hit Ada"])
        self.assertEqual(script.action_replay_execution(run.id, source=FIXED)["hits"], [])
        # a replay is not a live run: nothing armed, nothing counted, nothing stored
        bp = Breakpoint.search([("script_id", "=", self.handler.id)])
        self.assertEqual(bp.runs_left, 0)
        self.assertFalse(run.breakpoint_hit_count)

    def test_behavioural_diff_replays_the_last_real_runs(self):
        self._failed_event_run("No mail")
        self.env["res.partner"].create(
            {"name": "Mailed", "email": "m@example.com", "company_id": self.company_a.id}
        )
        work_queue(self)
        diff = self.handler.with_user(self.dev_a).action_behaviour_diff(source=FIXED, limit=5)
        self.assertEqual(len(diff["runs"]), 2)
        by_state = {r["recorded"]["state"]: r for r in diff["runs"]}
        self.assertTrue(by_state["failed"]["changed"])
        self.assertEqual(by_state["failed"]["state"], "succeeded")
        self.assertFalse(by_state["succeeded"]["changed"])
        self.assertEqual(diff["changed"], 1)

    def test_the_size_cap_is_kept_and_replay_refuses_a_cut_journal(self):
        self.env["ir.config_parameter"].sudo().set_param("iota_scripts.journal_max_bytes", 200)
        run, _partner = self._failed_event_run()
        self.assertTrue(run.journal_truncated)
        rows = json.loads(run.waterfall_json)["rows"]
        self.assertEqual([r["call"] for r in rows], ["db.read", "cache.incr"])
        with self.assertRaisesRegex(UserError, "size cap"):
            run.with_user(self.dev_a).action_replay(source=FIXED)
        self.assertTrue(
            [r for r in self.handler.with_user(self.dev_a).iota_replayable_runs() if r["why_not"]]
        )

    def test_only_developers_replay(self):
        run, _partner = self._failed_event_run()
        with self.assertRaises(AccessError):
            run.with_user(self.user_a).action_replay(source=FIXED)
        with self.assertRaises(AccessError):
            self.handler.with_user(self.dev_b).action_replay_execution(run.id, source=FIXED)

    def test_the_waterfall_has_every_call(self):
        run, _partner = self._failed_event_run()
        data = json.loads(run.with_user(self.user_a).waterfall_json)
        self.assertEqual(data["calls"], 2)
        read, incr = data["rows"]
        self.assertEqual((read["namespace"], read["outcome"]), ("db", "ok"))
        self.assertEqual(incr["namespace"], "cache")
        self.assertLessEqual(read["start_ms"] + read["duration_ms"], incr["start_ms"] + 0.001)
        self.assertGreater(run.wall_ms, 0)

    def test_automation_and_cron_runs_replay_alike(self):
        counter = self._script(
            'export default async (ctx) => ({ trigger: ctx.trigger.type, n: await sdk.db.searchCount("res.partner", []) });',
            run_as_user_id=self.bot_a.id,
        )
        partner_model = self.env["ir.model"]._get("res.partner")
        self.env["base.automation"].create(
            {
                "name": "Count on create",
                "model_id": partner_model.id,
                "trigger": "on_create",
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Count",
                            "model_id": partner_model.id,
                            "state": "iota_script",
                            "iota_script_id": counter.id,
                        },
                    )
                ],
            }
        )
        self.env["res.partner"].create({"name": "Counted", "company_id": self.company_a.id})
        cron = self.env["ir.cron"].create(
            {
                "name": "Count by cron",
                "model_id": self.env["ir.model"]._get_id("iota.script"),
                "state": "iota_script",
                "iota_script_id": counter.id,
                "interval_number": 1,
                "interval_type": "days",
            }
        )
        cron.method_direct_trigger()
        runs = self._executions(counter)
        self.assertEqual(sorted(runs.mapped("trigger")), ["automation", "cron"])
        for run in runs:
            recorded = json.loads(run.result_json)
            report = run.with_user(self.dev_a).action_replay()
            self.assertEqual(report["trigger"], run.trigger)
            # the count is the recorded one, the ctx the recorded one
            self.assertEqual(report["result"], recorded)
            self.assertEqual(report["divergences"], [])


ENDPOINT_ECHO = """\
export default async (ctx) => {
  const n = await sdk.db.searchCount("res.partner", []);
  return { got: ctx.request.json, counted: n > 0 };
};
"""


@tagged("post_install", "-at_install")
class TestEndpointReplay(HttpCase):
    """Endpoint calls replay with their request; a body the endpoint does not keep
    is not kept for replay either, and a secret-looking one is replayed masked."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(
            patch.dict(os.environ, {"IOTA_SCRIPTS_REDIS_URL": "redis://127.0.0.1:6379/0"})
        )
        cls.developer = new_test_user(
            cls.env,
            "iota_replay_api_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )
        cls.script = cls.env["iota.script"].create(
            {
                "name": "Echo for replay",
                "company_id": cls.developer.company_id.id,
                "state": "active",
                "source": ENDPOINT_ECHO,
            }
        )

    def _call(self, path, body, **endpoint):
        self.env["iota.script.endpoint"].create(
            {
                "script_id": self.script.id,
                "path": path,
                "auth_mode": "public",
                "methods": "POST",
                **endpoint,
            }
        )
        response = self.opener.post(self.base_url() + f"/iota/api/v1{path}", json=body, timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        return self.env["iota.script.execution"].search(
            [("script_id", "=", self.script.id)], order="id desc", limit=1
        )

    def test_an_endpoint_call_replays_with_its_masked_body(self):
        run = self._call("/kept", {"n": 1, "password": "hunter2"}, store_request_body=True)
        self.assertEqual(run.trigger, "endpoint")
        self.assertNotIn("hunter2", run.ctx_json)
        report = run.with_user(self.developer).action_replay()
        self.assertEqual(report["result"], {"got": {"n": 1, "password": "***"}, "counted": True})
        # the recorded result had the real value: the masked body is a divergence, named
        self.assertEqual([d["kind"] for d in report["divergences"]], ["different_result"])
        plain = self._call("/plain", {"n": 2}, store_request_body=True)
        again = plain.with_user(self.developer).action_replay()
        self.assertEqual(
            (again["result"], again["divergences"]), ({"got": {"n": 2}, "counted": True}, [])
        )

    def test_a_body_the_endpoint_does_not_keep_is_not_replayable(self):
        run = self._call("/unkept", {"n": 1})
        self.assertNotIn('"json"', run.ctx_json)
        with self.assertRaisesRegex(UserError, "does not keep request bodies"):
            run.with_user(self.developer).action_replay()
