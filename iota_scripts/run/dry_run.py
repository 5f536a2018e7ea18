"""Dry-run: a real run against real records whose effects are all undone.

:func:`dry_run` runs a :class:`~.request.RunRequest` through the one run
path (:mod:`.pipeline`) with ``req.dry_run`` set, inside a savepoint that is
**always** rolled back: after a success, a script error, a timeout, a
``memory_limit``, and when the run cannot start (the ``UserError`` then
reaches the caller, so a failed dry-run is never silent). What the savepoint
cannot undo is captured instead of done (``sdk_host/dry_run.py``: HTTP,
events, enqueues, the cache), and the runs of scripts its writes trigger are
counted, not run.

Nothing is recorded: the execution row the run path writes is rolled back
with the rest; the caller gets the report (:func:`dry_run`'s return value),
read before the rollback. Transaction hooks that the run registered on the
cursor (``postcommit``: bus messages, cron wake-ups) are dropped with it, and
the ``precommit`` hooks of the caller's own work, which Odoo clears on a
savepoint rollback, are put back (see :class:`_Hooks`).

The write diff (``tools/write_capture.py``) covers every ORM write made
during the run, by ``sdk.db`` or as its consequence (stored computed fields,
automation rules). Python automation rules that the script's writes trigger
do run (in the savepoint): their own side effects outside the database (an
HTTP call made in Python) cannot be held back.
"""

from __future__ import annotations

from typing import Any

from odoo import _
from odoo.exceptions import UserError

from ..sdk_host.dry_run import DryRun
from ..tools import write_capture
from .request import RunRequest


class _Hooks:
    """The cursor's transaction hooks, as they were before the dry-run."""

    def __init__(self, cr: Any) -> None:
        self.cr = cr
        self.saved = {
            name: (list(hooks._funcs), dict(hooks.data))
            for name in ("precommit", "postcommit", "prerollback", "postrollback")
            for hooks in (getattr(cr, name),)
        }

    def restore(self) -> None:
        for name, (funcs, data) in self.saved.items():
            hooks = getattr(self.cr, name)
            hooks._funcs.clear()
            hooks._funcs.extend(funcs)
            hooks.data.clear()
            hooks.data.update(data)


def dry_run(Execution: Any, req: RunRequest) -> dict[str, Any]:
    """Runs ``req`` as a dry-run; returns the run panel's values of its
    execution with ``dry_run`` (the report of :meth:`DryRun.report`) added.

    Raises ``UserError`` when the run cannot start (like a run by hand)."""
    capture = DryRun(tuple(req.script.sudo()._allowed_hosts()))
    trigger = {**req.trigger, "dry_run": True}
    req = req.replace(dry_run=capture, trigger=trigger, guard=None, live=None, queued=None)
    cr = Execution.env.cr
    hooks = _Hooks(cr)
    # flushes the caller's pending writes first: the diff's "before" is theirs
    savepoint = cr.savepoint()
    try:
        with write_capture.capturing(cr, capture.writes):
            execution = Execution._run(req)
        if not execution:
            raise UserError(_("The dry-run did not start."))
        report = execution._run_panel_values()
        report.update(id=False, dry_run=capture.report(Execution.env))
    finally:
        savepoint.close(rollback=True)
        hooks.restore()
    return report
