"""A new user's path through the studio in a real browser (issue 18), without debug mode."""

import json

from odoo.tests import HttpCase, common, tagged

from .test_ui import _screenshots_on_signal


@tagged("post_install", "-at_install")
class TestNewUserUi(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")

    def test_new_user_path(self):
        """Settings, a script from a template, run, schedule, automation rule, endpoint."""
        admin = self.env.ref("base.user_admin")
        admin.tz = "UTC"
        with _screenshots_on_signal():
            self.start_tour("/odoo", "iota_scripts_new_user_tour", login="admin", timeout=300)
        script = self.env["iota.script"].search([("name", "=", "Manual report")])
        self.assertEqual(len(script), 1)
        self.assertEqual(script.state, "active")  # activated from the dashboard's schedule list
        self.assertIn("sdk.db.searchRead", script.source)
        self.assertEqual(
            script.execution_ids.filtered(lambda e: e.trigger == "manual").state, "succeeded"
        )
        self.assertEqual(script.schedule_ids.mapped("cron"), ["*/5 * * * *"])
        # the one way to schedule: no Odoo scheduled action was made
        actions = self.env["ir.actions.server"].search([("iota_script_id", "=", script.id)])
        self.assertFalse(self.env["ir.cron"].search([("ir_actions_server_id", "in", actions.ids)]))
        rule = self.env["base.automation"].search([("action_server_ids", "in", actions.ids)])
        self.assertEqual(len(rule), 1)
        self.assertEqual((rule.model_id.model, rule.trigger), ("res.partner", "on_create_or_write"))
        self.assertIn("Manual report", rule.name)
        endpoint = self.env["iota.script.endpoint"].search([("script_id", "=", script.id)])
        self.assertEqual(
            (endpoint.url, endpoint.auth_mode), ("/iota/api/v1/new-user/report", "public")
        )
        self.assertTrue(endpoint.full_url.endswith("/iota/api/v1/new-user/report"))
        self.assertIn("curl -X GET", endpoint.curl_example)
        # the published endpoint answers
        response = self.url_open("/iota/api/v1/new-user/report")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertIn("companies", json.loads(response.text))
