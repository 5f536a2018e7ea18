"""``RunRequest``: what every trigger builds to run a script.

One value, built once by the trigger and never changed on the way: the form
and the Run panel (``models/iota_script_run.py``), automation rules and
server actions (``models/ir_actions_server.py``), endpoints
(``controllers/main.py``), the queue that schedules, event deliveries and
``sdk.scripts.enqueue`` feed (``models/iota_script_queue.py``). The run path
(:mod:`.pipeline`) reads it and returns the execution; nothing is handed back
through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from typing import Any

__all__ = ["RunRequest"]


@dataclasses.dataclass(frozen=True, slots=True)
class RunRequest:
    """A run to make, from any trigger.

    ``trigger`` becomes ``ctx.trigger`` (``{"type": ..., ...}``) and is copied
    on construction. ``records`` becomes ``ctx.records``, restricted to what the
    run-as user can read. ``input`` is the script's input (JSON values).

    ``run_as`` replaces the script's run-as user (endpoints that run as their
    caller); ``pinned_version_id`` then names the version an administrator
    approved, run instead of the current one. ``request`` becomes
    ``ctx.request``. ``execution_values`` are merged into the execution row.
    ``guard`` (a hashable naming the trigger, e.g. a server action) makes the
    run happen at most once per record within a run chain.

    ``record_policy`` (``(policy, sample_every)``) replaces the script's
    recording policy. ``answer(result, execution_id)`` is called once the run
    ended, before its row is written, and returns values for that row;
    ``result`` is ``None`` when the run could not start.

    ``caller`` names who an endpoint call came from (``ip:…``, ``user:…``):
    a gradual rollout routes a caller's runs to the same version each time.

    ``live`` (``tools/live.py``) streams the run's logs; ``cancel`` (a
    ``threading.Event``) kills the runner when set; ``queued`` is the claimed
    queued execution that becomes this run's execution.

    ``dry_run`` (``sdk_host/dry_run.py``'s ``DryRun``) makes the run a
    dry-run: its side effects are captured there, not done. Only
    :func:`..run.dry_run.dry_run` sets it; it also rolls the run back.

    ``breakpoints`` (``iota_scripts_sdk.Breakpoint``) instrument this run
    (a replay passes them); ``None`` takes the script's own: all of them for
    a dry-run, the armed ones for a live run (``iota.script.breakpoint``).

    ``profile`` (``run/profiling.py``'s ``ProfileCapture``) runs the version
    instrumented and keeps its call tree (the "profile" run mode).
    """

    script: Any
    trigger: Mapping[str, Any]
    records: Any = None
    input: Any = None
    run_as: Any = None
    pinned_version_id: int | None = None
    request: Mapping[str, Any] | None = None
    execution_values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    guard: Hashable | None = None
    record_policy: tuple[str, int] | None = None
    answer: Callable[[Any, int], Mapping[str, Any]] | None = None
    caller: str | None = None
    live: Any = None
    cancel: Any = None
    queued: Any = None
    dry_run: Any = None
    breakpoints: tuple[Any, ...] | None = None
    profile: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.trigger, Mapping) or not isinstance(self.trigger.get("type"), str):
            raise TypeError("RunRequest.trigger must be a mapping with a 'type' string")
        # frozen: the copies below are the only writes, at construction
        object.__setattr__(self, "trigger", dict(self.trigger))
        object.__setattr__(self, "execution_values", dict(self.execution_values))

    @property
    def manual(self) -> bool:
        """Run by hand: errors are raised to the user instead of recorded."""
        return self.trigger["type"] == "manual"

    @property
    def loud(self) -> bool:
        """A run that must not start raises a ``UserError`` (run by hand, or a dry-run)."""
        return self.manual or self.dry_run is not None

    def replace(self, **changes: Any) -> RunRequest:
        """A copy with ``changes`` (e.g. the records left after the chain's guard)."""
        return dataclasses.replace(self, **changes)
