"""Settings of IOTA Scripts, and the process-wide engine.

Where a setting comes from
--------------------------
Every key is looked up in one documented order; the first that is set wins:

1. the environment variable ``IOTA_SCRIPTS_<KEY>`` (upper case);
2. the ``[iota_scripts]`` section of the Odoo configuration file (``<key> = ...``);
3. the system parameter ``iota_scripts.<key>`` of the database;
4. the default below.

Site keys skip step 3: they are read from the environment and the
configuration file only, because one Odoo process serves every database of the
server and one database must not choose them for the others.

* ``enabled`` is the site switch: ``IOTA_SCRIPTS_ENABLED=0`` stops every run
  and every syntax check on the server.
* Engine keys (``runners``, ``max_waiting``, ``runner_memory_mb``,
  ``redis_url``, ``http_proxy``, ``cache_quota_bytes``, ``cache_quota_keys``)
  configure the process-wide engine when the first run of the process creates
  it; changing them takes effect after a restart. Were they read from
  ``ir.config_parameter``, the first database to run a script would pick the
  Redis and the egress proxy of every company of every database.
* ``ratelimit_redis_url`` is the endpoints' rate limiter's Redis (default:
  ``redis_url``); give it its own server or database number so that a full
  cache never stops the limiter.
* ``sentry_dsn``, ``sentry_environment`` (Sentry) and ``log_format`` (JSON
  logs): one client and one log format per process, whatever the database.
* ``signing_key`` (the Ed25519 key that signs approved versions, see
  ``models/iota_script_version_approval.py``): outside the database, so that
  whoever can write the database cannot sign what they wrote. Make one with
  ``iota-scripts keygen``.
* ``metrics_token`` and ``metrics_dir`` (Prometheus, ``/iota/metrics``): one
  scrape covers every database the server serves (series are labelled by
  database, the runner pool belongs to the process). Were the token a system
  parameter, the administrator of one database could read another's runs,
  or switch metrics on for the whole server.
* ``tracing_endpoint`` and ``tracing_service_name`` (OpenTelemetry, see
  ``observability/tracing.py``, which also reads the standard ``OTEL_*``
  variables): one exporter per process, for every database it serves.

Database keys (limits, retention, depth) are read at each run.

Threads and processes: nothing here starts a runner at import. The engine is
created lazily on the first run and again in each forked worker
(``get_engine`` is fork-aware).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from odoo.tools import config

from .ormcache import cached_call

_logger = logging.getLogger(__name__)

#: key -> (default, type): the one source of every default (the settings page's
#: fields and docs/configuration.md are derived from it; see DOCS).
DEFAULTS: dict[str, tuple[Any, type]] = {
    # site switch (environment / configuration file only)
    "enabled": (True, bool),
    # engine, read once per process
    "runners": (4, int),
    "max_waiting": (64, int),
    "runner_memory_mb": (2048, int),
    "redis_url": (None, str),
    "http_proxy": (None, str),
    "cache_quota_bytes": (16 * 1024 * 1024, int),
    "cache_quota_keys": (10_000, int),
    # the endpoints' rate limiter (site): its own Redis, default redis_url
    "ratelimit_redis_url": (None, str),
    # Prometheus metrics (site; tools/observability/)
    "metrics_token": (None, str),
    "metrics_dir": (None, str),
    # OpenTelemetry traces (site; tools/observability/tracing.py)
    "tracing_endpoint": (None, str),
    "tracing_service_name": (None, str),
    # Sentry and the log format (site; tools/observability/)
    "sentry_dsn": (None, str),
    "sentry_environment": (None, str),
    "log_format": ("text", str),
    # npm packages in scripts (site; models/iota_script_package.py)
    "npm_registry": ("https://registry.npmjs.org", str),
    "esbuild": (None, str),
    # the keys of sdk.secrets (site; tools/secret_box.py)
    "secret_keys": (None, str),
    # the key that signs approved versions (site: never in the database)
    "signing_key": (None, str),
    # per database
    "max_source_bytes": (262144, int),
    "retention_days": (30, int),
    "default_timeout_sec": (5.0, float),
    "max_timeout_sec": (60.0, float),
    "default_memory_mb": (64, int),
    "max_memory_mb": (512, int),
    "max_depth": (3, int),
    "max_events_per_run": (100, int),
    "max_enqueues_per_run": (10, int),
    # the journal of a run's sdk calls (run/replay.py, iota_scripts_sdk/journal.py)
    "journal_max_bytes": (256 * 1024, int),
    # the run queue (models/iota_script_queue.py)
    "queue_max_attempts": (1, int),
    "queue_company_concurrency": (4, int),
    "queue_claim_batch": (32, int),
    "queue_lease_margin_sec": (60.0, float),
    "queue_retry_base_sec": (10.0, float),
    "queue_retry_max_sec": (3600.0, float),
    # schedules (models/iota_script_schedule.py)
    "schedule_grace_sec": (300.0, float),
    # the event bus (models/iota_script_delivery.py)
    "event_max_hops": (5, int),
    "event_quota_per_minute": (1000, int),
    # governance units: the budget of one run, per trigger type (run/units.py)
    "units_budget_manual": (20000, int),
    "units_budget_automation": (10000, int),
    "units_budget_cron": (50000, int),
    "units_budget_endpoint": (10000, int),
    "units_budget_event": (20000, int),
    "units_budget_script": (20000, int),
    # /iota/health/ready (controllers/health.py)
    "health_queue_lag_sec": (300.0, float),
}

#: key -> what it means, one line of Markdown. "(restart)" marks engine keys.
#: docs/configuration.md is generated from DEFAULTS and DOCS by
#: ``scripts/settings-doc``; a test fails when it is stale or a key has no line.
DOCS: dict[str, str] = {
    "enabled": "site switch, environment or configuration file only; 0 stops every run and syntax check",
    "runners": "site; V8 runner processes per Odoo process (restart)",
    "max_waiting": "site; runs that may wait for a runner (restart)",
    "runner_memory_mb": "site; memory cap of each runner: V8 heaps and ArrayBuffers (restart)",
    "redis_url": "site; Redis for `sdk.cache`; none: an in-process store (restart)",
    "http_proxy": "site; the one egress proxy for `sdk.http` (restart)",
    "cache_quota_bytes": "site; `sdk.cache` bytes of one company, all its run-as users together (restart)",
    "cache_quota_keys": "site; `sdk.cache` keys of one company, all its run-as users together (restart)",
    "ratelimit_redis_url": "site; the endpoints' rate limiter's Redis (default: `redis_url`): its own server or database number keeps a full cache from stopping it",
    "metrics_token": "site; the bearer token of `/iota/metrics` (Prometheus); none: no metrics are collected and the route answers 404. See [metrics.md](metrics.md)",
    "metrics_dir": "site; where Odoo's workers write their metrics (prometheus-client multiprocess mode); none: `PROMETHEUS_MULTIPROC_DIR` if set, else `<data_dir>/iota_scripts_metrics`, one folder per server start",
    "tracing_endpoint": "site; the OTLP/HTTP traces URL (e.g. `http://collector:4318/v1/traces`); none: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`; none of them: no tracing, at no cost. See [operations/tracing.md](operations/tracing.md) (restart)",
    "tracing_service_name": "site; the traces' `service.name`; none: `OTEL_SERVICE_NAME`, else `odoo-iota-scripts` (restart)",
    "sentry_dsn": "site; the Sentry DSN that script and module failures are sent to (else the standard `SENTRY_DSN` variable); none: nothing is sent and `sentry-sdk` is not even imported. See [operations/sentry.md](operations/sentry.md)",
    "sentry_environment": "site; the Sentry environment of the events (`production`, `staging`...)",
    "log_format": "site; `json`: the module's log lines (`odoo.addons.iota_scripts.*`, `iota_scripts_sdk.*`) are written as JSON, one object a line, with trace id, company, script, version and execution; `text`: Odoo's format (restart). See [operations/json-logs.md](operations/json-logs.md)",
    "npm_registry": "site; the npm registry that approvals resolve and fetch packages from (runs never reach it). See [guide/npm-packages.md](guide/npm-packages.md)",
    "esbuild": "site; the esbuild executable that bundles approved packages; none: `node_modules/.bin/esbuild` of the checkout (`npm ci`), else `esbuild` on `PATH`",
    "secret_keys": "site; the Fernet keys that encrypt `sdk.secrets` values, comma-separated: the first encrypts, every one decrypts (rotation: put the new key first, then *Rotate keys*). Keep it outside the database and back it up: a lost key makes its secrets unreadable. See [capabilities and secrets](guide/capabilities-and-secrets.md)",
    "signing_key": "site; the Ed25519 private key (base64, from `iota-scripts keygen`) that signs approved versions; none: approvals are not signed, and a company that requires signed versions cannot approve. See [operations/governance.md](operations/governance.md)",
    "max_source_bytes": "largest script source accepted at save",
    "retention_days": "executions older than this are deleted daily (0 keeps all)",
    "default_timeout_sec": "timeout of a script that sets none (seconds)",
    "max_timeout_sec": "the largest timeout a script may set (seconds)",
    "default_memory_mb": "V8 heap of a script that sets none (MB)",
    "max_memory_mb": "the largest V8 heap a script may set (MB)",
    "max_depth": "generations of scripts triggering scripts in one transaction",
    "max_events_per_run": "`sdk.events.emit` calls per run",
    "max_enqueues_per_run": "`sdk.scripts.enqueue` calls per run",
    "journal_max_bytes": "the journal of a recorded run (its sdk calls with arguments and answers, for replay) keeps this many bytes of JSON; later calls keep their timing only and the run cannot be replayed; 0: no journal",
    "queue_max_attempts": "claims of a background run (retries included) unless the caller says otherwise",
    "queue_company_concurrency": "workers running one company's runs at once (each runs one at a time)",
    "queue_claim_batch": "runs a worker claims at once; it runs them one after the other and commits them in groups of about 0.5 s",
    "queue_lease_margin_sec": "a claimed run's lease: its timeout plus this margin",
    "queue_retry_base_sec": "retry backoff base: base x 2^(attempt-1), capped, with jitter in [delay/2, delay]",
    "queue_retry_max_sec": "the cap of the retry backoff",
    "schedule_grace_sec": 'a schedule slot found later than this is "missed"',
    "event_max_hops": "events emitted by handlers, hop after hop, before the loop guard stops them",
    "units_budget_manual": "governance units one run by hand may use; 0: no run budget. See [operations/governance.md](operations/governance.md)",
    "units_budget_automation": "governance units one run of an automation rule or server action may use; 0: no run budget",
    "units_budget_cron": "governance units one scheduled run may use; 0: no run budget",
    "units_budget_endpoint": "governance units one endpoint call may use; 0: no run budget",
    "units_budget_event": "governance units one event delivery may use; 0: no run budget",
    "units_budget_script": "governance units one run queued by `sdk.scripts.enqueue` may use; 0: no run budget",
    "health_queue_lag_sec": "`/iota/health/ready` fails its `queue` check when the oldest due queued run has waited this long (seconds). See [health](operations/health.md)",
    "event_quota_per_minute": "script and record events of one company dispatched per minute (lifecycle events never count); the rest wait and go later, never to Dead letters; 0: no quota",
}


def settings_markdown() -> str:
    """docs/configuration.md: the order of sources, then one row per key of DEFAULTS."""
    rows = []
    for key, (default, kind) in DEFAULTS.items():
        if default is None:
            shown = "none"
        elif kind is bool:
            shown = "1" if default else "0"
        else:
            shown = f"{default:g}" if kind is float else str(default)
        rows.append(f"| `{key}` | {shown} | {DOCS.get(key, '')} |")
    return "\n".join(
        [
            "# Configuration",
            "",
            "<!-- generated by scripts/settings-doc from iota_scripts/tools/settings.py: do not edit -->",
            "",
            "Settings are read in this order: the environment variable",
            "`IOTA_SCRIPTS_<KEY>`, then `<key> = ...` in the `[iota_scripts]` section of",
            "the Odoo configuration file, then the system parameter `iota_scripts.<key>`",
            '(Settings > IOTA Scripts), then the default. "Restart" marks settings read',
            "when a worker starts its engine. **Site** keys skip the system parameter:",
            "one Odoo process serves every database of the server, so its engine is",
            "configured by the environment or the configuration file only, never by",
            "whichever database runs a script first.",
            "",
            "| key | default | meaning |",
            "| --- | --- | --- |",
            *rows,
            "",
        ]
    )


#: Keys that never come from the database (see "Site keys" above).
SITE_ONLY = frozenset(
    {
        "enabled",
        "runners",
        "max_waiting",
        "runner_memory_mb",
        "redis_url",
        "http_proxy",
        "cache_quota_bytes",
        "cache_quota_keys",
        "ratelimit_redis_url",
        # one scrape shows every database of the server (the runner pool is
        # the process's): no database may read it, or choose where it is written
        "metrics_token",
        "metrics_dir",
        # one exporter per process, for every database it serves
        "tracing_endpoint",
        "tracing_service_name",
        # one client and one log format per process, for every database
        "sentry_dsn",
        "sentry_environment",
        "log_format",
        # where the server fetches code from, and what it executes to bundle it
        "npm_registry",
        "esbuild",
        # the secrets' keys live outside the database, or they protect nothing
        "secret_keys",
        # whoever writes the database must not be able to sign what they wrote
        "signing_key",
    }
)

#: The engine refuses sources above this whatever a database says.
ENGINE_MAX_SOURCE_BYTES = 4 * 1024 * 1024

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _cast(key: str, value: Any) -> Any:
    default, kind = DEFAULTS[key]
    if value is None:
        return default
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        _logger.info("iota_scripts: %s=%r is not a boolean; using %r", key, value, default)
        return default
    if kind is str:
        text = str(value).strip()
        return text or default
    try:
        return kind(value)
    except (TypeError, ValueError):
        _logger.info("iota_scripts: %s=%r is not a number; using %r", key, value, default)
        return default


def get_setting(env: Any, key: str) -> Any:
    """The value of ``key`` following the documented order (``env`` may be None)."""
    if key not in DEFAULTS:
        raise KeyError(key)
    value = os.environ.get(f"IOTA_SCRIPTS_{key.upper()}")
    if value is None:
        value = config.misc.get("iota_scripts", {}).get(key)
    if value is None and env is not None and key not in SITE_ONLY:
        # _get_param: ormcached, no access check (get_param would need sudo(),
        # a new environment on each call of the run path)
        param = cached_call(env["ir.config_parameter"], "_get_param", f"iota_scripts.{key}")
        if param not in (None, False, ""):
            value = param
    return _cast(key, value)


def setting_source(key: str) -> str | None:
    """Where a site-level override of ``key`` comes from, if any (for the settings page)."""
    if os.environ.get(f"IOTA_SCRIPTS_{key.upper()}") is not None:
        return f"environment variable IOTA_SCRIPTS_{key.upper()}"
    if config.misc.get("iota_scripts", {}).get(key) is not None:
        return "[iota_scripts] section of the configuration file"
    return None


def ratelimit_redis_url() -> str | None:
    """The rate limiter's Redis: ``ratelimit_redis_url``, else ``redis_url`` (site keys)."""
    return get_setting(None, "ratelimit_redis_url") or get_setting(None, "redis_url")


def scripts_enabled() -> bool:
    """The site switch ``IOTA_SCRIPTS_ENABLED`` (environment, then configuration file)."""
    return bool(get_setting(None, "enabled"))


_engine_lock = threading.Lock()
_engine: Any = None
_engine_pid: int | None = None


def get_engine(env: Any) -> Any:
    """The engine of this process, created on first use from the settings.

    The engine is shared by every database served by the process; its settings
    are site keys: the environment, then the configuration file, never a
    database (``env`` is unused and kept for the callers).
    """
    global _engine, _engine_pid
    if _engine is not None and _engine_pid == os.getpid():
        return _engine
    from dataclasses import fields as dataclass_fields

    from iota_scripts_sdk import EngineConfig
    from iota_scripts_sdk import get_engine as sdk_get_engine

    with _engine_lock:
        if _engine is not None and _engine_pid == os.getpid():
            return _engine
        values = {
            "runners": max(1, get_setting(None, "runners")),
            "max_waiting": max(1, get_setting(None, "max_waiting")),
            "runner_memory_mb": max(256, get_setting(None, "runner_memory_mb")),
            "max_source_bytes": ENGINE_MAX_SOURCE_BYTES,
            "redis_url": get_setting(None, "redis_url"),
            "http_proxy_url": get_setting(None, "http_proxy"),
            "cache_quota_bytes": max(1, get_setting(None, "cache_quota_bytes")),
            "cache_quota_keys": max(1, get_setting(None, "cache_quota_keys")),
        }
        known = {f.name for f in dataclass_fields(EngineConfig)}
        for key in sorted(set(values) - known):
            if values[key] is not None:
                _logger.warning("iota_scripts: this engine has no setting %s; ignoring it", key)
        cfg = EngineConfig(**{k: v for k, v in values.items() if k in known})
        # get_engine() keeps the first config of the process and ignores
        # later ones: the pool is process-wide by design.
        _engine = sdk_get_engine(cfg)
        _engine_pid = os.getpid()
        from .observability import engine_observer

        # runner counts, sdk calls and their spans (idle while no metrics_token
        # and no traces endpoint are set), runner crashes to Sentry (idle while
        # no DSN is set)
        _engine.set_observer(engine_observer())
        return _engine


def restart_engine() -> None:
    """Drops this process's engine; the next run makes one from the current settings.

    For the engine keys ("restart" in docs/configuration.md) without restarting Odoo:
    tests pointing the addon at another Redis, for instance. The old
    engine's runners end when their runs do (``iota_scripts_sdk.get_engine``
    closes an engine whose config changed).
    """
    global _engine, _engine_pid
    with _engine_lock:
        _engine = None
        _engine_pid = None
