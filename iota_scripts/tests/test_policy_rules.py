"""Policy rules per company (issue 10 §1) on real Odoo, with the real engine's parser.

At save, at activation, at an endpoint's approval, in the editor's check,
and at run time for what the AST cannot see.
"""

import json

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..controllers.editor import policy_markers
from ..models.iota_script_policy_rule import RECOMMENDED
from ..run.request import RunRequest
from .common import IotaScriptsCase

HTTP_RULE = "No outbound HTTP in automation scripts"
USES_HTTP = """export default async function (ctx) {
  const answer = await sdk.http.fetch("https://example.com");
  return answer.status;
}
"""
COMPUTED_HTTP = """export default async function (ctx) {
  try {
    await sdk["ht" + "tp"].fetch("https://example.com");
    return "sent";
  } catch (e) {
    return [e.code, e.message];
  }
}
"""


@tagged("post_install", "-at_install")
class TestPolicyRules(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_a = cls._user("iota_policy_admin_a", "iota_scripts.iota_scripts_group_admin")
        cls.Rules = cls.env["iota.script.policy.rule"]

    def _rule(self, name, kind, value="", company=None, **values):
        return self.Rules.with_user(self.admin_a).create(
            {
                "name": name,
                "kind": kind,
                "value": value,
                "company_id": (company or self.company_a).id,
                **values,
            }
        )

    def _save(self, source, user=None, company=None, **values):
        self._saved = getattr(self, "_saved", 0) + 1
        return (
            self.env["iota.script"]
            .with_user(user or self.dev_a)
            .create(
                {
                    "name": f"Policy test {self._saved}",
                    "company_id": (company or self.company_a).id,
                    "source": source,
                    **values,
                }
            )
        )

    def test_every_company_gets_the_recommended_set_active(self):
        new = self.env["res.company"].create({"name": "IOTA Policy Newco"})
        for company in (self.company_a, self.company_b, new):
            rules = self.Rules.search([("company_id", "=", company.id), ("recommended", "=", True)])
            self.assertEqual(sorted(rules.mapped("name")), sorted(r[0] for r in RECOMMENDED))
            self.assertTrue(all(rules.mapped("active")))
        # installing again (an update) adds nothing
        self.Rules._iota_install_recommended_all()
        self.assertEqual(
            self.Rules.search_count([("company_id", "=", new.id), ("recommended", "=", True)]),
            len(RECOMMENDED),
        )

    def test_a_save_that_breaks_a_rule_is_refused_with_rule_line_and_column(self):
        self._rule(HTTP_RULE, "member", "sdk.http")
        with self.assertRaises(ValidationError) as refused:
            self._save(USES_HTTP)
        self.assertEqual(
            str(refused.exception),
            f"Line 2, column 24: `sdk.http` is not allowed by policy '{HTTP_RULE}'",
        )
        # an existing script that gains the call is refused too, and keeps its source
        script = self._save("export default async () => 1;\n")
        with self.assertRaises(ValidationError):
            script.with_user(self.dev_a).write({"source": USES_HTTP})
        self.assertEqual(script.source, "export default async () => 1;\n")

    def test_rules_are_per_company(self):
        self._rule(HTTP_RULE, "member", "sdk.http")
        # company B has no such rule; its developer saves the same source
        script = self._save(USES_HTTP, user=self.dev_b, company=self.company_b)
        self.assertTrue(script.version_id)
        # and cannot see company A's rule
        names = self.Rules.with_user(self.dev_b).search([]).mapped("name")
        self.assertNotIn(HTTP_RULE, names)

    def test_tagged_rules_apply_to_scripts_with_the_tag(self):
        automation = self.env["iota.script.tag"].create({"name": "automation"})
        self._rule(HTTP_RULE, "member", "sdk.http", tag_ids=[(6, 0, automation.ids)])
        script = self._save(USES_HTTP)  # no tag: allowed
        with self.assertRaises(ValidationError):
            script.with_user(self.dev_a).write({"tag_ids": [(6, 0, automation.ids)]})
        with self.assertRaises(ValidationError):
            self._save(USES_HTTP, tag_ids=[(6, 0, automation.ids)])

    def test_a_rule_switched_off_no_longer_refuses(self):
        rule = self._rule(HTTP_RULE, "member", "sdk.http")
        rule.with_user(self.admin_a).active = False
        self.assertTrue(self._save(USES_HTTP).version_id)
        # who added and switched off the rule is in the audit trail
        entries = self.env["iota.script.audit"].search(
            [("res_model", "=", "iota.script.policy.rule"), ("res_id", "=", rule.id)], order="id"
        )
        self.assertEqual(entries.mapped("action"), ["create", "archive"])
        self.assertEqual(set(entries.mapped("user_id")), {self.admin_a.id})

    def test_the_recommended_rules_refuse_what_they_name(self):
        for source, expected in (
            ("export default () => Function('return 1')();\n", "`Function` is not allowed"),
            ("export default () => { debugger; };\n", "`debugger` is not allowed"),
            ("export default 42;\n", "the default export must be a function"),
        ):
            with self.subTest(source=source), self.assertRaises(ValidationError) as refused:
                self._save(source)
            self.assertIn(expected, str(refused.exception))

    def test_activation_and_approval_check_the_rules_of_now(self):
        script = self._save(USES_HTTP, state="draft")
        endpoint = self.env["iota.script.endpoint"].create(
            {"script_id": script.id, "path": "/policy-check", "auth_mode": "api_key"}
        )
        pinned = endpoint.pinned_version_id
        self._rule(HTTP_RULE, "member", "sdk.http")
        with self.assertRaises(ValidationError):
            script.with_user(self.dev_a).action_activate()
        self.assertEqual(script.state, "draft")
        with self.assertRaises(ValidationError):
            endpoint.with_user(self.admin_a).action_approve_current_version()
        self.assertEqual(endpoint.pinned_version_id, pinned)

    def test_computed_access_is_refused_at_run_time_naming_the_rule(self):
        script = self._script(COMPUTED_HTTP, allowed_hosts="example.com")
        self._rule(HTTP_RULE, "member", "sdk.http")
        execution = self.env["iota.script.execution"]._run(RunRequest(script, {"type": "cron"}))
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(
            json.loads(execution.result_json),
            ["access_denied", f"`sdk.http.fetch` is not allowed by policy '{HTTP_RULE}'"],
        )

    def test_tagged_rules_at_run_time_follow_the_scripts_tags(self):
        """At run time a tag-limited rule denies the tagged script only (the run
        path reads a script's tags only when such a rule exists)."""
        automation = self.env["iota.script.tag"].create({"name": "automation"})
        tagged_script = self._script(
            COMPUTED_HTTP,
            allowed_hosts="example.com",
            name="tagged",
            key="tagged",
            tag_ids=[(6, 0, automation.ids)],
        )
        plain = self._script(COMPUTED_HTTP, allowed_hosts="example.com", name="plain", key="plain")
        self._rule(HTTP_RULE, "member", "sdk.http", tag_ids=[(6, 0, automation.ids)])
        denied = f"`sdk.http.fetch` is not allowed by policy '{HTTP_RULE}'"
        Execution = self.env["iota.script.execution"]
        for script, expected in ((tagged_script, True), (plain, False)):
            with self.subTest(script=script.key):
                execution = Execution._run(RunRequest(script, {"type": "cron"}))
                self.assertEqual(execution.state, "succeeded", execution.error_message)
                result = json.loads(execution.result_json)
                self.assertEqual(result == ["access_denied", denied], expected, result)

    def test_the_editor_marks_violations(self):
        self._rule(HTTP_RULE, "member", "sdk.http")
        markers = policy_markers(self.env(user=self.dev_a), USES_HTTP)
        self.assertEqual(
            markers,
            [
                {
                    "line": 2,
                    "column": 24,
                    "message": f"`sdk.http` is not allowed by policy '{HTTP_RULE}'",
                }
            ],
        )
        self.assertEqual(policy_markers(self.env(user=self.dev_b), USES_HTTP), [])

    def test_bad_rules_are_refused_by_name(self):
        for kind, value, expected in (
            ("member", "sdk", "is not a dotted path"),
            ("identifier", "a.b", "is not an identifier"),
            ("syntax", "goto", "unknown syntax 'goto'"),
            ("max_depth", "deep", "must be a whole number"),
            ("max_bytes", "-3", "needs a positive integer"),
        ):
            with self.subTest(kind=kind), self.assertRaises(ValidationError) as refused:
                self._rule("Bad", kind, value)
            self.assertIn(expected, str(refused.exception))

    def test_only_administrators_manage_rules(self):
        with self.assertRaises(AccessError):
            self.Rules.with_user(self.dev_a).create(
                {"name": "Mine", "kind": "syntax", "value": "var", "company_id": self.company_a.id}
            )
        rule = self.Rules.search([("company_id", "=", self.company_a.id)], limit=1)
        with self.assertRaises(AccessError):
            rule.with_user(self.dev_a).active = False
