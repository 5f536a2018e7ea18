"""Script tests in the sandbox (iota_scripts_sdk/testing.py, testing.js): the
matchers, the mocked sdk, failures with their diff and line, and the
``iota-scripts test`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from iota_scripts_sdk.limits import Limits
from iota_scripts_sdk.testing import build_test_source, format_report, run_tests

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """\
// Greets a partner and scores them.
export function label(p) { return p.name.toUpperCase(); }
export default async function (ctx) {
  const ids = await sdk.db.search("res.partner", [["name", "ilike", ctx.input.name]], { order: "id desc" });
  if (!ids.length) throw new sdk.SdkError("not_found", "no partner " + ctx.input.name);
  const [p] = await sdk.db.read("res.partner", ids.slice(0, 1), ["name", "email"]);
  const res = await sdk.http.get("https://api.example.com/score?e=" + p.email);
  await sdk.events.emit("partner.greeted", { id: p.id });
  await sdk.scripts.enqueue("follow_up", { id: p.id }, { delaySec: 60 });
  await sdk.db.write("res.partner", [p.id], { ref: "greeted" });
  await sdk.cache.incr("greetings");
  sdk.log.info("greeted", { id: p.id });
  return { hello: label(p), score: res.json().score };
}
"""

TESTS = """\
fixtures({ "res.partner": [{ id: 7, name: "Ada", email: "ada@example.com" }, { id: 9, name: "Adam", email: "adam@x" }] });
describe("greet", () => {
  beforeEach(() => {
    sdk.http.respond("https://api.example.com/score?e=adam@x", { json: { score: 3 } });
  });
  it("greets the newest match", async () => {
    const out = await run({ name: "ada" });
    expect(out).toEqual({ hello: "ADAM", score: 3 });
    expect(sdk.events.emitted).toContainEqual({ type: "partner.greeted", payload: { id: 9 } });
    expect(sdk.scripts.enqueued).toEqual([{ key: "follow_up", input: { id: 9 }, options: { delaySec: 60 } }]);
    expect(sdk.db.records("res.partner")[1]).toMatchObject({ id: 9, ref: "greeted" });
    expect(await sdk.cache.get("greetings")).toBe(1);
    expect(sdk.http.requests).toHaveLength(1);
    expect(sdk.log.lines).toContainEqual({ level: "info", message: "greeted", fields: { id: 9 } });
  });
  it("starts each case from the fixtures", async () => {
    expect(sdk.events.emitted).toEqual([]);
    expect(sdk.db.records("res.partner")[1].ref).toBeUndefined();
  });
  it("rejects an unknown partner", async () => {
    await expect(run({ name: "Bob" })).rejects.toThrow({ code: "not_found" });
    await expect(run({ name: "Ada" })).resolves.toMatchObject({ hello: "ADAM" });
    await expect(run({ name: "Bob" })).resolves.toBe(1);
  });
  it("fails with a diff", async () => {
    expect(await run({ name: "Ada" })).toEqual({ hello: "Ada", score: 3 });
  });
  it("uses the script's helpers and the other matchers", () => {
    expect(label({ name: "x" })).toBe("X");
    expect(() => label(null)).toThrow(TypeError);
    expect(() => label({ name: "y" })).not.toThrow();
    expect(null).toBeNull();
    expect([1, 2]).not.toContain(3);
    expect(0.1 + 0.2).toBeCloseTo(0.3);
    expect("hello").toMatch(/ell/);
    expect({ a: { b: 2 } }).toHaveProperty("a.b", 2);
    expect(1).toBeTruthy();
    expect("").toBeFalsy();
  });
  it("throws from the script", async () => {
    sdk.http.respond(/score/, { body: "not json" });
    await run({ name: "Adam" });
  });
  it.db("needs the database", async () => {});
  it.skip("is skipped", () => {});
});
"""


def _report(engine, tests=TESTS, source=SCRIPT, **kw):
    return run_tests(engine, source, tests, **kw)


def test_cases_pass_fail_and_skip(engine):
    report = _report(engine)
    status = {c["name"]: c["status"] for c in report.cases}
    assert status == {
        "greet > greets the newest match": "passed",
        "greet > starts each case from the fixtures": "passed",
        "greet > rejects an unknown partner": "failed",
        "greet > fails with a diff": "failed",
        "greet > uses the script's helpers and the other matchers": "passed",
        "greet > throws from the script": "failed",
        "greet > needs the database": "skipped",
        "greet > is skipped": "skipped",
    }, report.cases
    assert (report.passed, report.failed, report.skipped, report.ok) == (3, 3, 2, False)


def test_a_failure_shows_expected_received_diff_and_line(engine):
    cases = {c["name"]: c for c in _report(engine).cases}
    diff = cases["greet > fails with a diff"]["error"]
    assert diff["line"] == 26
    assert diff["matcher"] == "toEqual"
    assert diff["diff"].splitlines() == [
        "  {",
        '-   "hello": "Ada",',
        '+   "hello": "ADAM",',
        '    "score": 3',
        "  }",
    ]
    assert diff["expected"] == '{\n  "hello": "Ada",\n  "score": 3\n}'
    resolves = cases["greet > rejects an unknown partner"]["error"]
    assert resolves["message"] == "expect(received).resolves.toBe: the promise rejected"
    assert resolves["line"] == 23
    thrown = cases["greet > throws from the script"]["error"]
    assert thrown["code"] == "invalid_argument"
    assert (thrown["line"], thrown["script_line"]) == (42, 13)
    skipped = cases["greet > needs the database"]
    assert skipped["reason"] == "needs the database: run the tests in Odoo"


def test_whole_run_errors_name_the_tests_line(engine):
    report = _report(engine, tests="it('a', () => {\n  expect(1).toBe(;\n});\n")
    assert report.error is not None
    assert (report.error["code"], report.error["where"], report.error["line"]) == (
        "syntax_error",
        "tests",
        2,
    )
    report = _report(
        engine, tests="it('spins', () => { while (true) {} });\n", limits=Limits(timeout_sec=1)
    )
    assert report.error is not None and report.error["code"] == "timeout"
    # the engine is fine afterwards
    assert _report(engine, tests="it('ok', () => expect(1).toBe(1));\n").ok


def test_unmocked_calls_are_named_errors(engine):
    tests = """\
it("http", async () => { await expect(sdk.http.get("https://nowhere.example")).rejects.toThrow({ code: "destination_blocked" }); });
it("call", async () => { await expect(sdk.db.call("res.partner", "x", [1])).rejects.toThrow(/onCall/); });
it("read", async () => { await expect(sdk.db.read("res.partner", [1])).rejects.toThrow({ code: "not_found" }); });
it("domain", async () => { await expect(sdk.db.search("res.partner", [["a", "child_of", 1]])).rejects.toThrow({ code: "invalid_argument" }); });
it("onCall", async () => { sdk.db.onCall("res.partner", "x", (ids) => ids.length); expect(await sdk.db.call("res.partner", "x", [1, 2])).toBe(2); });
"""
    report = _report(engine, tests=tests)
    assert report.ok and report.passed == 5, report.cases


def test_the_script_sees_the_mock_not_the_real_sdk(engine):
    source = "export default async () => sdk.db.searchCount('res.users', []);\n"
    tests = "fixtures({'res.users': [{id: 1}, {id: 2}]});\nit('c', async () => expect(await run()).toBe(2));\n"
    assert _report(engine, tests=tests, source=source).ok
    assert "sdk = __iota_t.mocked" in build_test_source(source, tests).splitlines()[0]


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_command_line(tmp_path):
    (tmp_path / "greet.js").write_text(SCRIPT)
    (tmp_path / "greet.test.js").write_text(TESTS)
    done = _cli("test", "greet.js", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "✗ greet > fails with a diff" in done.stdout
    assert "● greet > fails with a diff  (greet.test.js:26)" in done.stdout
    assert '  -   "hello": "Ada",' in done.stdout
    assert "3 passed, 3 failed, 2 skipped (8 cases)" in done.stdout
    (tmp_path / "ok.test.js").write_text("it('fine', async () => expect(await run({})).toBe(1));\n")
    (tmp_path / "ok.js").write_text("export default () => 1;\n")
    done = _cli("test", "ok.js", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["ok"], out["passed"], out["cases"][0]["name"]) == (True, 1, "fine")
    done = _cli("test", "missing.js", cwd=tmp_path)
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_format_report_of_a_passing_run(engine):
    text = format_report(_report(engine, tests="it('a', () => {});\n"))
    assert text.endswith("1 passed, 0 failed, 0 skipped (1 cases)\n")
