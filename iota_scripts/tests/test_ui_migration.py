"""Convert, switch and roll back a Python automation in a real browser (issue 14 §2)."""

from odoo.tests import HttpCase, common, tagged


@tagged("post_install", "-at_install")
class TestMigrationUi(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")

    def test_convert_switch_and_roll_back(self):
        model = self.env["ir.model"]._get("res.partner")
        rule = self.env["base.automation"].create(
            {"name": "Python on save", "model_id": model.id, "trigger": "on_create_or_write"}
        )
        python = self.env["ir.actions.server"].create(
            {
                "name": "Mark partners",
                "model_id": model.id,
                "state": "code",
                "code": "records.write({'comment': 'python'})",
                "base_automation_id": rule.id,
            }
        )
        self.start_tour(
            f"/odoo/action-base.action_server_action/{python.id}",
            "iota_scripts_migration_tour",
            login="admin",
            timeout=120,
        )
        script = self.env["iota.script"].search([("migrated_from_action_id", "=", python.id)])
        self.assertEqual(len(script), 1)
        self.assertEqual((script.state, script.migration_state), ("active", "rolled_back"))
        self.assertEqual(rule.action_server_ids, python)  # the Python runs the rule again
        bodies = " ".join(script.message_ids.mapped("body"))
        self.assertIn("Switched", bodies)
        self.assertIn("Rolled", bodies)
