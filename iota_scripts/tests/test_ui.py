from odoo.tests import HttpCase, common, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestUi(HttpCase):
    def test_run_dialog_tour(self):
        # Odoo skips browser tests (with an info line) when websocket-client
        # is missing: a skipped tour is not a passing one.
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        developer = new_test_user(
            self.env,
            "iota_tour_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )
        self.env["iota.script"].create(
            {
                "name": "Tour script",
                "state": "active",
                "company_id": developer.company_id.id,
                "source": 'export default () => { sdk.log.info("hello from the tour"); return "tour-ok"; };\n',
            }
        )
        self.start_tour(
            "/odoo/action-iota_scripts.iota_script_action",
            "iota_scripts_run_tour",
            login="iota_tour_dev",
        )
