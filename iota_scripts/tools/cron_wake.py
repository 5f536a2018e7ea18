"""Waking one of the module's jobs (an ``ir.cron``) after commit.

``ir.cron._trigger()`` writes an ``ir.cron.trigger`` row; after commit Odoo
sends a NOTIFY (on a connection of its own) that wakes a cron worker. Each
row costs a write and each NOTIFY a round trip, so an immediate wake-up is
written at most once per transaction and job.

Traps:

* the memo lives in ``cr.postcommit.data``, which lasts as long as the
  transaction: ``cr.precommit.data`` is emptied by every flush (a run's
  savepoint, for instance);
* a savepoint rollback can undo the trigger row while the memo stays: the
  memo is trusted only while its row is cached (a savepoint rollback clears
  the cache) or ``exists()``;
* a rolled-back transaction notifies no one: the job is woken by what
  commits, never by what was undone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from odoo import fields


def wake(env: Any, xmlid: str, at: datetime | None = None) -> None:
    """Wakes the job ``xmlid`` after commit: now (once per transaction), or at ``at``.

    A job whose record was deleted (an uninstalled or edited module) is
    skipped: its work waits for the next regular round or a later wake-up.
    """
    now = not at or at <= fields.Datetime.now()
    memo = env.cr.postcommit.data.setdefault("iota_scripts.cron_wake", {})
    if now and _still_written(memo.get(xmlid)):
        return  # checked before env.ref: this runs for every event a script emits
    cron = env.ref(xmlid, raise_if_not_found=False)
    if not cron:
        return
    if not now:
        cron.sudo()._trigger(at=at)
        return
    memo[xmlid] = cron.sudo()._trigger()


def _still_written(trigger: Any) -> bool:
    """Whether the memo's trigger row is still part of the transaction.

    A savepoint rollback clears the ORM cache (``cr.savepoint()`` rolls back
    through ``_FlushingSavepoint``, which clears the transaction): while the
    row's values are cached, no rollback undid it, and no query is needed.
    Otherwise ``exists()`` asks the database (then caches the row again).
    """
    if trigger is None:
        return False
    if trigger.env.cache.contains(trigger, trigger._fields["call_at"]):
        return True
    if trigger.exists():
        trigger.fetch(["call_at"])
        return True
    return False
