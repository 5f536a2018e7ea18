"""Capabilities (issue 10 §2) on real Odoo with the real engine: the declaration
at save, on versions, on every sdk call, the company switch, the suggestion
and the upgrade."""

import json

from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from ..run.request import RunRequest
from .common import IotaScriptsCase

WRITES_PARTNER = """export default async function (ctx) {
  const ids = await sdk.db.search("res.partner", [["id", "=", ctx.input.id]]);
  try {
    await sdk.db.write("res.partner", ids, { comment: "touched" });
    return "written";
  } catch (e) {
    return [e.code, e.message];
  }
}
"""


def caps(**kinds):
    return json.dumps(kinds)


@tagged("post_install", "-at_install")
class TestCapabilities(IotaScriptsCase):
    def _run(self, script, input=None):
        return self.env["iota.script.execution"]._run(
            RunRequest(script, {"type": "cron"}, input=input)
        )

    def test_a_write_outside_the_declaration_is_access_denied_naming_it(self):
        script = self._script(
            WRITES_PARTNER,
            run_as_user_id=self.bot_a.id,
            capabilities_json=caps(models={"res.partner": ["read"]}),
        )
        execution = self._run(script, {"id": self.partner_a.id})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(
            json.loads(execution.result_json),
            ["access_denied", "capability 'models.res.partner.write' not declared"],
        )
        self.assertFalse(self.partner_a.comment)
        # declared: the same call goes through (the run-as user may write partners)
        script.capabilities_json = caps(models={"res.partner": ["read", "write"]})
        execution = self._run(script, {"id": self.partner_a.id})
        self.assertEqual(json.loads(execution.result_json), "written")
        self.assertIn("touched", self.partner_a.comment)

    def test_capabilities_never_widen_access_rights(self):
        # the company's runner user may not write partners: declared or not, Odoo refuses
        script = self._script(
            WRITES_PARTNER, capabilities_json=caps(models={"res.partner": ["read", "write"]})
        )
        execution = self._run(script, {"id": self.partner_a.id})
        code, message = json.loads(execution.result_json)
        self.assertEqual(code, "access_denied")
        self.assertNotIn("capability", message)

    def test_nested_writes_and_domain_paths_need_their_models(self):
        source = """export default async function () {
  const out = [];
  for (const call of [
    () => sdk.db.create("res.partner", { name: "P", child_ids: [[0, 0, { name: "C" }]] }),
    () => sdk.db.search("res.partner", [["country_id.code", "=", "BE"]]),
    () => sdk.db.search("res.partner", [["name", "=", "x"]]),
  ]) {
    try { out.push(typeof (await call())); } catch (e) { out.push(e.message); }
  }
  return out;
}
"""
        script = self._script(
            source,
            run_as_user_id=self.bot_a.id,
            capabilities_json=caps(models={"res.partner": ["read", "write"]}),
        )
        result = json.loads(self._run(script).result_json)
        self.assertEqual(
            result,
            [
                "capability 'models.res.partner.create' not declared",
                "capability 'models.res.country.read' not declared",
                "object",
            ],
        )

    def test_the_declaration_is_validated_and_stored_canonical(self):
        script = self._script("export default () => 1;\n")
        with self.assertRaisesRegex(
            ValidationError, r"Capabilities: models.res.partner\[0\]: 'delete' is not one of"
        ):
            script.capabilities_json = caps(models={"res.partner": ["delete"]})
        with self.assertRaisesRegex(ValidationError, r"Capabilities: declaration: .*network"):
            script.capabilities_json = caps(network=["x"])
        with self.assertRaisesRegex(ValidationError, "not JSON"):
            script.capabilities_json = "{models"
        script.capabilities_json = (
            '{ "secrets": ["b", "a"],\n "models": {"res.partner": ["write", "read"]} }'
        )
        self.assertEqual(
            script.capabilities_json,
            '{"models":{"res.partner":["read","write"]},"secrets":["a","b"]}',
        )

    def test_versions_carry_the_declaration_and_a_new_one_is_a_new_version(self):
        script = self._script("export default () => 1;\n", capabilities_json=caps(http=["a.com"]))
        first = script.version_id
        self.assertEqual(first.capabilities_json, '{"http":["a.com"]}')
        script.capabilities_json = caps(http=["a.com", "b.com"])
        self.assertNotEqual(script.version_id, first)
        self.assertEqual(script.version_id.capabilities_json, '{"http":["a.com","b.com"]}')
        self.assertEqual(first.capabilities_json, '{"http":["a.com"]}')
        # the same declaration again: no version
        version = script.version_id
        script.capabilities_json = caps(http=["b.com", "a.com"])
        self.assertEqual(script.version_id, version)
        # the run enforces the version's declaration
        self.assertEqual(script._allowed_hosts(), ["a.com", "b.com"])

    def test_allowed_hosts_is_the_http_part_of_the_declaration(self):
        script = self._script(
            'export default async () => { await sdk.db.search("res.partner", []); }\n',
            allowed_hosts="API.example.com\n*.example.org",
        )
        self.assertEqual(
            json.loads(script.capabilities_json),
            {"http": ["*.example.org", "api.example.com"], "models": {"res.partner": ["read"]}},
        )
        self.assertEqual(script.allowed_hosts, "*.example.org\napi.example.com")
        self.assertEqual(len(script.version_ids), 1)

    def test_the_company_switch_refuses_scripts_without_a_declaration(self):
        script = self._script("export default () => 'ran';\n")
        self.assertFalse(script.capabilities_json)
        self.assertEqual(self._run(script).state, "succeeded")
        self.company_a.iota_capabilities_required = True
        execution = self._run(script)
        self.assertEqual(execution.state, "failed")
        self.assertEqual(execution.error_code, "capabilities_required")
        self.assertIn(script.key, execution.error_message)
        script.capabilities_json = "{}"
        self.assertEqual(self._run(script).state, "succeeded")

    def test_the_suggestion_reads_the_draft(self):
        script = self._script(
            WRITES_PARTNER.replace("comment", "comment").replace(
                'return "written";', 'await sdk.secrets.get("k"); return "written";'
            )
        )
        action = script.with_user(self.dev_a).action_suggest_capabilities()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        self.assertEqual(
            json.loads(wizard.suggested_json),
            {"models": {"res.partner": ["read", "write"]}, "secrets": ["k"]},
        )
        wizard.with_user(self.dev_a).action_apply()
        self.assertEqual(
            script.capabilities_json, '{"models":{"res.partner":["read","write"]},"secrets":["k"]}'
        )

    def test_the_upgrade_declares_existing_scripts_and_says_so(self):
        script = self._script(
            'export default async () => { await sdk.http.get("https://rates.example.com/x");'
            ' await sdk.db.searchCount("res.partner", []); }\n'
        )
        self.assertFalse(script.capabilities_json)
        self.assertFalse(script.version_id.capabilities_json)
        with self.assertLogs("odoo.addons.iota_scripts.models.iota_script_capabilities") as logs:
            done = self.env["iota.script"]._iota_declare_missing(
                {script.id: ["legacy.example.com"]}
            )
        self.assertGreaterEqual(done, 1)
        self.assertIn("declared the capabilities of", logs.output[0])
        # the hosts stay the former allow-list: the upgrade never widens it to
        # the hosts the source names (rates.example.com was refused before)
        expected = '{"http":["legacy.example.com"],"models":{"res.partner":["read"]}}'
        self.assertEqual(script.capabilities_json, expected)
        self.assertEqual(script.version_id.capabilities_json, expected)
        self.assertIn("Upgrade:", script.message_ids[0].body)
        # a second upgrade changes nothing
        self.assertEqual(
            self.env["iota.script"].search_count([("capabilities_json", "=", False)]), 0
        )


@tagged("post_install", "-at_install")
class TestCapabilitiesRoute(HttpCase):
    def test_the_editor_route_suggests_for_a_draft(self):
        new_test_user(
            self.env,
            "iota_caps_route_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )
        self.authenticate("iota_caps_route_dev", "iota_caps_route_dev")

        def ask(source):
            res = self.url_open(
                "/iota_scripts/editor/capabilities",
                data=json.dumps({"jsonrpc": "2.0", "params": {"source": source}}),
                headers={"Content-Type": "application/json"},
            )
            return res.json()["result"]

        answer = ask('export default async () => sdk.db.unlink("res.partner", [1]);\n')
        self.assertEqual(answer["capabilities"], {"models": {"res.partner": ["unlink"]}})
        self.assertEqual(answer["unresolved"], [])
        self.assertIn("Line 1", ask("export default (")["error"])
