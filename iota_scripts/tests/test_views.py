from odoo.tests import Form, tagged

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

    def test_endpoint_form(self):
        fields_in = (
            "script_id",
            "api_version",
            "path",
            "methods",
            "auth_mode",
            "group_id",
            "rate_limit_per_min",
            "rate_limit_algorithm",
            "rate_limit_on_unavailable",
            "max_body_bytes",
            "cors_origins",
            "cors_allow_credentials",
            "body_schema",
            "query_schema",
            "response_schema",
            "publish_openapi",
        )
        Endpoint = self.env["iota.script.endpoint"]
        dev = Endpoint.with_user(self.dev_a).get_views([(False, "form"), (False, "list")])
        arch = dev["views"]["form"]["arch"]
        for name in fields_in:
            self.assertIn(f'name="{name}"', arch, name)
        # the HMAC secret is for developers, masked, and shown for HMAC endpoints only
        self.assertRegex(arch, r'<field name="hmac_secret"[^>]*password="True"')
        self.assertIn("auth_mode != 'hmac'", arch)
        user = Endpoint.with_user(self.user_a).get_views([(False, "form")])["views"]["form"]
        self.assertNotIn('name="hmac_secret"', user["arch"])
        # a developer creates an endpoint through the form
        script = self._script("export default () => ({ok: true});")
        with Form(Endpoint.with_user(self.dev_a)) as form:
            form.script_id = script
            form.path = "/Form/{id}"
            form.methods = "post, get"
            form.auth_mode = "hmac"
            form.cors_origins = "https://app.example.com"
        endpoint = form.record
        self.assertEqual(
            (endpoint.path, endpoint.methods, endpoint.url),
            ("/form/{id}", "GET,POST", "/iota/api/v1/form/{id}"),
        )
        self.assertEqual(endpoint.rate_limit_algorithm, "sliding_window")
        self.assertTrue(endpoint.sudo().hmac_secret)

    def test_one_way_to_schedule(self):
        """The form schedules through its Schedules tab only; a scheduled action made by hand still works."""
        script = self._script("export default () => 'scheduled';")
        arch = script.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertNotIn('name="action_schedule"', arch)
        self.assertFalse(hasattr(script, "action_schedule"))
        self.assertIn('name="schedule_ids"', arch)
        # the documented alternative: an Odoo scheduled action of type "Run JavaScript script"
        cron = self.env["ir.cron"].create(
            {
                "name": "Script by cron",
                "model_id": self.env["ir.model"]._get_id("iota.script"),
                "state": "iota_script",
                "iota_script_id": script.id,
                "interval_number": 1,
                "interval_type": "days",
                "active": False,
            }
        )
        cron.method_direct_trigger()
        execution = self._executions(script)
        self.assertEqual((execution.trigger, execution.result_json), ("cron", '"scheduled"'))
        self.assertEqual(script.server_action_count, 1)
