"""Sentry on the real Odoo server: failures reach a FAKE Sentry server through the REAL transport.

No Sentry can run here: ``sentry_server.FakeSentry`` is a loopback HTTP
server that receives what the real ``sentry-sdk`` client sends (the store
and envelope endpoints) and decodes it. The DSN is the site setting
``IOTA_SCRIPTS_SENTRY_DSN``, pointed at it for this class.
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import patch

import requests
from odoo.tests import HttpCase, TransactionCase, tagged

from ..run.request import RunRequest
from ..tools.observability import sentry
from .common import LEAKS, RealCursorMixin
from .odoo_workers import start_workers
from .sentry_server import FakeSentry

FAILS = """
function check(order) {
  if (!order.ok) throw new TypeError("cannot bill " + order.email + " with " + order.token + " / " + order.password);
}
async function bill(order) {
  check(order);
}
export default async function (ctx) {
  await bill(ctx.request.json);
}
"""

EMAIL = "jane.doe@example.com"
TOKEN = "tok-31337-9f8e7d6c"  # noqa: S105 (a fake, that must not reach Sentry)
PASSWORD = "hunter2-horse"  # noqa: S105 (a fake, that must not reach Sentry)
BEARER = "Bearer gw-key-5c1d2e3f"
SIGNATURE = "sha256=4f9a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e"
COOKIE = "session_id=s3ss10n-abcdef"


@tagged("post_install", "-at_install")
class TestSentry(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeSentry()
        cls.addClassCleanup(cls.fake.stop)
        cls.startClassPatcher(
            patch.dict(
                os.environ,
                {
                    "IOTA_SCRIPTS_SENTRY_DSN": cls.fake.dsn,
                    "IOTA_SCRIPTS_REDIS_URL": "redis://127.0.0.1:6379/0",
                },
            )
        )
        cls.company = cls.env["res.company"].create({"name": "IOTA Sentry Company"})

    def _events(self, predicate, count=1):
        sentry.flush()
        found = self.fake.wait(predicate)
        self.assertEqual(len(found), count, found)
        return found

    def test_a_failing_endpoint_run_is_one_fingerprinted_event_with_the_scripts_stack(self):
        script = self.env["iota.script"].create(
            {
                "name": "Billing",
                "key": "billing_sentry",
                "company_id": self.company.id,
                "state": "active",
                "source": FAILS,
            }
        )
        self.env["iota.script.endpoint"].create(
            {"script_id": script.id, "path": "/bill", "auth_mode": "public", "methods": "POST"}
        )
        response = self.opener.post(
            self.base_url() + "/iota/api/v1/bill",
            data=json.dumps({"ok": False, "email": EMAIL, "token": TOKEN, "password": PASSWORD}),
            headers={
                "Content-Type": "application/json",
                "Authorization": BEARER,
                "X-Hub-Signature": SIGNATURE,
                "Cookie": COOKIE,
            },
            timeout=30,
        )
        self.assertEqual(response.status_code, 500, response.text)
        execution = self.env["iota.script.execution"].search([("script_id", "=", script.id)])
        self.assertEqual((execution.state, execution.error_code), ("failed", "script_error"))

        (event,) = self._events(lambda e: e.get("tags", {}).get("iota.script") == script.key)
        company = str(self.company.id)
        self.assertEqual(
            event["fingerprint"],
            [
                "iota-scripts",
                "script",
                self.env.cr.dbname,
                company,
                script.key,
                "1",
                "script_error",
            ],
        )
        self.assertEqual(event["tags"]["iota.company"], company)
        self.assertEqual(event["tags"]["iota.version"], "1")
        self.assertEqual(event["tags"]["iota.code"], "script_error")
        self.assertEqual(event["tags"]["iota.trigger"], "endpoint")
        self.assertEqual(event["contexts"]["iota_script"]["execution"], execution.id)
        (exception,) = event["exception"]["values"]
        self.assertEqual(exception["type"], "TypeError")
        frames = exception["stacktrace"]["frames"]
        # the script's own JS stack, outermost first; no frame of the host
        self.assertEqual(
            [(f["function"], f["lineno"]) for f in frames],
            [("<anonymous>", 9), ("bill", 6), ("check", 3)],
        )
        for frame in frames:
            self.assertEqual(frame["filename"], "billing_sentry@v1")
            self.assertEqual(frame["platform"], "javascript")
        self.assertNotIn("threads", event)
        self.assertFalse(LEAKS.search(json.dumps(event)), event)
        # nothing the caller sent as a secret, and no e-mail, left the server
        raw = self.fake.raw()
        for secret in (EMAIL, TOKEN, PASSWORD, BEARER, "gw-key-5c1d2e3f", SIGNATURE, "s3ss10n"):
            self.assertNotIn(secret.encode(), raw, secret)
        self.assertIn("cannot bill [email] with [Filtered]", exception["value"])

    def test_a_runner_crash_is_a_module_failure_with_the_host_stack(self):
        script = self.env["iota.script"].create(
            {
                "name": "Crasher",
                "key": "crasher_sentry",
                "company_id": self.company.id,
                "state": "active",
                # HOSTILE.md: a V8 fatal abort
                "source": 'export default () => "ab".repeat(2**27).split("").length;',
            }
        )
        with self.assertLogs("iota_scripts_sdk", "WARNING"):
            execution = script.action_run()
        self.assertEqual(execution.error_code, "sandbox_crashed")
        (crash,) = self._events(lambda e: e.get("tags", {}).get("iota.failure") == "runner_crashed")
        self.assertEqual(crash["fingerprint"], ["iota-scripts", "module", "runner_crashed"])
        self.assertEqual(crash["platform"], "python")
        frames = crash["exception"]["values"][0]["stacktrace"]["frames"]
        files = [f.get("abs_path") or f.get("filename") or "" for f in frames]
        self.assertTrue(any(f.endswith("iota_scripts_sdk/engine.py") for f in files), files)
        self.assertTrue(any(f.endswith("iota_scripts/run/pipeline.py") for f in files), files)
        self.assertFalse(any("vars" in f for f in frames))
        # and the script's own failure, as a script event of its version
        (failure,) = self._events(lambda e: e.get("tags", {}).get("iota.script") == script.key)
        self.assertEqual(failure["fingerprint"][-1], "sandbox_crashed")

    def test_no_dsn_no_event_and_no_client(self):
        with patch.dict(os.environ, {"IOTA_SCRIPTS_SENTRY_DSN": "", "SENTRY_DSN": ""}):
            self.assertIsNone(sentry.client())
            script = self.env["iota.script"].create(
                {
                    "name": "Quiet",
                    "key": "quiet_sentry",
                    "company_id": self.company.id,
                    "state": "active",
                    "source": "export default () => { throw new Error('x'); };",
                }
            )
            self.assertEqual(script.action_run().state, "failed")
        sentry.flush()
        self.assertEqual(self.fake.wait(lambda e: "quiet_sentry" in json.dumps(e), 1.0), [])

    def test_the_dsn_is_a_site_setting_shown_without_its_key(self):
        self.env["ir.config_parameter"].set_param(
            "iota_scripts.sentry_dsn", "http://k@db.example/1"
        )
        self.assertEqual(sentry.dsn(), self.fake.dsn)  # the parameter is ignored
        page = self.env["res.config.settings"].create({})
        self.assertIn("127.0.0.1, project 42", page.iota_scripts_sentry)
        self.assertIn("IOTA_SCRIPTS_SENTRY_DSN", page.iota_scripts_sentry)
        self.assertNotIn("public-key", page.iota_scripts_sentry)
        self.assertEqual(page.iota_scripts_log_format, "text")
        with patch.dict(os.environ, {"IOTA_SCRIPTS_SENTRY_DSN": "", "SENTRY_DSN": self.fake.dsn}):
            self.assertEqual(sentry.dsn(), self.fake.dsn)


def _tag(name, value):
    return lambda event: event.get("tags", {}).get(name) == value


@tagged("post_install", "-at_install")
class TestSentryQueue(RealCursorMixin, TransactionCase):
    """The queue's failures: a failed background run, a worker that died holding a run."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeSentry()
        cls.addClassCleanup(cls.fake.stop)
        cls.startClassPatcher(patch.dict(os.environ, {"IOTA_SCRIPTS_SENTRY_DSN": cls.fake.dsn}))

    def _enqueue(self, script_id, **kw):
        with self._env() as env:
            script = env["iota.script"].browse(script_id)
            request = RunRequest(script, {"type": "manual"}, input={"api_token": "tq-998877"})
            return env["iota.script.execution"]._enqueue(request, **kw).id

    def test_a_failed_background_run_is_a_script_event(self):
        script_id = self._committed_script(
            "export default async (ctx) => { throw new RangeError('no ' + ctx.input.api_token); };"
        )
        exec_id = self._enqueue(script_id)
        with self._env() as env:
            env["iota.script.execution"]._cron_process_queue(budget_sec=30)
            key = env["iota.script"].browse(script_id).key
            self.assertEqual(env["iota.script.execution"].browse(exec_id).state, "failed")
        sentry.flush()
        (event,) = self.fake.wait(_tag("iota.script", key))
        self.assertEqual(event["contexts"]["iota_script"]["execution"], exec_id)
        (exception,) = event["exception"]["values"]
        self.assertEqual((exception["type"], exception["value"]), ("RangeError", "no [Filtered]"))
        self.assertEqual(exception["stacktrace"]["frames"][-1]["lineno"], 1)
        self.assertNotIn(b"tq-998877", self.fake.raw())

    def test_a_worker_lost_with_its_run_is_a_module_failure(self):
        script_id = self._committed_script("export default () => 1;")
        exec_id = self._enqueue(script_id, max_attempts=1)
        with self._env() as env:
            env["iota.script.execution"]._queue_claim("dead-worker")
            env.cr.execute(
                "UPDATE iota_script_execution SET lease_until = now() at time zone 'UTC' "
                "- interval '1 second' WHERE id = %s",
                [exec_id],
            )
        with (
            self.assertLogs("odoo.addons.iota_scripts.models.iota_script_queue", "WARNING"),
            self._env() as env,
        ):
            env["iota.script.execution"]._cron_process_queue(budget_sec=30)
        sentry.flush()
        (event,) = self.fake.wait(_tag("iota.failure", "worker_lost"))
        self.assertEqual(event["fingerprint"], ["iota-scripts", "module", "worker_lost"])
        self.assertIn("moved to dead", event["exception"]["values"][0]["value"])
        files = [f["abs_path"] for f in event["exception"]["values"][0]["stacktrace"]["frames"]]
        self.assertTrue(any(f.endswith("models/iota_script_queue.py") for f in files), files)

    def test_three_runner_crashes_within_a_minute_are_a_crash_loop(self):
        observer = sentry._SentryObserver()
        for _ in range(sentry.CRASH_LOOP_COUNT + 1):
            observer.runner_ended("crashed")
        observer.runner_ended("limit")  # a run over its limits is no crash
        sentry.flush()
        crashes = self.fake.wait(_tag("iota.failure", "runner_crashed"))
        self.assertEqual(len(crashes), sentry.CRASH_LOOP_COUNT + 1)
        (loop,) = self.fake.wait(_tag("iota.failure", "runner_crash_loop"))
        self.assertEqual(loop["level"], "fatal")
        self.assertEqual(loop["fingerprint"], ["iota-scripts", "module", "runner_crash_loop"])


@tagged("post_install", "-at_install")
class TestSentryWorkers(RealCursorMixin, TransactionCase):
    """``odoo --workers=2`` with a DSN and JSON logs: each forked worker makes its
    own client and writes its lines as JSON."""

    def test_forked_workers_send_failures_and_write_json_lines(self):
        fake = FakeSentry()
        self.addCleanup(fake.stop)
        scripts = {
            "fails": self._committed_script(FAILS),
            "crashes": self._committed_script(
                'export default () => "ab".repeat(2**27).split("").length;'
            ),
        }
        keys = {}
        with self._env() as env:
            for name, script_id in scripts.items():
                keys[name] = env["iota.script"].browse(script_id).key
                env["iota.script.endpoint"].create(
                    {
                        "script_id": script_id,
                        "path": f"/sentry-workers/{name}/{script_id}",
                        "auth_mode": "public",
                        "methods": "POST",
                    }
                )
        _server, base, data_dir = start_workers(
            self, env={"IOTA_SCRIPTS_SENTRY_DSN": fake.dsn, "IOTA_SCRIPTS_LOG_FORMAT": "json"}
        )
        url = f"{base}/iota/api/v1/sentry-workers/fails/{scripts['fails']}"
        body = {"ok": False, "email": EMAIL, "token": TOKEN, "password": PASSWORD}
        with ThreadPoolExecutor(2) as pool:
            statuses = list(
                pool.map(lambda _i: requests.post(url, json=body, timeout=60).status_code, range(4))
            )
        self.assertEqual(statuses, [500] * 4)
        crash_url = f"{base}/iota/api/v1/sentry-workers/crashes/{scripts['crashes']}"
        self.assertEqual(requests.post(crash_url, json={}, timeout=60).status_code, 500)

        # 4 failures, the crashing script's failure and the runner crash
        self.assertTrue(fake.wait(lambda _e: len(fake.events) >= 6, 30), fake.events)
        failures = [e for e in fake.events if e.get("tags", {}).get("iota.script") == keys["fails"]]
        self.assertEqual(len(failures), 4)
        self.assertEqual(
            {tuple(e["fingerprint"]) for e in failures}, {tuple(failures[0]["fingerprint"])}
        )
        self.assertEqual(failures[0]["fingerprint"][-3:], [keys["fails"], "1", "script_error"])
        (crash,) = fake.wait(lambda e: e.get("tags", {}).get("iota.failure") == "runner_crashed")
        self.assertEqual(crash["platform"], "python")
        for secret in (EMAIL, TOKEN, PASSWORD):
            self.assertNotIn(secret.encode(), fake.raw())

        with open(os.path.join(data_dir, "odoo.log"), errors="replace") as f:
            lines = f.read().splitlines()
        ours = [json.loads(line) for line in lines if line.startswith("{")]
        # the runner crash's warning, logged inside the run, names it
        (warning,) = [
            line
            for line in ours
            if line["logger"] == "iota_scripts_sdk.engine"
            and "ended during a run" in line["message"]
        ]
        self.assertEqual(warning["script"], keys["crashes"])
        self.assertEqual(warning["version"], 1)
        self.assertIsInstance(warning["execution"], int)
        self.assertIsInstance(warning["company"], int)
        self.assertIn("trace_id", warning)
        # every line of our loggers is JSON (Odoo's own keep Odoo's format)
        self.assertFalse(
            [
                line
                for line in lines
                if "iota_scripts" in line.split(": ", 1)[0] and not line.startswith("{")
            ],
        )
