"""Check the scripts before a package upgrade (issue 13): their tests run
against the candidate bundle (models/iota_script_package_check.py).

Offline: ``iota-calc`` 1.0.0 and 1.1.0 are made by ``npm pack`` and served by
the loopback registry; 1.1.0 changes what ``double`` returns.
"""

from __future__ import annotations

import json
from pathlib import Path

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from . import npm_registry
from .test_script_package import NpmCase, TestScriptPackage

CALC = "export function double(x) { return __BODY__; }\nexport const VERSION = '__V__';\n"
USES_CALC = (
    'import { double, VERSION } from "iota-calc";\n'
    "export default async function (ctx) {\n"
    "  const n = ctx.records ? ctx.records.ids.length : ctx.input.n;\n"
    "  return { twice: double(n), version: VERSION };\n"
    "}\n"
)
TESTS = """\
it("doubles 21", async () => {
  expect((await run({ n: 21 })).twice).toBe(42);
});
it("says its version", async () => {
  expect(typeof (await run({ n: 1 })).version).toBe("string");
});
"""


@tagged("post_install", "-at_install")
class TestScriptPackageCheck(NpmCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for version, body in (("1.0.0", "x * 2"), ("1.1.0", "x * 3")):
            files = {"index.mjs": CALC.replace("__BODY__", body).replace("__V__", version)}
            cls.npm.publish(
                npm_registry.pack(
                    Path(cls._tmp),
                    "iota-calc",
                    version,
                    files,
                    module="index.mjs",
                    main="index.mjs",
                )
            )

    def test_the_check_runs_the_tests_against_the_candidate_and_names_the_failures(self):
        package = self._approve("iota-calc", "1.0.0")
        self.assertEqual(package.version, "1.0.0")
        old_sha = package.bundle_sha256
        tested = self._script(USES_CALC, name="Doubler")
        tested.write({"tests": TESTS})
        self.assertTrue(tested.version_id.sudo().tests)
        untested = self._script(USES_CALC, name="Plain doubler")
        self.assertTrue(tested._iota_run_tests().ok)  # green on the approved 1.0.0
        self.assertEqual(package.script_ids, tested | untested)

        # a real run (an automation rule), to replay on the candidate
        TestScriptPackage._automation(self, tested)
        self.env["res.partner"].create(
            {"name": "npm", "ref": "npm", "company_id": self.company_a.id}
        )
        recorded = self._executions(tested).filtered(lambda e: e.trigger != "manual")[-1:]
        self.assertEqual(recorded.state, "succeeded", recorded.error_message)
        self.assertEqual(json.loads(recorded.result_json), {"twice": 2, "version": "1.0.0"})
        # its replay imports the version's pinned bundle
        replayed = recorded.action_replay()
        self.assertEqual((replayed["state"], replayed["divergences"]), ("succeeded", []))

        # the same version again: nothing changes, everything passes
        report = package.with_user(self.admin_a).action_check_scripts()
        self.assertEqual((report["candidate"], report["failed"]), ("1.0.0", 0))
        self.assertEqual([r["replays_changed"] for r in report["scripts"]], [0, 0])

        package.with_user(self.admin_a).write({"version_range": "^1.0"})
        report = package.with_user(self.admin_a).action_check_scripts()
        self.assertEqual((report["approved"], report["candidate"]), ("1.0.0", "1.1.0"))
        by_name = {r["script"]: r for r in report["scripts"]}
        self.assertEqual(set(by_name), {"Doubler", "Plain doubler"})
        self.assertEqual(by_name["Doubler"]["status"], "failed")
        self.assertEqual(by_name["Doubler"]["failed_cases"], ["doubles 21"])
        self.assertEqual(by_name["Doubler"]["passed"], 1)
        self.assertEqual(by_name["Plain doubler"]["status"], "no tests")
        self.assertEqual(report["failed"], 1)
        self.assertEqual(by_name["Doubler"]["replayed"], 1)
        self.assertEqual(by_name["Doubler"]["changed_runs"], recorded.ids)
        self.assertIn("replays: 1 of 1 recent run(s) changed", package.check_result)
        self.assertIn("Doubler v", package.check_result)
        self.assertIn("failed: doubles 21", package.check_result)
        self.assertEqual(json.loads(package.check_report)["candidate"], "1.1.0")

        # nothing switched: the package, the pins and the runs stay on 1.0.0
        package.invalidate_recordset()
        self.assertEqual((package.version, package.bundle_sha256), ("1.0.0", old_sha))
        self.assertEqual(json.loads(tested.version_id.package_pins)["iota-calc"]["sha256"], old_sha)
        self.assertTrue(tested._iota_run_tests().ok)
        # the upgrade itself, once confirmed, switches; the tests then fail for real
        package.with_user(self.admin_a).action_approve()
        self.assertEqual(package.version, "1.1.0")
        tested.write({"source": USES_CALC + "\n"})
        self.assertEqual(tested._iota_run_tests().failed_names(), ["doubles 21"])

    def test_only_administrators_check_and_only_approved_packages(self):
        package = self._approve("iota-calc", "1.0.0")
        with self.assertRaises(AccessError):
            package.with_user(self.dev_a).action_check_scripts()
        draft = (
            self.env["iota.script.package"]
            .with_user(self.admin_a)
            .create({"name": "iota-other", "version_range": "1.0.0"})
        )
        with self.assertRaisesRegex(UserError, "Approve the package first"):
            draft.action_check_scripts()
