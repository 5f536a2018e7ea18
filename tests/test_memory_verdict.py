"""The heap cap judges what a run holds, not garbage left by earlier runs (issue 16 §6).

Real V8 runners; one engine with a single runner, so every run of a script
goes to the same warm context.
"""

from __future__ import annotations

import collections

import pytest

from iota_scripts_sdk import Engine, EngineConfig, Limits

# Holds ~40 MB (a packed double array: 8 bytes an element) under the default
# 64 MB cap, and leaves it behind as garbage when the run ends.
HOLD_40 = "export default () => { const a = new Array(40 * 131072).fill(0.5); return a.length }"
# Small objects: the heap grows by many young-generation GCs, whose epilogue
# is where the cap is checked.
OBJECTS_40 = (
    "export default () => { const a = []; for (let i = 0; i < 40 * 1024 * 1024 / 24; i++)"
    " a.push({x: i, y: i + 1}); return a.length }"
)
HOLD_90 = "export default () => { const a = new Array(90 * 131072).fill(0.5); return a.length }"
OBJECTS_90 = OBJECTS_40.replace("40 * 1024", "90 * 1024")

LIMITS = Limits(timeout_sec=20)  # memory_mb: the default 64


@pytest.fixture(scope="module")
def one_runner():
    eng = Engine(EngineConfig(runners=1))
    yield eng
    eng.close()


def _verdicts(engine, src, n):
    out = collections.Counter()
    for _ in range(n):
        res = engine.run(src, limits=LIMITS)
        out["ok" if res.ok else res.error.code] += 1
    return dict(out)


def test_a_script_near_the_cap_passes_every_run_of_a_warm_context(one_runner):
    assert LIMITS.memory_mb == 64
    assert _verdicts(one_runner, HOLD_40, 30) == {"ok": 30}
    assert _verdicts(one_runner, OBJECTS_40, 15) == {"ok": 15}


def test_a_script_over_the_cap_gets_memory_limit_every_time(one_runner):
    assert _verdicts(one_runner, HOLD_90, 6) == {"memory_limit": 6}
    assert _verdicts(one_runner, OBJECTS_90, 4) == {"memory_limit": 4}
    # ...and the runner that replaced the failed one serves the 40 MB script.
    assert _verdicts(one_runner, HOLD_40, 5) == {"ok": 5}


def test_alternating_big_runs_keep_their_verdicts(one_runner):
    # Two scripts, two warm contexts in one runner: each run starts from its
    # own live set whichever ran before.
    for _ in range(8):
        assert one_runner.run(HOLD_40, limits=LIMITS).ok
        assert one_runner.run(OBJECTS_40, limits=LIMITS).ok
