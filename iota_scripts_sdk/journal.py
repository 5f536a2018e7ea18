"""The journal of a run's sdk calls, and a host that replays a run from it.

Recording
---------
``Engine.run(..., journal=Journal())`` writes one entry per sdk call the
script made, in order, whoever served it (the caller's host functions, or the
engine itself for ``sdk.http`` and ``sdk.cache``)::

    {"seq": 1, "call": "db.searchRead", "args": [...], "ok": true,
     "result": ..., "start_ms": 3.2, "duration_ms": 1.4}
    {"seq": 2, "call": "http.fetch", "args": [...], "ok": false,
     "error": {"code": "http_error", "message": "..."}, "start_ms": 5.0, "duration_ms": 30.1}

``start_ms`` is from the start of the run (the moment the run frame left for
the runner), ``duration_ms`` the time the host took to answer. Log lines are
not sdk calls: they are the run's logs.

Secrets: the values of secret-looking HTTP headers (``Authorization``,
``Cookie``, ``X-Api-Key``, ...) are stored as ``***`` (:func:`masked`).

Bounded: the entries' JSON is kept up to ``max_bytes`` (default
:data:`MAX_JOURNAL_BYTES`). Past it, an entry keeps its timing and outcome but
not its arguments and result (``"cut": true``), so the waterfall still shows
every call, and the journal says ``truncated``; past :data:`MAX_JOURNAL_CALLS`
calls, calls are only counted (``calls`` > ``len(entries)``). A truncated
journal cannot be replayed (:class:`ReplayHost` refuses it with
``journal_truncated``).

Replaying
---------
:class:`ReplayHost` answers every sdk call from a recorded journal, in
order, and touches nothing live (no database, no HTTP, no cache). Each call
is compared with the next recorded one; where they differ the replay goes on
and a *divergence* is noted:

* ``different_argument``: the same function with other arguments; the
  recorded answer is served;
* ``different_call``: another function than the one recorded next, but one
  recorded later with the same arguments: that answer is served (the order
  changed, the calls in between stay due);
* ``extra_call``: a call with no recorded match: it fails with
  ``replay_diverged`` (nothing live answers it);
* ``missing_calls``: recorded calls the replay never made (:meth:`finish`).

A changed *result* is the caller's comparison of outcomes (the addon's
``run/replay.py``): the journal only knows calls.

Pure Python, no Odoo; thread: one journal or replay host per run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .api import host_names
from .errors import ScriptError

__all__ = [
    "MAX_JOURNAL_BYTES",
    "MAX_JOURNAL_CALLS",
    "Journal",
    "ReplayHost",
    "waterfall",
]

#: Default cap on the JSON of a journal's entries (arguments and results).
MAX_JOURNAL_BYTES = 256 * 1024
#: Calls past this many are counted, not kept (not even their timing).
MAX_JOURNAL_CALLS = 2000
#: Divergences a replay reports at most (later ones are counted).
MAX_DIVERGENCES = 100


_SECRET_HEADER = re.compile(r"auth|cookie|token|secret|key|signature|password", re.I)


def masked(name: Any, args: Any) -> Any:
    """``args`` as the journal keeps them: the values of secret-looking HTTP
    headers (``Authorization``, ``X-Api-Key``, ...) replaced by ``***``.

    A replay compares its calls' arguments masked the same way."""
    if name != "http.fetch" or not isinstance(args, list) or len(args) < 2:
        return args
    init = args[1]
    if not isinstance(init, dict) or not isinstance(init.get("headers"), dict):
        return args
    headers = {k: "***" if _SECRET_HEADER.search(str(k)) else v for k, v in init["headers"].items()}
    return [args[0], {**init, "headers": headers}, *args[2:]]


def _size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return 0


class Journal:
    """The sdk calls of one run, recorded by the engine (see the module doc)."""

    __slots__ = ("bytes", "calls", "entries", "max_bytes", "started", "truncated")

    def __init__(self, max_bytes: int = MAX_JOURNAL_BYTES) -> None:
        self.max_bytes = max_bytes
        self.entries: list[dict[str, Any]] = []
        self.calls = 0
        self.bytes = 0
        self.truncated = False
        #: ``time.monotonic()`` at the start of the run; set by the engine
        self.started: float | None = None

    def start(self) -> None:
        """Called by the engine when the run frame leaves for the runner."""
        self.started = time.monotonic()

    def record(
        self, name: Any, args: Any, ok: bool, answer: Any, began: float, ended: float
    ) -> None:
        """One call: ``answer`` is the result (``ok``) or ``{"code", "message"}``."""
        self.calls += 1
        if len(self.entries) >= MAX_JOURNAL_CALLS:
            self.truncated = True
            return
        origin = self.started if self.started is not None else began
        entry: dict[str, Any] = {
            "seq": self.calls,
            "call": name if isinstance(name, str) else "?",
            "ok": ok,
            "start_ms": round((began - origin) * 1000, 3),
            "duration_ms": round((ended - began) * 1000, 3),
        }
        if not ok:
            entry["error"] = answer
        args = masked(name, args)
        payload = {"args": args, "result": answer} if ok else {"args": args}
        size = _size(payload) + 96
        if self.bytes + size > self.max_bytes:
            self.truncated = True
            entry["cut"] = True
        else:
            self.bytes += size
            entry.update(payload)
        self.entries.append(entry)

    def to_dict(self) -> dict[str, Any]:
        """The journal as stored (JSON-ready)."""
        return {
            "format": 1,
            "calls": self.calls,
            "truncated": self.truncated,
            "max_bytes": self.max_bytes,
            "entries": self.entries,
        }


def waterfall(journal: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The waterfall rows of a stored journal: seq, namespace, call, start, duration, outcome."""
    rows = []
    for e in journal.get("entries") or []:
        call = str(e.get("call") or "?")
        error = e.get("error") if isinstance(e.get("error"), dict) else {}
        rows.append(
            {
                "seq": e.get("seq"),
                "call": call,
                "namespace": call.split(".")[0],
                "start_ms": float(e.get("start_ms") or 0),
                "duration_ms": float(e.get("duration_ms") or 0),
                "outcome": "ok" if e.get("ok") else str(error.get("code") or "error"),
            }
        )
    return rows


class ReplayHost:
    """Host functions that answer a run's sdk calls from a recorded journal.

    Raises ``ScriptError("journal_truncated")`` for a journal that was cut, and
    ``invalid_argument`` for one that is not a journal.
    """

    def __init__(self, journal: Mapping[str, Any]) -> None:
        entries = journal.get("entries") if isinstance(journal, Mapping) else None
        if not isinstance(entries, list):
            raise ScriptError("invalid_argument", "this is not a recorded journal")
        if journal.get("truncated") or any(e.get("cut") for e in entries):
            raise ScriptError(
                "journal_truncated",
                f"the recorded run made {journal.get('calls')} sdk calls and its journal "
                "was cut at its size cap: it cannot be replayed",
            )
        self.recorded = entries
        self.used = [False] * len(entries)
        self.next = 0
        self.divergences: list[dict[str, Any]] = []
        self.divergences_dropped = 0
        self.served = 0

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        """One function per sdk host name (the engine's own ``http`` and ``cache`` too)."""
        return {name: self._function(name) for name in host_names()}

    def _function(self, name: str) -> Callable[[list[Any]], Any]:
        return lambda args: self.answer(name, args)

    def _note(self, kind: str, **details: Any) -> None:
        if len(self.divergences) < MAX_DIVERGENCES:
            self.divergences.append({"kind": kind, "seq": self.served, **details})
        else:
            self.divergences_dropped += 1

    def _find(self, name: str, args: list[Any]) -> int | None:
        """The recorded entry that answers this call (see the module doc), or None."""
        while self.next < len(self.recorded) and self.used[self.next]:
            self.next += 1
        if self.next < len(self.recorded) and self.recorded[self.next].get("call") == name:
            return self.next
        for i in range(self.next, len(self.recorded)):
            e = self.recorded[i]
            if not self.used[i] and e.get("call") == name and e.get("args") == args:
                return i
        return None

    def answer(self, name: str, args: list[Any]) -> Any:
        """The recorded answer of this call (its result, or its error raised)."""
        self.served += 1
        args = masked(name, args)
        i = self._find(name, args)
        if i is None:
            expected = self._expected()
            self._note("extra_call", call=name, args=args, expected=expected)
            raise ScriptError(
                "replay_diverged",
                f"sdk.{name} was not called at this point of the recorded run"
                + (f" (it called sdk.{expected} next)" if expected else ""),
            )
        e = self.recorded[i]
        self.used[i] = True
        if i != self.next:
            self._note(
                "different_call", call=name, expected=self._expected(), recorded_seq=e["seq"]
            )
        elif e.get("args") != args:
            self._note(
                "different_argument",
                call=name,
                args=args,
                recorded=e.get("args"),
                recorded_seq=e["seq"],
            )
        if e.get("ok"):
            return e.get("result")
        error = e.get("error") or {}
        raise ScriptError(
            str(error.get("code") or "internal_error"), str(error.get("message") or "")
        )

    def _expected(self) -> str | None:
        for i in range(self.next, len(self.recorded)):
            if not self.used[i]:
                return str(self.recorded[i].get("call"))
        return None

    def finish(self) -> list[dict[str, Any]]:
        """Notes the recorded calls never made; returns every divergence."""
        missing = [
            {"seq": e["seq"], "call": e.get("call")}
            for e, used in zip(self.recorded, self.used, strict=True)
            if not used
        ]
        if missing:
            self._note("missing_calls", calls=missing[:20], count=len(missing))
        return self.divergences
