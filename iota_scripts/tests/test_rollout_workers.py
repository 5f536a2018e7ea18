"""Acceptance (issue 11 §7): a candidate at 10 % rolls back automatically after
failures, on ``odoo --workers=2``, through real endpoint calls over HTTP.

The server is started here on the test database with committed data (as
``test_metrics.py``). Callers are told apart by their address: each test
caller binds its own loopback address (127.0.0.0/8 is all loopback on
Linux), so the server sees ``remote_addr`` 127.0.0.x, and the rollout sticks
per caller as it would per client behind ``--proxy-mode``. Which callers land
on the candidate is the hash of ``ip:127.0.0.x`` salted with the candidate's
id (``tools/rollout.py``): computed here, asserted exactly.

Nothing is faked: the engine, V8 runners, the gateway, both workers,
PostgreSQL and the rollback after commit are the real ones.
"""

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from odoo.tests import TransactionCase, tagged
from requests.adapters import HTTPAdapter

from ..tools import rollout
from .common import RealCursorMixin
from .odoo_workers import start_workers

STABLE = "export default async function () { return {v: 'stable'}; }"
FAILING = "export default async function () { throw new Error('candidate broke'); }"
# ~2.5 s of work, then success: long enough to switch versions during the run
SLOW_CANDIDATE = """export default async function () {
  const t = Date.now(); while (Date.now() - t < 2500) {}
  return {v: 'candidate'};
}"""


class _FromAddress(HTTPAdapter):
    """Connects from ``address`` (a loopback address of the test's choosing)."""

    def __init__(self, address):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _caller(address):
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


@tagged("post_install", "-at_install")
class TestRolloutWorkers(RealCursorMixin, TransactionCase):
    def _rolled_out(self, candidate_source, path, **values):
        """A committed script (v1 stable, v2 candidate) behind a public endpoint."""
        script_id = self._committed_script(STABLE, timeout_sec=10)
        with self._env() as env:
            script = env["iota.script"].browse(script_id)
            script.write({"user_id": env.ref("base.user_admin").id, **values})
            env["iota.script.endpoint"].create(
                {
                    "script_id": script_id,
                    "path": f"/{path}/{script_id}",
                    "auth_mode": "public",
                    "rate_limit_per_min": 10000,
                }
            )
            script.rollout_mode = True
            script.source = candidate_source
            ids = (script.version_id.id, script.candidate_version_id.id)
        self.addCleanup(self._forget_activities, script_id)
        return script_id, ids

    def _forget_activities(self, script_id):
        with self._env() as env:
            env["mail.activity"].search(
                [("res_model", "=", "iota.script"), ("res_id", "=", script_id)]
            ).unlink()

    def test_a_candidate_at_ten_percent_rolls_back_after_failures(self):
        script_id, (stable_id, candidate_id) = self._rolled_out(
            FAILING, "rollout", rollout_percent=10.0, rollout_min_runs=10, rollout_error_pct=50.0
        )
        addresses = [f"127.0.0.{i}" for i in range(2, 255)]
        on_candidate = [a for a in addresses if rollout.chosen(candidate_id, f"ip:{a}", 10)]
        on_stable = [a for a in addresses if a not in on_candidate]
        self.assertTrue(1 <= len(on_candidate) <= 60, on_candidate)
        _server, base, _data_dir = start_workers(self)
        url = f"{base}/iota/api/v1/rollout/{script_id}"

        def call(address):
            response = _caller(address).get(url, timeout=60)
            return address, response.status_code, response.text

        with ThreadPoolExecutor(2) as pool:
            # every caller of the stable version succeeds, both workers serving
            for address, status, text in pool.map(call, on_stable[:20]):
                self.assertEqual(status, 200, (address, text))
            # the candidate's callers fail, two at a time (sticky: again and
            # again) until the rollback sends them to the stable version
            failures, stable_again = 0, []
            for turn in range(15):
                pair = [on_candidate[(2 * turn + i) % len(on_candidate)] for i in (0, 1)]
                for address, status, text in pool.map(call, pair):
                    if status == 500:
                        failures += 1
                    else:
                        self.assertEqual((status, json.loads(text)), (200, {"v": "stable"}))
                        stable_again.append(address)
                if stable_again:
                    break
        # The 10th failure rolled it back once its transaction committed
        # (before its answer went out): the pair after it ran the stable one.
        self.assertEqual(failures, 10)
        self.assertEqual(len(stable_again), 2)

        with self._env() as env:
            script = env["iota.script"].browse(script_id)
            self.assertFalse(script.candidate_version_id)
            self.assertEqual(script.version_id.id, stable_id)
            runs = env["iota.script.execution"].search([("script_id", "=", script_id)])
            candidate_runs = runs.filtered(lambda r: r.channel == "candidate")
            self.assertEqual(len(candidate_runs), 10)
            self.assertEqual(set(candidate_runs.mapped("state")), {"failed"})
            self.assertEqual(set(candidate_runs.version_id.ids), {candidate_id})
            stable_runs = runs - candidate_runs
            self.assertEqual(len(stable_runs), 20 + 2)
            self.assertEqual(set(stable_runs.mapped("state")), {"succeeded"})
            # announced once, to the responsible user
            notes = script.message_ids.filtered(
                lambda m: "rolled back automatically" in (m.body or "")
            )
            self.assertEqual(len(notes), 1)
            self.assertIn("10 of its 10 runs failed", notes.body)
            activity = env["mail.activity"].search(
                [("res_model", "=", "iota.script"), ("res_id", "=", script_id)]
            )
            self.assertEqual(len(activity), 1)
            self.assertEqual(activity.user_id, env.ref("base.user_admin"))
            self.assertIn("Candidate rolled back", activity.summary)

    def _change(self, change):
        """``change(env)``, committed; then the server's workers are told, as
        ``Registry.signal_changes`` does after a request (they cache the
        columns a run reads), which the test case replaces by a simulation."""
        with self._env() as env:
            change(env)
        with self._env() as env:  # after the commit: a worker must not re-read the old row
            env.cr.execute("SELECT nextval('base_cache_signaling_default')")

    def _wait_for_a_run_in_progress(self):
        """Returns once a server transaction sits idle for 0.5 s: a run in V8
        (its version resolved, its id reserved), the only long pause of a
        request. No guess of how long a worker takes to get there."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # a new transaction each time: pg_stat_activity is a snapshot per transaction
            with self._env() as env:
                # not this process's connections (the test's own transaction
                # is idle all along): the server's workers' only
                env.cr.execute(
                    """SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name <> %s
                          AND state = 'idle in transaction'
                          AND now() - state_change > interval '0.5 seconds'""",
                    [f"odoo-{os.getpid()}"],
                )
                if env.cr.fetchone()[0]:
                    return
            time.sleep(0.1)
        self.fail("no run started")

    def test_promote_and_roll_back_while_runs_are_in_flight(self):
        """A switch during a run: the run finishes on the version it resolved
        and answers 200; the runs after it take the new state."""
        script_id, (stable_id, candidate_id) = self._rolled_out(
            SLOW_CANDIDATE, "inflight", rollout_percent=0.0
        )
        _server, base, _data_dir = start_workers(self)
        url = f"{base}/iota/api/v1/inflight/{script_id}"
        with ThreadPoolExecutor(2) as pool:  # both workers warm, on the stable version
            warm = list(pool.map(lambda _i: _caller("127.0.0.9").get(url, timeout=60), range(4)))
        self.assertEqual([r.json() for r in warm], [{"v": "stable"}] * 4)
        self._change(
            lambda env: env["iota.script"].browse(script_id).write({"rollout_percent": 100})
        )

        def switch_during_a_run(action):
            answer = {}
            thread = threading.Thread(
                target=lambda: answer.update(r=_caller("127.0.0.9").get(url, timeout=60))
            )
            thread.start()
            self._wait_for_a_run_in_progress()
            self._change(lambda env: getattr(env["iota.script"].browse(script_id), action)())
            thread.join(60)
            return answer["r"]

        response = switch_during_a_run("action_iota_rollback")
        self.assertEqual((response.status_code, response.json()), (200, {"v": "candidate"}))
        after = _caller("127.0.0.9").get(url, timeout=60)
        self.assertEqual((after.status_code, after.json()), (200, {"v": "stable"}))

        self._change(
            lambda env: env["iota.script.version"].browse(candidate_id).action_iota_roll_out()
        )
        response = switch_during_a_run("action_iota_promote")
        self.assertEqual((response.status_code, response.json()), (200, {"v": "candidate"}))
        after = _caller("127.0.0.9").get(url, timeout=60)
        self.assertEqual((after.status_code, after.json()), (200, {"v": "candidate"}))

        with self._env() as env:
            runs = env["iota.script.execution"].search([("script_id", "=", script_id)], order="id")
            self.assertEqual(
                [(r.version_id.id, r.channel, r.state) for r in runs],
                [(stable_id, "stable", "succeeded")] * 4
                + [
                    (candidate_id, "candidate", "succeeded"),  # in flight at the rollback
                    (stable_id, "stable", "succeeded"),
                    (candidate_id, "candidate", "succeeded"),  # in flight at the promotion
                    (candidate_id, "stable", "succeeded"),  # promoted: the stable version
                ],
            )
