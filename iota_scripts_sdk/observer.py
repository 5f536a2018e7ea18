"""What the engine tells an observer: its runners and its sdk calls, for metrics and traces.

The engine knows things its host cannot see: how many runner processes are
alive and busy, why a runner ended, and every sdk call a script makes (the
built-in ``sdk.http`` and ``sdk.cache`` included). A host that wants metrics
passes an :class:`EngineObserver` to ``Engine.set_observer``; the engine has
no metrics library of its own (the Odoo addon feeds ``prometheus-client``), and
no tracing library either: a host that traces returns a token (its span) from
:meth:`EngineObserver.sdk_call_begin`, gets it back in ``sdk_call_end``, and
names the trace-context headers that ``sdk.http`` sends in between
(:meth:`EngineObserver.trace_headers`, the W3C ``traceparent``). Those three
are called on the run's thread, inside the run: a tracer's "current span"
there is the run's own.

Contract of every method:

* called on the thread that did the thing (a run's thread, the respawn
  thread), sometimes while the pool holds its lock: it must be quick and must
  not call back into the engine;
* what it raises is logged and ignored: an observer never breaks a run;
* its arguments come from a small fixed set (:data:`RUNNER_END_REASONS`, the
  namespaces of ``api.py`` plus ``"unknown"``, ``"ok"`` or an error code of
  ``errors.CODES``), never from what a script wrote, so they are safe as
  metric labels.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from .api import host_names
from .errors import CODES

__all__ = ["RUNNER_END_REASONS", "EngineObserver", "sdk_call_labels", "sdk_call_name"]

_logger = logging.getLogger(__name__)

#: Why a runner process ended while serving (each is replaced by a new one):
#: ``crashed`` it died by itself or broke the protocol during a run (V8
#: abort, killed by the OS, an internal error); ``limit`` it ended itself
#: after a run passed its timeout, CPU or memory cap; ``killed`` the host
#: killed it (the hard deadline, a cancelled run);
#: ``recycled`` it served ``recycle_after_runs`` runs or grew past
#: ``recycle_rss_mb``.
RUNNER_END_REASONS = ("crashed", "limit", "killed", "recycled")


class EngineObserver:
    """Subclass and override what you need; every method does nothing here."""

    def runners_changed(self, alive: int, busy: int) -> None:
        """The pool's runner counts changed: ``alive`` processes (running or
        starting), ``busy`` of them not idle (running a script, or starting)."""

    def runner_started(self) -> None:
        """A runner process started and said it is ready."""

    def runner_ended(self, reason: str) -> None:
        """A runner ended while serving, for ``reason`` (:data:`RUNNER_END_REASONS`)."""

    def sdk_call(self, namespace: str, outcome: str) -> None:
        """A script's sdk call was answered: ``namespace`` (``db``, ``http``, ...,
        or ``unknown``) and ``outcome`` (``ok`` or the error code)."""

    def sdk_call_begin(self, name: str, args: list[Any]) -> Any:
        """A script's sdk call ``name`` (a declared host name, or ``unknown``) is
        about to be served with ``args`` (what the script sent: untrusted JSON
        values). What this returns, unless None, is handed to
        :meth:`sdk_call_end` once the call is answered (a tracer returns the
        call's span, made current). The default: None, nothing to end."""
        return None

    def sdk_call_end(self, token: Any, outcome: str, value: Any) -> None:
        """The call that :meth:`sdk_call_begin` returned ``token`` for was
        answered: ``outcome`` (``ok`` or the error code) and ``value``, what
        the host function returned (None when it failed)."""

    def trace_headers(self) -> Mapping[str, str]:
        """Headers for the ``sdk.http`` request being sent now (between a
        begin and its end): the W3C ``traceparent`` and ``tracestate``, nothing
        else (other names are dropped). The default: none."""
        return {}


def sdk_call_labels(name: object, error_code: str | None) -> tuple[str, str]:
    """``(namespace, outcome)`` of a call of ``name`` that failed with
    ``error_code`` (None: it succeeded). A name the api does not declare (a
    hostile runner may send anything) is ``unknown``; a code outside
    ``CODES`` is ``internal_error``."""
    namespace = None
    if isinstance(name, str) and name in _host_names():
        namespace = name.split(".", 1)[0]
    outcome = "ok" if error_code is None else error_code
    if outcome != "ok" and outcome not in CODES:
        outcome = "internal_error"
    return namespace or "unknown", outcome


def sdk_call_name(name: object) -> str:
    """``name`` when the api declares it (``db.search``), else ``unknown``."""
    return name if isinstance(name, str) and name in _host_names() else "unknown"


@functools.cache
def _host_names() -> frozenset[str]:
    return host_names()


def notify(observer: EngineObserver | None, method: str, *args: object) -> Any:
    """Calls ``observer.<method>(*args)`` and returns what it returns; logs and
    swallows what it raises (then returns None)."""
    if observer is None:
        return None
    try:
        return getattr(observer, method)(*args)
    except Exception:
        _logger.exception("engine observer %s failed", method)
        return None
