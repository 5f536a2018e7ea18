"""Hoot unit tests of the Run panel's and log viewer's logic, in a real browser.

Runs the unit test page on the tag "iota_scripts" and checks that Hoot
reports exactly our tests as passed (an empty selection would "pass" too).
"""

import re
from unittest.mock import patch

from odoo.tests import HttpCase, common, tagged

#: Tests in static/tests/unit/run_panel_logic.test.js
EXPECTED_TESTS = 8


@tagged("post_install", "-at_install")
class TestRunPanelHoot(HttpCase):
    def test_run_panel_logic(self):
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        seen = []
        original = common.ChromeBrowser._handle_console

        def handle_console(browser, type, args=None, stackTrace=None, **kw):
            seen.extend(a.get("value") for a in args or () if isinstance(a.get("value"), str))
            return original(browser, type, args=args, stackTrace=stackTrace, **kw)

        with patch.object(common.ChromeBrowser, "_handle_console", handle_console):
            self.browser_js(
                "/web/tests?headless&loglevel=2&preset=desktop&timeout=15000&tag=iota_scripts",
                "",
                "",
                login="admin",
                timeout=600,
                success_signal="[HOOT] test suite succeeded",
                error_checker=lambda message: "[HOOT]" not in message,
            )
        counts = [int(m.group(1)) for m in (re.search(r"passed (\d+) tests", s) for s in seen) if m]
        self.assertEqual(counts, [EXPECTED_TESTS], seen[-5:])
