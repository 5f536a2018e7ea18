"""Threat: calendar edge cases stop or flood the scheduler.

A cron expression with no date at all, a leap day, a long outage on an
every-minute schedule, or one broken schedule among healthy ones: the
scheduler refuses at save what can never run, runs the rest on time, and
no schedule can stop the others or keep a worker busy for minutes.
"""

import time
from datetime import datetime, timedelta

from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged

from ..models.iota_script_schedule import next_slot
from .common import IotaScriptsCase, RealCursorMixin

HELLO = "export default (ctx) => ({ slot: ctx.trigger.slot });"


@tagged("post_install", "-at_install")
class TestThreatCalendarEdges(IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.script = self._script(HELLO)

    def _schedule(self, cron, **values):
        return self.env["iota.script.schedule"].create(
            {"script_id": self.script.id, "cron": cron, "tz": "UTC", **values}
        )

    def test_an_expression_with_no_date_is_refused_at_save_by_name(self):
        for cron in ("0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"):
            with self.subTest(cron=cron), self.assertRaisesRegex(ValidationError, "no next run"):
                self._schedule(cron)
        # a bad expression already stored (an import, SQL) is refused on edit too
        schedule = self._schedule("0 0 * * *")
        with self.assertRaisesRegex(ValidationError, "no next run"):
            schedule.cron = "0 0 30 2 *"

    def test_leap_day_and_year_end(self):
        self.assertEqual(
            next_slot("0 0 29 2 *", "UTC", datetime(2026, 3, 1)), datetime(2028, 2, 29)
        )
        self.assertEqual(
            next_slot("59 23 31 12 *", "Pacific/Kiritimati", datetime(2026, 12, 31, 10)),
            datetime(2027, 12, 31, 9, 59),  # UTC+14: already 2027 there
        )
        self.assertEqual(
            next_slot("0 0 1 1 *", "UTC", datetime(2026, 12, 31, 23, 59, 59)), datetime(2027, 1, 1)
        )

    def test_half_hour_daylight_saving_and_a_skipped_day(self):
        # Lord Howe Island moves by 30 minutes: 02:00 on 2026-10-04 does not exist
        slot = next_slot("0 2 * * *", "Australia/Lord_Howe", datetime(2026, 10, 3, 12))
        self.assertEqual(slot, datetime(2026, 10, 3, 15, 30))  # 02:30 local, once
        self.assertGreater(next_slot("0 2 * * *", "Australia/Lord_Howe", slot), slot)
        # Samoa skipped 2011-12-30 entirely: the next midnight after the 29th is the 31st
        after = next_slot("0 0 * * *", "Pacific/Apia", datetime(2011, 12, 29, 11))
        self.assertEqual(after, datetime(2011, 12, 30, 10))  # 2011-12-31 00:00 at UTC+14

    def test_a_year_of_missed_minutes_is_handled_in_one_bounded_step(self):
        schedule = self._schedule("* * * * *")
        schedule.sudo().next_run = datetime(2025, 5, 1, 10, 0)
        now = datetime(2026, 5, 1, 10, 0, 20)
        started = time.monotonic()
        fired = self.env["iota.script.schedule"]._fire(schedule.id, now=now)
        elapsed = time.monotonic() - started
        self.assertEqual(fired, 1)  # the latest slot, 20 s ago, runs; the year before is missed
        self.assertEqual(schedule.next_run, datetime(2026, 5, 1, 10, 1))
        self.assertGreaterEqual(schedule.missed_count, 1000)
        self.assertLess(elapsed, 20, "a year of slots must not be walked one by one")


@tagged("post_install", "-at_install")
class TestThreatCalendarBrokenSchedule(RealCursorMixin, TransactionCase):
    def test_a_broken_stored_schedule_never_stops_the_others(self):
        script_id = self._committed_script(HELLO)
        with self._env() as env:
            Schedule = env["iota.script.schedule"]
            broken = Schedule.create({"script_id": script_id, "cron": "0 3 * * *", "tz": "UTC"})
            healthy = Schedule.create({"script_id": script_id, "cron": "* * * * *", "tz": "UTC"})
            env.flush_all()
            due = datetime.utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
            # stored behind the constraint's back: no date ever matches; due first
            env.cr.execute(
                "UPDATE iota_script_schedule SET cron = '0 0 30 2 *', next_run = %s WHERE id = %s",
                [due - timedelta(minutes=1), broken.id],
            )
            env.cr.execute(
                "UPDATE iota_script_schedule SET next_run = %s WHERE id = %s", [due, healthy.id]
            )
            ids = broken.id, healthy.id
        with self._env() as env, self.assertLogs("odoo.addons.iota_scripts", "ERROR") as logs:
            fired = env["iota.script.schedule"]._cron_enqueue()
        self.assertEqual(fired, 1)
        self.assertIn(f"iota.script.schedule {ids[0]} could not be handled", logs.output[0])
        with self._env() as env:
            broken, healthy = env["iota.script.schedule"].browse(ids)
            self.assertFalse(broken.next_run)
            self.assertEqual(broken.missed_count, 1)
            self.assertEqual(
                env["iota.script.execution"].search_count([("schedule_id", "=", healthy.id)]), 1
            )
            self.assertGreater(healthy.next_run, due)
