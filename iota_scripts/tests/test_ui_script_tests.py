"""The Tests tab in a real browser (static/src/script_tests/): a script's tests
run, one case fails and is shown with its diff and line; nothing is kept."""

from odoo.tests import HttpCase, new_test_user, tagged

from .test_ui import _screenshots_on_signal

SOURCE = """\
export default async function (ctx) {
  const ids = await sdk.db.search("res.partner", [["name", "=", ctx.input.name]]);
  return { hello: ctx.input.name, found: ids.length };
}
"""
TESTS = """\
fixtures({ "res.partner": [{ id: 1, name: "Ada" }] });
it("greets Ada", async () => {
  expect(await run({ name: "Ada" })).toEqual({ hello: "Ada", found: 1 });
});
it("expects Bob", async () => {
  expect(await run({ name: "Ada" })).toEqual({ hello: "Bob", found: 1 });
});
"""


@tagged("post_install", "-at_install")
class TestScriptTestsUi(HttpCase):
    def test_a_failing_case_is_shown_with_its_diff(self):
        developer = new_test_user(
            self.env,
            "iota_tests_tab_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )
        script = self.env["iota.script"].create(
            {
                "name": "Tests tab script",
                "state": "active",
                "company_id": developer.company_id.id,
                "source": SOURCE,
                "tests": TESTS,
            }
        )
        with _screenshots_on_signal():
            self.start_tour(
                f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
                "iota_scripts_script_tests_tour",
                login="iota_tests_tab_dev",
            )
        script.invalidate_recordset()
        self.assertEqual(script.version_number, 1, "running tests saves no version")
        self.assertFalse(script.execution_ids, "running tests keeps no execution")
