from odoo.tests import tagged

from .common import IotaScriptsCase


@tagged("post_install", "-at_install")
class TestViews(IotaScriptsCase):
    def test_views_load_for_each_role(self):
        views = {
            "iota.script": ["list", "form", "search"],
            "iota.script.version": ["list", "form", "search"],
            "iota.script.execution": ["list", "form", "search", "graph", "pivot"],
            "iota.script.run.wizard": ["form"],
        }
        for user in (self.user_a, self.dev_a):
            for model, types in views.items():
                result = self.env[model].with_user(user).get_views([(False, t) for t in types])
                self.assertEqual(set(result["views"]), set(types), model)
        form = (
            self.env["iota.script"]
            .with_user(self.user_a)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertNotIn('name="source"', form)  # the code field is for developers only
        form = (
            self.env["iota.script"]
            .with_user(self.dev_a)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn('name="source"', form)
        for model in ("ir.actions.server", "ir.cron"):
            arch = self.env[model].get_views([(False, "form")])["views"]["form"]["arch"]
            self.assertIn('name="iota_script_id"', arch, model)
        settings = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"][
            "arch"
        ]
        self.assertIn("iota_scripts_retention_days", settings)

    def test_schedule_button(self):
        script = self._script("export default () => 'scheduled';")
        action = script.action_schedule()
        cron = self.env["ir.cron"].browse(action["res_id"])
        self.assertEqual(
            (cron.state, cron.iota_script_id, cron.active), ("iota_script", script, False)
        )
        cron.method_direct_trigger()
        execution = self._executions(script)
        self.assertEqual((execution.trigger, execution.result_json), ("cron", '"scheduled"'))
        self.assertEqual(script.server_action_count, 1)
