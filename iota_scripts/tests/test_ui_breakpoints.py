"""Snapshot breakpoints in a real browser (issue 12 §4 acceptance): a
breakpoint armed in the editor for the next run of a scheduled script
captures its locals, shown hit by hit in the execution form."""

import json
from datetime import datetime

from odoo.tests import HttpCase, new_test_user, tagged

from .common import work_queue
from .test_breakpoints import LOOP
from .test_ui import _screenshots_on_signal


@tagged("post_install", "-at_install")
class TestBreakpointsUi(HttpCase):
    def setUp(self):
        super().setUp()
        self.developer = new_test_user(
            self.env,
            "iota_breakpoint_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )
        self.script = self.env["iota.script"].create(
            {
                "name": "Breakpoint tour script",
                "state": "active",
                "company_id": self.developer.company_id.id,
                "source": LOOP,
            }
        )
        self.schedule = self.env["iota.script.schedule"].create(
            {"script_id": self.script.id, "cron": "*/5 * * * *", "tz": "UTC"}
        )

    def _tour(self, url, tour):
        with _screenshots_on_signal():
            self.start_tour(url, tour, login="iota_breakpoint_dev")

    def test_a_breakpoint_armed_for_the_next_scheduled_run_captures_its_locals(self):
        self._tour(
            f"/odoo/action-iota_scripts.iota_script_action/{self.script.id}",
            "iota_scripts_breakpoint_arm_tour",
        )
        bp = self.env["iota.script.breakpoint"].search([("script_id", "=", self.script.id)])
        self.assertEqual((bp.line, bp.runs_left), (5, 1))

        # the schedule's next slot comes: a worker runs it
        self.schedule.sudo().next_run = datetime(2026, 5, 1, 10, 0)
        fired = self.env["iota.script.schedule"]._fire(
            self.schedule.id, now=datetime(2026, 5, 1, 10, 0, 20)
        )
        self.assertEqual(fired, 1)
        work_queue(self)
        execution = self.schedule.last_execution_id
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        hits = json.loads(execution.breakpoint_hits_json)
        self.assertEqual([h["vars"]["n"] for h in hits], [1, 2, 3])
        self.assertEqual(bp.runs_left, 0)

        self._tour(
            f"/odoo/action-iota_scripts.iota_script_execution_action/{execution.id}",
            "iota_scripts_breakpoint_hits_tour",
        )
