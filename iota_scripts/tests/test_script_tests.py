"""Script tests on real Odoo 18 (models/iota_script_tests.py): versioned with
the script, run as a dry-run (``it.db`` cases against the real database, rolled
back), and "tests must pass to publish". The Tests tab: test_ui_script_tests.py."""

from odoo.tests import tagged

from ..models.iota_script_tests import TestsFailedError
from .common import IotaScriptsCase

SOURCE = """\
export default async function (ctx) {
  const ids = await sdk.db.search("res.partner", [["name", "=", ctx.input.name]]);
  await sdk.events.emit("greeted", { ids });
  return { hello: ctx.input.name, found: ids.length };
}
"""

GOOD = """\
fixtures({ "res.partner": [{ id: 3, name: "Ada" }] });
it("finds Ada", async () => {
  expect(await run({ name: "Ada" })).toEqual({ hello: "Ada", found: 1 });
  expect(sdk.events.emitted).toContainEqual({ type: "greeted", payload: { ids: [3] } });
});
it.db("writes for real, then rolls back", async () => {
  const id = await sdk.db.create("res.partner", { name: "IOTA test-case partner" });
  expect(await sdk.db.searchCount("res.partner", [["id", "=", id]])).toBe(1);
});
"""

BAD = (
    GOOD
    + """\
it("expects the wrong greeting", async () => {
  expect(await run({ name: "Ada" })).toEqual({ hello: "Bob", found: 1 });
});
"""
)


@tagged("post_install", "-at_install")
class TestScriptTests(IotaScriptsCase):
    def _script(self, tests, **values):
        return (
            self.env["iota.script"]
            .with_user(self.dev_a)
            .create(
                {
                    "name": "Tested",
                    "company_id": self.company_a.id,
                    "state": "active",
                    "source": SOURCE,
                    "tests": tests,
                    **values,
                }
            )
        )

    def test_cases_run_mocked_and_against_the_database(self):
        # it runs as a user who may create contacts (the company's runner may not)
        script = self._script(BAD).sudo()
        script.run_as_user_id = self.bot_a
        script = script.with_user(self.dev_a)
        report = script.action_run_tests()
        self.assertEqual(
            (report["passed"], report["failed"], report["skipped"]), (2, 1, 0), report["cases"]
        )
        self.assertEqual(report["mode"], "database")
        failed = next(c for c in report["cases"] if c["status"] == "failed")
        self.assertEqual(failed["name"], "expects the wrong greeting")
        self.assertEqual(failed["error"]["line"], 11)
        self.assertIn('-   "hello": "Bob"', failed["error"]["diff"])
        self.assertIn('+   "hello": "Ada"', failed["error"]["diff"])
        # the it.db case created a partner: rolled back with the dry-run
        self.assertFalse(
            self.env["res.partner"].search_count([("name", "=", "IOTA test-case partner")])
        )
        self.assertFalse(script.execution_ids, "a test run leaves no execution behind")
        # the editor's unsaved tests run too, and a syntax error names the tests' line
        report = script.action_run_tests(tests="it('x', () => {\n  expect(1).toBe(;\n});\n")
        self.assertEqual((report["ok"], report["error"]["code"]), (False, "syntax_error"))
        self.assertEqual((report["error"]["where"], report["error"]["line"]), ("tests", 2))

    def test_tests_are_versioned_with_the_source(self):
        script = self._script(GOOD)
        self.assertEqual(script.version_id.tests, GOOD)
        script.write({"tests": BAD})
        self.assertEqual(script.version_number, 2)
        self.assertEqual(script.version_id.tests, BAD)
        self.assertEqual(script.version_id.source, SOURCE)
        script.write({"tests": BAD})  # unchanged: no new version
        self.assertEqual(script.version_number, 2)
        # restoring v1 brings its tests back, in one new version
        script.version_ids.filtered(lambda v: v.number == 1).action_restore()
        self.assertEqual((script.version_number, script.tests), (3, GOOD))
        self.assertEqual(script.version_id.tests, GOOD)

    def test_tests_must_pass_to_publish(self):
        script = self._script(GOOD.replace("it.db(", "it.skip("))
        good = script.tests
        self.company_a.iota_scripts_tests_required = True
        broken = SOURCE.replace("found:", "count: 0, found:")
        with self.assertRaises(TestsFailedError) as caught:
            with self.env.cr.savepoint():
                script.write({"source": broken})
        self.assertEqual(caught.exception.code, "tests_failed")
        self.assertIn("tests_failed: 1 test case(s) of Tested v2 failed", caught.exception.args[0])
        self.assertIn("finds Ada (line 3)", caught.exception.args[0])
        with self.assertRaises(TestsFailedError) as caught:
            with self.env.cr.savepoint():
                script.write({"tests": BAD.replace("it.db(", "it.skip(")})
        self.assertIn("expects the wrong greeting (line 11)", caught.exception.args[0])
        self.assertNotIn("finds Ada", caught.exception.args[0])
        script.invalidate_recordset()
        self.assertEqual((script.version_number, script.tests), (1, good))
        # passing tests publish
        script.write({"source": SOURCE + "// v2\n"})
        self.assertEqual(script.version_number, 2)
        self.company_a.iota_scripts_tests_required = False
        script.write({"tests": BAD})
        self.assertEqual(script.version_number, 3)
