"""The pool hands a run the runner released last (a hot runner).

A steady load then stays on as few runners as it needs, whose caches are
warm; the others stay idle for bursts and long runs.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from iota_scripts_sdk import Engine, EngineConfig

# Busy for ctx.input milliseconds: two such runs at once need both runners.
BUSY = "export default (ctx) => { const end = Date.now() + ctx.input; while (Date.now() < end) {} return 1 }"


def test_sequential_runs_stay_on_the_runner_released_last():
    engine = Engine(EngineConfig(runners=2))
    try:
        with ThreadPoolExecutor(2) as ex:
            first = list(ex.map(lambda _: engine.run(BUSY, input=400), range(2)))
        assert [r.ok for r in first] == [True, True]
        runners = list(engine._pool._idle)
        # both runners started, and both have the script warm
        assert len(runners) == 2
        assert all(runners[0].keys & r.keys for r in runners)
        before = {id(r): r.runs for r in runners}
        for _ in range(20):
            assert engine.run(BUSY, input=0).ok
        used = sorted(r.runs - before[id(r)] for r in engine._pool._idle)
        assert used == [0, 20]
    finally:
        engine.close()


def test_a_runner_with_the_script_warm_comes_before_the_one_released_last():
    engine = Engine(EngineConfig(runners=2))
    other = "export default () => 2"
    try:
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda _: engine.run(BUSY, input=400), range(2)))
        assert engine.run(other).result == 2
        warm = engine._pool._idle[-1]  # the runner that has both scripts
        # Two runs at once again: the short one takes the warm runner, the
        # long one the other, which is then released last.
        with ThreadPoolExecutor(2) as ex:
            short = ex.submit(engine.run, BUSY, input=300)
            deadline = time.monotonic() + 10
            while len(engine._pool._idle) != 1:  # until the short run has its runner
                assert time.monotonic() < deadline and not short.done()
                time.sleep(0.001)
            long = ex.submit(engine.run, BUSY, input=900)
            assert short.result().ok and long.result().ok
        cold = engine._pool._idle[-1]
        assert cold is not warm
        assert (len(warm.keys), len(cold.keys)) == (2, 1)
        runs = warm.runs
        assert engine.run(other).result == 2
        assert warm.runs == runs + 1
    finally:
        engine.close()
