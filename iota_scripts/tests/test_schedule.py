import json
import threading
from datetime import datetime, timedelta
from itertools import pairwise
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged

from ..models.iota_script_schedule import next_slot
from .common import IotaScriptsCase, RealCursorMixin

HELLO = "export default (ctx) => ({ trigger: ctx.trigger });"


@tagged("post_install", "-at_install")
class TestNextSlot(TransactionCase):
    def test_spring_forward_gap_runs_an_hour_later_once(self):
        # 2026-03-29 in Brussels: 02:00 CET becomes 03:00 CEST; 02:30 does not exist
        day_before = datetime(2026, 3, 28, 1, 30)  # 02:30 CET
        slot = next_slot("30 2 * * *", "Europe/Brussels", day_before)
        self.assertEqual(slot, datetime(2026, 3, 29, 1, 30))  # 03:30 CEST
        self.assertEqual(
            next_slot("30 2 * * *", "Europe/Brussels", slot), datetime(2026, 3, 30, 0, 30)
        )

    def test_fall_back_runs_once_at_the_first_occurrence(self):
        # 2026-10-25 in Brussels: 03:00 CEST becomes 02:00 CET; 02:30 happens twice
        day_before = datetime(2026, 10, 24, 0, 30)  # 02:30 CEST
        slot = next_slot("30 2 * * *", "Europe/Brussels", day_before)
        self.assertEqual(slot, datetime(2026, 10, 25, 0, 30))  # the first 02:30 (CEST)
        self.assertEqual(
            next_slot("30 2 * * *", "Europe/Brussels", slot), datetime(2026, 10, 26, 1, 30)
        )

    def test_slots_strictly_increase_across_both_transitions(self):
        gaps = {}
        for start in (datetime(2026, 3, 28, 23, 0), datetime(2026, 10, 24, 23, 0)):
            slots, at = [], start
            for _i in range(20):
                at = next_slot("*/15 * * * *", "Europe/Brussels", at)
                slots.append(at)
            self.assertEqual(slots, sorted(set(slots)))
            gaps[start.month] = max(b - a for a, b in pairwise(slots))
        # spring: every 15 minutes of real time, the gap hour included
        self.assertEqual(gaps[3], timedelta(minutes=15))
        # fall: each wall time once, so the repeated 02:00-02:45 (CET) does not run again
        self.assertEqual(gaps[10], timedelta(minutes=75))

    def test_month_end(self):
        self.assertEqual(
            next_slot("0 0 31 * *", "UTC", datetime(2026, 1, 31, 0, 0)), datetime(2026, 3, 31)
        )
        # midnight on 31 March in Brussels is 22:00 UTC on the 30th (CEST)
        self.assertEqual(
            next_slot("0 0 31 * *", "Europe/Brussels", datetime(2026, 1, 30, 12, 0)),
            datetime(2026, 1, 30, 23, 0),
        )
        self.assertEqual(
            next_slot("0 0 31 * *", "Europe/Brussels", datetime(2026, 2, 1)),
            datetime(2026, 3, 30, 22, 0),
        )

    def test_every_minute(self):
        self.assertEqual(
            next_slot("*/1 * * * *", "UTC", datetime(2026, 5, 1, 10, 0, 30)),
            datetime(2026, 5, 1, 10, 1),
        )


@tagged("post_install", "-at_install")
class TestSchedule(IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.script = self._script(HELLO)
        self.now = datetime(2026, 5, 1, 10, 0, 20)

    def _schedule(self, **values):
        return self.env["iota.script.schedule"].create(
            {"script_id": self.script.id, "cron": "*/5 * * * *", "tz": "UTC", **values}
        )

    def _fire(self, schedule, next_run):
        schedule.sudo().next_run = next_run
        return self.env["iota.script.schedule"]._fire(schedule.id, now=self.now)

    def _queued(self, schedule):
        return self.env["iota.script.execution"].search([("schedule_id", "=", schedule.id)])

    def test_next_run_set_on_save_and_bad_cron_refused(self):
        schedule = self._schedule()
        self.assertGreater(schedule.next_run, fields.Datetime.now() - timedelta(seconds=1))
        self.assertEqual(schedule.next_run.minute % 5, 0)
        with self.assertRaises(ValidationError):
            self._schedule(cron="61 * * * *")
        with self.assertRaises(ValidationError):
            self._schedule(cron="* * * * * *")

    def test_due_slot_is_enqueued_and_moves_to_the_future(self):
        schedule = self._schedule()
        self.assertEqual(self._fire(schedule, datetime(2026, 5, 1, 10, 0)), 1)
        execution = self._queued(schedule)
        self.assertEqual(execution.state, "queued")
        trigger = json.loads(execution.trigger_json)
        self.assertEqual((trigger["type"], trigger["slot"]), ("cron", "2026-05-01 10:00:00"))
        self.assertEqual(schedule.next_run, datetime(2026, 5, 1, 10, 5))
        self.assertEqual(schedule.last_run, datetime(2026, 5, 1, 10, 0))
        self.assertEqual(schedule.last_execution_id, execution)
        # not due any more: nothing else is enqueued
        self.assertEqual(self.env["iota.script.schedule"]._fire(schedule.id, now=self.now), 0)

    def test_skip_policy_drops_missed_slots(self):
        schedule = self._schedule()
        # the server was down for an hour: 12 slots passed, the latest 20 s ago
        self.assertEqual(self._fire(schedule, datetime(2026, 5, 1, 9, 0)), 1)
        self.assertEqual(schedule.missed_count, 12)
        self.assertEqual(len(self._queued(schedule)), 1)
        self.assertEqual(schedule.last_run, datetime(2026, 5, 1, 10, 0))
        # found too late (past the grace): not run at all
        schedule.cron = "0 3 * * *"
        self.assertEqual(self._fire(schedule, datetime(2026, 4, 30, 3, 0)), 0)
        self.assertEqual(len(self._queued(schedule)), 1)
        self.assertEqual(schedule.next_run, datetime(2026, 5, 2, 3, 0))

    def test_catch_up_policy_runs_once(self):
        schedule = self._schedule(cron="0 3 * * *", missed_policy="catch_up")
        self.assertEqual(self._fire(schedule, datetime(2026, 4, 28, 3, 0)), 1)
        self.assertEqual(len(self._queued(schedule)), 1)
        self.assertEqual(schedule.next_run, datetime(2026, 5, 2, 3, 0))
        self.assertEqual(schedule.last_run, datetime(2026, 5, 1, 3, 0))

    def test_no_overlap(self):
        skip = self._schedule()
        self.assertEqual(self._fire(skip, datetime(2026, 5, 1, 10, 0)), 1)
        # the run is still queued when the next slot comes: skipped
        self.assertEqual(self._fire(skip, datetime(2026, 5, 1, 10, 0)), 0)
        self.assertEqual(len(self._queued(skip)), 1)
        self.assertEqual(skip.missed_count, 1)
        self.assertEqual(skip.next_run, datetime(2026, 5, 1, 10, 5))
        catch_up = self._schedule(missed_policy="catch_up")
        self.assertEqual(self._fire(catch_up, datetime(2026, 5, 1, 10, 0)), 1)
        self.assertEqual(self._fire(catch_up, datetime(2026, 5, 1, 10, 0)), 0)
        # stays due, to run once after the run in progress
        self.assertEqual(catch_up.next_run, datetime(2026, 5, 1, 10, 0))
        self.assertEqual(len(self._queued(catch_up)), 1)

    def test_draft_script_slots_are_missed_and_shown(self):
        """A schedule of a Draft script runs nothing: its slots count as missed, it warns, Activate fixes it."""
        self.script.state = "draft"
        schedule = self._schedule(missed_policy="catch_up")
        self.assertTrue(schedule.waits_for_script)
        Schedule = self.env["iota.script.schedule"]
        self.assertIn(schedule, Schedule.search([("waits_for_script", "=", True)]))
        self.assertNotIn(schedule, Schedule.search([("waits_for_script", "=", False)]))
        # two slots passed (09:55 and 10:00, the latest 20 s ago): both missed
        self.assertEqual(self._fire(schedule, datetime(2026, 5, 1, 9, 55)), 0)
        self.assertFalse(self._queued(schedule))
        self.assertEqual(schedule.missed_count, 2)
        self.assertEqual(schedule.next_run, datetime(2026, 5, 1, 10, 5))
        schedule.action_activate_script()
        self.assertEqual(self.script.state, "active")
        self.assertFalse(schedule.waits_for_script)
        self.assertIn(schedule, Schedule.search([("waits_for_script", "=", False)]))
        self.assertEqual(self._fire(schedule, datetime(2026, 5, 1, 10, 0)), 1)
        self.assertEqual(schedule.missed_count, 2)
        # an inactive schedule does not wait for anything
        schedule.active = False
        self.script.state = "disabled"
        self.assertFalse(schedule.waits_for_script)

    def test_lateness_visible(self):
        schedule = self._schedule()
        schedule.sudo().next_run = fields.Datetime.now() - timedelta(hours=1)
        schedule.invalidate_recordset(["lateness_sec", "is_late"])
        self.assertGreaterEqual(schedule.lateness_sec, 3600)
        self.assertTrue(schedule.is_late)
        self.assertEqual(
            self.env["iota.script.schedule"].search([("id", "=", schedule.id)]).is_late, True
        )


@tagged("post_install", "-at_install")
class TestScheduleWorkers(RealCursorMixin, TransactionCase):
    def setUp(self):
        super().setUp()
        self.script_id = self._committed_script(HELLO)
        with self._env() as env:
            schedule = env["iota.script.schedule"].create(
                {"script_id": self.script_id, "cron": "*/1 * * * *", "tz": "UTC"}
            )
            self.schedule_id = schedule.id
            self._make_due(env)

    def _make_due(self, env):
        env.flush_all()
        env.cr.execute(
            "UPDATE iota_script_schedule SET next_run = date_trunc('minute', "
            "now() at time zone 'UTC') WHERE id = %s",
            [self.schedule_id],
        )

    def _runs(self):
        with self._env() as env:
            return env["iota.script.execution"].search_count(
                [("schedule_id", "=", self.schedule_id)]
            )

    def test_a_locked_schedule_is_skipped_then_not_due(self):
        with self.registry.cursor() as holder:
            holder.execute(
                "SELECT id FROM iota_script_schedule WHERE id = %s FOR UPDATE",
                [self.schedule_id],
            )
            with self._env() as env:
                self.assertEqual(env["iota.script.schedule"]._cron_enqueue(), 0)
            holder.rollback()
        with self._env() as env:
            self.assertEqual(env["iota.script.schedule"]._cron_enqueue(), 1)
        with self._env() as env:
            self.assertEqual(env["iota.script.schedule"]._cron_enqueue(), 0)
        self.assertEqual(self._runs(), 1)

    def test_two_workers_on_the_same_due_schedule_run_it_once(self):
        for _round in range(3):
            fired, errors = [], []
            barrier = threading.Barrier(2)

            def work(barrier=barrier, fired=fired, errors=errors):
                try:
                    with self._env() as env:
                        barrier.wait(5)
                        fired.append(env["iota.script.schedule"]._cron_enqueue())
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=work) for _i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertFalse(errors)
            self.assertEqual(sorted(fired), [0, 1])
            # let the next round find it due again, its run no longer in progress
            with self._env() as env:
                env.cr.execute(
                    "UPDATE iota_script_execution SET state = 'succeeded' WHERE schedule_id = %s",
                    [self.schedule_id],
                )
                self._make_due(env)
        self.assertEqual(self._runs(), 3)


@tagged("post_install", "-at_install")
class TestScheduleGrace(IotaScriptsCase):
    def test_grace_setting(self):
        script = self._script(HELLO)
        schedule = self.env["iota.script.schedule"].create(
            {"script_id": script.id, "cron": "0 3 * * *", "tz": "UTC"}
        )
        schedule.sudo().next_run = datetime(2026, 5, 1, 3, 0)
        now = datetime(2026, 5, 1, 3, 10)
        with patch.dict("os.environ", {"IOTA_SCRIPTS_SCHEDULE_GRACE_SEC": "900"}):
            self.assertEqual(self.env["iota.script.schedule"]._fire(schedule.id, now=now), 1)
