"""Snapshot breakpoints and logpoints: what a caller passes to ``Engine.run``.

A :class:`Breakpoint` names a line of the script, an optional condition (a JS
expression evaluated in the scope of that line) and, for a logpoint, a
message template (``"total {a + b} for {rec.name}"``). The runner instruments
the source with them (``breakpoints.js``, on the AST acorn makes of it) before
compiling it; a run without breakpoints runs the source as it is, from its own
compiled context.

A run never pauses at a breakpoint: each hit captures the visible locals and
``this`` (at most :data:`CAPTURE_DEPTH` levels deep, :data:`CAPTURE_NODES`
values per hit, strings cut at :data:`CAPTURE_STRING`, names that look like
secrets masked), the script's own call stack, and the run goes on. A hit is a
JSON object::

    {"bp": 0, "line": 12, "vars": {"n": 3, "rec": {...}}, "this": null,
     "stack": [{"fn": "main", "line": 12}, ...]}

A logpoint's hit has ``"message"`` instead of ``vars``/``this`` (the message
is also logged, level ``info``, with the field ``logpoint``). A condition that
throws gives a hit with ``"note"`` (the error) and no capture: a breakpoint
never fails the run. A condition runs in the script: a loop in it is bounded by
the run's deadline like any code; it may not assign or delete, nor call the sdk
(such calls are refused with ``access_denied``).

At most :data:`MAX_HITS` hits per run and :data:`MAX_HITS_PER_BREAKPOINT` per
breakpoint are kept; the rest are counted in ``RunResult.stats["hits_dropped"]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import ScriptError

__all__ = [
    "CAPTURE_DEPTH",
    "CAPTURE_NODES",
    "CAPTURE_STRING",
    "MAX_BREAKPOINTS",
    "MAX_EXPRESSION_CHARS",
    "MAX_HITS",
    "MAX_HITS_PER_BREAKPOINT",
    "Breakpoint",
    "breakpoints_from",
    "digest",
]

#: Breakpoints in one run.
MAX_BREAKPOINTS = 20
#: Characters of a condition or a log message template.
MAX_EXPRESSION_CHARS = 500
#: Hits kept per run, and per breakpoint within it.
MAX_HITS = 50
MAX_HITS_PER_BREAKPOINT = 20
#: Capture caps: object levels below a local, values per hit, characters per string.
CAPTURE_DEPTH = 3
CAPTURE_NODES = 400
CAPTURE_STRING = 200


@dataclass(frozen=True)
class Breakpoint:
    """One line to break on: ``condition`` and ``log`` are optional."""

    line: int
    condition: str | None = None
    log: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.line, int) or isinstance(self.line, bool) or self.line < 1:
            raise ScriptError("invalid_breakpoint", "a breakpoint's line must be a number from 1")
        for name in ("condition", "log"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ScriptError("invalid_breakpoint", f"line {self.line}: {name} must be text")
            if len(value) > MAX_EXPRESSION_CHARS:
                raise ScriptError(
                    "invalid_breakpoint",
                    f"line {self.line}: {name} is longer than {MAX_EXPRESSION_CHARS} characters",
                    line=self.line,
                )

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "condition": self.condition or None, "log": self.log or None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Breakpoint:
        """A breakpoint from ``{"line", "condition"?, "log"?}``; refuses unknown keys."""
        if not isinstance(data, Mapping):
            raise ScriptError("invalid_breakpoint", "a breakpoint must be an object with a line")
        unknown = sorted(set(data) - {"line", "condition", "log"})
        if unknown:
            raise ScriptError(
                "invalid_breakpoint", f"unknown breakpoint field(s): {', '.join(unknown)}"
            )
        return cls(
            line=data.get("line"),  # type: ignore[arg-type]
            condition=data.get("condition") or None,
            log=data.get("log") or None,
        )


def breakpoints_from(items: Iterable[Breakpoint | Mapping[str, Any]]) -> list[Breakpoint]:
    """Breakpoints from dicts or Breakpoints, checked; raises ``invalid_breakpoint``."""
    out = [b if isinstance(b, Breakpoint) else Breakpoint.from_dict(b) for b in items]
    if len(out) > MAX_BREAKPOINTS:
        raise ScriptError(
            "invalid_breakpoint", f"at most {MAX_BREAKPOINTS} breakpoints may be set in one run"
        )
    lines = [b.line for b in out]
    for line in lines:
        if lines.count(line) > 1:
            raise ScriptError("invalid_breakpoint", f"two breakpoints on line {line}", line=line)
    return out


def digest(breakpoints: Iterable[Breakpoint]) -> str:
    """A short key of a set of breakpoints: runs with other ones never share a compiled context."""
    wire = orjson.dumps([b.to_dict() for b in breakpoints])
    return hashlib.sha256(wire).hexdigest()[:16]
