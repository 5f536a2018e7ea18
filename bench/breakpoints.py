"""Benchmark of snapshot breakpoints (issue 12 §4), on the engine alone.

What it measures
----------------
Each figure is a median over rounds that interleave it with its baseline, in
the same process and minute (``time.perf_counter``, wall clock of
``Engine.run``, warm contexts):

1. **Unarmed vs plain**: a script with a hot loop run as it is, and run the
   way a host runs a script none of whose breakpoints is armed
   (``breakpoints=[]``). The instrumentation must cost nothing: the ratio is
   ~1.00 (the same source runs, from its own compiled context).
2. **Armed, never hit**: the same script with a breakpoint in the loop whose
   condition is never true: the cost of the check per pass, as a ratio.
3. **Armed, per hit**: a breakpoint in a loop of ``--hits`` passes (at most the
   per-breakpoint cap), each capturing a dozen locals; (armed - plain) / hits,
   in microseconds.

Usage::

    python3 bench/breakpoints.py [--rounds 30] [--loop 200000]

Prints one JSON object with the figures and the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from iota_scripts_sdk import Breakpoint, Engine, EngineConfig
from iota_scripts_sdk.breakpoints import MAX_HITS_PER_BREAKPOINT

HOT = (
    "export default async function main(ctx) {\n"
    "  let sum = 0;\n"
    "  for (let i = 0; i < ctx.input.n; i++) {\n"
    "    sum = (sum + i * 7) % 1000003;\n"  # 4: the breakpoint's line
    "  }\n"
    "  return sum;\n"
    "}\n"
)
HITS = (
    "export default async function main(ctx) {\n"
    "  const rec = {id: 7, name: 'Partner 7', email: 'p7@example.com', lines: [1, 2, 3]};\n"
    "  const a = 1, b = 'two', c = [3], d = {e: 4}, f = null, g = true, h = 8.5, j = 'j';\n"
    "  let total = 0;\n"
    "  for (let i = 0; i < ctx.input.n; i++) {\n"
    "    total += i;\n"  # 6: the breakpoint's line
    "  }\n"
    "  return total + a + h;\n"
    "}\n"
)


def _time(engine: Engine, source: str, n: int, **kw: object) -> float:
    t = time.perf_counter()
    res = engine.run(source, input={"n": n}, **kw)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t
    if not res.ok:
        raise SystemExit(f"bench/breakpoints.py: a run failed: {res.error}")
    return elapsed


def measure(rounds: int, loop: int, hits: int) -> dict[str, object]:
    engine = Engine(EngineConfig(runners=1))
    never = [Breakpoint(4, condition="i < 0")]
    each = [Breakpoint(6)]
    try:
        for _ in range(3):  # warm every context first
            _time(engine, HOT, loop)
            _time(engine, HOT, loop, breakpoints=[])
            _time(engine, HOT, loop, breakpoints=never)
            _time(engine, HITS, hits)
            _time(engine, HITS, hits, breakpoints=each)
        plain, unarmed, armed_never, hits_plain, hits_armed = [], [], [], [], []
        for r in range(rounds):
            # each pair in both orders: neither side always runs first
            pairs = [
                (plain, lambda: _time(engine, HOT, loop)),
                (unarmed, lambda: _time(engine, HOT, loop, breakpoints=[])),
                (armed_never, lambda: _time(engine, HOT, loop, breakpoints=never)),
                (hits_plain, lambda: _time(engine, HITS, hits)),
                (hits_armed, lambda: _time(engine, HITS, hits, breakpoints=each)),
            ]
            for out, fn in pairs if r % 2 else reversed(pairs):
                out.append(fn())
        got = engine.run(HITS, input={"n": hits}, breakpoints=each)
        if len(got.hits) != hits:
            raise SystemExit(f"bench/breakpoints.py: {len(got.hits)} hits, not {hits}")
    finally:
        engine.close()
    med = statistics.median
    per_hit_us = (med(hits_armed) - med(hits_plain)) / hits * 1e6
    return {
        "rounds": rounds,
        "loop_passes": loop,
        "plain_ms": round(med(plain) * 1000, 3),
        "unarmed_ms": round(med(unarmed) * 1000, 3),
        "unarmed_vs_plain": round(med(unarmed) / med(plain), 3),
        "armed_never_hit_ms": round(med(armed_never) * 1000, 3),
        "armed_never_hit_vs_plain": round(med(armed_never) / med(plain), 3),
        "hits_per_run": hits,
        "hit_run_plain_ms": round(med(hits_plain) * 1000, 3),
        "hit_run_armed_ms": round(med(hits_armed) * 1000, 3),
        "armed_cost_per_hit_us": round(per_hit_us, 1),
        "unarmed_costs_nothing": abs(med(unarmed) / med(plain) - 1) < 0.05,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--loop", type=int, default=200_000)
    parser.add_argument("--hits", type=int, default=MAX_HITS_PER_BREAKPOINT)
    args = parser.parse_args()
    hits = min(args.hits, MAX_HITS_PER_BREAKPOINT)
    print(json.dumps(measure(args.rounds, args.loop, hits), indent=2))


if __name__ == "__main__":
    main()
