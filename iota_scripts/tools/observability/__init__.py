"""The operator's side of IOTA Scripts (issue 11): metrics and traces.

* ``metrics.py``: the Prometheus series and the calls that feed them;
* ``metrics_store.py``: prometheus-client's multiprocess directory, shared by
  Odoo's workers (where it is, made lazily per process, dead workers swept);
* ``tracing.py``: OpenTelemetry spans of endpoint calls, runs and sdk calls,
  and the W3C trace context carried through the queue, events and ``sdk.http``
  (``current_trace_id()`` for log lines);
* ``engine_observer.py``: the engine's one observer, metrics and traces.
"""
