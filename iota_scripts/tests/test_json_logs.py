"""JSON log lines during a real run: each line of our loggers parses and names the run."""

import io
import json
import logging

from odoo.netsvc import DBFormatter
from odoo.tests import tagged

from ..tools.observability import json_logs
from .common import IotaScriptsCase

LOGGERS = ("odoo.addons.iota_scripts", "iota_scripts_sdk")


@tagged("post_install", "-at_install")
class TestJsonLogs(IotaScriptsCase):
    def _capture(self):
        """A handler like Odoo's (its format), given the JSON formatter, on our loggers."""
        buf = io.StringIO()
        handler = logging.StreamHandler(buf)
        handler.setFormatter(DBFormatter("%(asctime)s %(pid)s %(levelname)s %(name)s: %(message)s"))
        self.assertEqual(json_logs.install("json", [handler]), 1)
        for name in LOGGERS:
            logger = logging.getLogger(name)
            old_level = logger.level
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            self.addCleanup(logger.removeHandler, handler)
            self.addCleanup(logger.setLevel, old_level)
        return buf

    def test_lines_of_a_run_carry_company_script_version_and_execution(self):
        script = self._script(
            "export default async (ctx) => (await sdk.db.searchCount('res.partner', [])) >= 0;",
            key="json_logs_probe",
        )
        buf = self._capture()
        execution = script.action_run()
        self.assertEqual(execution.state, "succeeded")
        lines = [json.loads(line) for line in buf.getvalue().splitlines()]
        ours = [line for line in lines if line["execution"] == execution.id]
        self.assertTrue(ours, lines)
        for line in ours:
            self.assertEqual(line["company"], self.company_a.id)
            self.assertEqual(line["script"], "json_logs_probe")
            self.assertEqual(line["version"], execution.version_id.number)
            self.assertIn("trace_id", line)
            self.assertEqual(line["trace_id"], json_logs.current_trace_id())
            self.assertTrue(line["logger"].startswith(LOGGERS))
            self.assertIn(line["level"], ("DEBUG", "INFO", "WARNING", "ERROR"))
        self.assertTrue(any("ended ok" in line["message"] for line in ours), ours)
        # outside a run: the fields are there, and null
        logging.getLogger("odoo.addons.iota_scripts.tests").info("after the run")
        last = json.loads(buf.getvalue().splitlines()[-1])
        self.assertEqual(last["message"], "after the run")
        self.assertIsNone(last["execution"])
        self.assertIsNone(last["script"])
