"""Threat: Redis goes down under the event bus and the rate limiter.

Redis going down and coming back, under the event bus and the endpoint rate limiter.

The addon is pointed at a private redis-server (``IOTA_SCRIPTS_REDIS_URL``,
engine restarted), which the test kills and starts again on the same port.
Documented behaviour (docs/guide/queue-and-events.md, "Redis down", and docs/guide/endpoints.md, "Rate limits"):

* ``sdk.cache`` has no silent fallback: while Redis is down every call
  throws ``cache_unavailable``. A handler that catches it completes; one that
  does not fails and is retried by the queue with backoff, so its event is
  handled once Redis is back. No event and no delivery is lost.
* The endpoint rate limiter applies the endpoint's outage policy
  (``deny``: refused, ``local``: a per-process limit, ``allow``).
* Recovery needs nothing but the next call: Redis is used again at once.
"""

import json
import os
import time
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from ..tools.gateway_http import limiter as _limiter
from ..tools.sentinel import as_engine
from ..tools.settings import restart_engine
from .common import RealCursorMixin
from .redis_server import PrivateRedis

TOLERANT = """\
export default async () => {
  try { return { ticks: await sdk.cache.incr("ticks") }; }
  catch (e) { return { cache: e.code }; }
};
"""
STRICT = """\
export default async (ctx) => ({ seen: await sdk.cache.incr("seen:" + ctx.event.id) });
"""


@tagged("post_install", "-at_install")
class TestRedisOutage(RealCursorMixin, TransactionCase):
    def setUp(self):
        super().setUp()
        self.redis = PrivateRedis()
        self.addCleanup(self.redis.close)
        self.redis.start()
        env = patch.dict(
            os.environ,
            {"IOTA_SCRIPTS_REDIS_URL": self.redis.url, "IOTA_SCRIPTS_QUEUE_RETRY_BASE_SEC": "2"},
        )
        env.start()
        restart_engine()
        # cleanups run last in first out: the environment, then the engine again
        self.addCleanup(restart_engine)
        self.addCleanup(env.stop)

    def _subscribe(self, pattern, source, **values):
        script_id = self._committed_script(source, name=f"Handler {pattern}")
        with self._env() as env:
            sub = env["iota.script.subscription"].create(
                {"event_type": pattern, "script_id": script_id, **values}
            )
            return sub.id, script_id

    def _emit(self, event_type, script_id, n):
        with self._env() as env:
            script = env["iota.script"].browse(script_id)
            for i in range(n):
                as_engine(env["iota.script.event"])._record(
                    event_type, {"i": i}, script=script, user=env.user, origin="script"
                )

    def _round(self):
        with self._env() as env:
            dispatched = env["iota.script.delivery"]._cron_dispatch()
        with self._env() as env:
            ran = env["iota.script.execution"]._cron_process_queue(budget_sec=30)
        return dispatched + ran

    def _deliveries(self, sub_id):
        with self._env() as env:
            return env["iota.script.delivery"].search_read(
                [("subscription_id", "=", sub_id)],
                ["state", "attempts", "last_error", "execution_id"],
                order="id",
            )

    def _results(self, deliveries):
        with self._env() as env:
            executions = env["iota.script.execution"].browse(
                [d["execution_id"][0] for d in deliveries]
            )
            return [json.loads(e.result_json or "null") for e in executions]

    def test_runs_and_events_complete_and_nothing_is_lost(self):
        tolerant, tolerant_script = self._subscribe("outage.tolerant", TOLERANT)
        strict, strict_script = self._subscribe("outage.strict", STRICT, max_attempts=5)
        client = self.redis.client()

        # Redis up: the cache is Redis
        self._emit("outage.tolerant", tolerant_script, 2)
        self._emit("outage.strict", strict_script, 2)
        while self._round():
            pass
        self.assertEqual([d["state"] for d in self._deliveries(tolerant)], ["done"] * 2)
        self.assertEqual(self._results(self._deliveries(tolerant)), [{"ticks": 1}, {"ticks": 2}])
        self.assertEqual([k.split(":")[-1] for k in client.keys("iota:c:*:ticks")], ["ticks"])
        self.assertEqual(len(client.keys("iota:c:*:seen*")), 2)

        # Redis down mid-way: one dispatch and one worker round
        self.redis.kill()
        self._emit("outage.tolerant", tolerant_script, 3)
        self._emit("outage.strict", strict_script, 3)
        self._round()
        down = self._deliveries(tolerant)[2:]
        self.assertEqual([d["state"] for d in down], ["done"] * 3)
        self.assertEqual(self._results(down), [{"cache": "cache_unavailable"}] * 3)
        waiting = self._deliveries(strict)[2:]
        self.assertEqual(len(waiting), 3)
        for delivery in waiting:
            # failed on the cache, queued for a retry: neither done nor dead
            self.assertEqual(delivery["state"], "queued", delivery)
            self.assertTrue(delivery["last_error"].startswith("cache_unavailable"), delivery)

        # Redis back (empty): the retries go through, and Redis is used again
        self.redis.start()
        self._emit("outage.tolerant", tolerant_script, 1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._round()
            if all(d["state"] == "done" for d in self._deliveries(strict)):
                break
            time.sleep(0.2)
        strict_deliveries = self._deliveries(strict)
        self.assertEqual([d["state"] for d in strict_deliveries], ["done"] * 5)
        self.assertTrue(all(d["attempts"] >= 2 for d in strict_deliveries[2:]))
        self.assertEqual(self._results(strict_deliveries[2:]), [{"seen": 1}] * 3)
        self.assertEqual(len(client.keys("iota:c:*:seen*")), 3)
        after = self._deliveries(tolerant)
        self.assertEqual([d["state"] for d in after], ["done"] * 6)
        self.assertEqual(self._results(after[5:]), [{"ticks": 1}])
        self.assertEqual(client.get(client.keys("iota:c:*:ticks")[0]), "1")
        # nothing lost: every event dispatched, one delivery per event and subscription
        with self._env() as env:
            events = env["iota.script.event"].search(
                [
                    ("script_id", "in", [tolerant_script, strict_script]),
                    ("type", "=like", "outage.%"),
                ]
            )
            self.assertEqual(len(events), 11)
            self.assertEqual(set(events.mapped("state")), {"done"})

    def test_rate_limiter_applies_its_outage_policy_then_recovers(self):
        for algorithm in ("sliding_window", "gcra"):
            with self.subTest(algorithm=algorithm):
                self._check_limiter_outage(algorithm)

    def _check_limiter_outage(self, algorithm):
        deny = _limiter(self.redis.url, "deny", algorithm)
        local = _limiter(self.redis.url, "local", algorithm)
        key = f"outage:{algorithm}"
        up = deny.check(key, 5, 60)
        self.assertEqual((up.allowed, up.degraded, up.remaining), (True, False, 4))
        self.assertEqual(self.redis.client().exists(deny.physical_key(key)), 1)
        self.redis.kill()
        refused = deny.check(key, 5, 60)
        self.assertEqual((refused.allowed, refused.degraded), (False, True))
        counted = [local.check(key, 2, 60) for _i in range(3)]
        self.assertEqual([d.allowed for d in counted], [True, True, False])
        self.assertTrue(all(d.degraded for d in counted))
        self.redis.start()
        back = deny.check(key, 5, 60)
        self.assertEqual((back.allowed, back.degraded, back.remaining), (True, False, 4))
        self.assertEqual(self.redis.client().exists(deny.physical_key(key)), 1)
