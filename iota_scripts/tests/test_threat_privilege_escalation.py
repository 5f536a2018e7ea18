"""Threat: a script escalates through sdk.db (methods, nested writes, lookups).

sdk.db's policy tables (sdk_host/policy.py) from real runs: methods, nested writes, lookups."""

import json

from odoo.models import BaseModel
from odoo.tests import tagged

from ..sdk_host.policy import ALLOWED_METHODS
from .common import IotaScriptsCase
from .test_sdk_db import PROBE


@tagged("post_install", "-at_install")
class TestSdkDbPolicy(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A privileged run-as user of company A: what the policy refuses must
        # stay refused even when the user's own rights would allow it.
        cls.sys_a = cls._user("iota_sys_a", "base.group_system,base.group_partner_manager")

    def _probe(self, attempts, run_as):
        self._probes = getattr(self, "_probes", 0) + 1
        script = self._script(PROBE, name=f"policy probe {self._probes} as {run_as.login}")
        script.sudo().run_as_user_id = run_as
        execution = script.action_run(input={"attempts": attempts})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        return json.loads(execution.result_json)

    def assertDenied(self, outcome, name):
        self.assertFalse(outcome["ok"], f"{name}: {outcome}")
        self.assertEqual(outcome["code"], "access_denied", f"{name}: {outcome}")

    # ---- the positive method list ---------------------------------------------------
    def test_every_generic_method_is_allowed_or_refused(self):
        """Each public method of BaseModel and of ``base`` is on ALLOWED_METHODS or refused."""
        generic = {
            name
            for cls in (BaseModel, type(self.env["base"]))
            for name in dir(cls)
            if not name.startswith("_") and callable(getattr(cls, name, None))
        }
        self.assertIn("update", generic)
        self.assertIn("web_save", generic)  # the web addon's extension of ``base``
        self.assertLessEqual(ALLOWED_METHODS, generic)  # the list names real generic methods
        refused = sorted(generic - ALLOWED_METHODS)
        p = self.partner_a.id
        attempts = [[name, "call", "res.partner", name, [p], []] for name in refused]
        out = self._probe(attempts, self.bot_a)
        for name in refused:
            self.assertDenied(out[name], name)
            self.assertEqual(out[name]["message"], f"scripts may not call res.partner.{name}")
        # the allowed ones pass the policy (their own arguments may still be wrong)
        allowed = [
            ["exists", "call", "res.partner", "exists", [p], []],
            ["fields_get", "call", "res.partner", "fields_get", [], [["name"]]],
            ["has_access", "call", "res.partner", "has_access", [p], ["read"]],
            ["name_create", "call", "res.partner", "name_create", [], ["Named by a script"]],
            ["archive", "call", "res.partner", "action_archive", [p], []],
            ["unarchive", "call", "res.partner", "action_unarchive", [p], []],
            ["copy", "call", "res.partner", "copy", [p], []],
            ["default_get", "call", "res.partner", "default_get", [], [["type"]]],
            ["toggle", "call", "res.partner", "toggle_active", [p], []],
            ["toggle_back", "call", "res.partner", "toggle_active", [p], []],
            ["check_access", "call", "res.partner", "check_access", [p], ["write"]],
            # a business method of the model itself is not a generic one
            ["business", "call", "res.partner", "address_get", [p], [["contact"]]],
        ]
        out = self._probe(allowed, self.bot_a)
        for name, *_rest in allowed:
            self.assertTrue(out[name]["ok"], f"{name}: {out[name]}")
        self.assertEqual({a[3] for a in allowed} - {"address_get"}, ALLOWED_METHODS)
        self.assertEqual(out["exists"]["value"], [p])
        self.assertTrue(self.partner_a.active)
        self.assertEqual(out["business"]["value"], {"contact": p})

    def test_update_does_not_bypass_the_link_check(self):
        out = self._probe(
            [
                [
                    "update",
                    "call",
                    "res.partner",
                    "update",
                    [self.partner_a.id],
                    [{"parent_id": self.partner_b.id}],
                ],
                [
                    "read_back",
                    "read",
                    "res.partner",
                    [self.partner_a.id],
                    ["parent_id", "complete_name"],
                ],
            ],
            self.bot_ab,
        )
        self.assertDenied(out["update"], "update")
        self.assertEqual(out["read_back"]["value"][0]["parent_id"], False)
        self.assertNotIn("Partner of B", json.dumps(out))
        self.assertFalse(self.partner_a.parent_id)

    # ---- directory look-ups -------------------------------------------------------------
    def test_directory_lookups_stay_in_the_company(self):
        """im_search and mention suggestions name no user or partner of another company."""
        self.dev_b.write({"name": "Zyxel Outsider", "email": "zyxel.outsider@b.example.com"})
        self.dev_a.write({"name": "Zyxel Insider", "email": "zyxel.insider@a.example.com"})
        out = self._probe(
            [
                ["im_search", "call", "res.partner", "im_search", [], ["Zyxel"]],
                ["mention", "call", "res.partner", "get_mention_suggestions", [], ["zyxel"]],
                [
                    "mention_mail",
                    "call",
                    "res.partner",
                    "get_mention_suggestions",
                    [],
                    ["b.example"],
                ],
            ],
            self.bot_ab,
        )
        for name in ("im_search", "mention", "mention_mail"):
            self.assertTrue(out[name]["ok"], out[name])
            self.assertNotIn("Outsider", json.dumps(out[name]), name)
            self.assertNotIn("b.example.com", json.dumps(out[name]), name)
        self.assertIn("Zyxel Insider", json.dumps(out["mention"]))
        self.assertIn("Zyxel Insider", json.dumps(out["im_search"]))

    # ---- nested writes ----------------------------------------------------------------
    def test_nested_writes_reach_no_denied_or_read_only_model(self):
        """A privileged run-as user cannot reach res.users, groups or settings through another model."""
        settings_group = self.env.ref("base.group_erp_manager")
        victim = self._user("iota_victim_a", "base.group_user")
        digest = self.env["digest.digest"].create(
            {"name": "Digest of A", "company_id": self.company_a.id}
        )
        currency = self.company_a.currency_id
        other = (
            self.env.ref("base.EUR")
            if currency != self.env.ref("base.EUR")
            else self.env.ref("base.USD")
        )
        other.active = True
        attempts = [
            [
                "nested_groups",
                "write",
                "res.partner",
                [victim.partner_id.id],
                {"user_ids": [[1, victim.id, {"groups_id": [[4, settings_group.id]]}]]},
            ],
            [
                "nested_user_create",
                "create",
                "res.partner",
                {"name": "x", "user_ids": [[0, 0, {"login": "made_by_script", "name": "x"}]]},
            ],
            [
                "link_user",
                "write",
                "res.partner",
                [self.partner_a.id],
                {"user_ids": [[4, victim.id]]},
            ],
            [
                "deep_nested",
                "create",
                "res.partner",
                {
                    "name": "x",
                    "child_ids": [
                        [0, 0, {"name": "kid", "user_ids": [[1, victim.id, {"active": False}]]}]
                    ],
                },
            ],
            ["settings_create", "create", "res.config.settings", {}],
            # JavaScript served to every user of every company
            [
                "asset",
                "create",
                "ir.asset",
                {"name": "x", "bundle": "web.assets_backend", "path": "/web/x.js"},
            ],
            ["cron_trigger", "create", "ir.cron.trigger", {"cron_id": 1}],
            ["settings_call", "call", "res.config.settings", "execute", [], []],
            ["settings_read", "searchRead", "res.config.settings", [], ["id"]],
            # an editable related field whose value lives on res.company
            ["related_company", "write", "digest.digest", [digest.id], {"currency_id": other.id}],
            # still fine: nested changes of models scripts may change
            [
                "own_nested",
                "create",
                "res.partner",
                {"name": "Parent", "child_ids": [[0, 0, {"name": "Kid"}]]},
            ],
        ]
        out = self._probe(attempts, self.sys_a)
        for name in (
            "nested_groups",
            "nested_user_create",
            "link_user",
            "deep_nested",
            "settings_create",
            "asset",
            "cron_trigger",
            "settings_call",
            "settings_read",
            "related_company",
        ):
            self.assertDenied(out[name], name)
        self.assertTrue(out["own_nested"]["ok"], out["own_nested"])
        self.assertNotIn(settings_group, victim.groups_id)
        self.assertTrue(victim.active)
        self.assertFalse(self.env["res.users"].search([("login", "=", "made_by_script")]))
        self.assertFalse(self.env["ir.asset"].search([("path", "=", "/web/x.js")]))
        self.assertNotIn(victim, self.partner_a.user_ids)
        self.assertEqual(self.company_a.currency_id, currency)
