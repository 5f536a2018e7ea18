"""Script tests: ``describe``/``it``/``expect`` against a mocked ``sdk``, run in the sandbox.

A script's tests are a second JavaScript source (``tests``) beside it. This
module builds **one module** from the script, its tests and the framework
(``testing.js``) and the engine runs it like any script: same runner, same
limits, no new way into V8. Layout of the generated module::

    line 1            let __iota_t = __iota_harness(...), sdk = __iota_t.mocked; <script line 1>
    lines 1..S        the script, unchanged (its ``export default`` stays the module's)
    line S+1          const __iota_main = <the script's default export>; { const {describe, ...} = ...;
    lines S+2..S+1+T  the tests, inside that block (they see the script's top-level names)
    after             }  then the runner becomes the default export, then the framework

So the script and its tests read the same ``sdk`` binding: the mocked sdk for
every case, the real one for ``it.db`` cases when the run is a dry-run in Odoo
(``mode="database"``; the addon runs the module that way, in a savepoint that
is always rolled back). Line numbers of failures are those of the tests source
(and of the script, ``script_line``, when the error was thrown there).

The report (:class:`TestReport`) is plain JSON: ``{"mode", "cases": [{"name",
"status": "passed"|"failed"|"skipped", "line", "duration_ms", "error":
{"message", "matcher", "expected", "received", "diff", "line", "script_line",
"code"}}], "passed", "failed", "skipped"}``. A run that fails as a whole (a
syntax error in the tests, a timeout) is a report with ``error`` and no cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import Engine, RunResult
from .errors import ScriptError
from .limits import Limits

__all__ = [
    "TestReport",
    "build_test_source",
    "format_report",
    "report_from_result",
    "report_from_values",
    "run_tests",
]

_HARNESS = Path(__file__).with_name("testing.js")
_BREAK = re.compile(r"\r\n|[\n\r\u2028\u2029]")
_MODES = ("local", "database")


def _lines(text: str) -> int:
    return len(_BREAK.findall(text)) + 1


def build_test_source(source: str, tests: str, mode: str = "local") -> str:
    """The module that runs ``tests`` against ``source`` (see the module docstring).

    Raises :class:`ScriptError` ``invalid_argument`` for a bad mode or a
    non-text source."""
    if mode not in _MODES:
        raise ScriptError("invalid_argument", f"mode must be one of {', '.join(_MODES)}")
    if not isinstance(source, str) or not isinstance(tests, str):
        raise ScriptError("invalid_argument", "the script and its tests must be text")
    if source.startswith("#!"):
        # a hashbang is allowed only at the very start of the module
        end = _BREAK.search(source)
        source = " " * (end.start() if end else len(source)) + source[end.start() if end else 0 :]
    script_lines = _lines(source)
    first = script_lines + 2
    last = script_lines + 1 + _lines(tests)
    head = (
        f'let __iota_t = __iota_harness("{mode}", {first}, {last}, {script_lines}), '
        "sdk = __iota_t.mocked; "
    )
    block = (
        "const __iota_main = $$iota.d; { const { describe, it, test, expect, beforeEach, "
        "afterEach, fixtures, run } = __iota_t.api;"
    )
    foot = (
        "}\n$$iota.d = (ctx) => __iota_t.runAll(__iota_main, ctx);\n"
        "function __iota_harness(mode, testsFirstLine, testsLastLine, scriptLastLine) {\n"
        + _HARNESS.read_text(encoding="utf-8")
        + "\n}\n"
    )
    return f"{head}{source}\n{block}\n{tests}\n{foot}"


@dataclass
class TestReport:
    """What a test run found: its cases, counts, and a whole-run ``error``."""

    mode: str = "local"
    cases: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.get("status") == "passed")

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if c.get("status") == "failed")

    @property
    def skipped(self) -> int:
        return sum(1 for c in self.cases if c.get("status") == "skipped")

    @property
    def ok(self) -> bool:
        """No failure and nothing broke the run (a run without cases is ok)."""
        return self.error is None and self.failed == 0

    def failed_names(self) -> list[str]:
        return [str(c.get("name")) for c in self.cases if c.get("status") == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "cases": self.cases,
            "error": self.error,
        }


def report_from_result(result: RunResult, mode: str = "local", source: str = "") -> TestReport:
    """The :class:`TestReport` of an engine run of :func:`build_test_source`'s module."""
    error = result.error.to_dict() if result.error is not None else None
    report = report_from_values(result.ok, result.result, error, mode, source)
    report.logs = list(result.logs or [])
    return report


def report_from_values(
    ok: bool, value: Any, error: dict[str, Any] | None, mode: str = "local", source: str = ""
) -> TestReport:
    """The :class:`TestReport` of a run that returned ``value`` or failed with ``error``.

    ``source`` (the script) maps a whole-run error's line back: an error in
    the tests gets ``where: "tests"`` and the tests' line."""
    if not ok:
        error = dict(error or {"code": "internal_error", "message": "the tests did not run"})
        error.pop("stack", None)
        line = error.get("line")
        if isinstance(line, int) and line > 0 and source:
            script_lines = _lines(source)
            if line > script_lines + 1:
                error.update(where="tests", line=line - script_lines - 1)
            else:
                error["where"] = "script"
        return TestReport(mode=mode, error=error)
    if not isinstance(value, dict) or not isinstance(value.get("cases"), list):
        return TestReport(
            mode=mode, error={"code": "internal_error", "message": "the tests did not report"}
        )
    cases = [c for c in value["cases"] if isinstance(c, dict)]
    return TestReport(mode=str(value.get("mode") or mode), cases=cases)


def run_tests(
    engine: Engine,
    source: str,
    tests: str,
    *,
    limits: Limits | None = None,
    tenant: str = "tests",
) -> TestReport:
    """Runs ``tests`` against ``source`` with the mocked sdk only (``it.db``
    cases are skipped). Never raises for script or test faults."""
    try:
        module = build_test_source(source, tests, "local")
    except ScriptError as e:
        return TestReport(error=e.to_dict())
    result = engine.run(module, limits=limits, tenant=tenant, ctx={"trigger": {"type": "test"}})
    return report_from_result(result, "local", source)


_MARK = {"passed": "✓", "failed": "✗", "skipped": "-"}


def format_report(report: TestReport, tests_name: str = "tests") -> str:
    """The report as text, one line per case and the failures with their diff."""
    out: list[str] = []
    if report.error is not None:
        e = report.error
        where = (
            f" ({tests_name}:{e['line']})" if e.get("where") == "tests" and e.get("line") else ""
        )
        out.append(f"error[{e.get('code')}]{where}: {e.get('message')}")
        return "\n".join(out) + "\n"
    for case in report.cases:
        status = str(case.get("status"))
        extra = f" ({case['reason']})" if case.get("reason") else ""
        out.append(f"{_MARK.get(status, '?')} {case.get('name')}{extra}")
    for case in report.cases:
        if case.get("status") != "failed":
            continue
        err = case.get("error") or {}
        line = err.get("line") or case.get("line")
        out.append("")
        out.append(f"● {case.get('name')}" + (f"  ({tests_name}:{line})" if line else ""))
        out.append(f"  {err.get('message')}")
        if err.get("script_line"):
            out.append(f"  thrown at script line {err['script_line']}")
        if err.get("diff"):
            out.append("  - expected  + received")
            out.extend("  " + row for row in str(err["diff"]).splitlines())
        else:
            if "expected" in err:
                out.append(f"  expected: {err['expected']}")
            if "received" in err:
                out.append(f"  received: {err['received']}")
    out.append("")
    out.append(
        f"{report.passed} passed, {report.failed} failed, {report.skipped} skipped"
        f" ({len(report.cases)} cases)"
    )
    return "\n".join(out) + "\n"
