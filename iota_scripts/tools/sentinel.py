"""The context sentinel that marks writes made by the engine path.

Executions, versions and outbox events are written only by the engine path
(running a script, saving a source). Their ``create``/``write``/``unlink``
refuse any call whose context lacks this sentinel. The sentinel is a Python
object, not a flag: a context sent over RPC is JSON, so a client can set the
key ``iota_scripts_engine`` but never to this object (the OCA ``queue_job``
trick).
"""

from __future__ import annotations

from typing import Any

CONTEXT_KEY = "iota_scripts_engine"
ENGINE_SENTINEL = object()


def as_engine(records: Any) -> Any:
    """``records`` in superuser mode, carrying the sentinel."""
    return records.sudo().with_context(**{CONTEXT_KEY: ENGINE_SENTINEL})


def is_engine(env: Any) -> bool:
    """True when ``env`` carries the sentinel (set by :func:`as_engine`)."""
    return env.context.get(CONTEXT_KEY) is ENGINE_SENTINEL
