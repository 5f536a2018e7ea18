"""Export and import of bundles on real Odoo 18 (models/iota_script_bundle.py).

The round trip: export a company with several scripts (versions, endpoints,
a schedule, a subscription, an alert rule, tags), drop the scripts, import,
and compare a canonical dump made here from the database (not by the
exporter): identical. Bad bundles and refused imports change nothing. The
dialogs (wizard/iota_script_bundle_wizard.py) preview and import. Over HTTP
(the command line, the routes, the browser): test_bundle_http.py.
"""

import base64
import io
import json
import zipfile
from datetime import timedelta

from iota_scripts_sdk.bundle import FORMAT_VERSION, read_bundle
from odoo import fields
from odoo.tests import new_test_user, tagged

from ..models.iota_script_bundle import BundleImportError
from .common import IotaScriptsCase

V1 = "export default async function (ctx) { return 1; }\n"
V2 = "export default async function (ctx) { return 2; }\n"
V3 = "export default async function (ctx) { return { three: 'é' }; }\n"
OTHER = "export default async function (ctx) { sdk.log.info('hi'); return true; }\n"

_SCRIPT_FIELDS = (
    "key name description state active timeout_sec memory_mb allowed_hosts api_version "
    "record_policy record_sample_every"
).split()
_ENDPOINT_SKIP = {
    "id",
    "script_id",
    "company_id",
    "hmac_secret",
    "pinned_version_id",
    "display_name",
}
_SECTIONS = {
    "iota.script.endpoint": "endpoints",
    "iota.script.schedule": "schedules",
    "iota.script.subscription": "subscriptions",
    "iota.script.alert.rule": "alert_rules",
}
_SKIP = {
    "iota.script.schedule": {"next_run", "last_run", "last_execution_id", "missed_count"},
    "iota.script.alert.rule": set(),
    "iota.script.subscription": set(),
    "iota.script.endpoint": _ENDPOINT_SKIP,
}


def dump(env, company):
    """A canonical dump of the scripts of ``company``: ids replaced by keys and numbers."""
    env = env(su=True, context={"active_test": False})
    out = {}
    for script in env["iota.script"].search([("company_id", "=", company.id)], order="key"):
        item = {f: script[f] for f in _SCRIPT_FIELDS}
        item.update(
            tags=sorted(script.tag_ids.mapped("name")),
            run_as=script.run_as_user_id.login,
            responsible=script.user_id.login,
            current=script.version_id.number,
            source=script.source,
            capabilities=script.capabilities_json,
            tests=script.tests,
            versions=[
                (
                    v.number,
                    v.sha256,
                    v.source,
                    v.note,
                    v.author_id.login,
                    fields.Datetime.to_string(v.create_date),
                    v.capabilities_json,
                    v.tests,
                )
                for v in script.version_ids.sorted("number")
            ],
        )
        for model, section in _SECTIONS.items():
            Model = env[model]
            names = [
                f
                for f, field in Model._fields.items()
                if field.store
                and not field.automatic
                and f not in _SKIP[model]
                and f not in ("id", "script_id", "company_id")
            ]
            rows = []
            for row in Model.search([("script_id", "=", script.id)]):
                values = {}
                for f in names:
                    value = row[f]
                    if hasattr(value, "_name"):
                        value = value.get_external_id().get(value.id) if value else False
                    values[f] = value
                if model == "iota.script.endpoint":
                    values["pinned"] = row.pinned_version_id.number
                rows.append(repr(sorted(values.items())))
            item[section] = sorted(rows)
        out[script.key] = item
    return out


def totals(env):
    """Rows of every model an import may write, in every company."""
    env = env(su=True, context={"active_test": False})
    models = ["iota.script", "iota.script.version", "iota.script.tag", *_SECTIONS]
    return {m: env[m].search_count([]) for m in models}


class BundleFixture:
    @classmethod
    def _bundle_fixture(cls, env, company_a, company_b):
        cls.admin = new_test_user(
            env,
            "iota_bundle_admin",
            groups="base.group_user,iota_scripts.iota_scripts_group_admin",
            company_id=company_a.id,
            company_ids=[(6, 0, (company_a | company_b).ids)],
        )
        Script = env["iota.script"].with_user(cls.admin).with_company(company_a)
        tag = env["iota.script.tag"].create({"name": "bundle-tag", "color": 4})
        cls.hello = Script.create(
            {
                "name": "Bundle hello",
                "key": "bundle_hello",
                "company_id": company_a.id,
                "source": V1,
                "allowed_hosts": "api.example.com",
                "tag_ids": [(6, 0, tag.ids)],
                "timeout_sec": 3,
            }
        )
        cls.hello.write({"source": V2})
        Endpoint = env["iota.script.endpoint"].with_user(cls.admin).with_company(company_a)
        # approved at v2, then v3 is saved: the endpoint keeps running v2
        Endpoint.create(
            {
                "script_id": cls.hello.id,
                "path": "/bundle-test/hello/{name}",
                "methods": "GET,POST",
                "auth_mode": "api_key",
                "group_id": env.ref("base.group_user").id,
                "record_policy": "sampled",
                "record_sample_every": 10,
            }
        )
        Endpoint.create(
            {"script_id": cls.hello.id, "path": "/bundle-test/hook", "auth_mode": "hmac"}
        )
        # v3 with tests and a declaration no source suggests (a secret): both
        # ride along with the version (bundle format 2)
        cls.hello.with_context(iota_scripts_version_note="third").write(
            {
                "source": V3,
                "tests": "it('v3', () => expect(1).toBe(1));",
                "capabilities_json": '{"http":["api.example.com"],"secrets":["api_token"]}',
            }
        )
        cls.hello.action_activate()
        env["iota.script.alert.rule"].with_user(cls.admin).with_company(company_a).create(
            {"name": "hello fails", "script_id": cls.hello.id, "company_id": company_a.id}
        )
        cls.other = Script.create(
            {
                "name": "Bundle other",
                "key": "bundle_other",
                "company_id": company_a.id,
                "source": OTHER,
            }
        )
        env["iota.script.schedule"].with_user(cls.admin).create(
            {"script_id": cls.other.id, "cron": "*/5 * * * *", "tz": "Europe/Brussels"}
        )
        env["iota.script.subscription"].with_user(cls.admin).create(
            {
                "script_id": cls.other.id,
                "event_type": "partner.*",
                "payload_filter": '{"country": "BE"}',
                "record_model": "res.partner",
                "record_domain": "[('is_company', '=', True)]",
                "max_attempts": 3,
            }
        )
        cls.archived = Script.create(
            {
                "name": "Bundle archived",
                "key": "bundle_archived",
                "company_id": company_a.id,
                "source": V1,
            }
        )
        cls.archived.active = False
        # versions saved on distinct, past days: the import must restore these dates
        env.flush_all()
        for i, version in enumerate(
            env["iota.script.version"].search([("company_id", "=", company_a.id)], order="id")
        ):
            env.cr.execute(
                "UPDATE iota_script_version SET create_date = %s WHERE id = %s",
                [fields.Datetime.now() - timedelta(days=30 - i, hours=i), version.id],
            )
        env.invalidate_all()


@tagged("post_install", "-at_install")
class TestBundle(BundleFixture, IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._bundle_fixture(cls.env, cls.company_a, cls.company_b)

    def _bundler(self, user=None):
        return self.env["iota.script.bundle"].with_user(user or self.admin)

    def _drop(self, company):
        scripts = (
            self.env["iota.script"]
            .with_user(self.admin)
            .with_context(active_test=False)
            .search([("company_id", "=", company.id)])
        )
        scripts.unlink()
        self.env.invalidate_all()
        self.assertEqual(dump(self.env, company), {})

    def test_round_trip_is_identical(self):
        before = dump(self.env, self.company_a)
        self.assertEqual(set(before), {"bundle_hello", "bundle_other", "bundle_archived"})
        self.assertEqual([v[0] for v in before["bundle_hello"]["versions"]], [1, 2, 3])
        self.assertEqual(len(before["bundle_hello"]["endpoints"]), 2)
        data = self._bundler()._export_company(self.company_a)
        bundle = read_bundle(data)
        self.assertEqual(bundle.company["id"], self.company_a.id)
        self.assertEqual(len(bundle.records["versions"]), 5)
        # never a secret's value
        hello = self.hello.sudo()
        secret = hello.env["iota.script.endpoint"].search([("auth_mode", "=", "hmac")]).hmac_secret
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            text = b"".join(zf.read(n) for n in zf.namelist())
        self.assertNotIn(secret.encode(), text)
        self.assertNotIn(b"hmac_secret", text)

        self._drop(self.company_a)
        result = self._bundler()._import_bundle(data, self.company_a.id)
        self.assertTrue(result["applied"])
        self.assertEqual(result["counts"], {"new": 3, "changed": 0, "unchanged": 0, "conflict": 0})
        self.assertEqual(
            result["warnings"], ["1 HMAC endpoints get a new secret: give it to their callers."]
        )
        self.env.invalidate_all()
        self.assertEqual(dump(self.env, self.company_a), before)
        # exporting again gives the same records (only the export date differs)
        again = read_bundle(self._bundler()._export_company(self.company_a))
        self.assertEqual(again.records, bundle.records)
        # and a second import finds nothing to do
        preview = self._bundler()._import_bundle(data, self.company_a.id, dry_run=True)
        self.assertEqual(preview["counts"]["unchanged"], 3)
        self.assertEqual(preview["warnings"], [])
        # the exports and the import are in the audit trail, per script (a dry run is not)
        entries = self.env["iota.script.audit"].search(
            [("action", "in", ("export", "import")), ("res_model", "=", "iota.script")]
        )
        self.assertEqual(
            sorted((e.action, e.res_name) for e in entries if e.action == "import"),
            sorted(
                ("import", name)
                for name in self.env["iota.script"]
                .with_context(active_test=False)
                .search([("company_id", "=", self.company_a.id)])
                .mapped("display_name")
            ),
        )
        self.assertEqual(len(entries.filtered(lambda e: e.action == "export")), 6)

    def test_preview_new_changed_unchanged_conflict(self):
        Bundle = self._bundler()
        # a bundle of "other" at v1, then one at v2
        first = Bundle._export_bundle(self.other, self.company_a)
        self.other.with_user(self.admin).write({"source": V2})
        second = Bundle._export_bundle(self.other, self.company_a)
        preview = Bundle._import_bundle(first, self.company_b.id, dry_run=True)
        self.assertEqual(
            [(s["key"], s["status"]) for s in preview["scripts"]], [("bundle_other", "new")]
        )
        self.assertFalse(preview["applied"])
        self.assertFalse(
            self.env["iota.script"].search(
                [("company_id", "=", self.company_b.id), ("key", "=", "bundle_other")]
            )
        )
        Bundle._import_bundle(first, self.company_b.id)
        in_b = self.env["iota.script"].search(
            [("company_id", "=", self.company_b.id), ("key", "=", "bundle_other")]
        )
        self.assertEqual(in_b.version_id.number, 1)
        self.assertEqual(in_b.schedule_ids.cron, "*/5 * * * *")
        self.assertEqual(
            Bundle._import_bundle(first, self.company_b.id, dry_run=True)["scripts"][0]["status"],
            "unchanged",
        )
        # the bundle is ahead: changed, and the import adds v2 with its number and sha256
        preview = Bundle._import_bundle(second, self.company_b.id, dry_run=True)
        self.assertEqual(preview["scripts"][0]["status"], "changed")
        self.assertIn("1 new versions", preview["scripts"][0]["detail"])
        Bundle._import_bundle(second, self.company_b.id)
        self.assertEqual(in_b.version_id.number, 2)
        self.assertEqual(in_b.sudo().version_id.sha256, self.other.sudo().version_id.sha256)
        self.assertEqual(in_b.sudo().source, V2)
        # a setting changed in the target: changed, and the import puts it back
        in_b.with_user(self.admin).timeout_sec = 9
        line = Bundle._import_bundle(second, self.company_b.id, dry_run=True)["scripts"][0]
        self.assertEqual((line["status"], line["detail"]), ("changed", "timeout_sec"))
        Bundle._import_bundle(second, self.company_b.id)
        self.assertEqual(in_b.timeout_sec, self.other.timeout_sec)
        # the target is ahead (v3 saved there): a conflict, refused unless skipped
        in_b.with_user(self.admin).write({"source": V3})
        line = Bundle._import_bundle(second, self.company_b.id, dry_run=True)["scripts"][0]
        self.assertEqual(line["status"], "conflict")
        before = dump(self.env, self.company_b)
        with self.assertRaises(BundleImportError) as caught:
            Bundle._import_bundle(second, self.company_b.id)
        self.assertEqual(caught.exception.code, "conflict")
        result = Bundle._import_bundle(second, self.company_b.id, on_conflict="skip")
        self.assertEqual(result["skipped"], ["bundle_other"])
        self.assertEqual(dump(self.env, self.company_b), before)
        # a diverging version (same number, other source) is a conflict too
        third = Bundle._export_bundle(self.other, self.company_a)  # v1, v2 (A)
        self.other.with_user(self.admin).write({"source": V1})  # A: v3 = V1, B: v3 = V3
        diverged = Bundle._export_bundle(self.other, self.company_a)
        self.assertEqual(
            Bundle._import_bundle(diverged, self.company_b.id, dry_run=True)["scripts"][0][
                "status"
            ],
            "conflict",
        )
        self.assertEqual(
            Bundle._import_bundle(third, self.company_b.id, dry_run=True)["scripts"][0]["status"],
            "conflict",
        )

    def _bad(self, data, code, company_id=None, user=None):
        before = (dump(self.env, self.company_a), dump(self.env, self.company_b), totals(self.env))
        with self.assertRaises(BundleImportError) as caught:
            self._bundler(user)._import_bundle(data, company_id or self.company_b.id)
        self.assertEqual(caught.exception.code, code)
        self.assertNoLeak(caught.exception.args[0])
        self.env.invalidate_all()
        after = (dump(self.env, self.company_a), dump(self.env, self.company_b), totals(self.env))
        self.assertEqual(after, before, f"{code}: the import changed something")
        return caught.exception

    def test_bad_bundles_change_nothing(self):
        good = self._bundler()._export_bundle(self.hello | self.other, self.company_a)
        entries = {}
        with zipfile.ZipFile(io.BytesIO(good)) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}

        def rezip(**changes):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                for name, raw in {**entries, **changes}.items():
                    zf.writestr(name, raw)
            return buffer.getvalue()

        manifest = json.loads(entries["manifest.json"])
        self._bad(b"not a zip", "not_a_zip")
        self._bad(
            rezip(
                **{
                    "manifest.json": json.dumps(
                        {**manifest, "format_version": FORMAT_VERSION + 1}
                    ).encode()
                }
            ),
            "future_version",
        )
        self._bad(rezip(**{"../../etc/evil.js": b"x"}), "unsafe_path")
        error = self._bad(good, "company_not_found", company_id=987654)
        self.assertIn("987654", error.args[0])
        # a developer is no administrator; an administrator of A is none of B
        self._bad(good, "access_denied", user=self.dev_b)
        admin_a_only = self._user("iota_bundle_admin_a", "iota_scripts.iota_scripts_group_admin")
        self._bad(good, "access_denied", user=admin_a_only)

    def test_a_failure_while_applying_undoes_the_whole_import(self):
        # into B, the second script's endpoint collides with A's own: the first
        # script, created before, must be gone as well
        last = self._script(V1, name="Bundle last", key="bundle_zz_last")
        self.env["iota.script.endpoint"].with_user(self.admin).create(
            {"script_id": last.id, "path": "/bundle-test/last", "auth_mode": "public"}
        )
        data = self._bundler()._export_bundle(self.other | last, self.company_a)
        self.assertEqual(read_bundle(data).script_keys, ["bundle_other", "bundle_zz_last"])
        error = self._bad(data, "invalid_record")
        self.assertIn("collides", error.args[0])

    def test_export_needs_a_developer_of_the_company(self):
        with self.assertRaises(BundleImportError) as caught:
            self._bundler(self.user_a)._export_company(self.company_a)
        self.assertEqual(caught.exception.code, "access_denied")
        with self.assertRaises(BundleImportError):
            self._bundler(self.dev_b)._export_company(self.company_a)
        with self.assertRaises(BundleImportError):  # one company per bundle
            other_company = self._script(V1, company=self.company_b, name="B script")
            self._bundler()._export_bundle(self.hello | other_company)

    def test_wizards_export_preview_and_import(self):
        Export = self.env["iota.script.bundle.export.wizard"].with_user(self.admin)
        wizard = Export.with_context(active_model="iota.script", active_ids=self.other.ids).create(
            {}
        )
        self.assertEqual(wizard.scope, "selected")
        self.assertEqual(wizard.script_ids, self.other)
        action = wizard.action_export()
        self.assertEqual((action["res_id"], wizard.state), (wizard.id, "done"))
        data = base64.b64decode(wizard.bundle_file)
        self.assertEqual(read_bundle(data).script_keys, ["bundle_other"])
        self.assertTrue(wizard.bundle_name.endswith(".zip"))
        company_wide = Export.create({"scope": "company", "company_id": self.company_a.id})
        company_wide.action_export()
        self.assertEqual(
            sorted(read_bundle(base64.b64decode(company_wide.bundle_file)).script_keys),
            ["bundle_archived", "bundle_hello", "bundle_other"],
        )

        Import = self.env["iota.script.bundle.import.wizard"].with_user(self.admin)
        dialog = Import.create(
            {"bundle_file": base64.b64encode(data), "company_id": self.company_b.id}
        )
        dialog.action_preview()
        self.assertEqual(dialog.state, "preview")
        self.assertEqual(
            [(line.key, line.status) for line in dialog.line_ids], [("bundle_other", "new")]
        )
        self.assertEqual((dialog.new_count, dialog.conflict_count), (1, 0))
        self.assertIn(self.company_a.name, dialog.source_summary)
        self.assertFalse(
            self.env["iota.script"].search_count([("company_id", "=", self.company_b.id)])
        )
        dialog.action_import()
        self.assertEqual(dialog.state, "done")
        in_b = self.env["iota.script"].search([("company_id", "=", self.company_b.id)])
        self.assertEqual(in_b.key, "bundle_other")
        subscriptions = self.env["iota.script.subscription"].search([("script_id", "=", in_b.id)])
        self.assertEqual(subscriptions.event_type, "partner.*")
        # a bad file: a clear error in the dialog, nothing imported
        bad = Import.create(
            {"bundle_file": base64.b64encode(b"nope"), "company_id": self.company_b.id}
        )
        with self.assertRaises(BundleImportError) as caught:
            bad.action_preview()
        self.assertIn("not a zip", caught.exception.args[0])

    def test_the_list_offers_export(self):
        action = self.env.ref("iota_scripts.iota_script_bundle_export_wizard_action_selected")
        self.assertEqual(action.binding_model_id.model, "iota.script")
