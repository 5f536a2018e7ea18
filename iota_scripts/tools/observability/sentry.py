"""Error tracking with Sentry (``sentry-sdk``): script failures and module failures.

What, and when
--------------
* :func:`script_failed`: called by the run path (``run/record.py``) for each
  run that ends ``failed`` or ``timed_out``; the event carries the script's
  JavaScript stack and is fingerprinted by database, company, script key,
  version and error code (``sentry_events.script_failure_event``).
* :func:`module_failure`: the module itself failed; sent with the host's
  Python stack: a queue worker's run raised, a worker died holding runs
  (their lease expired), the engine raised; and, from the engine's observer
  (:data:`ENGINE_OBSERVER`), a runner that crashed during a run, and a
  crash loop (:data:`CRASH_LOOP_COUNT` crashes within
  :data:`CRASH_LOOP_WINDOW_SEC`, announced at most once a window).

Configuration: the DSN is a site setting, ``sentry_dsn``
(``IOTA_SCRIPTS_SENTRY_DSN`` or the ``[iota_scripts]`` section), else the
standard ``SENTRY_DSN`` variable; ``sentry_environment`` names the
environment. No DSN: ``sentry_sdk`` is never imported and each call is one
dictionary lookup.

The client is our own (``sentry_sdk.Client``), never the global one that
``sentry_sdk.init`` sets: another module of the server may use Sentry for
its own errors, and Odoo's other errors are not ours to send. It has no
integration (no logging, no excepthook, no breadcrumbs), no local
variables, ``send_default_pii=False`` and ``sentry_events.scrub`` as
``before_send``. It is made lazily in each process (Odoo forks workers: a
client made before the fork would have no sending thread in the child),
and again when the DSN changes. Sending is the client's background thread:
the caller only queues the event.

Transactions: an event is queued when the failure happens, not after commit;
a transaction that Odoo retries (serialization failure) runs its scripts
again and may send the same failure twice, into the same issue.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import Any

from iota_scripts_sdk import EngineObserver

from ..settings import get_setting
from . import sentry_events

_logger = logging.getLogger(__name__)

#: A crash loop: this many runner crashes within the window (seconds).
CRASH_LOOP_COUNT = 3
CRASH_LOOP_WINDOW_SEC = 60.0

_lock = threading.Lock()
_client: Any = None
_client_key: tuple[int, str] | None = None


def dsn() -> str | None:
    """The DSN: the site setting ``sentry_dsn``, else ``SENTRY_DSN``; None: off."""
    return get_setting(None, "sentry_dsn") or os.environ.get("SENTRY_DSN") or None


def enabled() -> bool:
    return bool(dsn())


def _release() -> str:
    """``iota-scripts@<the addon's version>``: the release of the events."""
    from odoo.modules.module import get_manifest

    return f"iota-scripts@{(get_manifest('iota_scripts') or {}).get('version', 'unknown')}"


def client() -> Any:
    """This process's client, made on first use; None without a DSN."""
    global _client, _client_key
    current = dsn()
    if not current:
        return None
    key = (os.getpid(), current)
    if _client is not None and _client_key == key:
        return _client
    with _lock:
        if _client is None or _client_key != key:
            import sentry_sdk

            _client = sentry_sdk.Client(
                dsn=current,
                environment=get_setting(None, "sentry_environment"),
                release=_release(),
                default_integrations=False,
                integrations=[],
                with_locals=False,
                send_default_pii=False,
                request_bodies="never",
                max_breadcrumbs=0,
                auto_session_tracking=False,
                send_client_reports=False,
                before_send=sentry_events.scrub,
            )
            _client_key = key
            # no AtexitIntegration (it flushes the global client only): what
            # is queued when the worker exits gets up to 2 s to leave
            atexit.register(_client.flush, 2.0)
    return _client


def flush(timeout_sec: float = 5.0) -> None:
    """Waits until the queued events are sent (tests, shutdown)."""
    current = _client
    if current is not None:
        current.flush(timeout=timeout_sec)


def _capture(event: dict[str, Any], hint: dict[str, Any] | None = None) -> str | None:
    """Queues ``event``; never raises (error tracking never breaks what it watches)."""
    try:
        current = client()
        if current is None:
            return None
        return current.capture_event(event, hint=hint or {})
    except Exception:
        _logger.exception("iota_scripts sentry: an event could not be queued")
        return None


def script_failed(
    *,
    db: str,
    company_id: int,
    script_key: str,
    version: int,
    execution_id: int | None,
    trigger: str,
    error: Any,
    secrets_from: tuple[Any, ...] = (),
) -> str | None:
    """A run failed with ``error`` (a ``ScriptError``): one event with the script's
    stack. ``secrets_from`` (the run's input, its request) gives the values
    under secret-looking keys that are replaced wherever they appear."""
    if not enabled():
        return None
    event = sentry_events.script_failure_event(
        db=db,
        company_id=company_id,
        script_key=script_key,
        version=version,
        execution_id=execution_id,
        trigger=trigger,
        code=error.code,
        message=error.message,
        stack=error.stack,
        line=error.line,
        column=error.column,
    )
    return _capture(event, {"iota_secrets": sentry_events.secret_values(*secrets_from)})


def module_failure(
    kind: str, message: str, *, exc_info: Any = None, tags: dict[str, str] | None = None
) -> str | None:
    """The module failed (``kind``: ``runner_crashed``, ``runner_crash_loop``,
    ``worker_failed``, ``worker_lost``, ``engine_failed``): one event with the
    host's stack: the exception's (``exc_info``, default the one being
    handled) or, outside an ``except``, the current thread's."""
    if not enabled():
        return None
    try:
        from sentry_sdk.utils import current_stacktrace, event_from_exception

        if exc_info is None and sys.exc_info()[0] is not None:
            exc_info = sys.exc_info()
        if exc_info is not None:
            event, hint = event_from_exception(
                exc_info,
                client_options={"with_locals": False},
                mechanism={"type": "iota_scripts", "handled": True},
            )
            event["message"] = message
        else:
            hint = {}
            event = {
                "level": "error",
                "exception": {
                    "values": [
                        {
                            "type": kind,
                            "value": message,
                            "mechanism": {"type": "iota_scripts", "handled": True},
                            "stacktrace": current_stacktrace(with_locals=False),
                        }
                    ]
                },
            }
        event.update(
            platform="python",
            logger="iota_scripts.module",
            fingerprint=sentry_events.module_failure_fingerprint(kind),
            tags={"iota.failure": kind, **(tags or {})},
        )
        if kind == "runner_crash_loop":
            event["level"] = "fatal"
    except Exception:
        _logger.exception("iota_scripts sentry: the %s event could not be built", kind)
        return None
    return _capture(event, hint)


class _SentryObserver(EngineObserver):
    """Runner crashes become module failures; so does a crash loop."""

    def __init__(self) -> None:
        self._crashes: deque[float] = deque()
        self._loop_announced = 0.0
        self._lock = threading.Lock()

    def runner_ended(self, reason: str) -> None:
        if reason != "crashed" or not enabled():
            return
        now = time.monotonic()
        with self._lock:
            self._crashes.append(now)
            while self._crashes and self._crashes[0] < now - CRASH_LOOP_WINDOW_SEC:
                self._crashes.popleft()
            loop = len(self._crashes) >= CRASH_LOOP_COUNT and (
                now - self._loop_announced >= CRASH_LOOP_WINDOW_SEC
            )
            if loop:
                self._loop_announced = now
            count = len(self._crashes)
        module_failure("runner_crashed", "a V8 runner process died during a run")
        if loop:
            module_failure(
                "runner_crash_loop",
                f"{count} V8 runner processes died within {CRASH_LOOP_WINDOW_SEC:g} s",
            )


ENGINE_OBSERVER = _SentryObserver()
