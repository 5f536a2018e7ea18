"""The script studio in a real browser: Hoot unit tests and tours (chromium)."""

import re
from pathlib import Path
from unittest.mock import patch

from odoo.tests import HttpCase, common, new_test_user, tagged

from .test_ui import _screenshots_on_signal

EDITOR_SOURCE = "// studio-saved\nexport default async function (ctx) {\n  return 1;\n}\n"


#: Our Hoot test files; each ``test(`` call in them is one test Hoot must pass.
HOOT_DIR = Path(__file__).resolve().parent.parent / "static" / "tests" / "unit"


def _declared_hoot_tests():
    return sum(
        len(re.findall(r"^\s*test\(", path.read_text(), re.M))
        for path in HOOT_DIR.glob("*.test.js")
    )


def _hoot_hash(name):
    """Hoot's filter hash of a suite name (as web/tests/test_js.py computes it)."""
    value = 0
    for char in name:
        value = ((value << 5) - value + ord(char)) & 0xFFFFFFFF
    return f"{value:08x}"


@tagged("post_install", "-at_install")
class TestStudioUi(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        self.dev = new_test_user(
            self.env,
            "iota_studio_tour",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )

    def _script(self, source=EDITOR_SOURCE):
        return self.env["iota.script"].create(
            {"name": "Studio tour", "company_id": self.dev.company_id.id, "source": source}
        )

    def test_hoot_unit_tests(self):
        """The widgets' own logic (static/tests/unit/*.test.js), in Hoot: all ran and passed."""
        seen = []
        original = common.ChromeBrowser._handle_console

        def handle_console(browser, type, args=None, **kw):
            if args and args[0].get("type") == "string":
                seen.append(" ".join(str(a.get("value", "")) for a in args))
            return original(browser, type, args=args, **kw)

        with patch.object(common.ChromeBrowser, "_handle_console", handle_console):
            self.browser_js(
                f"/web/tests?headless&loglevel=2&timeout=15000&suite={_hoot_hash('@iota_scripts')}",
                "",
                "",
                login="admin",
                timeout=600,
                success_signal="[HOOT] test suite succeeded",
                error_checker=lambda message: "[HOOT]" not in message,
            )
        passed = [m for m in seen if 'Test "@iota_scripts/' in m and " passed " in m]
        # An empty selection would "succeed" too: every declared test must have passed.
        declared = _declared_hoot_tests()
        self.assertGreaterEqual(declared, 18)
        self.assertEqual(len(passed), declared, seen[-5:])

    def test_editor_tour(self):
        """Completion from the live schema, a marker, and the refused save."""
        script = self._script()
        with _screenshots_on_signal():
            self.start_tour(
                f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
                "iota_scripts_studio_editor_tour",
                login="iota_studio_tour",
            )
        self.assertEqual(script.source, EDITOR_SOURCE)  # the broken source was refused
        self.assertEqual(script.version_count, 1)

    def test_policy_markers_in_the_editor(self):
        """A company's policy rule shows as an error marker where the source breaks it (issue 10 §1)."""
        self.env["iota.script.policy.rule"].create(
            {
                "name": "No outbound HTTP in this tour",
                "kind": "member",
                "value": "sdk.http",
                "company_id": self.dev.company_id.id,
            }
        )
        script = self._script()
        self.start_tour(
            f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
            "iota_scripts_studio_policy_tour",
            login="iota_studio_tour",
        )
        self.assertEqual(script.source, EDITOR_SOURCE)  # never saved

    def test_save_keys_in_the_editor(self):
        """Ctrl+S and Alt+S pressed inside the editor's iframe save the script."""
        script = self._script()
        self.start_tour(
            f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
            "iota_scripts_studio_hotkey_tour",
            login="iota_studio_tour",
        )
        self.assertTrue(script.source.startswith("// saved-with-alt-s\n// saved-with-ctrl-s\n"))
        self.assertEqual(script.version_count, 3)

    def test_diff_tour(self):
        """Diff two versions and restore the first one."""
        script = self._script("export default () => 'one';\n")
        script.source = "export default () => 'two';\n// more\n"
        v1 = script.version_ids.filtered(lambda v: v.number == 1)
        with _screenshots_on_signal():
            self.start_tour(
                f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
                "iota_scripts_studio_diff_tour",
                login="iota_studio_tour",
            )
        self.assertEqual(script.version_id.number, 3)
        self.assertEqual(script.source, v1.source)
        self.assertEqual(script.version_id.note, "Restored from v1")
        self.assertEqual(script.version_id.author_id, self.dev)

    def test_ace_and_graph_after_the_editor(self):
        """Monaco's AMD loader stays in its iframe: Ace and Chart.js still work."""
        script = self._script()
        action = self.env["ir.actions.server"].create(
            {
                "name": "Ace after Monaco",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "state": "code",
                "code": "# untouched\n",
            }
        )
        with _screenshots_on_signal():
            self.start_tour(
                f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
                "iota_scripts_studio_compat_tour",
                login="admin",
            )
        # the Ace edit was kept (saved when the form was left for the graph)
        self.assertIn("# typed after Monaco", action.code)
