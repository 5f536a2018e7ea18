"""The run queue against real PostgreSQL: committed rows, several connections.

These tests cannot use the test transaction: SKIP LOCKED, leases and
cancel requests only mean something between separate connections. Each test
works on committed data of the main company and deletes it afterwards.
"""

import json
import threading
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..models.iota_script_queue import backoff_sec
from ..run.request import RunRequest
from .common import IotaScriptsCase, RealCursorMixin

QUEUE_LOGGER = "odoo.addons.iota_scripts.models.iota_script_queue"

BUSY_50MS = """\
export default async function (ctx) {
  const t = Date.now(); while (Date.now() - t < 50) {}
  return { n: ctx.input && ctx.input.n };
}
"""


@tagged("post_install", "-at_install")
class TestQueueMath(TransactionCase):
    def test_backoff_exponential_with_jitter_and_cap(self):
        self.assertEqual(backoff_sec(1, 10, 3600, rand=lambda: 0.0), 5)
        self.assertEqual(backoff_sec(1, 10, 3600, rand=lambda: 1.0), 10)
        self.assertEqual(backoff_sec(4, 10, 3600, rand=lambda: 0.0), 40)
        self.assertEqual(backoff_sec(4, 10, 3600, rand=lambda: 1.0), 80)
        self.assertEqual(backoff_sec(30, 10, 3600, rand=lambda: 1.0), 3600)
        self.assertEqual(backoff_sec(30, 10, 3600, rand=lambda: 0.0), 1800)
        draws = {round(backoff_sec(3, 10, 3600), 6) for _ in range(50)}
        self.assertGreater(len(draws), 40, "jitter spreads retries")
        self.assertTrue(all(20 <= d <= 40 for d in draws))


@tagged("post_install", "-at_install")
class TestQueueEnqueue(IotaScriptsCase):
    """Enqueueing inside the test transaction: nothing runs, a worker is woken."""

    def _triggers(self):
        cron = self.env.ref("iota_scripts.iota_script_execution_cron_queue")
        return self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])

    def test_server_action_in_background(self):
        script = self._script(BUSY_50MS)
        action = self.env["ir.actions.server"].create(
            {
                "name": "bg",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "state": "iota_script",
                "iota_script_id": script.id,
                "iota_script_background": True,
            }
        )
        before = len(self._triggers())
        action.with_context(active_model="res.partner", active_ids=self.partner_a.ids).run()
        execution = self._executions(script)
        self.assertEqual(execution.state, "queued")
        self.assertEqual(json.loads(execution.res_ids), self.partner_a.ids)
        self.assertEqual(len(self._triggers()), before + 1)

    def test_wizard_in_background(self):
        script = self._script(BUSY_50MS)
        wizard = (
            self.env["iota.script.run.wizard"]
            .with_user(self.user_a)
            .create({"script_id": script.id, "input_json": '{"n": 3}', "background": True})
        )
        wizard.action_run()
        self.assertEqual(wizard.execution_id.state, "queued")
        self.assertEqual(json.loads(wizard.execution_id.input_json), {"n": 3})
        self.assertEqual(wizard.execution_id.triggered_by_id, self.user_a)

    def test_cancel_queued(self):
        script = self._script(BUSY_50MS)
        # a run user_a started: the starter (or an admin of the company) may cancel it
        execution = script.with_user(self.user_a).action_run(background=True)
        execution.with_user(self.user_a).action_cancel()
        self.assertEqual((execution.state, execution.error_code), ("cancelled", "cancelled"))
        # announced as cancelled, not as failed (subscribers and alert rules tell them apart)
        events = self.env["iota.script.event"].search([("execution_id", "=", execution.id)])
        self.assertEqual(events.mapped("type"), ["script.cancelled"])


@tagged("post_install", "-at_install")
class TestQueueWorkers(RealCursorMixin, TransactionCase):
    def setUp(self):
        super().setUp()
        self.script_id = self._committed_script(BUSY_50MS, timeout_sec=5)

    def _enqueue(self, n=1, **kw):
        with self._env() as env:
            Execution = env["iota.script.execution"]
            script = env["iota.script"].browse(self.script_id)
            return [
                Execution._enqueue(RunRequest(script, {"type": "manual"}, input={"n": i}), **kw).id
                for i in range(n)
            ]

    def _read(self, ids, fnames=("state", "attempt", "error_code", "worker_id")):
        with self._env() as env:
            return {r["id"]: r for r in env["iota.script.execution"].browse(ids).read(list(fnames))}

    def _executed_events(self, ids):
        with self._env() as env:
            events = env["iota.script.event"].search(
                [("execution_id", "in", ids), ("type", "=", "script.executed")]
            )
            # one per event: an execution recorded twice shows twice
            return sorted(event.execution_id.id for event in events)

    def _failed_events(self, ids):
        """``{execution id: payload}`` of the ``script.failed`` events of ``ids``."""
        with self._env() as env:
            events = env["iota.script.event"].search(
                [("execution_id", "in", ids), ("type", "=", "script.failed")]
            )
            return {e.execution_id.id: json.loads(e.payload_json) for e in events}

    def _work(self, worker="w", budget_sec=30.0):
        with (
            self._env() as env,
            patch("odoo.addons.iota_scripts.models.iota_script_queue.worker_name", lambda: worker),
        ):
            return env["iota.script.execution"]._cron_process_queue(budget_sec=budget_sec)

    def test_two_workers_never_run_one_twice(self):
        ids = self._enqueue(8)
        done, errors = {}, []

        def work(name):
            try:
                done[name] = self._work(name)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(errors)
        self.assertEqual(sum(done.values()), 8, done)
        rows = self._read(ids)
        self.assertEqual({r["state"] for r in rows.values()}, {"succeeded"})
        self.assertEqual({r["attempt"] for r in rows.values()}, {1})
        # each run recorded exactly once
        self.assertEqual(self._executed_events(ids), sorted(ids))
        self.assertEqual({r["worker_id"] for r in rows.values()} <= {"w0", "w1"}, True)

    def test_killed_worker_is_requeued_and_runs_once(self):
        (exec_id,) = self._enqueue(max_attempts=2)
        # a worker claims the run, then dies: its lease runs out
        with self._env() as env:
            claimed = env["iota.script.execution"]._queue_claim("dead-worker")
            self.assertEqual(claimed.id, exec_id)
            env.cr.execute(
                "UPDATE iota_script_execution SET lease_until = now() at time zone 'UTC' "
                "- interval '1 second' WHERE id = %s",
                [exec_id],
            )
        with self.assertLogs(QUEUE_LOGGER, "WARNING") as logs:
            self.assertEqual(self._work("w2"), 1)
        self.assertIn("queued again", logs.output[0])
        row = self._read([exec_id])[exec_id]
        self.assertEqual((row["state"], row["attempt"], row["worker_id"]), ("succeeded", 2, "w2"))
        self.assertEqual(self._executed_events([exec_id]), [exec_id])

    def test_live_worker_keeps_its_run_past_the_lease(self):
        (exec_id,) = self._enqueue(max_attempts=3)
        with self.registry.cursor() as live_cr:
            live_cr.transaction = api.Transaction(self.registry)
            live = api.Environment(live_cr, SUPERUSER_ID, {})["iota.script.execution"]
            claimed = live._queue_claim("slow-worker")
            # its lease has expired, but it is alive: it holds its run's row
            # as _queue_run does
            live_cr.execute(
                "UPDATE iota_script_execution SET lease_until = now() at time zone 'UTC' "
                "- interval '1 second' WHERE id = %s",
                [exec_id],
            )
            live_cr.commit()
            live_cr.execute(
                "SELECT id FROM iota_script_execution WHERE id = %s FOR NO KEY UPDATE", [exec_id]
            )
            self.assertEqual(self._work("other"), 0)
            self.assertEqual(self._read([exec_id])[exec_id]["state"], "running")
            claimed._queue_run("slow-worker")
        row = self._read([exec_id])[exec_id]
        self.assertEqual((row["state"], row["attempt"]), ("succeeded", 1))
        self.assertEqual(self._executed_events([exec_id]), [exec_id])

    def test_worker_whose_connection_dies_mid_run(self):
        # first attempt spins until its worker is gone; the second one ends well
        with self._env() as env:
            env["iota.script"].browse(self.script_id).write(
                {
                    "timeout_sec": 2,
                    "source": """export default async (ctx) => {
                      const n = await sdk.cache.incr("killed:" + ctx.execution.id);
                      if (n === 1) { while (true) {} }
                      return { attempt: n };
                    };""",
                }
            )
        (exec_id,) = self._enqueue(max_attempts=2)
        backend, failures = {}, []

        def victim():
            try:
                with (
                    self._env() as env,
                    patch(
                        "odoo.addons.iota_scripts.models.iota_script_queue.worker_name",
                        lambda: "victim",
                    ),
                ):
                    backend["pid"] = env.cr._cnx.get_backend_pid()
                    env["iota.script.execution"]._cron_process_queue(budget_sec=10)
            except Exception as e:  # noqa: BLE001 - the worker dies, as expected
                failures.append(e)

        with mute_logger("odoo.sql_db", QUEUE_LOGGER):
            thread = threading.Thread(target=victim)
            thread.start()
            # Kill the worker's connection only once its script runs (it has
            # counted its attempt): earlier, the worker dies before the run
            # starts, and the rescuer's run would be the first attempt.
            from iota_scripts_sdk._cache import open_cache

            with self._env() as env:
                script = env["iota.script"].browse(self.script_id)
                company_id = script.company_id.id
                user_id = script.run_as_user_id.id
            # sdk.cache keys are per company and run-as user (issue 17)
            scope = (self.env.cr.dbname, str(company_id))
            cache = open_cache(None, (*scope, "user", str(user_id)), quota_scope=scope)
            t0 = time.monotonic()
            while cache.get(f"killed:{exec_id}") is None and time.monotonic() - t0 < 10:
                time.sleep(0.02)
            self.assertEqual(cache.get(f"killed:{exec_id}"), "1")
            with self._env() as env:
                env.cr.execute("SELECT pg_terminate_backend(%s)", [backend["pid"]])
            thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertTrue(failures, "the worker lost its connection")
        row = self._read([exec_id])[exec_id]
        self.assertEqual((row["state"], row["worker_id"]), ("running", "victim"))
        # nobody holds the run any more; once its lease is over, another worker takes it
        with self._env() as env:
            env.cr.execute(
                "UPDATE iota_script_execution SET lease_until = now() at time zone 'UTC' "
                "- interval '1 second' WHERE id = %s",
                [exec_id],
            )
        with self.assertLogs(QUEUE_LOGGER, "WARNING"):
            self.assertEqual(self._work("rescuer"), 1)
        row = self._read([exec_id], ("state", "attempt", "worker_id", "result_json"))[exec_id]
        self.assertEqual(
            (row["state"], row["attempt"], row["worker_id"]), ("succeeded", 2, "rescuer")
        )
        self.assertEqual(json.loads(row["result_json"]), {"attempt": 2})
        self.assertEqual(self._executed_events([exec_id]), [exec_id])

    def test_batch_claim_orders_and_stacks_leases(self):
        ids = self._enqueue(3)
        with self._env() as env:
            claimed = env["iota.script.execution"]._queue_claim("batcher", limit=2)
            self.assertEqual(claimed.ids, ids[:2])
        rows = self._read(ids, ("state", "worker_id", "lease_until", "attempt"))
        self.assertEqual([rows[i]["state"] for i in ids], ["running", "running", "queued"])
        # the second run's lease also covers the first one's timeout (5 s)
        gap = rows[ids[1]]["lease_until"] - rows[ids[0]]["lease_until"]
        self.assertEqual(round(gap.total_seconds()), 5)
        # another worker takes the rest; a worker busy with the company counts once
        with (
            self._env() as env,
            patch.dict("os.environ", {"IOTA_SCRIPTS_QUEUE_COMPANY_CONCURRENCY": "2"}),
        ):
            self.assertEqual(env["iota.script.execution"]._queue_claim("other", 5).ids, ids[2:])

    def test_worker_failure_in_a_group_rolls_back_the_group_and_records_each_run_once(self):
        ids = self._enqueue(3)
        Execution = type(self.env["iota.script.execution"])
        original = Execution._execute
        calls = []

        def flaky(self_, request, generation, chain):
            calls.append(request.queued.id)
            if request.queued.id == ids[1] and calls.count(ids[1]) == 1:
                raise RuntimeError("the worker broke")
            return original(self_, request, generation, chain)

        with patch.object(Execution, "_execute", flaky), mute_logger(QUEUE_LOGGER):
            self.assertEqual(self._work("w"), 3)
        rows = self._read(ids, ("state", "error_code", "attempt"))
        self.assertEqual(
            [(rows[i]["state"], rows[i]["error_code"]) for i in ids],
            [("succeeded", False), ("failed", "internal_error"), ("succeeded", False)],
        )
        # the first run ran again after the rollback; recorded once
        self.assertEqual(calls, [ids[0], ids[1], ids[0], ids[2]])
        self.assertEqual(self._executed_events(ids), [ids[0], ids[2]])
        self.assertEqual({rows[i]["attempt"] for i in ids}, {1})
        # the run the worker failed during is a failure like any other
        # (subscribers to script.failed and the alert rules hear of it)
        failed = self._failed_events(ids)
        self.assertEqual(list(failed), [ids[1]])
        self.assertEqual(
            (failed[ids[1]]["state"], failed[ids[1]]["error_code"]), ("failed", "internal_error")
        )

    def test_expired_lease_after_max_attempts_is_dead(self):
        (exec_id,) = self._enqueue(max_attempts=1)
        with self._env() as env:
            env["iota.script.execution"]._queue_claim("dead-worker")
            env.cr.execute(
                "UPDATE iota_script_execution SET lease_until = now() at time zone 'UTC' "
                "- interval '1 second' WHERE id = %s",
                [exec_id],
            )
        with self.assertLogs(QUEUE_LOGGER, "WARNING") as logs:
            self.assertEqual(self._work("w"), 0)
        self.assertIn("moved to dead", logs.output[0])
        row = self._read([exec_id])[exec_id]
        self.assertEqual((row["state"], row["error_code"]), ("dead", "lease_expired"))
        self.assertEqual(self._executed_events([exec_id]), [])
        failed = self._failed_events([exec_id])
        self.assertEqual(
            (failed[exec_id]["state"], failed[exec_id]["error_code"]), ("dead", "lease_expired")
        )

    def test_priority_eta_and_company_cap(self):
        later = fields.Datetime.now() + timedelta(hours=1)
        (future,) = self._enqueue(eta=later)
        (low,) = self._enqueue(priority=20)
        (high,) = self._enqueue(priority=5)
        with self._env() as env:
            Execution = env["iota.script.execution"]
            self.assertEqual(Execution._queue_claim("a").id, high)
            with patch.dict("os.environ", {"IOTA_SCRIPTS_QUEUE_COMPANY_CONCURRENCY": "1"}):
                self.assertFalse(Execution._queue_claim("b"), "the company is at its cap")
            self.assertEqual(Execution._queue_claim("b").id, low)
            self.assertFalse(Execution._queue_claim("c"), "the eta has not come")
        self.assertEqual(self._read([future])[future]["state"], "queued")

    def test_failed_run_is_retried_with_backoff(self):
        with self._env() as env:
            env["iota.script"].browse(
                self.script_id
            ).source = "export default () => { throw new Error('boom'); };"
        (exec_id,) = self._enqueue(max_attempts=3)
        start = fields.Datetime.now()
        self.assertEqual(self._work("w"), 1)
        row = self._read([exec_id], ("state", "attempt", "eta", "error_code"))[exec_id]
        self.assertEqual(
            (row["state"], row["attempt"], row["error_code"]), ("queued", 1, "script_error")
        )
        # base 10 s: the first retry comes 5 to 10 s later (second precision)
        self.assertGreaterEqual(row["eta"], start + timedelta(seconds=4))
        self.assertLessEqual(row["eta"], start + timedelta(seconds=11))
        # once due, retried until the attempts are used up
        for attempt in (2, 3):
            with self._env() as env:
                env.cr.execute(
                    "UPDATE iota_script_execution SET eta = NULL WHERE id = %s", [exec_id]
                )
            self.assertEqual(self._work("w"), 1)
            self.assertEqual(self._read([exec_id])[exec_id]["attempt"], attempt)
        row = self._read([exec_id], ("state", "attempt"))[exec_id]
        self.assertEqual((row["state"], row["attempt"]), ("failed", 3))

    def test_cancel_running_kills_the_runner(self):
        with self._env() as env:
            env["iota.script"].browse(
                self.script_id
            ).source = "export default () => { while (true) {} };"
        (exec_id,) = self._enqueue()
        worker = threading.Thread(target=self._work, args=("w",))
        t0 = time.monotonic()
        worker.start()
        while self._read([exec_id])[exec_id]["state"] != "running" and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        time.sleep(0.2)  # let the runner start spinning
        with self._env() as env:
            env["iota.script.execution"].browse(exec_id).action_cancel()
        worker.join(10)
        self.assertFalse(worker.is_alive())
        self.assertLess(time.monotonic() - t0, 4, "cancelled before the 5 s timeout")
        row = self._read([exec_id], ("state", "error_code", "wall_ms", "cpu_ms"))[exec_id]
        self.assertEqual((row["state"], row["error_code"]), ("cancelled", "cancelled"))
        # what it used before it was stopped, and announced as cancelled
        self.assertGreater(row["wall_ms"], 100)
        self.assertGreater(row["cpu_ms"], 0)
        self.assertEqual(self._failed_events([exec_id]), {})
        with self._env() as env:
            events = env["iota.script.event"].search([("execution_id", "=", exec_id)])
            self.assertEqual(events.mapped("type"), ["script.cancelled"])
