"""The operator's side of IOTA Scripts (issue 11).

* ``metrics.py``: the Prometheus series and the calls that feed them;
* ``metrics_store.py``: prometheus-client's multiprocess directory, shared by
  Odoo's workers (where it is, made lazily per process, dead workers swept);
* ``health.py``: the checks of ``/iota/health/ready``;
* ``sentry.py``: script and module failures to Sentry; ``sentry_events.py``
  builds and scrubs their events (no Odoo);
* ``json_logs.py``: the module's log lines as JSON, with the run's context;
* ``tracing.py``: OpenTelemetry spans of endpoint calls, runs and sdk calls,
  and the W3C trace context carried through the queue, events and ``sdk.http``.
"""

from __future__ import annotations

from typing import Any


def engine_observer() -> Any:
    """The engine's one observer: metrics, Sentry and traces (each idle while off)."""
    from iota_scripts_sdk import EngineObserver

    from .metrics import ENGINE_OBSERVER as METRICS
    from .sentry import ENGINE_OBSERVER as SENTRY
    from .tracing import ENGINE_TRACER as TRACING

    class _Both(EngineObserver):
        def runners_changed(self, alive: int, busy: int) -> None:
            METRICS.runners_changed(alive, busy)

        def runner_started(self) -> None:
            METRICS.runner_started()

        def runner_ended(self, reason: str) -> None:
            METRICS.runner_ended(reason)
            SENTRY.runner_ended(reason)

        def sdk_call(self, namespace: str, outcome: str) -> None:
            METRICS.sdk_call(namespace, outcome)

        def sdk_call_begin(self, name: str, args: list[Any]) -> Any:
            return TRACING.sdk_call_begin(name, args)

        def sdk_call_end(self, token: Any, outcome: str, value: Any) -> None:
            TRACING.sdk_call_end(token, outcome, value)

        def trace_headers(self) -> Any:
            return TRACING.trace_headers()

    return _Both()
