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
  (:mod:`.chain`); past ``max_depth`` generations the call is refused with
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

from . import chain as run_chain
from .settings import get_setting

#: Largest ``delaySec``: 30 days.
MAX_DELAY_SEC = 30 * 24 * 3600
#: ``priority`` bounds (lower runs first; the queue's default is 10).
PRIORITY_RANGE = (0, 100)
#: Priorities below this one go before every company's turn in the queue
#: (``models/iota_script_queue.py``): only administrators' runs may use them.
RESERVED_PRIORITY_BELOW = 10
ADMIN_GROUP = "iota_scripts.iota_scripts_group_admin"


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ScriptError("invalid_argument", f"{name} must be a number")
    if not low <= value <= high:
        raise ScriptError("invalid_argument", f"{name} must be from {low} to {high}")
    return value


class ScriptsHost:
    """``sdk.scripts`` for one run. ``env`` is the pinned run environment."""

    def __init__(self, env: Any, script: Any, execution: Any, max_enqueues: int) -> None:
        self.env = env
        self.script = script
        self.execution = execution
        self.max_enqueues = max_enqueues
        self.count = 0

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {"scripts.enqueue": self.enqueue}

    def enqueue(self, args: list[Any]) -> dict[str, int]:
        key = args[0] if args else None
        input_value = args[1] if len(args) > 1 else None
        options = args[2] if len(args) > 2 and args[2] is not None else {}
        if not isinstance(key, str) or not key:
            raise ScriptError("invalid_argument", "the script key must be a non-empty string")
        if not isinstance(options, dict):
            raise ScriptError("invalid_argument", "options must be an object")
        unknown = sorted(set(options) - {"delaySec", "priority"})
        if unknown:
            raise ScriptError("invalid_argument", f"unknown option {unknown[0]!r}")
        delay = options.get("delaySec")
        delay = 0 if delay is None else _number(delay, "delaySec", 0, MAX_DELAY_SEC)
        priority = options.get("priority")
        if priority is None:
            priority = 10
        elif isinstance(priority, float) and priority.is_integer():
            priority = int(priority)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise ScriptError("invalid_argument", "priority must be an integer")
        _number(priority, "priority", *PRIORITY_RANGE)
        if priority < RESERVED_PRIORITY_BELOW and not self.env.user.has_group(ADMIN_GROUP):
            raise ScriptError(
                "priority_reserved",
                f"priorities 0 to {RESERVED_PRIORITY_BELOW - 1} are reserved to runs as an "
                f"IOTA Scripts administrator; use {RESERVED_PRIORITY_BELOW} or more",
            )
        if self.count >= self.max_enqueues:
            raise ScriptError(
                "budget_exceeded", f"a run may queue at most {self.max_enqueues} runs"
            )

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
        user = self.env.user
        runner_login = f"iota_scripts_runner_{company.id}"
        run_as = target.run_as_user_id
        if run_as != user and run_as.login != runner_login:
            raise ScriptError(
                "access_denied",
                f"the script {key!r} runs as another user; a script may queue only scripts "
                "that run as its own user or as the company's scripts user",
            )
        chain = run_chain.current(self.env.cr)
        generation = (chain.generation if chain else 1) + 1
        max_depth = get_setting(self.env, "max_depth")
        if generation > max_depth:
            raise ScriptError(
                "budget_exceeded",
                f"scripts queueing scripts may chain at most {max_depth} runs deep",
            )
        Execution = self.env["iota.script.execution"].sudo()
        eta = fields.Datetime.now() + timedelta(seconds=delay) if delay else None
        try:
            with self.env.cr.savepoint():
                queued = Execution._enqueue(
                    target,
                    {
                        "type": "script",
                        "script_id": self.script.id,
                        "key": self.script.key,
                        "execution_id": self.execution.id,
                    },
                    input_value=input_value,
                    priority=priority,
                    eta=eta,
                    triggered_by=user,
                    generation=generation,
                )
        except UserError as e:
            # the only refusal of _enqueue: the input is too large to store
            raise ScriptError("argument_too_large", str(e.args[0] if e.args else e)) from None
        self.count += 1
        return {"id": queued.id}
