"""The demo data the quick start points at (README, Quick start): it installs and answers."""

from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestDemoData(HttpCase):
    def setUp(self):
        super().setUp()
        self.endpoint = self.env.ref(
            "iota_scripts.iota_script_demo_endpoint_hello", raise_if_not_found=False
        )
        if not self.endpoint:
            self.skipTest("installed without demo data")

    def test_demo_endpoint_answers_the_quick_start_curl(self):
        self.assertEqual(self.endpoint.url, "/iota/api/v1/demo/hello")
        res = self.url_open("/iota/api/v1/demo/hello?name=Ada")
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual(res.json(), {"hello": "Ada", "api": "v1"})
        execution = self.env["iota.script.execution"].search(
            [("endpoint_id", "=", self.endpoint.id)], order="id desc", limit=1
        )
        self.assertEqual(execution.state, "succeeded")
        self.assertEqual(execution.http_status, 200)
        # the query schema refuses what the script does not expect
        res = self.url_open("/iota/api/v1/demo/hello?nom=Ada")
        self.assertEqual(res.status_code, 400, res.text)

    def test_demo_scripts_are_valid(self):
        scripts = self.env["iota.script"].search(
            [
                (
                    "key",
                    "in",
                    [
                        "normalise_contact_email",
                        "daily_contacts_summary",
                        "top_companies_report",
                        "demo_hello",
                    ],
                )
            ]
        )
        self.assertEqual(len(scripts), 4)
        for script in scripts:
            self.assertEqual(script.state, "active")
            self.assertFalse(script._source_problem(script.source), script.key)
