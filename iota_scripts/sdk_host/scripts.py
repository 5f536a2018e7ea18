"""``sdk.scripts``: a run queues background runs of scripts of its company.

``sdk.scripts.enqueue(key, input?, {delaySec?, priority?})`` returns
``{id}``, the id of a queued ``iota.script.execution`` (trigger ``script``).

Contract
--------
* **Lookup**: ``key`` names a script of the *run's* company. Scripts of other
  companies are invisible: the same ``not_found`` as a key nobody uses, so
  the error tells nothing about another company.
* **State**: the script must be active (not archived, state ``active``) and
  have a current version, else ``not_active``.
* **Rights never grow**: the queued run executes as the target script's
  run-as user, like every trigger. That user must be the run's own user or
  the company's least-privilege scripts user
  (``iota_scripts_runner_<company id>``); a script set to run as anyone else
  is refused with ``access_denied``, so a script cannot borrow another user's
  rights through a background run. The run records the run's user as
  "Triggered By".
* **Priority**: ``priority`` (0 to 100, default 10, lower first) orders the
  runs of the company; companies take turns in the queue whatever their
  priorities. 0 to 9 go before every turn and are reserved to runs whose
  user (the run-as user) is an IOTA Scripts administrator: anyone else gets
  ``priority_reserved``.
* **Bounded**: the queued run is one generation below the current one
  (``tools/chain.py``); past ``max_depth`` generations the call is refused with
  ``budget_exceeded``, so a script that queues itself stops after
  ``max_depth`` runs. A run may queue at most ``max_enqueues_per_run`` runs.
* **Transactional**: the execution (and the worker's wake-up trigger) is
  written on the run's cursor, in a savepoint. A run that fails is rolled
  back with its writes, and what it queued goes with it; nothing is visible
  to workers before the run's transaction commits.

Thread: called on the run's thread (the engine serves host calls there), on
the run's cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from iota_scripts_sdk import ScriptError
from odoo import fields
from odoo.exceptions import UserError

from ..run.request import RunRequest
from ..tools import chain as run_chain
from ..tools.settings import get_setting
from .args import HostArgs, declared, invalid, number

#: Largest ``delaySec``: 30 days.
MAX_DELAY_SEC = 30 * 24 * 3600
#: ``priority`` bounds (lower runs first; the queue's default is 10).
PRIORITY_RANGE = (0, 100)
#: Priorities below this one go before every company's turn in the queue
#: (``models/iota_script_queue.py``): only administrators' runs may use them.
RESERVED_PRIORITY_BELOW = 10
ADMIN_GROUP = "iota_scripts.iota_scripts_group_admin"


class ScriptsHost:
    """``sdk.scripts`` for one run. ``env`` is the pinned run environment."""

    def __init__(
        self, env: Any, script: Any, execution: Any, max_enqueues: int, dry_run: Any = None
    ) -> None:
        self.env = env
        #: a dry-run's capture (sdk_host/dry_run.py): runs recorded there, not queued
        self.dry_run = dry_run
        self.script = script
        self.execution = execution
        self.max_enqueues = max_enqueues
        self.count = 0

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {"scripts.enqueue": declared("scripts.enqueue", self.enqueue)}

    def enqueue(self, args: HostArgs) -> dict[str, int]:
        key = args["key"]
        if not isinstance(key, str) or not key:
            raise invalid("the script key must be a non-empty string")
        delay, priority = self._options(args["options"])
        if self.count >= self.max_enqueues:
            raise ScriptError(
                "budget_exceeded", f"a run may queue at most {self.max_enqueues} runs"
            )
        target = self._target(key)
        chain = run_chain.current(self.env.cr)
        generation = (chain.generation if chain else 1) + 1
        max_depth = get_setting(self.env, "max_depth")
        if generation > max_depth:
            raise ScriptError(
                "budget_exceeded",
                f"scripts queueing scripts may chain at most {max_depth} runs deep",
            )
        if self.dry_run is not None:
            self.count += 1
            return self.dry_run.enqueue(target.key, args["input"], delay, priority)
        trigger = {
            "type": "script",
            "script_id": self.script.id,
            "key": self.script.key,
            "execution_id": self.execution.id,
        }
        eta = fields.Datetime.now() + timedelta(seconds=delay) if delay else None
        try:
            with self.env.cr.savepoint():
                queued = (
                    self.env["iota.script.execution"]
                    .sudo()
                    ._enqueue(
                        RunRequest(target, trigger, input=args["input"]),
                        priority=priority,
                        eta=eta,
                        triggered_by=self.env.user,
                        generation=generation,
                    )
                )
        except UserError as e:
            # the only refusal of _enqueue: the input is too large to store
            raise ScriptError("argument_too_large", str(e.args[0] if e.args else e)) from None
        self.count += 1
        return {"id": queued.id}

    def _options(self, options: Any) -> tuple[float, int]:
        """``(delay in seconds, priority)`` from the call's options (refusals named)."""
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise invalid("options must be an object")
        unknown = sorted(set(options) - {"delaySec", "priority"})
        if unknown:
            raise invalid(f"unknown option {unknown[0]!r}")
        delay = options.get("delaySec")
        delay = 0 if delay is None else number(delay, "delaySec", 0, MAX_DELAY_SEC)
        priority = options.get("priority")
        if priority is None:
            priority = 10
        elif isinstance(priority, float) and priority.is_integer():
            priority = int(priority)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise invalid("priority must be an integer")
        number(priority, "priority", *PRIORITY_RANGE)
        if priority < RESERVED_PRIORITY_BELOW and not self.env.user.has_group(ADMIN_GROUP):
            raise ScriptError(
                "priority_reserved",
                f"priorities 0 to {RESERVED_PRIORITY_BELOW - 1} are reserved to runs as an "
                f"IOTA Scripts administrator; use {RESERVED_PRIORITY_BELOW} or more",
            )
        return delay, priority

    def _target(self, key: str) -> Any:
        """The active script ``key`` of the run's company that this run may queue."""
        company = self.script.company_id
        # sudo: the run's user need not read iota.script; the lookup is pinned
        # to the run's company and returns nothing else.
        target = (
            self.env["iota.script"]
            .sudo()
            .with_context(active_test=False)
            .search([("company_id", "=", company.id), ("key", "=", key)], limit=1)
        )
        if not target:
            raise ScriptError("not_found", f"no script with the key {key!r} in this company")
        if not target.active or target.state != "active" or not target.version_id:
            raise ScriptError("not_active", f"the script {key!r} is not active")
        run_as = target.run_as_user_id
        if run_as != self.env.user and run_as.login != f"iota_scripts_runner_{company.id}":
            raise ScriptError(
                "access_denied",
                f"the script {key!r} runs as another user; a script may queue only scripts "
                "that run as its own user or as the company's scripts user",
            )
        return target
