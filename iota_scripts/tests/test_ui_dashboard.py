"""The dashboard in a real browser: charts, KPI numbers, click-through."""

from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, common, new_test_user, tagged

from ..tools.sentinel import as_engine
from .test_ui import _screenshots_on_signal

SOURCE = "export default () => 1;\n"


@tagged("post_install", "-at_install")
class TestUiDashboard(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")

    def test_dashboard_tour(self):
        """A new developer of a fresh company opens the dashboard (numbers: see the tour)."""
        company = self.env["res.company"].create({"name": "IOTA Dashboard Co"})
        new_test_user(
            self.env,
            "iota_dash_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
            tz="UTC",
        )
        scripts = {
            name: self.env["iota.script"].create(
                {"name": name, "company_id": company.id, "state": "active", "source": SOURCE}
            )
            for name in ("Dashboard failing", "Dashboard steady")
        }
        now = fields.Datetime.now()
        Execution = as_engine(self.env["iota.script.execution"])
        # 7 runs in 7 days, 5 of them in the last 24 h; 4 of 7 failed (57.1 %)
        rows = [
            ("Dashboard failing", "failed", 1, 120.0),
            ("Dashboard failing", "failed", 2, 150.0),
            ("Dashboard failing", "timed_out", 3, 5000.0),
            ("Dashboard failing", "failed", 50, 90.0),
            ("Dashboard steady", "succeeded", 1, 20.0),
            ("Dashboard steady", "succeeded", 4, 25.0),
            ("Dashboard steady", "succeeded", 60, 30.0),
        ]
        for name, state, hours, wall in rows:
            Execution.create(
                {
                    "script_id": scripts[name].id,
                    "company_id": company.id,
                    "trigger": "manual",
                    "state": state,
                    "date_start": now - timedelta(hours=hours),
                    "wall_ms": wall,
                    "cpu_ms": wall / 2,
                    "heap_peak_bytes": 2_000_000,
                }
            )
        for _i in range(2):
            Execution.create(
                {
                    "script_id": scripts["Dashboard steady"].id,
                    "company_id": company.id,
                    "trigger": "manual",
                    "state": "queued",
                }
            )
        # an event storm held by the quota: 3 events waiting, 2 of them held,
        # beside the 2 scripts' script.created (not dispatched yet): 5 waiting
        Event = as_engine(self.env["iota.script.event"])
        for eta in (False, now + timedelta(seconds=30), now + timedelta(seconds=30)):
            Event.create(
                {
                    "type": "storm.tick",
                    "origin": "script",
                    "company_id": company.id,
                    "script_id": scripts["Dashboard steady"].id,
                    "eta": eta,
                }
            )
        self.assertEqual(
            Event.search_count([("company_id", "=", company.id), ("state", "=", "pending")]), 5
        )
        with _screenshots_on_signal():
            self.start_tour(
                "/odoo/action-iota_scripts.iota_script_dashboard_action",
                "iota_scripts_dashboard_tour",
                login="iota_dash_dev",
            )

    def test_dashboard_empty_tour(self):
        """A user (not a developer) of a company where nothing ran sees the empty state."""
        company = self.env["res.company"].create({"name": "IOTA Quiet Co"})
        new_test_user(
            self.env,
            "iota_dash_user",
            groups="base.group_user,iota_scripts.iota_scripts_group_user",
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
        )
        self.start_tour(
            "/odoo/action-iota_scripts.iota_script_dashboard_action",
            "iota_scripts_dashboard_empty_tour",
            login="iota_dash_user",
        )
