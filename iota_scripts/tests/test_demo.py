"""The demo data the quick start points at (README, Quick start): it installs and answers."""

import json
import re
from pathlib import Path

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
            script._check_policies()  # the recommended rules (raises when broken)

    def test_getting_started_follows_the_guide(self):
        """The "Getting started" set: the guide's first example, then one script per trigger."""
        tag = self.env.ref("iota_scripts.iota_script_tag_demo_getting_started")
        scripts = self.env["iota.script"].search([("tag_ids", "in", tag.id)])
        self.assertEqual(
            set(scripts.mapped("key")),
            {
                "getting_started_first",
                "normalise_contact_email",
                "daily_contacts_summary",
                "demo_hello",
            },
        )
        first = self.env.ref("iota_scripts.iota_script_demo_first")
        # word for word the first example of docs/guide/writing-scripts.md
        guide = Path(__file__).resolve().parents[2] / "docs" / "guide" / "writing-scripts.md"
        example = re.search(r"```js\n(.*?)```", guide.read_text(encoding="utf-8"), re.S).group(1)
        self.assertEqual(first.source, example)
        execution = first.action_run(input={"n": 2})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        ids = json.loads(execution.result_json)["ids"]
        self.assertEqual(len(ids), 2)
        self.assertTrue(all(p.is_company for p in self.env["res.partner"].browse(ids)))
