"""The checks behind ``/iota/health/ready`` (the controller is ``controllers/health.py``).

Each check returns ``(state, detail)``: ``state`` is ``ok``, ``fail`` or
``skipped`` (not configured); ``detail`` is for operators holding the
metrics token only (an exception's class name, a lag in seconds), never
shown to anonymous callers. :func:`run_checks` times each one (ms).

* ``database``: ``SELECT 1`` on a cursor of the database;
* ``redis``: ``PING`` to each configured Redis (``redis_url``,
  ``ratelimit_redis_url``), 0.5 s to connect and to answer; skipped when none;
* ``runners``: the process's runner pool runs a trivial script within 1 s
  (waiting for a free runner included); skipped when scripts are switched
  off on the site (``IOTA_SCRIPTS_ENABLED=0``);
* ``queue``: the oldest due queued run has waited less than
  ``health_queue_lag_sec``.

Threads and processes: nothing is created at import; the engine is this
process's (``settings.get_engine``), Redis clients are made and closed per
check (a health probe every few seconds does not need a pool).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..settings import get_engine, get_setting, ratelimit_redis_url, scripts_enabled

OK, FAIL, SKIPPED = "ok", "fail", "skipped"
#: what the runners check runs, and how long it may take
TRIVIAL_SCRIPT = "export default async function () { return 1; }"
RUNNER_BUDGET_SEC = 1.0
REDIS_TIMEOUT_SEC = 0.5


def check_database(cr: Any) -> tuple[str, Any]:
    cr.execute("SELECT 1")
    return (OK, None) if cr.fetchone() == (1,) else (FAIL, "unexpected answer")


def check_redis() -> tuple[str, Any]:
    urls = [u for u in dict.fromkeys((get_setting(None, "redis_url"), ratelimit_redis_url())) if u]
    if not urls:
        return SKIPPED, None
    import redis

    for number, url in enumerate(urls):
        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SEC, socket_timeout=REDIS_TIMEOUT_SEC
        )
        try:
            client.ping()
        except redis.exceptions.RedisError as e:
            # which one (cache or rate limiter), never the URL
            return FAIL, f"redis {number + 1}: {e.__class__.__name__}"
        finally:
            client.close()
    return OK, None


def check_runners() -> tuple[str, Any]:
    if not scripts_enabled():
        return SKIPPED, "scripts are switched off on this server"
    from iota_scripts_sdk import Limits

    t0 = time.monotonic()
    result = get_engine(None).run(
        TRIVIAL_SCRIPT,
        limits=Limits(timeout_sec=RUNNER_BUDGET_SEC),
        tenant="__health__",
        ctx={"trigger": {"type": "health"}},
    )
    elapsed = time.monotonic() - t0
    if not result.ok:
        return FAIL, result.error.code
    if result.result != 1 or elapsed > RUNNER_BUDGET_SEC:
        return FAIL, f"{elapsed:.3f} s"
    return OK, None


def check_queue(cr: Any, threshold_sec: float) -> tuple[str, Any]:
    # clock_timestamp(), not now(): the transaction may be older than the check
    cr.execute(
        """
        SELECT COALESCE(EXTRACT(EPOCH FROM
                   (clock_timestamp() at time zone 'UTC') - min(COALESCE(eta, create_date))), 0)
          FROM iota_script_execution
         WHERE state = 'queued'
           AND (eta IS NULL OR eta <= clock_timestamp() at time zone 'UTC')
        """
    )
    lag = max(0.0, float(cr.fetchone()[0]))
    detail = {"lag_sec": round(lag, 3), "threshold_sec": threshold_sec}
    return (OK if lag < threshold_sec else FAIL), detail


def timed(check: Callable[[], tuple[str, Any]]) -> dict[str, Any]:
    """Runs one check: ``{"state", "ms", "detail"}``; an exception is a ``fail`` named by its class."""
    t0 = time.perf_counter()
    try:
        state, detail = check()
    except Exception as e:  # noqa: BLE001 - a health check reports, it never raises
        state, detail = FAIL, e.__class__.__name__
    return {"state": state, "ms": round((time.perf_counter() - t0) * 1000, 1), "detail": detail}
