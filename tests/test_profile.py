"""The profile run mode (``iota_scripts_sdk.profile``, ``profiler.js``): time per
function by instrumentation, as a flame-graph tree. Real V8 runners."""

from __future__ import annotations

import time

from iota_scripts_sdk import Limits
from iota_scripts_sdk.profile import PROFILE_LOG, profile_run

FAST = Limits(timeout_sec=5.0)

SOURCE = """\
export default async function main(ctx) {
  let s = 0;
  for (let i = 0; i < 3; i++) s += busy(15);
  const n = await sdk.db.searchCount("res.partner", []);
  const twice = (x) => ({ v: x * 2 });
  sdk.log.info("done");
  return { s, n, v: twice(2).v, w: [1, 2].map((x) => x + 1) };
}
function busy(ms) { const t = Date.now(); while (Date.now() - t < ms) {} return 1; }
class K { get g() { return 1; } }
"""


def _slow_count(args):
    time.sleep(0.06)
    return 7


def test_profile_gives_time_per_function_as_a_tree(engine):
    res, tree = profile_run(engine, SOURCE, limits=FAST, host={"db.searchCount": _slow_count})
    assert res.ok, res.error
    # the result is the script's, untouched by the instrumentation
    assert res.result == {"s": 3, "n": 7, "v": 4, "w": [2, 3]}
    # the profile's log line is taken out; the script's own stay
    assert [line["message"] for line in res.logs] == ["done"]
    assert all(line["message"] != PROFILE_LOG for line in res.logs)
    (main,) = tree["children"]
    assert main["name"] == "main (line 1)" and main["calls"] == 1
    kids = {c["name"]: c for c in main["children"]}
    assert kids["busy (line 9)"]["calls"] == 3
    assert kids["busy (line 9)"]["value"] >= 45
    assert kids["twice (line 5)"]["calls"] == 1
    assert kids["(anonymous) (line 7)"]["calls"] == 2
    # main's time includes its children and the awaited sdk call
    assert main["value"] >= kids["busy (line 9)"]["value"] + 50
    assert tree["value"] == main["value"] and tree["over"] == 0


def test_errors_keep_their_lines_under_instrumentation(engine):
    src = "export default async () => {\n  const x = null;\n  return x.y;\n};\n"
    res, tree = profile_run(engine, src, limits=FAST)
    assert res.error.code == "script_error" and res.error.line == 3
    # the function returned (by throwing): its profile came
    assert tree["children"][0]["calls"] == 1


def test_a_run_ended_by_a_limit_has_no_profile(engine):
    res, tree = profile_run(
        engine, "export default () => { for (;;) {} }", limits=Limits(timeout_sec=0.5)
    )
    assert res.error.code == "timeout" and tree is None


def test_a_syntax_error_is_the_plain_runs(engine):
    res, tree = profile_run(engine, "export default () => {", limits=FAST)
    assert res.error.code == "syntax_error" and tree is None
