"""Prometheus metrics of IOTA Scripts: the series, and the calls that feed them.

Every series is listed, with its labels and meaning, in ``docs/metrics.md``.
Served by ``controllers/metrics.py`` at ``/iota/metrics``.

Who feeds what
--------------
* :func:`run_ended`: the run path, once per run, in ``run/record.py``
  (recorded runs, and runs the recording policy does not keep);
* :data:`ENGINE_OBSERVER`: the engine (``iota_scripts_sdk.observer``): the
  runner pool and every sdk call, ``sdk.http`` and ``sdk.cache`` included;
* :func:`endpoint_answered`, :func:`ratelimit_refused`: the gateway
  (``controllers/main.py``);
* :class:`DatabaseGauges`: queue depth, the oldest queued run's age and dead
  letters, computed from the database when a scrape asks.

Off by default: with no ``metrics_token`` (a site setting) nothing is
collected, no file is written, and ``/iota/metrics`` answers 404. Counters
count when the thing happens, in the process that did it; a transaction that
Odoo retries (serialization failure) ran its scripts again, and they count
again.

Labels are bounded: database name, company id, script key (chosen by an
administrator), trigger type, run state, endpoint id, HTTP status, sdk
namespace, error code. Never an execution id, a path, a header or anything
else a caller or a script wrote.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from iota_scripts_sdk import EngineObserver

from ..settings import get_setting
from . import metrics_store

_logger = logging.getLogger(__name__)

#: Seconds. Runs are mostly milliseconds; timeouts go up to max_timeout_sec.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CPU_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RUN_LABELS = ("db", "company", "script", "trigger", "state")
HISTOGRAM_LABELS = ("db", "company", "script")


class _Series:
    """The series of this process (made once, on first use)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Counter(name, doc, labels, registry=registry)

        self.runs = counter("iota_scripts_runs", "Runs that ended, by final state", RUN_LABELS)
        self.duration = Histogram(
            "iota_scripts_run_duration_seconds",
            "Wall-clock time of a run in its runner",
            HISTOGRAM_LABELS,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.cpu = Histogram(
            "iota_scripts_run_cpu_seconds",
            "CPU time of a run in its runner",
            HISTOGRAM_LABELS,
            buckets=CPU_BUCKETS,
            registry=registry,
        )
        self.sdk_calls = counter(
            "iota_scripts_sdk_calls", "sdk calls answered", ("namespace", "outcome")
        )
        self.alive = Gauge(
            "iota_scripts_runners_alive",
            "Runner processes running or starting",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.busy = Gauge(
            "iota_scripts_runners_busy",
            "Runner processes running a script or starting",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.starts = counter("iota_scripts_runner_starts", "Runner processes started")
        self.restarts = counter(
            "iota_scripts_runner_restarts", "Runners that ended and were replaced", ("reason",)
        )
        self.crashes = counter("iota_scripts_runner_crashes", "Runners that died during a run")
        self.endpoint_requests = counter(
            "iota_scripts_endpoint_requests",
            "Gateway requests by answer",
            ("db", "endpoint", "status"),
        )
        self.ratelimit_refusals = counter(
            "iota_scripts_ratelimit_refusals",
            "Gateway requests refused by the rate limiter",
            ("db", "endpoint", "reason"),
        )


_lock = threading.Lock()
_series_obj: _Series | None = None
_local_registry: Any = None


def enabled() -> bool:
    """Whether metrics are on: a ``metrics_token`` is set (site setting)."""
    return bool(get_setting(None, "metrics_token"))


def _series() -> _Series | None:
    """This process's series, made on first use; None when metrics are off."""
    global _series_obj, _local_registry
    if not enabled():
        return None
    # the directory before any value: it chooses where values are written
    metrics_store.directory(get_setting(None, "metrics_dir"))
    if _series_obj is None:
        with _lock:
            if _series_obj is None:
                from prometheus_client import CollectorRegistry

                _local_registry = CollectorRegistry(auto_describe=False)
                _series_obj = _Series(_local_registry)
    return _series_obj


def _safe(fn):
    """Metrics never break what they measure: failures are logged, not raised."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            _logger.exception("iota_scripts metrics: %s failed", fn.__name__)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_safe
def run_ended(
    db: str,
    company_id: int,
    script_key: str,
    trigger: str,
    state: str,
    stats: Mapping[str, Any] | None,
) -> None:
    """One run ended in ``state``; ``stats`` (``RunResult.stats``, None for a run
    that never reached a runner) feed the duration and CPU histograms."""
    series = _series()
    if series is None:
        return
    company = str(company_id)
    series.runs.labels(db, company, script_key or "", trigger, state).inc()
    if stats:
        series.duration.labels(db, company, script_key or "").observe(
            float(stats.get("wall_ms") or 0.0) / 1000.0
        )
        series.cpu.labels(db, company, script_key or "").observe(
            float(stats.get("cpu_ms") or 0.0) / 1000.0
        )


@_safe
def endpoint_answered(db: str, endpoint_id: int | None, status: int) -> None:
    """The gateway answered ``status`` for endpoint ``endpoint_id`` (None: no endpoint matched)."""
    series = _series()
    if series is not None:
        series.endpoint_requests.labels(db, str(endpoint_id or ""), str(int(status))).inc()


@_safe
def ratelimit_refused(db: str, endpoint_id: int, reason: str) -> None:
    """The limiter refused a call: ``limited`` (429) or ``unavailable`` (503)."""
    series = _series()
    if series is not None:
        series.ratelimit_refusals.labels(db, str(endpoint_id), reason).inc()


class _EngineMetrics(EngineObserver):
    """The engine's observer: its runners and its sdk calls become series."""

    @_safe
    def runners_changed(self, alive: int, busy: int) -> None:
        series = _series()
        if series is not None:
            series.alive.set(alive)
            series.busy.set(busy)

    @_safe
    def runner_started(self) -> None:
        series = _series()
        if series is not None:
            series.starts.inc()

    @_safe
    def runner_ended(self, reason: str) -> None:
        series = _series()
        if series is not None:
            series.restarts.labels(reason).inc()
            if reason == "crashed":
                series.crashes.inc()

    @_safe
    def sdk_call(self, namespace: str, outcome: str) -> None:
        series = _series()
        if series is not None:
            series.sdk_calls.labels(namespace, outcome).inc()


ENGINE_OBSERVER = _EngineMetrics()


class DatabaseGauges:
    """Per company of ``cr``'s database, read when a scrape asks: queued runs,
    the age of the oldest one that is due, and dead letters (deliveries)."""

    def __init__(self, cr: Any) -> None:
        self.cr = cr

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        db = self.cr.dbname
        labels = ["db", "company"]
        depth = GaugeMetricFamily(
            "iota_scripts_queue_depth", "Queued runs (due or waiting for their eta)", labels=labels
        )
        age = GaugeMetricFamily(
            "iota_scripts_queue_oldest_age_seconds",
            "How long the oldest due queued run has waited (0: none)",
            labels=labels,
        )
        dead = GaugeMetricFamily(
            "iota_scripts_dead_letters", "Event deliveries in Dead letters", labels=labels
        )
        # clock_timestamp(), not now(): the transaction may be older than the scrape
        self.cr.execute(
            """
            WITH q AS (
                SELECT company_id, count(*) AS n,
                       min(COALESCE(eta, create_date)) FILTER (
                           WHERE eta IS NULL OR eta <= clock_timestamp() at time zone 'UTC'
                       ) AS oldest
                  FROM iota_script_execution WHERE state = 'queued' GROUP BY company_id
            ), d AS (
                SELECT company_id, count(*) AS n FROM iota_script_delivery
                 WHERE state = 'dead' GROUP BY company_id
            )
            SELECT c.id, COALESCE(q.n, 0),
                   GREATEST(0, COALESCE(EXTRACT(EPOCH FROM
                       (clock_timestamp() at time zone 'UTC') - q.oldest), 0)),
                   COALESCE(d.n, 0)
              FROM res_company c
              LEFT JOIN q ON q.company_id = c.id
              LEFT JOIN d ON d.company_id = c.id
             ORDER BY c.id
            """
        )
        for company_id, n, oldest_sec, n_dead in self.cr.fetchall():
            values = [db, str(company_id)]
            depth.add_metric(values, n)
            age.add_metric(values, float(oldest_sec))
            dead.add_metric(values, n_dead)
        yield from (depth, age, dead)


def scrape(cr: Any) -> bytes:
    """The text exposition: every process's series, and ``cr``'s database gauges."""
    series = _series()
    path = metrics_store.directory(get_setting(None, "metrics_dir")) if series else None
    return metrics_store.render(path, _local_registry, [DatabaseGauges(cr)])
