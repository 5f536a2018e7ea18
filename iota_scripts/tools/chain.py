"""Run chains: how scripts that trigger scripts stay bounded.

A script that writes records through ``sdk.db`` fires the automation rules of
those records, and a rule may run a script again (its own, on its own record).
Running that second script *inside* the first one's host call would need a
second runner while the first one waits, and a chain of such calls could
exhaust the pool. So runs are never nested:

* A run started while no script is running is the *root* of a chain (a
  manual run, a cron job, an automation fired by a user).
* A trigger that fires while a chain is in progress (from one of a script's
  ``sdk.db`` calls, or from the execution record written when it ends) is
  *queued*, one generation below the run that caused it. When the running
  script ends well, its queued runs start, one after another, in the same
  transaction. When it fails, its writes are rolled back and its queued runs
  are dropped with them.
* Within a chain, a script runs at most once per (server action, record):
  an on-save script that writes its own record does not run again.
* A chain has at most ``max_depth`` generations (root = 1). A trigger past
  that is not run; it is recorded as a cancelled execution
  (``budget_exceeded``).

The chain lives in ``cr.postcommit.data``: it belongs to the transaction
and is dropped on commit and rollback. (``cr.precommit.data`` would not do:
every flush, hence every savepoint, runs and empties it.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_KEY = "iota_scripts.chain"


@dataclass
class QueuedRun:
    generation: int
    start: Callable[[], Any]


@dataclass
class Chain:
    #: generation of the run in progress (or being recorded); the root is 1
    generation: int = 1
    done: set[tuple[Any, ...]] = field(default_factory=set)
    queue: deque[QueuedRun] = field(default_factory=deque)


def current(cr: Any) -> Chain | None:
    """The chain of this transaction, if a chain is in progress."""
    return cr.postcommit.data.get(_KEY)


def begin(cr: Any) -> Chain:
    chain = Chain()
    cr.postcommit.data[_KEY] = chain
    return chain


def end(cr: Any, chain: Chain) -> None:
    if cr.postcommit.data.get(_KEY) is chain:
        del cr.postcommit.data[_KEY]
