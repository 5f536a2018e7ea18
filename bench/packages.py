#!/usr/bin/env python3
"""Cold and warm cost of a script that imports a ~100 KB library (issue 13).

Engine only (no Odoo, no network): one runner, a library of ``--kb`` KB of
ES module code (generated: many small exported functions, the shape of
date-fns), handed to ``Engine.run`` as an approved bundle (``npm.Module``).
Every figure is measured in the same run as a plain script without imports,
and reported as a ratio against it:

* ``plain_cold`` / ``plain_warm``: ``export default () => 1``, a new source
  each run (a new V8 context: parse, compile) or the same one (a warm context);
* ``lib_cold``: a new script each run importing the library the runner has
  already transformed (its acorn pass is cached by hash): V8 still compiles
  and evaluates the library once per new context;
* ``lib_first``: a new library each run too (a new hash): the acorn transform
  of the library is paid as well, as on the first run after an approval;
* ``lib_warm``: the same script again: the context keeps the evaluated
  library, nothing is parsed again.

    python3 bench/packages.py [--kb 100] [--cold 30] [--warm 300] [--json]
    python3 bench/packages.py --bundle path/to/bundle.mjs --import name  # a real bundle
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iota_scripts_sdk import Engine, EngineConfig
from iota_scripts_sdk.npm import Module, bundle_hash


def library(kb: int) -> tuple[str, str]:
    """(ES module of about ``kb`` KB, the name of one of its exports)."""
    parts = []
    i = 0
    while sum(len(p) for p in parts) < kb * 1024:
        parts.append(
            f"export function fn{i}(a, b = {i}) {{\n"
            f"  const out = [];\n  for (let k = 0; k < 3; k++) out.push((a + b * k) % {i + 7});\n"
            f"  return out.reduce((x, y) => x + y, 0) + '{i}'.length;\n}}\n"
        )
        i += 1
    return "".join(parts), "fn1"


def timed(engine: Engine, source: str, modules: list[Module] | None) -> float:
    t = time.perf_counter()
    res = engine.run(source, modules=modules)
    ms = (time.perf_counter() - t) * 1000
    if not res.ok:
        raise SystemExit(f"run failed: {res.error}")
    return ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", type=int, default=100)
    ap.add_argument("--cold", type=int, default=30)
    ap.add_argument("--warm", type=int, default=300)
    ap.add_argument("--bundle", help="a real bundle (an ES module) instead of the generated one")
    ap.add_argument("--import", dest="name", default="fn1", help="with --bundle: an export to call")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.bundle:
        code, export = Path(args.bundle).read_text(), args.name
    else:
        code, export = library(args.kb)
    spec = "bench-lib"
    module = Module(spec, code, bundle_hash(code))
    engine = Engine(EngineConfig(runners=1))
    try:
        timed(engine, "export default () => 0;\n", None)  # start the runner
        plain = "export default () => 1; // @@\n"
        lib = (
            "import { "
            + export
            + ' } from "'
            + spec
            + '";\nexport default () => typeof '
            + export
            + "; // @@\n"
        )
        out: dict[str, list[float]] = {k: [] for k in ("plain_cold", "lib_cold", "lib_first")}
        timed(
            engine, lib.replace("@@", "prime"), [module]
        )  # the runner caches the transformed bundle
        for i in range(args.cold):  # interleaved, so that the machine's noise hits all alike
            out["plain_cold"].append(timed(engine, plain.replace("@@", str(i)), None))
            out["lib_cold"].append(timed(engine, lib.replace("@@", str(i)), [module]))
            fresh = code + f"\n// {i}\n"
            out["lib_first"].append(
                timed(
                    engine,
                    lib.replace("@@", f"f{i}"),
                    [Module(spec, fresh, bundle_hash(fresh))],
                )
            )
        out["plain_warm"], out["lib_warm"] = [], []
        for _ in range(args.warm):  # interleaved too
            out["plain_warm"].append(timed(engine, plain.replace("@@", "w"), None))
            out["lib_warm"].append(timed(engine, lib.replace("@@", "w"), [module]))
    finally:
        engine.close()
    med = {k: round(statistics.median(v), 3) for k, v in out.items()}
    report = {
        "library_kb": round(len(code.encode()) / 1024, 1),
        "median_ms": med,
        "ratio_cold": round(med["lib_cold"] / med["plain_cold"], 2),
        "ratio_first": round(med["lib_first"] / med["plain_cold"], 2),
        "ratio_warm": round(med["lib_warm"] / med["plain_warm"], 2),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"library: {report['library_kb']} KB")
    for k, v in med.items():
        print(f"  {k:<11} {v:9.3f} ms (median)")
    print(
        f"ratios vs a plain script: cold {report['ratio_cold']}x, first load {report['ratio_first']}x,"
        f" warm {report['ratio_warm']}x"
    )


if __name__ == "__main__":
    main()
