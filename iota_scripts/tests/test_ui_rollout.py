"""A gradual rollout in a real browser: the dashboard's comparison, the form's rollback."""

from odoo.tests import HttpCase, common, new_test_user, tagged

from ..run.request import RunRequest
from ..tools import rollout


@tagged("post_install", "-at_install")
class TestUiRollout(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")

    def test_rollout_tours(self):
        company = self.env["res.company"].create({"name": "IOTA Rollout Co"})
        dev = new_test_user(
            self.env,
            "iota_rollout_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
            tz="UTC",
        )
        script = self.env["iota.script"].create(
            {
                "name": "Rollout UI",
                "company_id": company.id,
                "state": "active",
                "source": "export default () => 1;\n",
                "user_id": dev.id,
                "rollout_percent": 50.0,
                "rollout_min_runs": 1000,
            }
        )
        script.rollout_mode = True
        script.source = "export default () => { throw new Error('v2 broke'); };\n"
        candidate = script.candidate_version_id
        # 4 partners on each channel, as drawn for this candidate
        chosen, stable = [], []
        Partner = self.env["res.partner"]
        i = 0
        while len(chosen) < 4 or len(stable) < 4:
            partner = Partner.create({"name": f"R{i}", "company_id": company.id})
            i += 1
            on_candidate = rollout.chosen(candidate.id, f"res.partner:{partner.id}", 50)
            bucket = chosen if on_candidate else stable
            if len(bucket) < 4:
                bucket.append(partner)
        for partner in chosen + stable:
            self.env["iota.script.execution"]._run(
                RunRequest(script, {"type": "automation"}, records=partner)
            )
        self.start_tour(
            "/odoo/action-iota_scripts.iota_script_dashboard_action",
            "iota_scripts_rollout_dashboard_tour",
            login="iota_rollout_dev",
        )
        self.start_tour(
            f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
            "iota_scripts_rollout_form_tour",
            login="iota_rollout_dev",
        )
        self.assertFalse(script.candidate_version_id)
