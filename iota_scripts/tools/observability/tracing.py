"""OpenTelemetry traces of IOTA Scripts: runs, their sdk calls, and W3C propagation.

What is traced (names and attributes are listed in ``docs/operations/tracing.md``)
---------------------------------------------------------------------------------
* an endpoint call: a SERVER span (:func:`endpoint_span`, ``controllers/main.py``),
  the child of the caller's ``traceparent`` header when it sends one;
* every execution: a span (:func:`run_span`, ``run/pipeline.py``) under what is
  current (the endpoint's span), or under the context stored with a queued run;
* every sdk call of a run: a child span, made by the engine's observer
  (:class:`EngineTracing`, called by the engine on the run's thread);
  ``sdk.http`` requests carry the W3C ``traceparent``/``tracestate`` of theirs.

Propagation through the database: ``sdk.scripts.enqueue`` and
``sdk.events.emit`` run inside their sdk span; the queued execution and the
event store :func:`carrier` (``trace_parent``, ``trace_state``), deliveries
copy their event's, and the worker resumes the trace when it runs the queued
execution (:func:`run_span` reads ``req.queued``).

Configuration (site keys, or the standard ``OTEL_*`` variables)
----------------------------------------------------------------
Tracing is on when a traces endpoint is known: the ``tracing_endpoint``
setting (``IOTA_SCRIPTS_TRACING_ENDPOINT`` or the ``[iota_scripts]`` section),
else ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, else ``OTEL_EXPORTER_OTLP_ENDPOINT``
(``/v1/traces`` appended by the exporter); ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none`` turn it off. The exporter is OTLP/HTTP protobuf
(``opentelemetry-exporter-otlp-proto-http``), which reads its own
``OTEL_EXPORTER_OTLP_*`` options (headers, timeout, compression, TLS); the
sampler comes from ``OTEL_TRACES_SAMPLER``/``_ARG`` (default: parent-based,
always on), the batch from ``OTEL_BSP_*``.

When off, nothing is imported from OpenTelemetry, no provider is made, and
each hook costs one check of a module global (the benchmark
``bench/endpoints.py --observability`` measures it).

Processes and threads: the provider (and its BatchSpanProcessor's thread) is
made on first use in each process, never at import, so each forked Odoo
worker has its own; it is flushed and shut down at exit (``atexit``). It is
not installed as OpenTelemetry's global provider: other instrumentation of
the server keeps its own. The current span lives in OpenTelemetry's context
(a contextvar): per thread, which is where a run and its sdk calls are.

:func:`current_trace_id` gives the trace id of the current span to log lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from iota_scripts_sdk import EngineObserver

from ..settings import get_setting

__all__ = [
    "ENGINE_TRACER",
    "EngineTracing",
    "carrier",
    "configured_endpoint",
    "current_trace_id",
    "enabled",
    "endpoint_span",
    "run_ended",
    "run_span",
]

_logger = logging.getLogger(__name__)

#: A W3C traceparent (version 00 layout; later versions may append fields).
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[\x21-\x7e]*)?")
#: Stored tracestate values are cut here (the W3C limit is 32 members of ~256).
MAX_TRACESTATE_CHARS = 512
#: What a script sends that may name a span (a model, an event type, a key).
_WORD = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")

_lock = threading.Lock()
#: whether this process decided (on its first traced call); the tracer, or None: off
_decided = False
_tracer: Any = None
_provider: Any = None


def _forget() -> None:
    """In a forked child: decide again, with a provider (and batch thread) of its own."""
    global _decided, _tracer, _provider
    _decided, _tracer, _provider = False, None, None


# Registering the hook is all that happens at import (cheaper than a getpid()
# per call, which is a system call since glibc 2.25).
os.register_at_fork(after_in_child=_forget)


def _traces_endpoint() -> str | None:
    """The configured traces endpoint: ours, else the OTEL_* ones (None: off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    return (
        get_setting(None, "tracing_endpoint")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or None
    )


def configured_endpoint() -> str | None:
    """Where this server's spans go (the full traces URL), for the Settings page;
    None when tracing is off."""
    ours_or_traces = get_setting(None, "tracing_endpoint") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    endpoint = _traces_endpoint()
    if endpoint and not ours_or_traces:
        return endpoint.rstrip("/") + "/v1/traces"  # as the exporter appends it
    return endpoint


def tracer() -> Any:
    """This process's tracer, made on first use; None when tracing is off."""
    return _tracer if _decided else _setup()


def _setup() -> Any:
    global _decided, _tracer
    with _lock:
        if _decided:
            return _tracer
        result = None
        if _traces_endpoint():
            try:
                result = _make_tracer()
            except Exception:
                # tracing never stops runs: a broken configuration is logged, once
                _logger.exception("iota_scripts tracing: could not set up the exporter; off")
        _tracer, _decided = result, True
        return result


def _make_tracer() -> Any:
    global _provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    ours = get_setting(None, "tracing_endpoint")
    name = (
        get_setting(None, "tracing_service_name")
        or os.environ.get("OTEL_SERVICE_NAME")
        or "odoo-iota-scripts"
    )
    resource = Resource.create({"service.name": name, "process.pid": os.getpid()})
    # shutdown_on_exit: atexit flushes the batch (Odoo's workers leave by sys.exit)
    provider = TracerProvider(resource=resource, shutdown_on_exit=True)
    # endpoint=None: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=ours or None)))
    _provider = provider
    _logger.info("iota_scripts tracing: exporting spans of process %s", os.getpid())
    return provider.get_tracer("iota_scripts")


def enabled() -> bool:
    """Whether this process traces (decided on first use, per process)."""
    return tracer() is not None


def reset_for_tests() -> None:
    """Flushes and forgets this process's provider; the next use decides again."""
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _forget()


def flush(timeout_sec: float = 10.0) -> bool:
    """Exports the spans waiting in this process's batch now (True: done)."""
    provider = _provider
    return provider.force_flush(int(timeout_sec * 1000)) if provider is not None else True


# ---- the current trace --------------------------------------------------------------
def current_trace_id() -> str | None:
    """The trace id (32 hex digits) of the current span, for log lines; None without one."""
    if tracer() is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def carrier() -> tuple[str | bool, str | bool]:
    """``(traceparent, tracestate)`` of the current span, to store with a queued
    run or an event (``False`` each when there is none, or tracing is off)."""
    if tracer() is None:
        return False, False
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    headers: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(headers)
    return (
        headers.get("traceparent") or False,
        (headers.get("tracestate") or "")[:MAX_TRACESTATE_CHARS] or False,
    )


def _extract(traceparent: Any, tracestate: Any = None) -> Any:
    """The context of a stored or received ``traceparent`` (None if it is not one)."""
    if not isinstance(traceparent, str) or not TRACEPARENT.fullmatch(traceparent.strip()):
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    headers = {"traceparent": traceparent.strip()}
    if isinstance(tracestate, str) and tracestate:
        headers["tracestate"] = tracestate[:MAX_TRACESTATE_CHARS]
    return TraceContextTextMapPropagator().extract(headers)


# ---- spans of the run path ----------------------------------------------------------
class _Answer:
    """What :func:`endpoint_span` yields: ``answered(status)`` ends it with the status."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def resolved(self, method: str, version: str, segments: Any, endpoint_id: int) -> None:
        """The endpoint is known: the span is named after its route template
        (``segments``: its parsed path, parameters as ``{name}``)."""
        if self.span is not None:
            route = f"/iota/api/{version}/" + "/".join(segments)
            self.span.update_name(f"{method} {route}")
            self.span.set_attribute("http.route", route)
            self.span.set_attribute("iota_scripts.endpoint.id", endpoint_id)

    def answered(self, status: int) -> None:
        if self.span is not None:
            from opentelemetry.trace import StatusCode

            self.span.set_attribute("http.response.status_code", int(status))
            if status >= 500:
                self.span.set_attribute("error.type", str(int(status)))
                self.span.set_status(StatusCode.ERROR)


_NO_ANSWER = _Answer(None)


class _Off:
    """The context manager of a span not made (tracing off): enters, exits, nothing else."""

    __slots__ = ()

    def __enter__(self) -> _Answer:
        return _NO_ANSWER

    def __exit__(self, *exc: object) -> bool:
        return False


_OFF = _Off()


def endpoint_span(hreq: Any) -> contextlib.AbstractContextManager[_Answer]:
    """A SERVER span around one gateway request ``hreq`` (Werkzeug's), the child
    of its ``traceparent`` (W3C) when it sends a valid one; yields an :class:`_Answer`."""
    tracer_ = tracer()
    if tracer_ is None:
        return _OFF
    return _endpoint_span(tracer_, hreq.method, hreq.path, hreq.headers)


@contextlib.contextmanager
def _endpoint_span(
    tracer_: Any, method: str, path: str, headers: Mapping[str, str]
) -> Iterator[_Answer]:
    from opentelemetry.trace import SpanKind

    parent = _extract(headers.get("traceparent"), headers.get("tracestate"))
    attributes = {"http.request.method": method, "url.path": path[:2048]}
    with tracer_.start_as_current_span(
        f"{method} /iota/api", context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield _Answer(span)


def run_span(req: Any) -> contextlib.AbstractContextManager[Any]:
    """The span of one execution of ``req`` (``run/request.py``): under the
    context stored with its queued execution, else under the current span."""
    tracer_ = tracer()
    return _OFF if tracer_ is None else _run_span(tracer_, req)


@contextlib.contextmanager
def _run_span(tracer_: Any, req: Any) -> Iterator[None]:
    from opentelemetry.trace import SpanKind

    script = req.script.sudo()
    parent, kind = None, SpanKind.INTERNAL
    attributes: dict[str, Any] = {
        "iota_scripts.script.key": script.key or "",
        "iota_scripts.script.id": script.id,
        "iota_scripts.company.id": script.company_id.id,
        "iota_scripts.trigger": req.trigger["type"],
        "db.namespace": script.env.cr.dbname,
    }
    if req.queued:
        queued = req.queued.sudo()
        parent, kind = _extract(queued.trace_parent, queued.trace_state), SpanKind.CONSUMER
        attributes["iota_scripts.execution.id"] = queued.id
    with tracer_.start_as_current_span(
        f"iota_scripts.run {script.key}", context=parent, kind=kind, attributes=attributes
    ):
        yield


def run_ended(started: Any, state: str, result: Any) -> None:
    """Sets the outcome of the current run's span (``run/record.py``)."""
    if tracer() is None:
        return
    from opentelemetry import trace
    from opentelemetry.trace import StatusCode

    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("iota_scripts.execution.id", started.execution.id or 0)
    span.set_attribute("iota_scripts.version", started.version.number)
    span.set_attribute("iota_scripts.state", state)
    error = getattr(result, "error", None) if result is not None else None
    if state != "succeeded":
        code = error.code if error is not None else state
        span.set_attribute("error.type", code)
        span.set_status(StatusCode.ERROR, code)


# ---- sdk calls: the engine's observer ----------------------------------------------------
def _word(value: Any) -> str | None:
    return value if isinstance(value, str) and _WORD.fullmatch(value) else None


def _safe_url(url: str) -> tuple[str, str | None, int | None, str]:
    """``(url.full, host, port, scheme)`` without userinfo, fragment or query values."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    netloc = (f"[{host}]" if host and ":" in host else host or "") + (f":{port}" if port else "")
    query = "&".join(
        f"{pair.split('=', 1)[0]}=REDACTED" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, "")), host, port, parts.scheme


#: sdk calls that send a message (a span of kind PRODUCER): name -> operation name.
_PRODUCER_CALLS = {"events.emit": "emit", "scripts.enqueue": "enqueue"}


def _sdk_span_shape(name: str, args: list[Any]) -> tuple[str, Any, dict[str, Any]]:
    """``(span name, kind, attributes)`` of an sdk call ``name`` with ``args``."""
    from opentelemetry.trace import SpanKind

    namespace, _, operation = name.partition(".")
    attributes: dict[str, Any] = {"iota_scripts.sdk.function": name}
    first = args[0] if args else None
    if namespace == "db":
        model = _word(first) or "?"
        attributes.update(
            {
                "db.system": "postgresql",
                "db.operation": operation,
                "db.operation.name": operation,
                "db.collection.name": model,
            }
        )
        if operation == "call" and (method := _word(args[1] if len(args) > 1 else None)):
            attributes["iota_scripts.sdk.method"] = method
        return f"db.{operation} {model}", SpanKind.CLIENT, attributes
    if name == "http.fetch":
        init = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        method = init.get("method") if isinstance(init.get("method"), str) else "GET"
        method = method.upper() if _word(method) else "_OTHER"
        attributes["http.request.method"] = method
        host = "?"
        if isinstance(first, str):
            with contextlib.suppress(ValueError):
                full, parsed_host, port, scheme = _safe_url(first[:4096])
                host = parsed_host or "?"
                attributes.update({"url.full": full, "server.address": host, "url.scheme": scheme})
                if port:
                    attributes["server.port"] = port
        return f"http {method} {host}", SpanKind.CLIENT, attributes
    if name in _PRODUCER_CALLS:
        destination = _word(first) or "?"  # the event type, or the enqueued script's key
        attributes.update(
            {
                "messaging.system": "iota_scripts",
                "messaging.operation.type": "send",
                "messaging.operation.name": _PRODUCER_CALLS[name],
                "messaging.destination.name": destination,
            }
        )
        return f"{name} {destination}", SpanKind.PRODUCER, attributes
    if namespace == "cache":
        if get_setting(None, "redis_url"):
            attributes["db.system"] = "redis"
        attributes["db.operation.name"] = operation
        return name, SpanKind.CLIENT, attributes
    return f"sdk {name}", SpanKind.INTERNAL, attributes


class _CallSpan:
    __slots__ = ("name", "scope", "span")

    def __init__(self, name: str, span: Any, scope: Any) -> None:
        self.name, self.span, self.scope = name, span, scope


class EngineTracing(EngineObserver):
    """The engine's tracer: a child span per sdk call, made current while it is
    served (so what the host function stores or sends names it)."""

    def sdk_call_begin(self, name: str, args: list[Any]) -> Any:
        tracer_ = tracer()
        if tracer_ is None:
            return None
        from opentelemetry import trace

        span_name, kind, attributes = _sdk_span_shape(name, args)
        span = tracer_.start_span(span_name, kind=kind, attributes=attributes)
        scope = trace.use_span(span, end_on_exit=False)
        scope.__enter__()
        return _CallSpan(name, span, scope)

    def sdk_call_end(self, token: Any, outcome: str, value: Any) -> None:
        if not isinstance(token, _CallSpan):
            return
        from opentelemetry.trace import StatusCode

        span = token.span
        try:
            if token.name == "http.fetch" and isinstance(value, dict):
                status = value.get("status")
                if isinstance(status, int):
                    span.set_attribute("http.response.status_code", status)
                    if status >= 400:
                        span.set_attribute("error.type", str(status))
                        span.set_status(StatusCode.ERROR)
            elif token.name == "events.emit" and isinstance(value, str):
                span.set_attribute("messaging.message.id", value)
            if outcome != "ok":
                span.set_attribute("error.type", outcome)
                span.set_status(StatusCode.ERROR, outcome)
        finally:
            token.scope.__exit__(None, None, None)
            span.end()

    def trace_headers(self) -> Mapping[str, str]:
        if tracer() is None:
            return {}
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        headers: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(headers)
        return headers


#: The tracer the engine's observer delegates to (``observability/__init__.py``).
ENGINE_TRACER = EngineTracing()
