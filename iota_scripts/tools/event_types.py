"""Who emits events: the ``origin`` of an ``iota.script.event``.

* ``script``: a script called ``sdk.events.emit`` (the event names the
  emitting script). Types starting with ``script.`` are refused to scripts.
* ``record``: a record changed and an "Emit script event" server action (an
  automation rule) wrote the event (``partner.created``, ...).
* ``system``: IOTA Scripts' own lifecycle events (``script.created``,
  ``script.updated``, ``script.executed``, ``script.failed``).

Handlers see it as ``ctx.event.origin`` (and ``ctx.event.script`` for script
events), and a subscription may accept one origin only, so that a handler of
``partner.created`` can refuse the same type emitted by a script.

The company's ``event_quota_per_minute`` counts ``script`` and ``record``
events that reach a subscription; ``system`` events never use it (a busy
endpoint writes a ``script.executed`` per call).
"""

from __future__ import annotations

ORIGINS = [
    ("script", "Emitted by a Script"),
    ("record", "Record Event"),
    ("system", "IOTA Scripts Lifecycle"),
]

#: Origins whose events count against ``event_quota_per_minute``.
QUOTA_ORIGINS = frozenset({"script", "record"})
