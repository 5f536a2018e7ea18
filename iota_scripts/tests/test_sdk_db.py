"""sdk.db from a real run: values, errors, and tenancy whatever the script tries."""

import json
from types import SimpleNamespace
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..sdk_host import db as sdk_db
from .common import IotaScriptsCase

#: Runs every attempt in ctx.input.attempts ([name, method, ...args]) and
#: reports {name: {ok, value} | {ok: false, code, message}}.
PROBE = """\
export default async function (ctx) {
  const out = {};
  for (const [name, method, ...args] of ctx.input.attempts) {
    try {
      out[name] = { ok: true, value: await sdk.db[method](...args) };
    } catch (e) {
      out[name] = { ok: false, code: e.code, message: e.message };
    }
  }
  return out;
}
"""


@tagged("post_install", "-at_install")
class TestSdkDb(IotaScriptsCase):
    def _probe(self, attempts, run_as=None, company=None):
        values = {"run_as_user_id": run_as.id} if run_as else {}
        script = self._script(
            PROBE,
            company=company,
            name=f"probe as {run_as.login if run_as else 'runner'}",
            **values,
        )
        execution = script.action_run(input={"attempts": attempts})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        out = json.loads(execution.result_json)
        for name, outcome in out.items():
            if not outcome["ok"]:
                self.assertNoLeak(outcome["message"])
                self.assertNotIn("Partner of B", outcome["message"], name)
        self.assertNotIn("Partner of B", execution.result_json + (execution.log_json or ""))
        return out

    def assertDenied(self, outcome, code="access_denied"):
        self.assertFalse(outcome["ok"], outcome)
        self.assertEqual(outcome["code"], code, outcome)

    def test_values_are_plain_json(self):
        partner = self.env["res.partner"].create(
            {
                "name": "Json",
                "company_id": self.company_a.id,
                "country_id": self.env.ref("base.be").id,
            }
        )
        out = self._probe(
            [
                [
                    "read",
                    "read",
                    "res.partner",
                    [partner.id],
                    ["name", "country_id", "category_id", "create_date", "company_id"],
                ],
                ["search", "search", "res.partner", [["id", "=", partner.id]]],
                ["count", "searchCount", "res.partner", [["name", "=", "Json"]]],
                [
                    "page",
                    "searchRead",
                    "res.partner",
                    [["id", "=", partner.id]],
                    ["name"],
                    {"limit": 1, "order": "name desc"},
                ],
                ["bad_option", "search", "res.partner", [], {"context": {"active_test": False}}],
                ["bad_domain", "search", "res.partner", [["name", "=="]]],
                ["bad_field", "read", "res.partner", [partner.id], ["no_such_field"]],
                ["bad_model", "search", "no.such.model", []],
                ["bad_ids", "read", "res.partner", ["1"], ["name"]],
            ],
            run_as=self.bot_a,
        )
        row = out["read"]["value"][0]
        self.assertEqual(row["country_id"], [self.env.ref("base.be").id, "Belgium"])
        self.assertEqual(row["category_id"], [])
        self.assertRegex(row["create_date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(row["company_id"], [self.company_a.id, self.company_a.name])
        self.assertEqual(out["search"]["value"], partner.ids)
        self.assertEqual(out["count"]["value"], 1)
        self.assertEqual(out["page"]["value"], [{"id": partner.id, "name": "Json"}])
        for name in ("bad_option", "bad_domain", "bad_field", "bad_model", "bad_ids"):
            self.assertDenied(out[name], "invalid_argument")

    @mute_logger("odoo.sql_db")  # the foreign-key refusal is logged as a bad query
    def test_writes_and_refused_writes(self):
        out = self._probe(
            [
                [
                    "create",
                    "create",
                    "res.partner",
                    {"name": "Made by a script", "email": "m@example.com"},
                ],
                ["invalid", "create", "res.partner", {"name": "Bad", "type": "not-a-type"}],
                [
                    "constraint",
                    "create",
                    "res.partner",
                    {"name": "Bad VAT", "parent_id": 999999999},
                ],
                ["after_errors", "create", "res.partner", {"name": "Still works"}],
            ],
            run_as=self.bot_a,
        )
        self.assertTrue(out["create"]["ok"])
        created = self.env["res.partner"].browse(out["create"]["value"])
        self.assertEqual(created.name, "Made by a script")
        self.assertEqual(created.create_uid, self.bot_a)
        self.assertDenied(out["invalid"], "invalid_argument")
        self.assertDenied(out["constraint"], "invalid_argument")
        self.assertTrue(out["after_errors"]["ok"])  # the transaction survived the refused calls
        self.assertTrue(self.env["res.partner"].browse(out["after_errors"]["value"]).exists())

    def test_company_b_is_out_of_reach(self):
        """A company-A script reads no company-B record, whatever it tries."""
        b = self.partner_b.id
        inject = {
            "context": {
                "allowed_company_ids": [self.company_b.id],
                "active_test": False,
                "lang": "en_US",
            }
        }
        attempts = [
            ["search_name", "search", "res.partner", [["name", "=", "Partner of B"]]],
            [
                "search_company",
                "searchCount",
                "res.partner",
                [["company_id", "=", self.company_b.id]],
            ],
            ["read_direct", "read", "res.partner", [b], ["name"]],
            ["search_read", "searchRead", "res.partner", [["id", "=", b]], ["name"]],
            ["companies", "searchRead", "res.company", [], ["name"]],
            [
                "name_search_injected",
                "call",
                "res.partner",
                "name_search",
                [],
                ["Partner of B"],
                inject,
            ],
            ["read_via_call", "call", "res.partner", "read", [b], [["name"]]],
            [
                "name_search_company_b",
                "call",
                "res.partner",
                "name_search",
                [],
                [self.company_b.name],
            ],
            ["panel", "call", "res.partner", "search_panel_select_range", [], ["parent_id"]],
            ["with_company", "call", "res.partner", "with_company", [b], [self.company_b.id]],
            ["sudo", "call", "res.partner", "sudo", [b]],
            ["with_user", "call", "res.partner", "with_user", [b], [1]],
            [
                "with_context",
                "call",
                "res.partner",
                "with_context",
                [b],
                [{"allowed_company_ids": [self.company_b.id]}],
            ],
            ["private", "call", "res.partner", "_read", [b], [["name"]]],
            ["private_search", "call", "res.partner", "_search", [], [[["id", "=", b]]]],
            ["write_b", "write", "res.partner", [b], {"name": "Hijacked"}],
            ["unlink_b", "unlink", "res.partner", [b]],
            ["copy_b", "call", "res.partner", "copy", [b]],
            ["rule_write", "write", "ir.rule", [1], {"active": False}],
            [
                "rule_create",
                "create",
                "ir.rule",
                {"name": "x", "model_id": 1, "domain_force": "[]"},
            ],
            [
                "groups",
                "write",
                "res.users",
                [2],
                {"groups_id": [[4, self.env.ref("base.group_system").id]]},
            ],
            [
                "own_groups",
                "write",
                "res.users",
                [self.bot_ab.id],
                {"groups_id": [[4, self.env.ref("base.group_system").id]]},
            ],
            ["password", "read", "res.users", [2], ["password"]],
            ["password_domain", "search", "res.users", [["password", "!=", False]]],
            ["password_order", "search", "res.users", [], {"order": "password desc"}],
            ["api_keys", "searchRead", "res.users.apikeys", [], ["name"]],
            ["api_key_ids", "read", "res.users", [2], ["api_key_ids"]],
            [
                "secret",
                "searchRead",
                "ir.config_parameter",
                [["key", "=", "database.secret"]],
                ["value"],
            ],
            ["secret_call", "call", "ir.config_parameter", "get_param", [], ["database.secret"]],
            ["script_edit", "write", "iota.script", [1], {"run_as_user_id": 2}],
            ["users_b", "search", "res.users", [["login", "=", "iota_dev_b"]]],
            ["read_user_b", "read", "res.users", [self.dev_b.id], ["name"]],
        ]
        for run_as in (None, self.bot_ab):  # the company's runner, and a user of both companies
            out = self._probe(attempts, run_as=run_as)
            self.assertEqual(out["search_name"]["value"], [])
            self.assertEqual(out["search_company"]["value"], 0)
            self.assertDenied(out["read_direct"])
            self.assertEqual(out["search_read"]["value"], [])
            self.assertEqual([c["name"] for c in out["companies"]["value"]], [self.company_a.name])
            self.assertDenied(out["name_search_injected"])
            self.assertEqual(out["users_b"]["value"], [])
            for name in (
                "read_via_call",
                "name_search_company_b",
                "panel",
                "with_company",
                "sudo",
                "with_user",
                "with_context",
                "private",
                "private_search",
                "write_b",
                "unlink_b",
                "copy_b",
                "rule_write",
                "rule_create",
                "groups",
                "own_groups",
                "password",
                "password_domain",
                "password_order",
                "api_keys",
                "api_key_ids",
                "secret",
                "secret_call",
                "script_edit",
                "read_user_b",
            ):
                self.assertDenied(out[name])
        self.assertEqual(self.partner_b.name, "Partner of B")
        self.assertNotIn(self.env.ref("base.group_system"), self.bot_ab.groups_id)

    def test_company_b_is_out_of_reach_through_errors_and_links(self):
        """Neither an error message nor a link to a record of B hands B's data to the script."""
        b = self.partner_b.id
        tech_a = new_test_user(
            self.env,
            "iota_tech_a",
            groups="base.group_user,base.group_partner_manager,base.group_no_one",
            company_id=self.company_a.id,
            company_ids=[(6, 0, self.company_a.ids)],
        )
        company_a_partner = self.env["res.partner"].create(
            {"name": "Company of A", "is_company": True, "company_id": self.company_a.id}
        )
        attempts = [
            ["read_b", "read", "res.partner", [b], ["name"]],
            ["write_b", "write", "res.partner", [b], {"name": "x"}],
            [
                "create_in_b",
                "create",
                "res.partner",
                {"name": "x", "company_id": self.company_b.id},
            ],
            # Odoo checks no company on parent_id: the child would copy and show
            # the parent's name (complete_name, commercial_company_name, VAT, ...)
            ["hang_under_b", "write", "res.partner", [self.partner_a.id], {"parent_id": b}],
            ["hang_pair", "write", "res.partner", [self.partner_a.id], {"parent_id": [b, "?"]}],
            ["create_under_b", "create", "res.partner", {"name": "x", "parent_id": b}],
            ["adopt_b", "write", "res.partner", [self.partner_a.id], {"child_ids": [[4, b]]}],
            ["set_b", "write", "res.partner", [self.partner_a.id], {"child_ids": [[6, 0, [b]]]}],
            ["bare_id_b", "write", "res.partner", [self.partner_a.id], {"child_ids": [b]}],
            ["user_of_b", "write", "res.partner", [self.partner_a.id], {"user_id": self.dev_b.id}],
            [
                "nested_user_of_b",
                "create",
                "res.partner",
                {"name": "x", "child_ids": [[0, 0, {"name": "kid", "user_id": self.dev_b.id}]]},
            ],
            [
                "nested_secret",
                "create",
                "res.partner",
                {"name": "x", "child_ids": [[0, 0, {"name": "kid", "password": "x"}]]},
            ],
            [
                "web_save_under_b",
                "call",
                "res.partner",
                "web_save",
                [self.partner_a.id],
                [{"parent_id": b}, {"complete_name": {}}],
            ],
            [
                "copy_under_b",
                "call",
                "res.partner",
                "copy",
                [self.partner_a.id],
                [{"parent_id": b}],
            ],
            [
                "read_back",
                "read",
                "res.partner",
                [self.partner_a.id],
                ["complete_name", "parent_id"],
            ],
            # Odoo shows every company's partner and every internal user's
            # partner to everyone: a run sees those of its own company only
            [
                "b_partners",
                "searchRead",
                "res.partner",
                [["id", "in", [self.company_b.partner_id.id, self.dev_b.partner_id.id]]],
                ["name", "email"],
            ],
            ["b_user_partner", "read", "res.partner", [self.dev_b.partner_id.id], ["name"]],
            [
                "b_user_partner_call",
                "call",
                "res.partner",
                "address_get",
                [self.dev_b.partner_id.id],
                [["contact"]],
            ],
            [
                "hang_under_company_b",
                "write",
                "res.partner",
                [self.partner_a.id],
                {"parent_id": self.company_b.partner_id.id},
            ],
            [
                "a_partners",
                "search",
                "res.partner",
                [["id", "in", [self.company_a.partner_id.id, self.dev_a.partner_id.id]]],
            ],
            # links to readable records still work
            [
                "own_links",
                "write",
                "res.partner",
                [self.partner_a.id],
                {
                    "parent_id": company_a_partner.id,
                    "country_id": self.env.ref("base.be").id,
                    "category_id": [[6, 0, []]],
                    "child_ids": [
                        [0, 0, {"name": "Kid of A", "country_id": self.env.ref("base.be").id}]
                    ],
                },
            ],
        ]
        debug_request = SimpleNamespace(session=SimpleNamespace(debug="1"))
        # a user of both companies (Odoo would name B's company in the error) and a
        # user with technical features in debug mode (Odoo would name the records)
        for run_as, request in ((self.bot_ab, None), (tech_a, debug_request)):
            with patch("odoo.addons.base.models.res_users.request", request):
                out = self._probe(attempts, run_as=run_as)
            for name, outcome in out.items():
                self.assertNotIn(self.company_b.name, json.dumps(outcome), name)
            for name in ("read_b", "write_b", "create_in_b", "hang_under_b", "hang_pair"):
                self.assertDenied(out[name])
            for name in ("create_under_b", "adopt_b", "set_b", "bare_id_b", "web_save_under_b"):
                self.assertDenied(out[name])
            for name in ("copy_under_b", "user_of_b", "nested_user_of_b", "nested_secret"):
                self.assertDenied(out[name])
            self.assertEqual(out["b_partners"]["value"], [])
            for name in ("b_user_partner", "b_user_partner_call", "hang_under_company_b"):
                self.assertDenied(out[name])
            self.assertEqual(
                sorted(out["a_partners"]["value"]),
                sorted([self.company_a.partner_id.id, self.dev_a.partner_id.id]),
            )
            self.assertEqual(
                out["read_b"]["message"],
                "The run-as user may not read some res.partner records (record rules).",
            )
            self.assertEqual(
                out["read_back"]["value"],
                [{"id": self.partner_a.id, "complete_name": "Partner of A", "parent_id": False}],
            )
            self.assertTrue(out["own_links"]["ok"], out["own_links"])
            self.partner_a.parent_id = False
        self.assertEqual(self.partner_b.child_ids, self.env["res.partner"])

    def test_company_b_user_sees_nothing_of_company_a(self):
        script = self._script(
            'export default async () => { await sdk.events.emit("a.only", {}); return 1; };'
        )
        script.action_run()
        env_b = self.env(user=self.dev_b, context={"allowed_company_ids": [self.company_b.id]})
        for model in (
            "iota.script",
            "iota.script.version",
            "iota.script.execution",
            "iota.script.event",
        ):
            found = env_b[model].search([("company_id", "=", self.company_a.id)])
            self.assertFalse(found, model)
            self.assertFalse(
                env_b[model].search([]).filtered(lambda r: r.sudo().company_id == self.company_a),
                model,
            )
        # and trying to open one by id fails
        with self.assertRaises(AccessError):
            script.with_env(env_b).read(["name"])
        # forging the company switcher does not help
        with self.assertRaises(AccessError):
            self.env(user=self.dev_b, context={"allowed_company_ids": [self.company_a.id]})[
                "iota.script"
            ].search([])

    def test_large_answers_are_refused(self):
        with patch.object(sdk_db, "MAX_REPLY_BYTES", 200):
            out = self._probe(
                [
                    ["small", "searchCount", "res.partner", []],
                    [
                        "large",
                        "searchRead",
                        "res.partner",
                        [],
                        ["name", "display_name"],
                        {"limit": 50},
                    ],
                ]
            )
        self.assertTrue(out["small"]["ok"])
        self.assertDenied(out["large"], "invalid_argument")
        self.assertIn("larger than 200 bytes", out["large"]["message"])

    def test_arguments_are_checked_against_the_api_declaration(self):
        """Missing required arguments are named from iota_scripts_sdk.api, for every call."""
        out = self._probe(
            [
                ["no_model", "search"],
                ["no_ids", "read", "res.partner"],
                ["no_values", "write", "res.partner", [1]],
                ["null_model", "searchCount", None],
                # ids is optional for a model method (api.py): null, it still works
                ["model_method", "call", "res.partner", "default_get", None, [["type"]]],
            ]
        )
        for name, param, host in (
            ("no_model", "model", "db.search"),
            ("no_ids", "ids", "db.read"),
            ("no_values", "values", "db.write"),
            ("null_model", "model", "db.searchCount"),
        ):
            self.assertDenied(out[name], "invalid_argument")
            self.assertEqual(
                out[name]["message"], f"sdk.{host}: the argument {param!r} is required", name
            )
        self.assertTrue(out["model_method"]["ok"], out["model_method"])

    def test_a_host_call_with_more_arguments_than_declared_is_refused(self):
        # the prelude trims extra arguments; a call that reaches the host with
        # more was not made by it (the host checks again, from the declaration)
        from iota_scripts_sdk import ScriptError

        from ..sdk_host.args import HostArgs

        with self.assertRaises(ScriptError) as caught:
            HostArgs("db.searchCount", ["res.partner", [], {"limit": 1}])
        self.assertEqual(caught.exception.code, "invalid_argument")
        self.assertIn("at most 2 arguments", caught.exception.message)
        self.assertEqual(HostArgs("db.searchCount", ["res.partner"])["domain"], None)
