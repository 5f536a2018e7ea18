"""Schedules: run a script on a cron expression, in a timezone.

What it is
----------
A schedule ties a script to a cron expression (five fields, read by
``croniter``) and a timezone. When a slot comes, the scheduled action
"IOTA Scripts: enqueue scheduled scripts" puts a run on the queue
(``models/iota_script_queue.py``) with ``ctx.trigger = {"type": "cron",
"schedule_id", "slot"}``; a queue worker runs it.

How the time is computed
------------------------
Slots are wall-clock times in the schedule's timezone, stored in UTC:

* a wall time that does not exist (the spring-forward gap, e.g. 02:30 on
  2026-03-29 in Europe/Brussels) runs one hour later in wall time (03:30);
* a wall time that happens twice (fall back, e.g. 02:30 on 2026-10-25 in
  Europe/Brussels) runs once, at its first occurrence; so ``*/15 * * * *``
  does not run again during the repeated hour;
* day-of-month fields follow croniter: ``0 0 31 * *`` runs on months that
  have a 31st only; ``0 0 29 2 *`` on leap years only; an expression with no
  date at all (``0 0 30 2 *``, ``0 0 31 4 *``) is refused at save.

Missed runs (``missed_policy``)
-------------------------------
A slot is *missed* when it is found more than ``schedule_grace_sec`` late
(the server was down, the queue was stopped), or when the previous run of the
schedule is still queued or running (runs of one schedule never overlap).

* ``skip`` (the default): missed slots are not run; the next run moves to the
  first slot in the future.
* ``catch_up``: all missed slots together are run once, as soon as possible
  (after the run in progress, if any); then the next run moves to the future.

A slot of a script that is not active (Draft, Disabled or archived) is not
run, whatever the policy: it is counted as missed, the schedule and the
script form warn (``waits_for_script``) and offer "Activate", and the
dashboard counts it.

Several workers and instances
-----------------------------
Each due schedule is handled in a transaction of its own that locks its row
(``FOR UPDATE SKIP LOCKED``), enqueues the run and moves ``next_run``, then
commits: a slot is enqueued once, whichever worker gets there first. No state
lives in the Odoo process.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pytz
from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from odoo import _, api, fields, models
from odoo.addons.base.models.res_partner import _tz_get
from odoo.exceptions import AccessError, UserError, ValidationError
from psycopg2 import errors as pg_errors

from ..run.request import RunRequest
from ..tools import cron_wake
from ..tools.settings import get_setting

_logger = logging.getLogger(__name__)

CRON_XMLID = "iota_scripts.iota_script_schedule_cron_enqueue"
_MAX_STEPS = 100000
#: Missed slots counted one by one at most; past it, the count jumps to the
#: last slot before now (a server down for a year on ``* * * * *``).
_MAX_COUNTED = 1000
#: Set by the scheduler only: a client that wrote last_execution_id would
#: read any run's state through last_state.
_SERVER_FIELDS = frozenset({"next_run", "last_run", "last_execution_id", "missed_count"})


def next_slot(expr: str, tz_name: str, after: datetime) -> datetime:
    """The first slot of ``expr`` in ``tz_name`` strictly after ``after`` (naive UTC → naive UTC).

    croniter walks naive wall-clock times (pure calendar arithmetic); each
    one is then placed in the timezone with the rules of the module docstring.
    """
    tz = pytz.timezone(tz_name or "UTC")
    after_utc = pytz.utc.localize(after)
    local = after_utc.astimezone(tz).replace(tzinfo=None)
    walk = croniter(expr, local)
    for _step in range(_MAX_STEPS):
        try:
            wall = walk.get_next(datetime)
        except (CroniterBadDateError, CroniterBadCronError, ValueError, OverflowError):
            # no such date in croniter's search window (February 30th, April 31st)
            break
        try:
            placed = tz.localize(wall, is_dst=None)
        except pytz.NonExistentTimeError:
            placed = tz.normalize(tz.localize(wall, is_dst=False))
        except pytz.AmbiguousTimeError:
            placed = tz.localize(wall, is_dst=True)
        slot = placed.astimezone(pytz.utc).replace(tzinfo=None)
        if slot > after:
            return slot
    raise ValidationError(_("The cron expression %s has no next run.", expr))


def _last_slot_before(expr: str, tz_name: str, now: datetime) -> datetime:
    """The latest slot of ``expr`` at or before ``now`` (naive UTC): the first
    slot of the shortest window back from ``now`` that holds one (an hour, a
    day, a month, a year, ...), then forward with :func:`next_slot`."""
    from datetime import timedelta

    for back in (timedelta(hours=1), timedelta(days=1), timedelta(days=31), timedelta(days=366)):
        slot = next_slot(expr, tz_name, now - back)
        if slot <= now:
            break
    else:
        slot = next_slot(expr, tz_name, now - timedelta(days=366 * 8))  # leap days
    while True:
        following = next_slot(expr, tz_name, slot)
        if following > now:
            return slot
        slot = following


class IotaScriptSchedule(models.Model):
    _name = "iota.script.schedule"
    _inherit = ["iota.script.guarded.trigger", "iota.script.audited"]
    # the scheduler's own bookkeeping of slots and runs
    _iota_audit_ignore = frozenset({"next_run", "last_run", "last_execution_id", "missed_count"})
    _iota_audit_values = frozenset({"active", "cron", "tz", "missed_policy"})
    _description = "Script Schedule"
    _order = "next_run, id"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    script_id = fields.Many2one(
        "iota.script", required=True, index=True, ondelete="cascade", check_company=True
    )
    company_id = fields.Many2one(related="script_id.company_id", store=True, index=True)
    cron = fields.Char(
        string="Cron Expression",
        required=True,
        default="0 * * * *",
        help="minute hour day-of-month month day-of-week, e.g. */5 * * * * "
        "(every 5 minutes) or 30 2 * * 1-5 (02:30 on weekdays).",
    )
    tz = fields.Selection(
        _tz_get, string="Timezone", required=True, default=lambda self: self.env.user.tz or "UTC"
    )
    missed_policy = fields.Selection(
        [("skip", "Skip to the next run"), ("catch_up", "Run once to catch up")],
        required=True,
        default="skip",
        help="Skip: slots missed while the server was down, or while the previous run "
        "was still going, are not run. Run once to catch up: they are run once, "
        "as soon as possible.",
    )
    active = fields.Boolean(default=True)
    next_run = fields.Datetime(readonly=True, index=True, copy=False)
    last_run = fields.Datetime(readonly=True, copy=False, help="The slot last enqueued.")
    last_execution_id = fields.Many2one(
        "iota.script.execution", readonly=True, copy=False, ondelete="set null"
    )
    last_state = fields.Selection(
        lambda self: self.env["iota.script.execution"]._fields["state"].selection,
        compute="_compute_last_state",
        string="Last State",
        help="The state of the last run, when you may read that run.",
    )
    missed_count = fields.Integer(readonly=True, copy=False, help="Slots skipped so far.")
    script_state = fields.Selection(related="script_id.state", string="Script Status")
    waits_for_script = fields.Boolean(
        compute="_compute_waits_for_script",
        search="_search_waits_for_script",
        help="Active, but its script is not: its slots are skipped and counted as missed.",
    )
    lateness_sec = fields.Integer(
        string="Lateness (s)", compute="_compute_lateness", help="How late the next run is now."
    )
    is_late = fields.Boolean(compute="_compute_lateness")

    @api.depends("script_id.name", "cron")
    def _compute_name(self):
        for schedule in self:
            schedule.name = f"{schedule.script_id.name or ''} ({schedule.cron or ''})"

    @api.depends("last_execution_id")
    @api.depends_context("uid")
    def _compute_last_state(self):
        # as the current user: the run's record rules apply (a related field
        # would read it as superuser)
        for schedule in self:
            execution = schedule.last_execution_id._filtered_access("read")
            schedule.last_state = execution.state if execution else False

    def _compute_lateness(self):
        now = fields.Datetime.now()
        grace = get_setting(self.env, "schedule_grace_sec")
        for schedule in self:
            late = (now - schedule.next_run).total_seconds() if schedule.next_run else 0
            schedule.lateness_sec = max(0, int(late))
            schedule.is_late = schedule.active and late > grace

    @api.depends("active", "script_id.state", "script_id.active")
    def _compute_waits_for_script(self):
        for schedule in self:
            script = schedule.script_id
            schedule.waits_for_script = schedule.active and not (
                script.active and script.state == "active"
            )

    def _search_waits_for_script(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(_("Search waiting schedules with = or != and a boolean."))
        waiting = [
            "&",
            ("active", "=", True),
            "|",
            ("script_id.state", "!=", "active"),
            ("script_id.active", "=", False),
        ]
        if (operator == "=") == value:
            return waiting
        return ["!", *waiting]

    def action_activate_script(self):
        """Activates the scripts of these schedules (the warning's button)."""
        self.script_id.filtered(lambda s: s.state != "active").action_activate()
        return True

    @api.constrains("cron", "tz")
    def _check_cron(self):
        for schedule in self:
            if not croniter.is_valid(schedule.cron or ""):
                raise ValidationError(_("%s is not a cron expression.", schedule.cron))
            if len(schedule.cron.split()) != 5:
                raise ValidationError(
                    _("Write five fields: minute hour day-of-month month day-of-week.")
                )

    # ---- CRUD -------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_client_values(vals)
        schedules = super().create(vals_list)
        schedules._reset_next_run()
        return schedules

    def write(self, vals):
        self._check_client_values(vals)
        res = super().write(vals)
        if {"cron", "tz", "active"} & set(vals):
            self._reset_next_run()
        return res

    @api.model
    def _check_client_values(self, vals):
        """Refuses the fields only the enqueuer sets, unless in superuser mode (the server)."""
        if _SERVER_FIELDS & set(vals) and not self.env.su:
            raise AccessError(
                _(
                    "%s are set by the scheduler only.",
                    ", ".join(sorted(_SERVER_FIELDS & set(vals))),
                )
            )

    def _reset_next_run(self):
        now = fields.Datetime.now()
        for schedule in self.sudo():
            schedule.next_run = schedule.active and next_slot(schedule.cron, schedule.tz, now)
        self._wake()

    @api.model
    def _unschedule(self, schedule_id):
        """Takes a schedule the enqueuer cannot handle off the timetable
        (``next_run`` empty, one missed slot counted), so the others keep
        running; the log has the error, the form shows it as not scheduled."""
        self.env.cr.execute(
            "UPDATE iota_script_schedule SET next_run = NULL, missed_count = COALESCE(missed_count, 0) + 1 "
            "WHERE id = %s",
            [schedule_id],
        )
        self.invalidate_model(["next_run", "missed_count"])

    def _wake(self):
        soonest = [s.next_run for s in self if s.active and s.next_run]
        if soonest:
            # a slot due now wakes once per transaction; a later one at its time
            cron_wake.wake(self.env, CRON_XMLID, min(soonest))

    # ---- the enqueuer -------------------------------------------------------------
    @api.model
    def _cron_enqueue(self):
        """Enqueues the runs of due schedules, one committed transaction each."""
        cr = self.env.cr
        self.env.flush_all()
        cr.execute(
            "SELECT id FROM iota_script_schedule "
            "WHERE active AND next_run <= now() at time zone 'UTC' ORDER BY next_run"
        )
        due = [row[0] for row in cr.fetchall()]
        cr.commit()
        fired = 0
        for schedule_id in due:
            try:
                fired += self._fire(schedule_id)
                cr.commit()
            except pg_errors.SerializationFailure:
                # another worker handled it between our snapshot and our lock
                cr.rollback()
            except Exception:  # one broken schedule never stops the others
                cr.rollback()
                _logger.exception("iota.script.schedule %s could not be handled", schedule_id)
                self._unschedule(schedule_id)
                cr.commit()
        self.search([("active", "=", True), ("next_run", "!=", False)], limit=1)._wake()
        cr.commit()
        self.env["ir.cron"]._notify_progress(done=fired, remaining=0)
        return fired

    @api.model
    def _fire(self, schedule_id, now=None):
        """Handles one due schedule if no one else does; returns 1 if a run was enqueued.

        Must start a transaction: the lock is its first statement, so its
        snapshot sees the ``next_run`` another worker may have just committed.
        """
        cr = self.env.cr
        now = now or fields.Datetime.now()
        self.flush_model(["next_run", "active"])
        cr.execute(
            """
            SELECT id FROM iota_script_schedule
             WHERE id = %s AND active AND next_run <= %s
             FOR UPDATE SKIP LOCKED
            """,
            [schedule_id, now],
            log_exceptions=False,
        )
        if not cr.fetchone():
            return 0
        schedule = self.sudo().browse(schedule_id)
        slot = schedule.next_run
        # the latest due slot, and how many came before it
        latest, skipped = slot, 0
        while True:
            following = next_slot(schedule.cron, schedule.tz, latest)
            if following > now:
                break
            latest, skipped = following, skipped + 1
            if skipped >= _MAX_COUNTED:
                # a long outage: the last slot before now, the count a lower bound
                latest = max(latest, _last_slot_before(schedule.cron, schedule.tz, now))
                break
        busy = (
            self.env["iota.script.execution"]
            .sudo()
            .search_count(
                [("schedule_id", "=", schedule.id), ("state", "in", ("queued", "running"))]
            )
        )
        late = (now - latest).total_seconds() > get_setting(self.env, "schedule_grace_sec")
        vals = {"next_run": next_slot(schedule.cron, schedule.tz, now)}
        if busy:
            if schedule.missed_policy == "catch_up":
                return 0  # stays due: runs once after the run in progress
            schedule.write({**vals, "missed_count": schedule.missed_count + skipped + 1})
            return 0
        if late and schedule.missed_policy == "skip":
            schedule.write({**vals, "missed_count": schedule.missed_count + skipped + 1})
            return 0
        if schedule.missed_policy == "skip":
            vals["missed_count"] = schedule.missed_count + skipped
        script = schedule.script_id
        if not script.active or script.state != "active":
            # not run whatever the policy: a missed slot (shown, counted)
            _logger.info(
                "iota.script.schedule %s: script %s is not active; slot %s missed",
                schedule.id,
                script.id,
                latest,
            )
            schedule.write({**vals, "missed_count": schedule.missed_count + skipped + 1})
            return 0
        trigger = {
            "type": "cron",
            "schedule_id": schedule.id,
            "cron": schedule.cron,
            "slot": fields.Datetime.to_string(latest),
        }
        execution = self.env["iota.script.execution"]._enqueue(
            RunRequest(script, trigger), schedule=schedule
        )
        schedule.write({**vals, "last_run": latest, "last_execution_id": execution.id})
        return 1

    def action_run_now(self):
        """Queues a run now, outside the schedule (the slots do not move)."""
        for schedule in self:
            schedule.script_id.check_access("read")
            execution = self.env["iota.script.execution"]._enqueue(
                RunRequest(schedule.script_id, {"type": "manual", "schedule_id": schedule.id}),
                schedule=schedule,
            )
            schedule.sudo().last_execution_id = execution
        return True
