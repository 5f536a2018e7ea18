"""A savepoint that a run opens only when it first touches the database.

A failed run must leave nothing behind, so its database work happens inside
a savepoint that is rolled back on failure. Most endpoint and event scripts
never call ``sdk.db`` or ``sdk.events``: for them the ``SAVEPOINT`` /
``RELEASE`` pair is two round trips for nothing. :class:`LazySavepoint`
wraps the run's host functions so that the first call opens the savepoint
(flushing pending ORM writes first, as ``cr.savepoint()`` does); a run whose
host functions were never called has written nothing through them.

Thread assumption: the engine serves host calls on the thread that called
``Engine.run`` (see ``iota_scripts_sdk.engine``), the thread that owns the
cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class LazySavepoint:
    """``wrap`` the host functions, run, then ``close(rollback=...)`` once."""

    def __init__(self, cr: Any) -> None:
        self._cr = cr
        self._savepoint = None

    @property
    def opened(self) -> bool:
        return self._savepoint is not None

    def wrap(self, functions: dict[str, Callable]) -> dict[str, Callable]:
        """``functions`` with each one opening the savepoint before its first call."""
        return {name: self._opening(fn) for name, fn in functions.items()}

    def _opening(self, fn: Callable) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._savepoint is None:
                self._savepoint = self._cr.savepoint()
            return fn(*args, **kwargs)

        return call

    def close(self, *, rollback: bool) -> None:
        """Releases the savepoint, or rolls it back; nothing when never opened."""
        if self._savepoint is not None:
            self._savepoint.close(rollback=rollback)
