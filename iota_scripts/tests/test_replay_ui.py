"""Tours of replay and of the waterfall, in a real browser (issue 12 acceptance)."""

from odoo.tests import HttpCase, common, new_test_user, tagged

from .common import emit_on_create, work_queue
from .test_profile import PROFILED
from .test_replay import BUGGY, FIXED
from .test_ui import _screenshots_on_signal


@tagged("post_install", "-at_install")
class TestReplayUi(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        self.developer = new_test_user(
            self.env,
            "iota_replay_dev",
            groups="base.group_user,base.group_partner_manager,iota_scripts.iota_scripts_group_developer",
        )
        company = self.developer.company_id
        self.script = self.env["iota.script"].create(
            {
                "name": "Greeter (replay tour)",
                "state": "active",
                "company_id": company.id,
                "source": BUGGY,
                "run_as_user_id": self.developer.id,
            }
        )
        self.env["iota.script.subscription"].create(
            {"event_type": "partner.replayed", "script_id": self.script.id}
        )
        emit_on_create(self.env, "partner.replayed")
        self.env["res.partner"].create({"name": "Tour Ada", "company_id": company.id})
        work_queue(self)
        self.run_ = self.script.execution_ids.filtered(lambda e: e.trigger == "event")
        self.assertEqual((self.run_.state, self.run_.error_code), ("failed", "script_error"))

    def _tour(self, url, tour):
        with _screenshots_on_signal():
            self.start_tour(url, tour, login="iota_replay_dev")

    def test_failed_event_run_replayed_on_a_fixed_draft(self):
        executions = self.env["iota.script.execution"].search_count([])
        version = self.script.version_id
        self._tour(
            f"/odoo/action-iota_scripts.iota_script_action/{self.script.id}",
            "iota_scripts_replay_fixed_draft_tour",
        )
        # the draft was never saved, and the replay left no run behind
        self.script.invalidate_recordset()
        self.assertEqual(self.script.version_id, version)
        self.assertEqual(self.script.source, BUGGY)
        self.assertNotEqual(FIXED, BUGGY)
        self.assertEqual(self.env["iota.script.execution"].search_count([]), executions)

    def test_the_waterfall_is_drawn(self):
        self._tour(
            f"/odoo/action-iota_scripts.iota_script_execution_action/{self.run_.id}",
            "iota_scripts_waterfall_tour",
        )

    def test_profile_draws_a_flame_graph(self):
        script = self.env["iota.script"].create(
            {
                "name": "Profiled (tour)",
                "state": "active",
                "company_id": self.developer.company_id.id,
                "source": PROFILED,
                "run_as_user_id": self.developer.id,
            }
        )
        self._tour(
            f"/odoo/action-iota_scripts.iota_script_action/{script.id}", "iota_scripts_profile_tour"
        )
        self.assertTrue(script.execution_ids.profile_json)
