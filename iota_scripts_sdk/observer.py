"""What the engine tells an observer: its runners and its sdk calls, for metrics.

The engine knows things its host cannot see: how many runner processes are
alive and busy, why a runner ended, and every sdk call a script makes (the
built-in ``sdk.http`` and ``sdk.cache`` included). A host that wants metrics
passes an :class:`EngineObserver` to ``Engine.set_observer``; the engine has
no metrics library of its own (the Odoo addon feeds ``prometheus-client``).

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

from .api import host_names
from .errors import CODES

__all__ = ["RUNNER_END_REASONS", "EngineObserver", "sdk_call_labels"]

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


@functools.cache
def _host_names() -> frozenset[str]:
    return host_names()


def notify(observer: EngineObserver | None, method: str, *args: object) -> None:
    """Calls ``observer.<method>(*args)``; logs and swallows what it raises."""
    if observer is None:
        return
    try:
        getattr(observer, method)(*args)
    except Exception:
        _logger.exception("engine observer %s failed", method)
