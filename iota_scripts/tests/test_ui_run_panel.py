"""Tours of the Run panel and the executions' log viewer, in a real browser.

Under HttpCase the run request holds the test lock while it runs: these
tours pass only because tools/live.py releases it while V8 runs and sends the
bus NOTIFY that the test cursor drops (see that module's docstring).
"""

import json
import time
from unittest.mock import patch

from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.tests import HttpCase, common, new_test_user, tagged

from .test_ui import _screenshots_on_signal

LIVE = """\
export default async (ctx) => {
  sdk.log.info("early bird tour", { who: ctx.input.who });
  const t0 = Date.now();
  while (Date.now() - t0 < 3000) {
    const t = Date.now();
    while (Date.now() - t < 25) {}
    await sdk.db.searchCount("res.partner", []);
  }
  sdk.log.info("done waiting");
  return { answer: "late" };
};
"""

SPINNER = """\
export default async () => {
  sdk.log.info("spinning");
  await sdk.db.searchCount("res.partner", []);
  while (true) {}
};
"""

THROWER = """\
export default async () => {
  sdk.log.debug("debug line");
  sdk.log.info("info line");
  sdk.log.warn("warn needle", { n: 1 });
  sdk.log.error("error line");
  throw new Error("kaput");
};
"""

DOUBLER = """\
export default (ctx) => `${ctx.input.n * 2} ${ctx.input.unit}${ctx.input.loud ? "!" : ""}`;
"""

DRY_WRITER = """\
export default async () => {
  await sdk.db.write("res.partner", [%(id)s], { ref: "dry-tour" });
  sdk.log.info("wrote the partner");
  return "written";
};
"""

DOUBLER_SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer", "title": "n", "description": "The number to double"},
        "unit": {"enum": ["kg", "m"]},
        "loud": {"type": "boolean"},
    },
    "required": ["n", "unit"],
}


@tagged("post_install", "-at_install")
class TestRunPanelUi(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Odoo answers 503 to websockets in tests unless told otherwise (as
        # its own bus tests do): live lines need the websocket.
        cls.startClassPatcher(
            patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        )

    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        self.developer = new_test_user(
            self.env,
            "iota_run_panel_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )

    def _script(self, name, source, **values):
        return self.env["iota.script"].create(
            {
                "name": name,
                "state": "active",
                "company_id": self.developer.company_id.id,
                "source": source,
                **values,
            }
        )

    def _tour(self, script, tour):
        with _screenshots_on_signal():
            self.start_tour(
                f"/odoo/action-iota_scripts.iota_script_action/{script.id}",
                tour,
                login="iota_run_panel_dev",
            )

    def test_live_lines_before_the_result(self):
        script = self._script("Live tour script", LIVE)
        self._tour(script, "iota_scripts_run_panel_live_tour")
        self.assertEqual(script.name, "Live tour script renamed", "Run saved the form first")
        execution = script.execution_ids
        self.assertEqual(len(execution), 1)
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(execution.triggered_by_id, self.developer)
        self.assertIn('"who": "tour"', execution.input_json)
        self.assertGreaterEqual(execution.wall_ms, 3000)

    def test_cancel_a_long_run(self):
        script = self._script("Spinner tour script", SPINNER, timeout_sec=30)
        t0 = time.monotonic()
        self._tour(script, "iota_scripts_run_panel_cancel_tour")
        self.assertLess(time.monotonic() - t0, 20, "cancelled long before the 30 s timeout")
        execution = script.execution_ids
        self.assertEqual((execution.state, execution.error_code), ("cancelled", "cancelled"))
        self.env.cr.execute(
            "SELECT count(*) FROM iota_script_execution_live WHERE execution_id = %s",
            [execution.id],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0, "the live run was forgotten")

    def test_error_position_and_log_viewer(self):
        script = self._script("Thrower tour script", THROWER)
        self._tour(script, "iota_scripts_run_panel_error_tour")
        execution = script.execution_ids
        self.assertEqual((execution.state, execution.error_line), ("failed", 6))
        self.assertEqual(execution.log_count, 4)

    def test_input_schema_form(self):
        script = self._script(
            "Doubler tour script", DOUBLER, input_schema=json.dumps(DOUBLER_SCHEMA)
        )
        self._tour(script, "iota_scripts_run_panel_schema_tour")
        execution = script.execution_ids
        self.assertEqual(len(execution), 1, "the incomplete form did not run")
        self.assertEqual(json.loads(execution.input_json), {"n": 21, "unit": "kg", "loud": True})
        self.assertEqual(json.loads(execution.result_json), "42 kg!")

    def test_dry_run_shows_the_write_diff_and_keeps_nothing(self):
        partner = self.env["res.partner"].create(
            {"name": "Dry tour partner", "company_id": self.developer.company_id.id}
        )
        editor = new_test_user(
            self.env,
            "iota_dry_tour_editor",
            groups="base.group_user,base.group_partner_manager",
        )
        script = self._script(
            "Dry run tour script",
            DRY_WRITER % {"id": partner.id},
            run_as_user_id=editor.id,
        )
        self._tour(script, "iota_scripts_run_panel_dry_run_tour")
        self.env.invalidate_all()
        self.assertFalse(partner.ref, "the dry-run's write persisted")
        self.assertEqual(partner.name, "Dry tour partner")
        self.assertFalse(script.execution_ids, "a dry-run leaves no execution")
