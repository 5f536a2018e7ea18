"""The runner's side of a run: a records run in parts, and array and regexp code.

What it measures
----------------
``iota-scripts bench`` gives the records figure end to end: 1,000 records
(about 150 KB of JSON) in and out of a script, against the same transform in
Python. This splits the runner's part of it. A runner (the engine's own
``Runner``, its sandbox off) runs in this process, and its frames go to
``/dev/null``; it gets the run frames a host sends (``Engine._prepare``),
made once per script. Each script below gets the same 1,000 records as input, and
each figure is the median of ``--runs`` runs, minus a trivial run measured
in the same round:

1. **input**: ``() => 1``: the input's bytes become a V8 string (UTF-8) and
   ``JSON.parse`` reads it.
2. **map, no result**: the transform, its result dropped.
3. **echo**: ``(ctx) => ctx.input``: the input, then the result's strict
   copy (each property read once), ``JSON.stringify`` and the string's way
   back to Python (mini-racer's UTF-8 conversion) and into the done frame.
4. **records**: the transform with its result: what the engine bench runs.
5. **arrays** (no input): a script that maps, filters, slices, spreads and
   iterates arrays of 1,000 numbers, twenty times;
6. **regexp** (no input): ``replace``, ``split``, ``match`` and ``test``
   with regular expressions on a 1.6 KB string, fifty times.

5 and 6 show what the prelude's hardening of ``Array.prototype`` and
``RegExp.prototype`` costs such code: V8's fast paths need their shapes
(``prelude.js``, "hardening").

``echo - input`` is what a result of this size costs to leave V8. The Python
baseline's parts (orjson's ``dumps`` of the input, ``loads``, the
comprehension, ``dumps`` of the output) are measured in the same rounds.

Usage::

    python3 bench/runner.py [--runs 300] [--rounds 3]

Prints one JSON object per round.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from iota_scripts_sdk.bench import RECORDS_JS, TRIVIAL, _records, in_process_runner, run_frame

SCRIPTS = {
    "input": "export default () => 1",
    "map_no_result": (
        "export default (ctx) => { ctx.input.map(r => ({...r, name: r.name.toUpperCase(),"
        " total: r.amount * 2})); return 1 }"
    ),
    "echo": "export default (ctx) => ctx.input",
    "records": RECORDS_JS,
}
ARRAYS_JS = (
    "export default () => { let s = 0; const a = Array.from({length: 1000}, (_, i) => i);"
    " for (let k = 0; k < 20; k++) { for (const x of a) s += x; s += [...a].length;"
    " s += a.map((x) => x + 1).filter((x) => x % 2).slice(1).concat([1]).length;"
    " const [f, g] = a; s += f + g } return s }"
)
REGEXP_JS = (
    "export default () => { let s = 0;"
    " const t = 'Partner 12, p12@example.com; Somewhere street 12, Brussels'.repeat(20);"
    " for (let k = 0; k < 50; k++) { s += t.replace(/\\d+/g, 'N').length; s += t.split(/[,;] /).length;"
    " s += (t.match(/@\\w+/g) || []).length; s += /Brussels/.test(t) ? 1 : 0 } return s }"
)


def _transform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records script's transform, in Python (as ``iota-scripts bench``'s baseline)."""
    return [{**r, "name": r["name"].upper(), "total": r["amount"] * 2} for r in rows]


def _median_us(fn: Callable[[], Any], n: int) -> float:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e6)
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    # The runner writes its frames to fd 1: to /dev/null; the figures go to
    # a copy of the real stdout.
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    runner = in_process_runner()
    records = _records()
    run_id = [0]

    def frame(source: str, input_value: Any) -> tuple[dict[str, Any], memoryview]:
        # made once per script
        msg, data = run_frame(source, input_value)
        return msg, memoryview(data)

    def run(msg: dict[str, Any], data: memoryview) -> None:
        run_id[0] += 1
        msg["run"] = run_id[0]
        runner.run(msg, data)

    frames = {name: frame(source, records) for name, source in SCRIPTS.items()}
    frames.update(
        trivial=frame(TRIVIAL, 1), arrays=frame(ARRAYS_JS, None), regexp=frame(REGEXP_JS, None)
    )

    def py_parts() -> dict[str, float]:
        records_json = orjson.dumps(records)
        transformed = _transform(orjson.loads(records_json))
        return {
            "py_dumps_input_us": _median_us(lambda: orjson.dumps(records), args.runs),
            "py_loads_us": _median_us(lambda: orjson.loads(records_json), args.runs),
            "py_transform_us": _median_us(lambda: _transform(records), args.runs),
            "py_dumps_output_us": _median_us(lambda: orjson.dumps(transformed), args.runs),
        }

    for msg, data in frames.values():  # warm contexts, compiled code
        for _ in range(20):
            run(msg, data)
    for i in range(args.rounds):
        trivial = _median_us(functools.partial(run, *frames["trivial"]), args.runs)
        figures: dict[str, Any] = {"round": i + 1, "trivial_us": round(trivial)}
        for name in (*SCRIPTS, "arrays", "regexp"):
            us = _median_us(functools.partial(run, *frames[name]), args.runs)
            figures[f"{name}_over_trivial_us"] = round(us - trivial)
        figures["result_leaving_v8_us"] = (
            figures["echo_over_trivial_us"] - figures["input_over_trivial_us"]
        )
        figures.update({k: round(v) for k, v in py_parts().items()})
        out.write(json.dumps(figures) + "\n")
        out.flush()
    # Never unwind through V8's thread (as the runner itself ends).
    os._exit(0)


if __name__ == "__main__":
    main()
