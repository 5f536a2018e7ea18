"""Convert, shadow, switch and roll back a Python automation in a real browser (issue 14 §2)."""

import json

from odoo.tests import HttpCase, common, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestMigrationUi(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")

    def test_convert_shadow_switch_and_roll_back(self):
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
        # made before the shadow starts: creating a user saves its partner, a shadowed trigger
        editor = new_test_user(
            self.env, "iota_migration_editor", groups="base.group_user,base.group_partner_manager"
        )
        partners = self.env["res.partner"].create([{"name": f"Shadow tour {i}"} for i in range(3)])
        self.start_tour(
            f"/odoo/action-base.action_server_action/{python.id}",
            "iota_scripts_migration_tour",
            login="admin",
            timeout=120,
        )
        script = self.env["iota.script"].search([("migrated_from_action_id", "=", python.id)])
        self.assertEqual(len(script), 1)
        self.assertEqual((script.state, script.migration_state), ("draft", "shadowing"))
        # the converted script writes contacts: it runs as a user who may
        script.run_as_user_id = editor
        for i, partner in enumerate(partners):  # three record saves
            partner.write({"name": f"Saved {i}", "comment": False})
            self.env.flush_all()
            self.assertIn("python", partner.comment)  # the Python still runs, for real
        runs = script.shadow_run_ids
        self.assertEqual(runs.mapped("outcome"), ["match"] * 3, runs.mapped("error"))
        self.assertTrue(all(json.loads(r.script_diff_json)["writes"] for r in runs))
        self.assertFalse(script.execution_ids, "the shadow dry-runs left no execution")
        self.start_tour(
            f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
            "iota_scripts_migration_switch_tour",
            login="admin",
            timeout=120,
        )
        self.assertEqual((script.state, script.migration_state), ("active", "rolled_back"))
        self.assertEqual(rule.action_server_ids, python)  # the Python runs the rule again
        bodies = " ".join(script.message_ids.mapped("body"))
        self.assertIn("Shadow mode", bodies)
        self.assertIn("Switched", bodies)
        self.assertIn("Rolled", bodies)
