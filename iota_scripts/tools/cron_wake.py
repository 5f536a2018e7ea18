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
  memo is trusted only while its row ``exists()``;
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
    cron = env.ref(xmlid, raise_if_not_found=False)
    if not cron:
        return
    if at and at > fields.Datetime.now():
        cron.sudo()._trigger(at=at)
        return
    memo = env.cr.postcommit.data.setdefault("iota_scripts.cron_wake", {})
    trigger = memo.get(xmlid)
    if trigger is None or not trigger.exists():
        memo[xmlid] = cron.sudo()._trigger()
