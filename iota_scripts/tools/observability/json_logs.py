"""The module's log lines as JSON (``python-json-logger``), with the run's context.

With the site setting ``log_format = json``, every line of the loggers
``odoo.addons.iota_scripts.*`` and ``iota_scripts_sdk.*`` is written as one
JSON object a line; Odoo's other lines keep Odoo's format. Each object holds::

    time, level, logger, message, pid, db,
    trace_id, company, script, version, execution,
    exc_info (when there is one)

``trace_id`` is the current OpenTelemetry span's trace id (32 hex digits)
when ``opentelemetry`` is installed and a span is recording, else null
(:func:`current_trace_id`). ``company``, ``script``, ``version`` and
``execution`` come from :data:`RUN`, a context variable that the run path
sets around one run (:func:`running`, in ``run/pipeline.py``); they are null
outside a run. The engine serves a run's sdk calls on the thread that called
``Engine.run``, so its lines carry the run too.

How: :func:`install` gives each handler of the root logger (Odoo's stderr,
log file or syslog handler) a formatter that writes our loggers' records as
JSON and hands the others to the handler's own formatter: the lines go where
Odoo's go, in the same order. It is idempotent; ``hooks._post_load`` calls it
when Odoo loads the module (a formatter holds no thread, socket or file, so
workers forked later share it safely).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

#: The run this thread (or task) is running: (company id, script key, version number, execution id).
RUN: contextvars.ContextVar[tuple[int, str, int, int | None] | None] = contextvars.ContextVar(
    "iota_scripts_run", default=None
)

#: The loggers whose lines become JSON.
PREFIXES = ("odoo.addons.iota_scripts", "iota_scripts_sdk")


@contextlib.contextmanager
def running(
    company_id: int, script_key: str, version: int, execution_id: int | None
) -> Iterator[None]:
    """Marks the lines logged inside as lines of this run."""
    token = RUN.set((company_id, script_key, version, execution_id))
    try:
        yield
    finally:
        RUN.reset(token)


def current_trace_id() -> str | None:
    """The current OpenTelemetry span's trace id, as 32 hex digits; None without
    OpenTelemetry or outside a valid span."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _json_formatter_class() -> type[logging.Formatter]:
    from pythonjsonlogger.json import JsonFormatter

    class RunJsonFormatter(JsonFormatter):
        """python-json-logger's formatter, plus the run's context and the trace id."""

        def add_fields(
            self,
            log_record: dict[str, Any],
            record: logging.LogRecord,
            message_dict: dict[str, Any],
        ) -> None:
            super().add_fields(log_record, record, message_dict)
            run = RUN.get()
            company, script, version, execution = run if run else (None, None, None, None)
            log_record.update(
                pid=os.getpid(),
                db=getattr(threading.current_thread(), "dbname", None),
                trace_id=current_trace_id(),
                company=company,
                script=script,
                version=version,
                execution=execution,
            )

    return RunJsonFormatter


def json_formatter() -> logging.Formatter:
    """The JSON formatter of our lines."""
    return _json_formatter_class()(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


class SplitFormatter(logging.Formatter):
    """Our loggers' records as JSON; every other record through ``other``."""

    def __init__(self, other: logging.Formatter | None) -> None:
        super().__init__()
        self.other = other or logging.Formatter()
        self.json = json_formatter()

    def format(self, record: logging.LogRecord) -> str:
        if record.name.startswith(PREFIXES):
            return self.json.format(record)
        return self.other.format(record)


def install(log_format: str, handlers: list[logging.Handler] | None = None) -> int:
    """With ``log_format == "json"``, gives ``handlers`` (default: the root
    logger's) the :class:`SplitFormatter`; returns how many it changed."""
    if (log_format or "").strip().lower() != "json":
        return 0
    changed = 0
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if isinstance(handler.formatter, SplitFormatter):
            continue
        if handler.formatter is None and handlers is None:
            continue  # e.g. Odoo's PostgreSQL handler: it stores fields, not lines
        handler.setFormatter(SplitFormatter(handler.formatter))
        changed += 1
    return changed
