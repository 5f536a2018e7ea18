"""The "profile" run mode in the run path: time per function, as a flame graph.

A :class:`ProfileCapture` set on a :class:`~.request.RunRequest` (``profile``)
makes the run go through :func:`iota_scripts_sdk.profile.profile_run`: the
version's source is instrumented (every function counts its calls and time
per call path, ``iota_scripts_sdk/profiler.js``), run as usual (same hosts,
same limits, same savepoint), and its call tree kept here; ``run/record.py``
stores it on the execution (``profile_json``), which draws it as a flame
graph. Only runs by hand are profiled (``iota.script.action_profile``).
"""

from __future__ import annotations

from typing import Any

from iota_scripts_sdk import RunResult
from iota_scripts_sdk.profile import profile_run

__all__ = ["ProfileCapture"]


class ProfileCapture:
    """The call tree of one profiled run (``tree``: None until it ran, or when
    the run ended by a limit before its entry function returned)."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] | None = None

    def run(self, engine: Any, source: str, **kwargs: Any) -> RunResult:
        """``Engine.run`` of ``source`` instrumented; keeps the tree."""
        result, self.tree = profile_run(engine, source, **kwargs)
        return result
