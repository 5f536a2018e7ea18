"""Snapshot breakpoints armed for live runs, and in dry-runs (issue 12 §4), on real Odoo."""

import json
from datetime import datetime

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..run.dry_run import dry_run
from ..run.request import RunRequest
from .common import IotaScriptsCase, work_queue

LOOP = (
    "export default async function main(ctx) {\n"  # 1
    "  const apiToken = 'k-123';\n"  # 2
    "  let total = 0;\n"  # 3
    "  for (const n of [1, 2, 3]) {\n"  # 4
    "    total += n;\n"  # 5
    "  }\n"  # 6
    "  return { total, slot: ctx.trigger.slot };\n"  # 7
    "}\n"  # 8
)


@tagged("post_install", "-at_install")
class TestBreakpoints(IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.script = self._script(LOOP)
        self.Breakpoint = self.env["iota.script.breakpoint"].with_user(self.dev_a)
        self.schedule = self.env["iota.script.schedule"].create(
            {"script_id": self.script.id, "cron": "*/5 * * * *", "tz": "UTC"}
        )

    def _set(self, *items):
        return self.Breakpoint.set_from_editor(self.script.id, list(items), LOOP)

    def _run_slot(self, minute):
        """One slot of the schedule, fired and run by a worker: its execution."""
        self.schedule.sudo().next_run = datetime(2026, 5, 1, 10, minute)
        fired = self.env["iota.script.schedule"]._fire(
            self.schedule.id, now=datetime(2026, 5, 1, 10, minute, 20)
        )
        self.assertEqual(fired, 1)
        work_queue(self)
        execution = self.schedule.last_execution_id
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        return execution

    def test_armed_for_the_next_two_runs_of_a_schedule(self):
        state = self._set({"line": 5, "condition": "n >= 2"})
        self.assertEqual([b["line"] for b in state["breakpoints"]], [5])
        # set, not armed: a live run takes nothing
        first = self._run_slot(0)
        self.assertFalse(first.breakpoint_hit_count)
        self.assertFalse(first.breakpoint_hits_json)

        state = self.Breakpoint.arm(self.script.id, 2)
        self.assertEqual(state["breakpoints"][0]["runs_left"], 2)
        runs = [self._run_slot(5), self._run_slot(10), self._run_slot(15)]
        counts = [r.breakpoint_hit_count for r in runs]
        self.assertEqual(counts, [2, 2, 0])
        hits = json.loads(runs[0].breakpoint_hits_json)
        self.assertEqual([h["vars"]["n"] for h in hits], [2, 3])
        self.assertEqual([h["vars"]["total"] for h in hits], [1, 3])
        self.assertEqual(hits[0]["vars"]["apiToken"], "[masked]")
        self.assertEqual(hits[0]["vars"]["ctx"]["trigger"]["type"], "cron")
        self.assertEqual(hits[0]["stack"], [{"fn": "main", "line": 5}])
        # the run itself is unchanged
        self.assertEqual(json.loads(runs[0].result_json)["total"], 6)
        bp = self.env["iota.script.breakpoint"].search([("script_id", "=", self.script.id)])
        self.assertEqual(bp.runs_left, 0)
        self.assertNotIn(self.script.id, bp._iota_armed_script_ids())
        # arming is in the audit trail
        audit = self.env["iota.script.audit"].search(
            [("res_model", "=", "iota.script.breakpoint"), ("res_id", "=", bp.id)]
        )
        self.assertIn("edit", audit.mapped("action"))

    def test_a_logpoint_logs_in_a_live_run(self):
        self._set({"line": 7, "log": "total={total}"})
        self.Breakpoint.arm(self.script.id, 1)
        run = self._run_slot(0)
        logs = json.loads(run.log_json)
        self.assertEqual(
            [(r["message"], r["fields"]) for r in logs], [("total=6", {"logpoint": 7})]
        )

    def test_a_new_version_does_not_take_the_old_versions_breakpoints(self):
        self._set({"line": 5})
        self.Breakpoint.arm(self.script.id, 3)
        self.script.source = "\n" + LOOP  # every line moves down one
        run = self._run_slot(0)
        self.assertFalse(run.breakpoint_hit_count)
        # the editor shows the new version's (none)
        self.assertEqual(self.Breakpoint.editor_state(self.script.id)["breakpoints"], [])

    def test_lines_without_a_statement_and_bad_conditions_are_refused(self):
        with self.assertRaisesRegex(ValidationError, "line 6 has no statement"):
            self._set({"line": 6})
        with self.assertRaisesRegex(ValidationError, "may not assign"):
            self._set({"line": 5, "condition": "total = 0"})
        with self.assertRaisesRegex(UserError, "Save the script first"):
            self.Breakpoint.set_from_editor(self.script.id, [{"line": 5}], LOOP + "\n// edited")
        with self.assertRaisesRegex(UserError, "Set a breakpoint first"):
            self.Breakpoint.arm(self.script.id, 1)
        with self.assertRaises(UserError):
            self.Breakpoint.arm(self.script.id, 1000)

    def test_other_companies_cannot_see_or_arm(self):
        self._set({"line": 5})
        other = self.env["iota.script.breakpoint"].with_user(self.dev_b)
        self.assertFalse(other.search([("script_id", "=", self.script.id)]))
        with self.assertRaises(AccessError):
            other.arm(self.script.id, 1)
        with self.assertRaises(AccessError):
            self.env["iota.script.breakpoint"].with_user(self.user_a).editor_state(self.script.id)

    def test_a_dry_run_takes_the_breakpoints_without_arming(self):
        self._set({"line": 5})
        script = self.script.with_user(self.dev_a)
        Execution = self.env["iota.script.execution"].with_user(self.dev_a)
        report = dry_run(Execution, RunRequest(script, {"type": "manual"}))
        self.assertEqual([h["vars"]["n"] for h in report["hits"]], [1, 2, 3])
        bp = self.env["iota.script.breakpoint"].search([("script_id", "=", self.script.id)])
        self.assertEqual(bp.runs_left, 0)

    def test_a_run_with_hits_is_kept_whatever_the_recording_policy(self):
        self.script.write({"record_policy": "failures"})
        Execution = self.env["iota.script.execution"]
        trigger = {"type": "automation", "slot": None}
        self.assertFalse(Execution._run(RunRequest(self.script, trigger)))  # not kept
        self._set({"line": 5})
        self.Breakpoint.arm(self.script.id, 1)
        run = Execution._run(RunRequest(self.script, trigger))
        self.assertEqual((run.state, run.breakpoint_hit_count), ("succeeded", 3))
