"""Which mini-racer to pin: 0.13.2 against 0.14.1, measured in the same run.

Creates a throw-away virtualenv per version (pip, from PyPI), then times in
each: a trivial ``eval`` on a warm context and a fresh ``MiniRacer()``.
Prints both figures and the ratio. Usage: ``python3 bench/miniracer_versions.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

VERSIONS = ("0.13.2", "0.14.1")

PROBE = r"""
import json, statistics, time
from py_mini_racer import MiniRacer
m = MiniRacer()
m.eval("1")
xs = []
for _ in range(3000):
    t = time.perf_counter(); m.eval("(function (x) { return x + 1 })(1)"); xs.append((time.perf_counter() - t) * 1e6)
ys = []
for _ in range(30):
    t = time.perf_counter(); n = MiniRacer(); n.eval("1"); ys.append((time.perf_counter() - t) * 1e6)
print(json.dumps({"eval_p50_us": statistics.median(xs), "new_context_p50_us": statistics.median(ys)}))
"""


def measure(version: str, root: Path) -> dict[str, float]:
    venv = root / version
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603 - fixed argv: this interpreter
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", f"mini-racer=={version}"], check=True)  # noqa: S603 - fixed argv: pip of the bench's own venv
    out = subprocess.run([str(py), "-c", PROBE], check=True, capture_output=True, text=True)  # noqa: S603 - fixed argv: the bench's own probe
    return json.loads(out.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {v: measure(v, Path(tmp)) for v in VERSIONS}
    base, other = results[VERSIONS[0]], results[VERSIONS[1]]
    for v, r in results.items():
        print(
            f"mini-racer {v}: eval p50 {r['eval_p50_us']:.1f} us, new context p50 {r['new_context_p50_us']:.0f} us"
        )
    print(
        f"eval ratio {VERSIONS[1]} / {VERSIONS[0]}: {other['eval_p50_us'] / base['eval_p50_us']:.2f}x"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
