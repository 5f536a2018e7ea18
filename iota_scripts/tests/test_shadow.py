"""Shadow mode (issue 14 §2): the Python action runs, its converted script dry-runs beside it."""

import json

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from .common import IotaScriptsCase

PYTHON = "records.write({'ref': 'python'})"


@tagged("post_install", "-at_install")
class TestShadow(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        model = cls.env["ir.model"]._get("res.partner")
        cls.rule = cls.env["base.automation"].create(
            {"name": "Python on save", "model_id": model.id, "trigger": "on_create_or_write"}
        )
        cls.python = cls.env["ir.actions.server"].create(
            {
                "name": "Mark",
                "model_id": model.id,
                "state": "code",
                "code": PYTHON,
                "base_automation_id": cls.rule.id,
            }
        )
        company = cls.env.company
        cls.editor = new_test_user(
            cls.env,
            "iota_shadow_editor",
            groups="base.group_user,base.group_partner_manager",
            company_id=company.id,
            company_ids=[(6, 0, company.ids)],
        )
        cls.partners = cls.env["res.partner"].create(
            [{"name": f"Shadowed {i}", "company_id": company.id} for i in range(4)]
        )

    def _converted(self):
        opened = self.python.action_iota_convert_to_script()
        script = self.env["iota.script"].browse(opened["res_id"])
        script.run_as_user_id = self.editor
        return script

    def _save(self, partner, name):
        partner.write({"name": name, "ref": False})
        partner.env.flush_all()

    def test_three_matching_shadow_runs_then_it_stops(self):
        script = self._converted()
        self.assertIn("sdk.db.write", script.source)
        self.assertEqual((script.state, script.shadow_runs_wanted), ("draft", 3))
        script.action_iota_shadow()
        self.assertEqual((script.migration_state, script.shadow_remaining), ("shadowing", 3))
        for i, partner in enumerate(self.partners):
            self._save(partner, f"Saved {i}")
            # the Python ran for real, every time
            self.assertEqual(partner.ref, "python")
        runs = script.shadow_run_ids.sorted("id")
        self.assertEqual(runs.mapped("outcome"), ["match"] * 3, runs.mapped("error"))
        self.assertEqual(script.shadow_remaining, 0)
        self.assertEqual(script.shadow_match_count, 3)
        first = runs[0]
        self.assertEqual(
            (first.res_model, json.loads(first.res_ids)), ("res.partner", self.partners[0].ids)
        )
        python_diff = json.loads(first.python_diff_json)
        script_diff = json.loads(first.script_diff_json)
        [write] = python_diff["writes"]
        self.assertEqual(write["changes"]["ref"], [False, "python"])
        self.assertEqual(script_diff["writes"], python_diff["writes"])
        self.assertIn("python", first.script_diff_html)
        # the dry-runs left no execution behind; the state is counted on the adoption screen
        self.assertFalse(self._executions(script))
        migrations = self.env["iota.script.execution"].get_adoption_data()["migrations"]
        self.assertEqual(migrations["shadowing"], 1)

    def test_a_different_write_is_shown_as_differ(self):
        script = self._converted()
        script.source = (
            "export default async (ctx) => {\n"
            '  await sdk.db.write(ctx.records.model, ctx.records.ids, {ref: "js"});\n'
            "};\n"
        )
        script.action_iota_shadow()
        self._save(self.partners[0], "Differ")
        self.assertEqual(self.partners[0].ref, "python")
        run = script.shadow_run_ids
        self.assertEqual(run.outcome, "differ")
        self.assertEqual(
            json.loads(run.script_diff_json)["writes"][0]["changes"]["ref"], [False, "js"]
        )

    def test_a_failing_shadow_never_breaks_the_save(self):
        script = self._converted()
        script.source = "export default async () => { throw new Error('shadow kaput'); };"
        script.action_iota_shadow()
        self._save(self.partners[0], "Saved anyway")
        self.assertEqual((self.partners[0].name, self.partners[0].ref), ("Saved anyway", "python"))
        self.assertEqual(script.shadow_run_ids.outcome, "error")
        self.assertIn("shadow kaput", script.shadow_run_ids.error)
        # a script that cannot start (archived) is an error too, not a failed save
        script.shadow_runs_wanted = 3
        script.action_iota_shadow()
        script.active = False
        self._save(self.partners[1], "Saved again")
        self.assertEqual(self.partners[1].ref, "python")
        errors = script.shadow_run_ids.filtered(lambda r: r.round == script.shadow_round)
        self.assertEqual(errors.outcome, "error")

    def test_shadow_is_refused_once_switched(self):
        script = self._converted()
        script.action_activate()
        script.action_iota_shadow()
        script.action_iota_switch_from_python()
        self.assertEqual(script.migration_state, "switched")
        with self.assertRaises(UserError):
            script.action_iota_shadow()
        script.action_iota_rollback_to_python()
        script.action_iota_shadow()
        self.assertEqual(script.migration_state, "shadowing")
