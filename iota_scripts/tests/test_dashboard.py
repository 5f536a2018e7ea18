"""get_dashboard_data: counts, error rates and percentiles against the rows we create."""

import statistics
from datetime import datetime, timedelta

import pytz
from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..tools.sentinel import as_engine
from .common import IotaScriptsCase

SOURCE = "export default () => 1;\n"


def _p(values, q):
    """Python's own percentile (linear interpolation, as percentile_cont)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@tagged("post_install", "-at_install")
class TestDashboard(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.now = fields.Datetime.now()
        cls.s1 = cls._script(SOURCE, name="Dash one")
        cls.s2 = cls._script(SOURCE, name="Dash two")
        cls.sb = cls._script(SOURCE, name="Dash of B", company=cls.company_b)
        # (script, state, hours ago, wall_ms, cpu_ms, heap bytes)
        cls.rows = [
            *[
                (cls.s1, state, hours, wall, wall / 2, 1_000_000 + 1000 * i)
                for i, (state, hours, wall) in enumerate(
                    [
                        ("succeeded", 1, 5.0),
                        ("succeeded", 2, 12.0),
                        ("succeeded", 3, 7.0),
                        ("failed", 4, 40.0),
                        ("succeeded", 26, 100.0),
                        ("succeeded", 27, 3.0),
                        ("timed_out", 28, 9.0),
                        ("succeeded", 50, 15.0),
                        ("failed", 51, 22.0),
                        ("succeeded", 52, 60.0),
                    ]
                )
            ],
            (cls.s2, "succeeded", 1, 30.0, 10.0, 2_000_000),
            (cls.s2, "succeeded", 30, 50.0, 20.0, 3_000_000),
            (cls.s2, "dead", 31, 70.0, 30.0, 4_000_000),
            (cls.s2, "cancelled", 32, 1.0, 1.0, 0),
            (cls.s2, "succeeded", 24 * 10, 80.0, 40.0, 5_000_000),  # 10 days ago
            *[(cls.sb, "failed", h, 500.0, 400.0, 9_000_000) for h in (1, 2, 3, 4, 5)],
        ]
        Execution = as_engine(cls.env["iota.script.execution"])
        for script, state, hours, wall, cpu, heap in cls.rows:
            Execution.create(
                {
                    "script_id": script.id,
                    "company_id": script.company_id.id,
                    "trigger": "manual",
                    "state": state,
                    "date_start": cls.now - timedelta(hours=hours),
                    "wall_ms": wall,
                    "cpu_ms": cpu,
                    "heap_peak_bytes": heap,
                }
            )
        # the queue: not started yet, or in progress
        for script, state in ((cls.s1, "queued"), (cls.s1, "queued"), (cls.s2, "running")):
            Execution.create(
                {
                    "script_id": script.id,
                    "company_id": script.company_id.id,
                    "trigger": "manual",
                    "state": state,
                    "date_start": cls.now if state == "running" else False,
                }
            )
        cls.running_at = cls.now

    def _data(self, user, period_days=7, companies=None, tz="UTC"):
        Execution = self.env["iota.script.execution"].with_user(user)
        context = {"tz": tz}
        if companies:
            context["allowed_company_ids"] = companies.ids
        return Execution.with_context(**context).get_dashboard_data(period_days)

    def _expected(self, rows, period_days, tz="UTC", bucket="day"):
        """What the dashboard should say, computed in Python from ``rows``."""
        since = self.now - timedelta(days=period_days)
        zone = pytz.timezone(tz)
        rows = [r for r in rows if self.now - timedelta(hours=r[2]) >= since]
        per_bucket = {}
        for _script, state, hours, *_rest in rows:
            local = pytz.utc.localize(self.now - timedelta(hours=hours)).astimezone(zone)
            label = local.strftime("%Y-%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d")
            per_bucket.setdefault(label, {}).setdefault(state, 0)
            per_bucket[label][state] += 1
        return rows, per_bucket

    def test_counts_per_day_by_state_and_error_rate(self):
        data = self._data(self.dev_a)
        # the running run started now and counts as a run of today
        rows = [*self.rows, (self.s2, "running", 0, 0.0, 0.0, 0)]
        mine = [r for r in rows if r[0].company_id == self.company_a]
        expected_rows, per_bucket = self._expected(mine, 7)
        self.assertEqual(data["bucket"], "day")
        self.assertEqual(len(data["buckets"]), 8)  # 7 days back to today, both included
        for label, states in per_bucket.items():
            i = data["buckets"].index(label)
            for state, count in states.items():
                self.assertEqual(data["runs_by_state"][state][i], count, (label, state))
            errors = sum(states.get(s, 0) for s in ("failed", "timed_out", "dead"))
            finished = errors + states.get("succeeded", 0)
            if finished:
                self.assertAlmostEqual(data["error_rate"][i], round(100 * errors / finished, 2))
            else:
                self.assertIsNone(data["error_rate"][i])
        self.assertEqual(
            sum(sum(counts) for counts in data["runs_by_state"].values()), len(expected_rows)
        )
        # s1: 3 failed of 10; s2 in 7 days: 1 dead of 3 finished (+1 cancelled, +1 running)
        self.assertEqual(data["totals"]["runs"], len(expected_rows))
        self.assertEqual(data["totals"]["errors"], 4)
        self.assertEqual(data["totals"]["finished"], 13)
        self.assertAlmostEqual(data["totals"]["error_rate"], round(100 * 4 / 13, 2))
        # buckets with no finished run have no rate (a gap, not 0 %)
        self.assertIn(None, data["error_rate"])

    def test_percentiles_match_python(self):
        data = self._data(self.dev_a)
        by_id = {s["script_id"]: s for s in data["scripts"]}
        for script in (self.s1, self.s2):
            finished = [
                r
                for r in self.rows
                if r[0] == script
                and r[1] in ("succeeded", "failed", "timed_out", "dead")
                and r[2] <= 24 * 7
            ]
            got = by_id[script.id]
            for key, column in (("wall_ms", 3), ("cpu_ms", 4), ("heap_bytes", 5)):
                values = sorted(r[column] for r in finished)
                self.assertAlmostEqual(got[f"{key}_p50"], _p(values, 50), places=6, msg=key)
                self.assertAlmostEqual(got[f"{key}_p95"], _p(values, 95), places=6, msg=key)
        self.assertEqual((by_id[self.s1.id]["runs"], by_id[self.s1.id]["errors"]), (10, 3))
        self.assertEqual(by_id[self.s1.id]["error_rate"], 30.0)
        # top failing: most failed runs first, only scripts that failed
        self.assertEqual(
            [(s["script_id"], s["errors"]) for s in data["top_failing"]],
            [(self.s1.id, 3), (self.s2.id, 1)],
        )

    def test_period_and_queue(self):
        day = self._data(self.dev_a, 1)
        self.assertEqual(day["bucket"], "hour")
        self.assertEqual(len(day["buckets"]), 25)
        # s1: 4 runs in the last 24 h (1, 2, 3, 4 h ago), s2: 1 + the running one
        self.assertEqual(day["totals"]["runs"], 6)
        month = self._data(self.dev_a, 30)
        week = self._data(self.dev_a, 7)
        self.assertEqual(month["totals"]["runs"], week["totals"]["runs"] + 1)  # 10 days ago
        self.assertEqual(week["queue"], {"queued": 2, "running": 1, "depth": 3, "dead_runs": 1})
        self.assertEqual(week["dead_letters"], 0)
        # users who may not read deliveries get no dead-letter count
        self.assertIsNone(self._data(self.user_a)["dead_letters"])
        for bad in (0, 5, "7", True, None, 365):
            with self.assertRaises(UserError):
                self.env["iota.script.execution"].get_dashboard_data(bad)

    def test_missed_slots_of_a_draft_script(self):
        """A schedule of a Draft script: its slots count as missed, and the dashboard says why."""
        self.assertEqual(self._data(self.dev_a)["schedules"], {"missed": 0, "waiting": 0})
        draft = self._script(SOURCE, name="Dash draft", state="draft")
        schedule = self.env["iota.script.schedule"].create(
            {"script_id": draft.id, "cron": "*/5 * * * *", "tz": "UTC"}
        )
        # due since 09:50, found at 10:00:20: the 09:50, 09:55 and 10:00 slots are missed
        schedule.sudo().next_run = datetime(2026, 5, 1, 9, 50)
        Schedule = self.env["iota.script.schedule"]
        self.assertEqual(Schedule._fire(schedule.id, now=datetime(2026, 5, 1, 10, 0, 20)), 0)
        self.assertEqual(schedule.missed_count, 3)
        self.assertEqual(self._data(self.dev_a)["schedules"], {"missed": 3, "waiting": 1})
        # another company sees none of it
        self.assertEqual(self._data(self.dev_b)["schedules"], {"missed": 0, "waiting": 0})
        draft.action_activate()
        self.assertEqual(self._data(self.dev_a)["schedules"], {"missed": 3, "waiting": 0})

    def test_time_zone_buckets(self):
        tz = "Pacific/Kiritimati"  # UTC+14: days cut elsewhere than in UTC
        data = self._data(self.dev_a, tz=tz)
        rows = [*self.rows, (self.s2, "running", 0, 0.0, 0.0, 0)]
        mine = [r for r in rows if r[0].company_id == self.company_a]
        _rows, per_bucket = self._expected(mine, 7, tz=tz)
        for label, states in per_bucket.items():
            i = data["buckets"].index(label)
            for state, count in states.items():
                self.assertEqual(data["runs_by_state"][state][i], count, (label, state))

    def test_company_scoping(self):
        # a user of company A never sees company B's runs
        data = self._data(self.dev_a)
        ids = {s["script_id"] for s in data["scripts"]}
        self.assertNotIn(self.sb.id, ids)
        self.assertNotIn(self.sb.id, {s["script_id"] for s in data["top_failing"]})
        # an administrator of both sees what the company switcher selects
        admin = self.env.ref("base.user_admin")
        admin.company_ids |= self.company_a | self.company_b
        only_a = self._data(admin, companies=self.company_a)
        self.assertEqual(only_a["totals"], data["totals"])
        both = self._data(admin, companies=self.company_a | self.company_b)
        self.assertEqual(both["totals"]["runs"], data["totals"]["runs"] + 5)
        self.assertEqual(both["top_failing"][0]["script_id"], self.sb.id)
        only_b = self._data(self.dev_b)
        self.assertEqual(only_b["totals"]["runs"], 5)
        self.assertEqual(only_b["queue"]["depth"], 0)

    def test_empty_and_real_run(self):
        Execution = self.env["iota.script.execution"]
        company = self.env["res.company"].create({"name": "IOTA Empty Co"})
        admin = self.env.ref("base.user_admin")
        admin.company_ids |= company
        empty = self._data(admin, companies=company)
        self.assertEqual(empty["totals"]["runs"], 0)
        self.assertEqual((empty["scripts"], empty["top_failing"]), ([], []))
        self.assertEqual(set(empty["error_rate"]), {None})
        # a run through the engine is counted with its measured duration
        script = self._script(SOURCE, company=company, name="Real run")
        execution = script.action_run()
        self.assertEqual(execution.state, "succeeded")
        data = (
            Execution.with_user(admin)
            .with_context(allowed_company_ids=company.ids)
            .get_dashboard_data(1)
        )
        self.assertEqual(data["totals"]["runs"], 1)
        self.assertAlmostEqual(data["scripts"][0]["wall_ms_p50"], execution.wall_ms)
        self.assertGreater(data["scripts"][0]["wall_ms_p50"], 0)
