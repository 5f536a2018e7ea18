"""An execution whose id is reserved and whose row is not written yet.

A run that is neither manual, live nor queued is written once, with its
outcome: one INSERT after the run instead of an INSERT before it and an
UPDATE after. Its id is drawn from the sequence first (``ctx.execution.id``).
A run that emits an event or queues a run needs its row before that call
(those rows name it): :meth:`PendingExecution.wrap` creates it then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..tools.sentinel import as_engine

__all__ = ["PendingExecution"]


class PendingExecution:
    """``vals`` are the create values, ``id`` included, but the input;
    ``policy`` is ``(record_policy, sample_every)``; ``stored_input`` makes
    the input's values, called only when a row is written (:meth:`row_values`).
    ``written`` tells whether the row exists."""

    __slots__ = (
        "_row_values",
        "in_savepoint",
        "model",
        "policy",
        "stored_input",
        "vals",
        "written",
    )

    def __init__(
        self,
        model: Any,
        vals: dict[str, Any],
        policy: tuple[str, int],
        stored_input: Callable[[], dict[str, Any]],
    ) -> None:
        self.model = model
        self.vals = vals
        self.policy = policy
        self.stored_input = stored_input
        self.written = False
        self.in_savepoint = False
        self._row_values: dict[str, Any] | None = None

    @property
    def record(self) -> Any:
        return self.model.browse(self.vals["id"])

    def row_values(self) -> dict[str, Any]:
        """``vals`` with the stored input: what the row is created with."""
        if self._row_values is None:
            self._row_values = {**self.vals, **self.stored_input()}
        return self._row_values

    def materialise(self, savepoint: Any) -> None:
        """Creates the row (state ``running``) now, if it does not exist yet."""
        if not self.written:
            as_engine(self.model).create(dict(self.row_values()))
            self.written = True
            self.in_savepoint = savepoint.opened

    def wrap(self, functions: dict[str, Callable], savepoint: Any) -> dict[str, Callable]:
        """``functions`` with ``events.*`` and ``scripts.*`` creating the row first."""

        def needing_row(fn: Callable) -> Callable:
            def call(*args: Any, **kwargs: Any) -> Any:
                self.materialise(savepoint)
                return fn(*args, **kwargs)

            return call

        return {
            name: needing_row(fn) if name.startswith(("events.", "scripts.")) else fn
            for name, fn in functions.items()
        }

    def rolled_back(self) -> None:
        """After the run's savepoint was rolled back: a row created inside it is gone."""
        if self.written and self.in_savepoint:
            self.written = False
