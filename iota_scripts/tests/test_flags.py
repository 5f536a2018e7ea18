"""Feature flags (issue 11 §7): ``sdk.flags.enabled(name, key?)`` through real runs.

Percentages are hashes of known keys (``tools/rollout.py``): the expected
answer of every key is computed and asserted exactly.
"""

import json

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..tools import rollout
from .common import IotaScriptsCase

# answers for the keys 1..100, then for the triggering user (no key)
MANY = """export default async function (ctx) {
  const keyed = [];
  for (let i = 1; i <= 100; i++) keyed.push(await sdk.flags.enabled(ctx.input.name, i));
  return {keyed, user: await sdk.flags.enabled(ctx.input.name)};
}"""
ONE = """export default async function (ctx) {
  return {on: await sdk.flags.enabled(ctx.input.name)};
}"""


@tagged("post_install", "-at_install")
class TestFlags(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_a = cls._user("iota_flags_admin_a", "iota_scripts.iota_scripts_group_admin")
        cls.Flag = cls.env["iota.script.flag"]

    def _flag(self, name, company=None, **values):
        return self.Flag.create(
            {"name": name, "company_id": (company or self.company_a).id, **values}
        )

    def _ask(self, script, name, user=None):
        execution = script.with_user(user or self.dev_a).action_run({"name": name})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        return json.loads(execution.result_json)

    def test_a_percentage_is_drawn_per_key_and_per_user_and_sticks(self):
        flag = self._flag("new-pricing", percent=30.0)
        script = self._script(MANY)
        result = self._ask(script, "new-pricing")
        expected = [rollout.chosen(flag.id, f"key:{i}", 30) for i in range(1, 101)]
        self.assertEqual(result["keyed"], expected)
        self.assertTrue(10 <= sum(expected) <= 50, sum(expected))  # exact above
        self.assertEqual(result["user"], rollout.chosen(flag.id, f"user:{self.dev_a.id}", 30))
        self.assertEqual(self._ask(script, "new-pricing"), result)  # sticky
        flag.percent = 100.0
        self.assertEqual(self._ask(script, "new-pricing")["keyed"], [True] * 100)
        flag.percent = 0.0
        self.assertEqual(self._ask(script, "new-pricing")["keyed"], [False] * 100)

    def test_the_allow_list_wins_over_the_percentage(self):
        flag = self._flag("beta", percent=0.0, user_ids=[(6, 0, self.dev_a.ids)])
        script = self._script(ONE)
        self.assertEqual(self._ask(script, "beta", self.dev_a), {"on": True})
        other = self._user("iota_flags_other", "iota_scripts.iota_scripts_group_developer")
        self.assertEqual(self._ask(script, "beta", other), {"on": False})
        flag.user_ids = [(4, other.id)]
        self.assertEqual(self._ask(script, "beta", other), {"on": True})

    def test_unknown_archived_and_other_companies_flags_are_off(self):
        self._flag("shared-name", percent=100.0)
        script_a = self._script(ONE)
        script_b = self._script(ONE, company=self.company_b)
        self.assertEqual(self._ask(script_a, "shared-name"), {"on": True})
        # company B has no flag of that name: A's flag is invisible to it
        self.assertEqual(self._ask(script_b, "shared-name", self.dev_b), {"on": False})
        self.assertEqual(self._ask(script_a, "never-created"), {"on": False})
        self.Flag.search([("name", "=", "shared-name")]).active = False
        self.assertEqual(self._ask(script_a, "shared-name"), {"on": False})
        # B's own flag of the same name is B's
        self._flag("shared-name", company=self.company_b, percent=100.0)
        self.assertEqual(self._ask(script_b, "shared-name", self.dev_b), {"on": True})
        self.assertEqual(self._ask(script_a, "shared-name"), {"on": False})

    def test_bad_arguments_are_named_errors(self):
        script = self._script(
            """export default async function (ctx) {
              const out = [];
              for (const args of ctx.input) {
                try { await sdk.flags.enabled(...args); out.push("ok"); }
                catch (e) { out.push(e.code); }
              }
              return out;
            }"""
        )
        execution = script.with_user(self.dev_a).action_run(
            [["Bad Name"], [42], [""], ["ok-name", {"a": 1}], ["ok-name", ""], ["ok-name", 7]]
        )
        self.assertEqual(
            json.loads(execution.result_json),
            ["invalid_argument"] * 5 + ["ok"],
        )

    def test_managed_by_administrators_per_company(self):
        flag = self._flag("ui-flag", percent=5.0)
        with self.assertRaises(AccessError):
            self.Flag.with_user(self.dev_a).create({"name": "dev-flag"})
        self.assertEqual(self.Flag.with_user(self.dev_a).search([("name", "=", "ui-flag")]), flag)
        mine = self.Flag.with_user(self.admin_a).create({"name": "admin-flag", "percent": 50})
        self.assertEqual(mine.company_id, self.company_a)
        mine.with_user(self.admin_a).write({"percent": 60})
        # company B's developer cannot see A's flags
        self.assertFalse(self.Flag.with_user(self.dev_b).search([("name", "=", "ui-flag")]))
        with self.assertRaises(ValidationError):
            self._flag("Not A Name")
        with self.assertRaises(ValidationError):
            self._flag("too-much", percent=101)
        mine_id = mine.id
        mine.with_user(self.admin_a).unlink()
        self.assertFalse(mine.exists())
        # in the audit trail: who created, changed and deleted it, with the percentages
        entries = (
            self.env["iota.script.audit"]
            .sudo()
            .search([("res_model", "=", "iota.script.flag"), ("res_id", "=", mine_id)], order="id")
        )
        self.assertEqual(entries.mapped("action"), ["create", "edit", "delete"])
        self.assertEqual(set(entries.mapped("user_id")), {self.admin_a.id})
        self.assertIn('"percent":60', entries[1].changes)
