"""``/iota/health/live`` and ``/iota/health/ready`` (issue 11 §5).

* :class:`TestHealthRoute`: against Odoo's test server (threaded): the
  answers' shape, nothing but states and times for anonymous callers, the
  details with the metrics token, the ``db`` parameter, and a queue that lags.
* :class:`TestHealthWorkers`: ``odoo --workers=2`` on the test database
  (``odoo_workers.start_workers``) with a private Redis:
  ready while Redis runs, 503 with the ``redis`` check failing once it is
  killed (``live`` still 200), ready again when it is back.

Real parts only: Odoo, PostgreSQL, the V8 runners, redis-server.
"""

import os
import time
from datetime import timedelta
from unittest.mock import patch

import requests
from odoo import fields
from odoo.tests import HttpCase, TransactionCase, tagged

from ..run.request import RunRequest
from .common import RealCursorMixin
from .odoo_workers import start_workers
from .redis_server import PrivateRedis

TOKEN = "s3cret-health-token"  # noqa: S105 - a test token
CHECKS = {"database", "redis", "runners", "queue"}


def _get(base, path, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{base}{path}", params=params, headers=headers, timeout=30)


def _ready_until(base, status, timeout=30, **params):
    """Polls ``ready`` until it answers ``status`` (a fresh worker starts its runners first)."""
    deadline = time.monotonic() + timeout
    while True:
        response = _get(base, "/iota/health/ready", **params)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def _ready_in_a_row(base, wanted, timeout=60):
    """How many 200s in a row ``ready`` gave (``wanted`` at most) before ``timeout``."""
    deadline, streak = time.monotonic() + timeout, 0
    while streak < wanted and time.monotonic() < deadline:
        streak = streak + 1 if _get(base, "/iota/health/ready").status_code == 200 else 0
        if not streak:
            time.sleep(0.3)
    return streak


@tagged("post_install", "-at_install")
class TestHealthRoute(HttpCase):
    def setUp(self):
        super().setUp()
        # committed queued runs of other tests must not make this one late
        self.env["ir.config_parameter"].sudo().set_param("iota_scripts.health_queue_lag_sec", 1e9)

    def test_live_answers_with_nothing_else(self):
        response = _get(self.base_url(), "/iota/health/live")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"status": "ok"})
        self.assertNotIn("Set-Cookie", response.headers)

    def test_ready_checks_and_reveals_nothing_anonymously(self):
        response = _ready_until(self.base_url(), 200)
        self.assertEqual(response.status_code, 200, response.text)
        body = response.json()
        self.assertEqual(body["status"], "ok")
        self.assertEqual(set(body["checks"]), CHECKS)
        for name, check in body["checks"].items():
            self.assertEqual(set(check), {"state", "ms"}, name)  # no detail, no error text
            self.assertIn(check["state"], ("ok", "skipped"), name)
            self.assertGreaterEqual(check["ms"], 0)
        self.assertEqual(body["checks"]["database"]["state"], "ok")
        self.assertEqual(body["checks"]["runners"]["state"], "ok")
        self.assertLess(body["checks"]["runners"]["ms"], 1000)
        self.assertNotIn(self.env.cr.dbname, response.text)
        # the same database named in the URL; one the server does not serve: 503, not named back
        self.assertEqual(
            _get(self.base_url(), "/iota/health/ready", db=self.env.cr.dbname).status_code, 200
        )
        other = _get(self.base_url(), "/iota/health/ready", db="iota_no_such_db")
        self.assertEqual(other.status_code, 503)
        self.assertEqual(other.json()["checks"]["database"], {"state": "fail", "ms": 0.0})
        self.assertNotIn("iota_no_such_db", other.text)

    def test_a_lagging_queue_is_not_ready_and_the_token_shows_why(self):
        self.env["ir.config_parameter"].sudo().set_param("iota_scripts.health_queue_lag_sec", 60)
        script = self.env["iota.script"].create(
            {"name": "Health lag", "state": "active", "source": "export default () => 1"}
        )
        execution = self.env["iota.script.execution"]._enqueue(
            RunRequest(script, {"type": "manual"})
        )
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE iota_script_execution SET create_date = %s, eta = NULL WHERE id = %s",
            [fields.Datetime.now() - timedelta(hours=1), execution.id],
        )
        response = _get(self.base_url(), "/iota/health/ready")
        self.assertEqual(response.status_code, 503, response.text)
        checks = response.json()["checks"]
        self.assertEqual(checks["queue"], {"state": "fail", "ms": checks["queue"]["ms"]})
        self.assertEqual(checks["database"]["state"], "ok")
        with patch.dict(os.environ, {"IOTA_SCRIPTS_METRICS_TOKEN": TOKEN}):
            anonymous = _get(self.base_url(), "/iota/health/ready", token=TOKEN + "x")
            self.assertNotIn("detail", anonymous.json()["checks"]["queue"])
            detailed = _get(self.base_url(), "/iota/health/ready", token=TOKEN).json()
        detail = detailed["checks"]["queue"]["detail"]
        self.assertEqual(detail["threshold_sec"], 60)
        self.assertGreaterEqual(detail["lag_sec"], 3500)


@tagged("post_install", "-at_install")
class TestHealthWorkers(RealCursorMixin, TransactionCase):
    """``odoo --workers=2`` on this database; Redis is a private one that the test kills."""

    def test_redis_down_is_not_ready_and_still_live(self):
        redis_server = PrivateRedis()
        self.addCleanup(redis_server.close)
        redis_server.start()
        env = {
            "IOTA_SCRIPTS_REDIS_URL": redis_server.url,
            "IOTA_SCRIPTS_RATELIMIT_REDIS_URL": redis_server.url,
            # committed queued runs of other tests must not make this one late
            "IOTA_SCRIPTS_HEALTH_QUEUE_LAG_SEC": "1000000000",
        }
        _server, base, _data_dir = start_workers(self, env=env)
        # each worker's first probe starts its runners (may take over 1 s: one 503,
        # documented); then both workers answer 200 probe after probe
        self.assertEqual(_ready_in_a_row(base, 6), 6)
        body = _get(base, "/iota/health/ready").json()
        self.assertEqual(body["checks"]["redis"]["state"], "ok", body)

        redis_server.kill()
        for _i in range(4):
            down = _get(base, "/iota/health/ready")
            self.assertEqual(down.status_code, 503, down.text)
            checks = down.json()["checks"]
            self.assertEqual(checks["redis"]["state"], "fail")
            self.assertEqual(set(checks["redis"]), {"state", "ms"})
            self.assertLess(checks["redis"]["ms"], 3000)
            self.assertEqual(checks["database"]["state"], "ok")
            self.assertNotIn(str(redis_server.port), down.text)
            live = _get(base, "/iota/health/live")
            self.assertEqual((live.status_code, live.json()), (200, {"status": "ok"}))

        redis_server.start()
        self.assertEqual(_ready_in_a_row(base, 4), 4, "ready again once Redis is back")
