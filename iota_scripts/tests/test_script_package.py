"""npm packages in scripts, on real Odoo (issue 13's acceptance).

Offline: the packages are made by ``npm pack`` in the test and served by a
loopback registry (``npm_registry.py``). ``TestScriptPackageRealRegistry``
approves date-fns and decimal.js from registry.npmjs.org and is skipped,
saying so, when that registry cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from unittest import skipUnless
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, common, new_test_user, tagged

from ..models import iota_script_package
from . import npm_registry
from .common import IotaScriptsCase

TINY = {
    "index.mjs": (
        "export function total(xs) { return xs.reduce((a, b) => a + b, 0); }\n"
        "export const VERSION = '__V__';\n"
    ),
    "index.d.ts": "/** Sums the numbers. */\nexport declare function total(xs: number[]): number;\n"
    "export declare const VERSION: string;\n",
}
USES_TINY = (
    'import { total, VERSION } from "iota-tiny";\n'
    "export default async function (ctx) {\n"
    "  const ids = ctx.records ? ctx.records.ids : [];\n"
    "  return { sum: total(ids), version: VERSION, n: ids.length };\n"
    "}\n"
)


def _registry_reachable():
    try:
        socket.create_connection(("registry.npmjs.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


class NpmCase(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._tmp = tempfile.mkdtemp(prefix="iota-npm-test-")
        folder = Path(cls._tmp)
        cls.npm = npm_registry.LocalRegistry()
        for version in ("1.2.0", "1.3.0"):
            files = {k: v.replace("__V__", version) for k, v in TINY.items()}
            cls.npm.publish(
                npm_registry.pack(
                    folder,
                    "iota-tiny",
                    version,
                    files,
                    module="index.mjs",
                    main="index.mjs",
                    types="index.d.ts",
                )
            )
        cls.npm.publish(
            npm_registry.pack(
                folder,
                "iota-fs",
                "1.0.0",
                {
                    "index.js": "const fs = require('fs');\nexports.read = (p) => fs.readFileSync(p);\n"
                },
                main="index.js",
            )
        )
        cls.admin_a = cls._user("iota_npm_admin_a", "iota_scripts.iota_scripts_group_admin")
        cls.admin_b = cls._user(
            "iota_npm_admin_b", "iota_scripts.iota_scripts_group_admin", company=cls.company_b
        )
        env = patch.dict(os.environ, {"IOTA_SCRIPTS_NPM_REGISTRY": cls.npm.url})
        env.start()
        cls.addClassCleanup(env.stop)
        cls.addClassCleanup(cls.npm.close)
        cls.addClassCleanup(shutil.rmtree, cls._tmp, True)

    def _result(self, script):
        execution = script.action_run()
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        return json.loads(execution.result_json)

    def _approve(self, name, range_, company=None, user=None):
        company = company or self.company_a
        user = user or (self.admin_a if company == self.company_a else self.admin_b)
        package = (
            self.env["iota.script.package"]
            .with_user(user)
            .with_company(company)
            .create({"name": name, "version_range": range_, "company_id": company.id})
        )
        package.action_approve()
        return package


@tagged("post_install", "-at_install")
class TestScriptPackage(NpmCase):
    def _automation(self, script):
        partner_model = self.env["ir.model"]._get("res.partner")
        return self.env["base.automation"].create(
            {
                "name": "npm test",
                "model_id": partner_model.id,
                "trigger": "on_create",
                "filter_domain": "[('ref', '=', 'npm')]",
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Run",
                            "model_id": partner_model.id,
                            "state": "iota_script",
                            "iota_script_id": script.id,
                        },
                    )
                ],
            }
        )

    def test_approved_package_runs_in_an_automation_rule(self):
        package = self._approve("iota-tiny", "~1.2")
        self.assertEqual(package.state, "approved", package.refusal_reason)
        self.assertEqual((package.version, package.license), ("1.2.0", "MIT"))
        self.assertTrue(package.integrity.startswith("sha512-"))
        self.assertEqual(package.approver_id, self.admin_a)
        self.assertEqual(package.exports.split(), ["VERSION", "total"])
        self.assertIn("not checked", package.advisories_note)  # this registry has no audit endpoint
        script = self._script(USES_TINY, run_as_user_id=self.bot_a.id)
        self.assertEqual(
            json.loads(script.version_id.package_pins),
            {"iota-tiny": {"version": "1.2.0", "sha256": package.bundle_sha256}},
        )
        self._automation(script)
        partner = self.env["res.partner"].create(
            {"name": "npm", "ref": "npm", "company_id": self.company_a.id}
        )
        execution = self._executions(script)
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(
            json.loads(execution.result_json), {"sum": partner.id, "version": "1.2.0", "n": 1}
        )
        self.assertEqual(package.script_ids, script)
        audit = self.env["iota.script.audit"].search(
            [("res_model", "=", "iota.script.package"), ("res_id", "=", package.id)]
        )
        self.assertIn("package.approve", audit.mapped("action"))

    def test_upgrade_keeps_published_scripts_on_their_version(self):
        package = self._approve("iota-tiny", "1.2.0")
        old_sha = package.bundle_sha256
        script = self._script(USES_TINY)
        package.with_user(self.admin_a).write({"version_range": "^1.2"})
        package.with_user(self.admin_a).action_approve()
        self.assertEqual(package.version, "1.3.0")
        self.assertNotEqual(package.bundle_sha256, old_sha)
        self.assertEqual(
            package.script_ids,
            script,
            (
                self.env["iota.script.version"]
                .sudo()
                .search_read([("script_id", "=", script.id)], ["package_names", "company_id"]),
                self.env["iota.script.version"]
                .sudo()
                .search([("package_names", "like", ",iota-tiny,")]),
                script.version_id,
                package.company_id,
            ),
        )  # who uses it, listed at upgrade
        self.assertEqual(self._result(script)["version"], "1.2.0")
        script.write({"source": USES_TINY + "\n"})  # saved again: the new approval
        self.assertEqual(self._result(script)["version"], "1.3.0")
        actions = (
            self.env["iota.script.audit"]
            .search([("res_model", "=", "iota.script.package"), ("res_id", "=", package.id)])
            .mapped("action")
        )
        self.assertIn("package.upgrade", actions)

    def test_unapproved_import_is_refused_at_save(self):
        with self.assertRaises(ValidationError) as e:
            self._script('import { format } from "date-fns";\nexport default () => format;\n')
        self.assertEqual(
            str(e.exception),
            "Line 1, column 24: package 'date-fns' is not approved for this company",
        )

    def test_a_package_needing_fs_is_refused_with_the_reason(self):
        package = self._approve("iota-fs", "1.0.0")
        self.assertEqual(package.state, "refused")
        self.assertEqual(
            package.refusal_reason,
            "node_modules/iota-fs/index.js needs the Node built-in 'fs', which scripts do not have",
        )
        self.assertFalse(package.bundle_sha256)
        with self.assertRaises(ValidationError):
            self._script('import { read } from "iota-fs";\nexport default () => read;\n')
        audit = self.env["iota.script.audit"].search(
            [("res_model", "=", "iota.script.package"), ("res_id", "=", package.id)]
        )
        self.assertIn("package.refuse", audit.mapped("action"))

    def test_a_tampered_bundle_is_refused_at_load(self):
        package = self._approve("iota-tiny", "1.3.0")
        script = self._script(USES_TINY)
        self._result(script)
        attachment = self.env["iota.script.package"]._iota_store_bundle("", package.bundle_sha256)
        attachment.raw = attachment.raw.replace(b"return", b"return 1+")
        iota_script_package._MODULES.clear()
        execution = script.action_run()
        self.assertEqual(execution.state, "failed")
        self.assertEqual(execution.error_code, "integrity_error")
        self.assertIn("does not match its hash", execution.error_message)
        self.assertNoLeak(execution.error_message)

    def test_a_second_company_does_not_see_the_first_ones_approvals(self):
        package = self._approve("iota-tiny", "1.3.0")
        Package = self.env["iota.script.package"]
        self.assertEqual(
            Package.with_user(self.admin_b).search([("name", "=", "iota-tiny")]), Package
        )
        with self.assertRaises(ValidationError) as e:
            self._script(USES_TINY, company=self.company_b)
        self.assertIn("package 'iota-tiny' is not approved for this company", str(e.exception))
        # B approves the same version: its own record, the same shared bundle
        package_b = self._approve("iota-tiny", "1.3.0", company=self.company_b)
        self.assertNotEqual(package_b, package)
        self.assertEqual(package_b.bundle_sha256, package.bundle_sha256)
        bundles = (
            self.env["ir.attachment"]
            .sudo()
            .search(
                [("res_model", "=", "iota.script.package"), ("name", "like", package.bundle_sha256)]
            )
        )
        self.assertEqual(len(bundles), 1)
        self._result(self._script(USES_TINY, company=self.company_b))

    def test_a_withdrawn_approval_stops_the_scripts_that_pinned_it(self):
        package = self._approve("iota-tiny", "1.3.0")
        script = self._script(USES_TINY)
        self._result(script)
        package.with_user(self.admin_a).active = False
        execution = script.action_run()
        self.assertEqual(execution.error_code, "access_denied")
        self.assertEqual(
            execution.error_message, "package 'iota-tiny' is no longer approved for this company"
        )

    def test_only_administrators_approve(self):
        package = self.env["iota.script.package"].create(
            {"name": "iota-tiny", "company_id": self.company_a.id}
        )
        with self.assertRaises(AccessError):
            package.with_user(self.dev_a).action_approve()
        self.assertEqual(package.state, "draft")

    def test_an_unreachable_registry_is_a_clear_error_and_runs_keep_working(self):
        self._approve("iota-tiny", "1.3.0")
        script = self._script(USES_TINY)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = self.env["iota.script.package"].create(
            {"name": "iota-other", "company_id": self.company_a.id}
        )
        with patch.dict(os.environ, {"IOTA_SCRIPTS_NPM_REGISTRY": f"http://127.0.0.1:{port}"}):
            with self.assertRaises(UserError) as e:
                other.with_user(self.admin_a).action_approve()
            self.assertIn("cannot be reached", str(e.exception))
            hits = self.npm.hits
            self._result(script)
        self.assertEqual(self.npm.hits, hits)  # runs never fetch

    def test_library_scripts_are_imported_and_pinned(self):
        self._approve("iota-tiny", "1.3.0")
        lib = self._script(
            'import { total } from "iota-tiny";\n'
            "export function double(xs) { return 2 * total(xs); }\n",
            name="Invoicing library",
            key="invoicing",
            is_library=True,
        )
        uses = 'import { double } from "lib:invoicing";\nexport default () => double([1, 2]);\n'
        script = self._script(uses)
        pins = json.loads(script.version_id.package_pins)
        self.assertEqual(pins["lib:invoicing"]["version_id"], lib.version_id.id)
        self.assertEqual(self._result(script), 6)
        lib.write({"source": "export function double(xs) { return 100; }\n"})
        self.assertEqual(self._result(script), 6)  # pinned
        script.write({"source": uses + "\n"})
        self.assertEqual(self._result(script), 100)
        with self.assertRaises(ValidationError) as e:
            self._script(uses, company=self.company_b)
        self.assertIn(
            "library script 'invoicing' is not approved for this company", str(e.exception)
        )

    def test_the_editor_gets_a_package_typings(self):
        self._approve("iota-tiny", "1.3.0")
        libs = self.env["iota.script.package"].with_user(self.dev_a)._iota_editor_libs()
        paths = {lib["path"]: lib["content"] for lib in libs}
        self.assertIn("file:///node_modules/iota-tiny/index.d.ts", paths)
        self.assertIn(
            "export declare function total", paths["file:///node_modules/iota-tiny/index.d.ts"]
        )
        self.assertEqual(
            json.loads(paths["file:///node_modules/iota-tiny/package.json"])["types"], "index.d.ts"
        )
        # company B approved nothing: its editor offers nothing
        self.assertEqual(
            self.env["iota.script.package"]
            .with_user(self.dev_b)
            .with_company(self.company_b)
            ._iota_editor_libs(),
            [],
        )


@tagged("post_install", "-at_install")
@skipUnless(
    _registry_reachable(),
    "registry.npmjs.org is not reachable: the real-registry tests are skipped",
)
class TestScriptPackageRealRegistry(NpmCase):
    def test_date_fns_and_decimal_js_from_the_real_registry(self):
        with patch.dict(os.environ, {"IOTA_SCRIPTS_NPM_REGISTRY": "https://registry.npmjs.org"}):
            dates = self._approve("date-fns", "^4.1.0")
            decimals = self._approve("decimal.js", "^10.4.0")
        for package in dates | decimals:
            self.assertEqual(package.state, "approved", package.refusal_reason)
        self.assertIn("format", dates.exports.split())
        script = self._script(
            'import { format, addDays } from "date-fns";\nimport Decimal from "decimal.js";\n'
            "export default () => [format(addDays(new Date(2024, 0, 31), 1), 'yyyy-MM-dd'),"
            " new Decimal('0.1').plus('0.2').toString()];\n"
        )
        self.assertEqual(self._result(script), ["2024-02-01", "0.3"])


@tagged("post_install", "-at_install")
class TestScriptPackageUi(HttpCase):
    """The editor completes an approved package's exports, in a real browser (Monaco)."""

    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        folder = Path(tempfile.mkdtemp(prefix="iota-npm-ui-"))
        self.addCleanup(shutil.rmtree, folder, True)
        npm = npm_registry.LocalRegistry()
        self.addCleanup(npm.close)
        files = {k: v.replace("__V__", "1.3.0") for k, v in TINY.items()}
        npm.publish(
            npm_registry.pack(
                folder,
                "iota-tiny",
                "1.3.0",
                files,
                module="index.mjs",
                main="index.mjs",
                types="index.d.ts",
            )
        )
        env = patch.dict(os.environ, {"IOTA_SCRIPTS_NPM_REGISTRY": npm.url})
        env.start()
        self.addCleanup(env.stop)
        company = self.env.company
        self.admin = new_test_user(
            self.env,
            "iota_npm_ui_admin",
            groups="base.group_user,iota_scripts.iota_scripts_group_admin",
            company_id=company.id,
        )
        self.dev = new_test_user(
            self.env,
            "iota_npm_ui_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=company.id,
        )
        package = (
            self.env["iota.script.package"].with_user(self.admin).create({"name": "iota-tiny"})
        )
        package.action_approve()
        self.assertEqual(package.state, "approved")

    def test_the_editor_completes_a_package_exports(self):
        script = self.env["iota.script"].create(
            {"name": "npm tour", "company_id": self.dev.company_id.id, "source": USES_TINY}
        )
        self.start_tour(
            f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
            "iota_scripts_npm_completion_tour",
            login="iota_npm_ui_dev",
        )
