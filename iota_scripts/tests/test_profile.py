"""The profile run mode through the run path (run/profiling.py): a run by hand,
instrumented, its call tree kept on the execution. Real V8, real PostgreSQL."""

import json

from odoo.tests import tagged

from .common import IotaScriptsCase

PROFILED = """\
export default async function main(ctx) {
  const n = await sdk.db.searchCount("res.partner", []);
  let s = 0;
  for (let i = 0; i < 2; i++) s += busy(12);
  sdk.log.info("profiled");
  return { n: n > 0, s };
}
function busy(ms) { const t = Date.now(); while (Date.now() - t < ms) {} return 1; }
"""


@tagged("post_install", "-at_install")
class TestProfile(IotaScriptsCase):
    def test_profile_keeps_time_per_function_with_the_execution(self):
        script = self._script(PROFILED, run_as_user_id=self.bot_a.id)
        values = script.with_user(self.dev_a).action_profile(None)
        self.assertEqual(values["state"], "succeeded", values["error"])
        self.assertEqual(values["result"], {"n": True, "s": 2})
        # the profile's own log line is not among the run's logs
        self.assertEqual([line["message"] for line in values["logs"]], ["profiled"])
        main = values["profile"]["children"][0]
        self.assertEqual((main["name"], main["calls"]), ("main (line 1)", 1))
        busy = main["children"][0]
        self.assertEqual((busy["name"], busy["calls"]), ("busy (line 8)", 2))
        self.assertGreaterEqual(busy["value"], 20)
        execution = self.env["iota.script.execution"].browse(values["id"])
        self.assertEqual(execution.trigger, "manual")
        self.assertEqual(json.loads(execution.profile_json), values["profile"])
        # the same run keeps its journal: one sdk call in the waterfall
        rows = json.loads(execution.waterfall_json)["rows"]
        self.assertEqual([r["call"] for r in rows], ["db.searchCount"])

    def test_a_plain_run_has_no_profile(self):
        script = self._script(PROFILED, run_as_user_id=self.bot_a.id)
        execution = script.with_user(self.dev_a)._run_by_hand(None)
        self.assertEqual(execution.state, "succeeded")
        self.assertFalse(execution.profile_json)
