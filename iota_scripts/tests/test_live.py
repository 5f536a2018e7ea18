"""Live runs (tools/live.py): streamed logs over the bus, Cancel, and the test-lock gate.

These tests run outside the HTTP test mode, so the live run's side cursor is
a real connection that commits: they check what reached ``bus.bus`` on
connections of their own, and delete it afterwards. The test-mode path (lock
released while V8 runs, NOTIFY sent by hand) is driven by the tours in
``test_ui_run_panel.py``.
"""

import json
import threading
import time
import uuid
from types import SimpleNamespace
from unittest.mock import patch

import psutil
from iota_scripts_sdk._pool import RunnerProcess
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import BaseCase, tagged

from ..tools import live
from .common import IotaScriptsCase, RealCursorMixin

#: Logs, then waits about 1.5 s in a loop of sdk calls, then returns.
WAITER = """\
export default async () => {
  sdk.log.info("early bird");
  const t0 = Date.now();
  while (Date.now() - t0 < 1500) {
    const t = Date.now();
    while (Date.now() - t < 20) {}
    await sdk.db.searchCount("res.partner", []);
  }
  return "late";
};
"""


@tagged("post_install", "-at_install")
class TestLockGateUnit(BaseCase):
    """The gate on a bare RLock, as ``registry.test_lock`` is in test mode."""

    def _other_thread_acquires(self, lock):
        got = []

        def grab():
            if lock.acquire(timeout=0.5):
                got.append(True)
                lock.release()

        thread = threading.Thread(target=grab)
        thread.start()
        thread.join(2)
        return bool(got)

    def test_released_in_test_mode_and_restored(self):
        lock = threading.RLock()
        gate = live.TestLockGate(SimpleNamespace(test_cr=object(), test_lock=lock))
        self.assertTrue(gate.active)
        lock.acquire()
        lock.acquire()  # held twice, as nested test cursors do
        try:
            self.assertFalse(self._other_thread_acquires(lock))
            with gate.released():
                self.assertTrue(self._other_thread_acquires(lock))
                with gate.held():
                    self.assertFalse(self._other_thread_acquires(lock))
                self.assertTrue(self._other_thread_acquires(lock))
                wrapped = gate.wrap(lambda args: self._other_thread_acquires(lock))
                self.assertFalse(wrapped([]), "host calls run with the lock held")
            self.assertFalse(self._other_thread_acquires(lock))
        finally:
            lock.release()
            lock.release()  # both levels came back: a third release would fail
        self.assertTrue(self._other_thread_acquires(lock))

    def test_noop_outside_test_mode(self):
        lock = threading.RLock()
        gate = live.TestLockGate(SimpleNamespace(test_cr=None, test_lock=lock))
        self.assertFalse(gate.active)
        with lock:
            with gate.released():
                self.assertFalse(self._other_thread_acquires(lock))

    def test_noop_when_not_owned(self):
        lock = threading.RLock()
        gate = live.TestLockGate(SimpleNamespace(test_cr=object(), test_lock=lock))
        with gate.released():  # this thread does not hold it: nothing to release
            self.assertTrue(self._other_thread_acquires(lock))
        self.assertTrue(self._other_thread_acquires(lock))

    def test_batches_are_capped(self):
        small = [{"level": "info", "message": f"line {i}", "t_ms": i} for i in range(120)]
        self.assertEqual([len(b) for b in live.batches(small)], [50, 50, 20])
        big = [live._line({"level": "info", "message": "x" * 50_000}) for _ in range(40)]
        self.assertTrue(all(b["cut"] and len(b["message"]) == live.MAX_LINE_CHARS for b in big))
        chunks = live.batches(big)
        self.assertEqual(sum(map(len, chunks)), 40)
        for chunk in chunks:
            self.assertLessEqual(len(json.dumps(chunk)), live.MAX_MESSAGE_CHARS + len(chunk))


@tagged("post_install", "-at_install")
class TestLiveRun(RealCursorMixin, IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.admin = self.env.ref("base.user_admin")
        self.main = self.env.ref("base.main_company")
        self.token = uuid.uuid4().hex
        self.addCleanup(self._delete_bus_rows)

    def _delete_bus_rows(self):
        with self._env() as env:
            env.cr.execute(
                "DELETE FROM bus_bus WHERE message::jsonb -> 'payload' ->> 'token' = %s",
                [self.token],
            )

    def _bus(self):
        """[(channel, type, payload)] committed for this test's token, in order."""
        with self._env() as env:
            env.cr.execute(
                "SELECT channel, message FROM bus_bus "
                "WHERE message::jsonb -> 'payload' ->> 'token' = %s ORDER BY id",
                [self.token],
            )
            rows = env.cr.fetchall()
        out = []
        for channel, message in rows:
            message = json.loads(message)
            out.append((json.loads(channel), message["type"], message["payload"]))
        return out

    def _run(self, script, input_value=None):
        return script.with_user(self.admin).action_run_live(input_value, self.token)

    def test_lines_are_batched_and_sent_to_the_caller_only(self):
        script = self._script(
            "export default () => { for (let i = 0; i < 120; i++) sdk.log.info('line ' + i);"
            " return 42; };",
            company=self.main,
        )
        values = self._run(script)
        self.assertEqual((values["state"], values["result"]), ("succeeded", 42))
        self.assertEqual(len(values["logs"]), 120)
        sent = self._bus()
        channels = {tuple(c) for c, _type, _payload in sent}
        target = self.admin._bus_channel()  # mail sends a user's notifications to its partner
        self.assertEqual(channels, {(self.env.cr.dbname, target._name, target.id)})
        kinds = [t for _c, t, _p in sent]
        self.assertEqual(kinds[0], live.STARTED)
        self.assertEqual(kinds[-1], live.DONE)
        self.assertEqual(sent[-1][2]["state"], "succeeded")
        logs = [p for _c, t, p in sent if t == live.LOG]
        lines = [line["message"] for p in logs for line in p["lines"]]
        self.assertEqual(lines, [f"line {i}" for i in range(120)])
        self.assertLess(len(logs), 120, "lines are batched")
        self.assertTrue(all(len(p["lines"]) <= live.MAX_LINES_PER_MESSAGE for p in logs))
        self.assertTrue(all(p["execution_id"] == values["id"] for _c, _t, p in sent))
        # the run is forgotten once it ended
        with self._env() as env:
            env.cr.execute(
                "SELECT count(*) FROM iota_script_execution_live WHERE execution_id = %s",
                [values["id"]],
            )
            self.assertEqual(env.cr.fetchone()[0], 0)

    def test_lines_arrive_while_the_run_goes(self):
        """A line logged before a 1.5 s wait is committed before the run ends.

        The runner hands log lines over whenever the script waits (an sdk
        call, or the end): the wait here is a loop of sdk calls.
        """
        script = self._script(WAITER, company=self.main)
        seen_at = []

        def watch():
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5 and not seen_at:
                if any(t == live.LOG for _c, t, _p in self._bus()):
                    seen_at.append(time.monotonic())
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        values = self._run(script)
        ended_at = time.monotonic()
        watcher.join(6)
        self.assertEqual(values["result"], "late", values["error"])
        self.assertTrue(seen_at, "the line was streamed")
        self.assertLess(seen_at[0], ended_at - 0.5, "the line arrived well before the result")

    def test_the_units_meter_streams_while_the_run_goes(self):
        """Each log message carries the run's governance units so far; a run that
        logs nothing new still moves the Run panel's meter (messages without lines)."""
        script = self._script(WAITER, company=self.main)
        values = self._run(script)
        self.assertEqual(values["result"], "late", values["error"])
        sent = self._bus()
        meters = [p["units"] for _c, t, p in sent if t == live.LOG]
        self.assertGreater(len(meters), 2, "the meter moved during the run")
        self.assertEqual(meters, sorted(meters))
        self.assertLess(meters[0], values["units_used"])
        self.assertTrue(any(not p["lines"] for _c, t, p in sent if t == live.LOG))
        self.assertEqual(sent[-1][1], live.DONE)
        self.assertEqual(sent[-1][2]["units"], values["units_used"])
        self.assertGreater(values["units_used"], 100)

    def test_rolled_back_run_still_streamed_its_lines(self):
        self.bot_ab.company_ids |= self.main
        script = self._script(
            """export default async (ctx) => {
                 await sdk.db.write("res.partner", [ctx.input.id], { name: "changed" });
                 sdk.log.warn("about to fail");
                 throw new Error("boom");
               };""",
            company=self.main,
            run_as_user_id=self.bot_ab.id,
        )
        partner = self.env["res.partner"].create({"name": "unchanged", "company_id": self.main.id})
        values = self._run(script, {"id": partner.id})
        self.assertEqual(values["state"], "failed")
        self.assertEqual(values["error"]["code"], "script_error")
        partner.invalidate_recordset()
        self.assertEqual(partner.name, "unchanged", "the run's writes were rolled back")
        lines = [line for _c, t, p in self._bus() if t == live.LOG for line in p["lines"]]
        self.assertEqual([(x["level"], x["message"]) for x in lines], [("warn", "about to fail")])

    def test_input_is_checked_against_the_schema(self):
        schema = {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1}},
            "required": ["n"],
        }
        script = self._script(
            "export default (ctx) => ctx.input.n * 2;",
            company=self.main,
            input_schema=json.dumps(schema),
        )
        self.assertEqual(self._run(script, {"n": 21})["result"], 42)
        with self.assertRaisesRegex(UserError, "n: 0 is less than the minimum of 1"):
            self._run(script, {"n": 0})
        nested = {"n": 1}
        for _i in range(5000):
            nested = {"n": 1, "x": nested}
        script.input_schema = json.dumps(
            {"type": "object", "properties": {"x": {"$ref": "#"}, "n": {"type": "integer"}}}
        )
        with self.assertRaisesRegex(UserError, "nested too deeply"):
            self._run(script, nested)
        with self.assertRaisesRegex(ValidationError, "not a valid JSON Schema"):
            script.input_schema = '{"type": 12}'
        with self.assertRaisesRegex(ValidationError, "not a valid JSON Schema"):
            script.input_schema = "[1, 2"

    def test_cancel_kills_the_runner(self):
        script = self._script(
            "export default () => { sdk.log.info('spinning'); while (true) {} };",
            company=self.main,
            timeout_sec=30,
        )
        killed, outcome = [], {}
        original_kill = RunnerProcess.kill

        def spy_kill(runner):
            killed.append(runner.pid)
            return original_kill(runner)

        def cancel_when_live():
            t0 = time.monotonic()
            row = None
            while time.monotonic() - t0 < 10 and not row:
                with self._env() as env:
                    env.cr.execute(
                        "SELECT execution_id, user_id, company_id FROM iota_script_execution_live "
                        "WHERE token = %s",
                        [self.token],
                    )
                    row = env.cr.fetchone()
                time.sleep(0.05)
            time.sleep(0.3)  # let it spin
            exec_id, user_id, company_id = row
            outcome["user_id"] = user_id
            outcome["company_id"] = company_id
            public = self.env.ref("base.public_user").id
            with self._env() as env:
                try:
                    env(user=public)["iota.script.execution"].action_cancel_live(exec_id)
                except AccessError:
                    outcome["stranger_refused"] = True
            with self._env() as env:
                outcome["cancel"] = env(user=user_id)["iota.script.execution"].action_cancel_live(
                    exec_id
                )

        canceller = threading.Thread(target=cancel_when_live)
        with patch.object(RunnerProcess, "kill", spy_kill):
            canceller.start()
            t0 = time.monotonic()
            values = self._run(script)
            elapsed = time.monotonic() - t0
        canceller.join(5)
        self.assertEqual(outcome.get("user_id"), self.admin.id)
        self.assertEqual(outcome.get("company_id"), self.main.id)  # admins of it may cancel
        self.assertTrue(outcome.get("stranger_refused"), "only the caller may cancel")
        self.assertIs(outcome.get("cancel"), True)
        self.assertEqual((values["state"], values["error"]["code"]), ("cancelled", "cancelled"))
        self.assertLess(elapsed, 5, "cancelled long before the 30 s timeout")
        self.assertTrue(killed, "the runner was killed")
        for pid in killed:
            alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
            self.assertFalse(alive, f"runner {pid} still runs")
        sent = self._bus()
        self.assertEqual(sent[-1][1:], (live.DONE, sent[-1][2]))
        self.assertEqual(sent[-1][2]["state"], "cancelled")
        with self._env() as env:
            env.cr.execute(
                "SELECT count(*) FROM iota_script_execution_cancel WHERE execution_id = %s",
                [values["id"]],
            )
            self.assertEqual(env.cr.fetchone()[0], 0, "the cancel request is cleaned up")

    def test_cancel_of_an_unknown_run_is_false(self):
        Execution = self.env["iota.script.execution"].with_user(self.admin)
        self.assertFalse(Execution.action_cancel_live(987654321))
        for junk in ("1; DROP TABLE x", None, [1], 2.5):
            with self.assertRaisesRegex(UserError, "named by its id"):
                Execution.action_cancel_live(junk)
