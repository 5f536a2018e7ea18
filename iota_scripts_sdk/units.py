"""Governance units: what each sdk call costs, and the meter that counts a run's.

NetSuite-style: every host call a script makes costs units, declared once in
:data:`UNIT_COSTS` (the README's table is :func:`units_markdown`, checked by a
test). A run's :class:`Meter` charges each call against its budgets, in order:

1. the *run budget* (``run_limit``), e.g. the budget of the trigger type;
2. a *pool* shared by many runs (for Odoo: the company's daily pool), which
   the meter draws from in chunks through ``pool.take(units)`` and gives back
   unused at the end (``pool.give_back(units)``).

The first budget a call would pass ends the run with ``budget_exceeded``,
naming that budget. ``Engine.run(meter=...)`` charges every host call the
engine sees, the ones the engine serves itself (``http.fetch``, ``cache.*``,
log lines) included: the meter sits where the engine reads frames from the
runner, before any host function runs.

Threads: a meter belongs to one run and is charged on the thread that called
``Engine.run``; ``used`` may be read from another thread (a live meter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .errors import ScriptError

__all__ = ["LOG_UNIT_NAME", "UNIT_COSTS", "Meter", "UnitPool", "cost_of", "units_markdown"]

#: The name a log line is charged under (``sdk.log.*`` and ``console.*``).
LOG_UNIT_NAME = "log"

#: Units per sdk call: a host name (``db.write``) wins over its namespace
#: (``db``). Every host name of ``api.py`` must resolve (a test checks it).
UNIT_COSTS: Mapping[str, int] = {
    "db": 10,
    "db.create": 20,
    "db.write": 20,
    "db.unlink": 20,
    "db.call": 20,
    "http": 10,
    "cache": 1,
    "events": 5,
    "scripts": 10,
    "flags": 1,
    "secrets": 5,
    LOG_UNIT_NAME: 1,
}

#: What each row of the table means (the README shows it).
_WHAT: Mapping[str, str] = {
    "db": "`sdk.db` reads: `search`, `read`, `searchRead`, `searchCount`",
    "db.create": "`sdk.db.create`",
    "db.write": "`sdk.db.write`",
    "db.unlink": "`sdk.db.unlink`",
    "db.call": "`sdk.db.call` (a model method)",
    "http": "`sdk.http.fetch` (each call, whatever its size)",
    "cache": "`sdk.cache.*`",
    "events": "`sdk.events.emit`",
    "scripts": "`sdk.scripts.enqueue`",
    "flags": "`sdk.flags.enabled`",
    "secrets": "`sdk.secrets.get`",
    LOG_UNIT_NAME: "one log line (`sdk.log.*`, `console.*`)",
}


def cost_of(name: str) -> int:
    """The units of one call of the host function ``name`` (``db.search``), or of a log line."""
    if name in UNIT_COSTS:
        return UNIT_COSTS[name]
    namespace = name.split(".", 1)[0]
    if namespace in UNIT_COSTS:
        return UNIT_COSTS[namespace]
    raise KeyError(f"no unit cost for {name!r}: add it to iota_scripts_sdk/units.py")


def units_markdown() -> str:
    """The cost table as Markdown (the README's "Governance units" table)."""
    rows = [f"| {_WHAT[key]} | {cost} |" for key, cost in UNIT_COSTS.items()]
    return "\n".join(["| sdk call | units |", "| --- | --- |", *rows])


class UnitPool(Protocol):
    """Units shared by many runs (e.g. a company's daily pool)."""

    #: How the pool is named in a ``budget_exceeded`` message.
    name: str

    def take(self, units: int) -> int:
        """Reserves up to ``units``; returns how many it could (0: the pool is empty)."""

    def give_back(self, units: int) -> None:
        """Returns ``units`` reserved and not used."""


class Meter:
    """Counts one run's units against its run budget, then its pool.

    ``run_limit`` (None or 0: no run budget) is named ``run_name`` in the
    error. ``chunk`` is how many units the meter reserves from the pool at a
    time (one round trip per chunk, not per call). Call :meth:`close` once the
    run ended: it gives the unused reservation back.
    """

    def __init__(
        self,
        run_limit: int | None = None,
        run_name: str = "the run budget",
        pool: UnitPool | None = None,
        chunk: int = 100,
    ) -> None:
        self.run_limit = run_limit or None
        self.run_name = run_name
        self.pool = pool
        self.chunk = max(1, chunk)
        self.used = 0
        self.reserved = 0
        #: the ``budget_exceeded`` error once a budget ran out; later charges raise it again
        self.exceeded: ScriptError | None = None

    def charge(self, name: str) -> None:
        """Counts one call of ``name``; raises ``budget_exceeded`` when a budget runs out."""
        if self.exceeded is not None:
            raise self.exceeded
        cost = cost_of(name)
        if self.run_limit is not None and self.used + cost > self.run_limit:
            self.exceeded = ScriptError(
                "budget_exceeded",
                f"{self.run_name} is {self.run_limit} units; this run used {self.used} "
                f"and `{name}` costs {cost}",
            )
            raise self.exceeded
        if self.pool is not None:
            while self.reserved - self.used < cost:
                want = max(self.chunk, cost)
                if self.run_limit is not None:
                    want = min(want, max(cost, self.run_limit - self.reserved))
                got = self.pool.take(want)
                if got <= 0:
                    self.exceeded = ScriptError(
                        "budget_exceeded",
                        f"{self.pool.name} is used up (`{name}` costs {cost} units; "
                        f"this run used {self.used})",
                    )
                    raise self.exceeded
                self.reserved += got
        self.used += cost

    def close(self) -> None:
        """Gives the pool back what was reserved and not used (idempotent)."""
        if self.pool is not None and self.reserved > self.used:
            self.pool.give_back(self.reserved - self.used)
        self.reserved = self.used
