"""Every engine case of HOSTILE.md through the real entry point, ``iota-scripts run --json``.

Each case checks: the named error, the time (deadline + 0.5 s, measured
around the whole CLI process, runner start included), a clean error text,
no runner left behind, and that the next run succeeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from _checks import assert_clean_error, run_cli, runner_pids, spawn_cli

TIMEOUT = 1.0

CASES = {
    # CPU and scheduling
    "busy_loop": ("export default () => { while (true) {} }", "timeout"),
    "loop_in_finally": (
        "export default () => { try { for(;;){} } finally { for(;;){} } }",
        "timeout",
    ),
    "catch_termination": (
        "export default () => { for(;;) { try { for(;;){} } catch (e) {} } }",
        "timeout",
    ),
    "redos": ('export default () => /^(a+)+$/.test("a".repeat(40) + "!")', "timeout"),
    "microtask_storm": (
        "export default () => { function f(){ Promise.resolve().then(f) } f(); return 1 }",
        "timeout",
    ),
    "async_spin": ("export default async () => { await null; for(;;){} }", "timeout"),
    "never_settles": ("export default () => new Promise(() => {})", "timeout"),
    "spinning_prepare_stack": (
        "export default () => { Error.prepareStackTrace = () => { for(;;){} }; throw new Error('x') }",
        "script_error",
    ),
    # Memory and size
    "heap_growth": (
        "export default () => { const a=[]; for(;;) a.push({x: 'y'.repeat(10)+a.length}) }",
        "memory_limit",
    ),
    "off_heap": (
        "export default () => { const a=[]; for (let i=0;i<8;i++) a.push(new Uint8Array(2**30)); return a.length }",
        "memory_limit",
    ),
    "v8_fatal": ('export default () => "ab".repeat(2**27).split("").length', "sandbox_crashed"),
    "huge_result": ('export default () => "x".repeat(2**28)', "result_too_large"),
    "deep_result": (
        "export default () => { let a=[]; for(let i=0;i<1e5;i++) a=[a]; return a }",
        "result_too_deep",
    ),
    "syntax_error": ("export default () => {\n  let x = ;\n}", "syntax_error"),
    # Bridge inputs
    "huge_log_line": (
        "export default () => { sdk.log.info('x'.repeat(50*1024*1024)) }",
        "argument_too_large",
    ),
    "huge_cache_value": (
        "export default async () => { await sdk.cache.set('k', 'x'.repeat(50*1024*1024)) }",
        "argument_too_large",
    ),
    "call_flood": (
        "export default async () => { const ps=[]; for (let i=0;i<200000;i++) "
        "ps.push(sdk.cache.get('k'+i).catch(e=>e.code)); await Promise.all(ps); return 1 }",
        "budget_exceeded",
    ),
    "cyclic_argument": (
        "export default async () => { const o = {}; o.o = o; await sdk.cache.set('k', o) }",
        "invalid_argument",
    ),
    # Outbound HTTP without --allow-host
    "http_without_allow_list": (
        "export default async () => { await sdk.http.get('https://example.com/') }",
        "destination_blocked",
    ),
    "http_file_scheme": (
        "export default async () => { await sdk.http.get('file:///etc/passwd') }",
        "scheme_not_allowed",
    ),
    "db_outside_odoo": (
        "export default async () => { await sdk.db.search('res.partner', []) }",
        "not_available",
    ),
}


def _run_cli(
    tmp_path, source: str, *extra: str, timeout: float = TIMEOUT
) -> tuple[dict, float, int]:
    return run_cli(tmp_path, source, *extra, timeout=timeout)


# Cases whose point is a budget, not the clock, get room for a loaded CI machine.
# The deadline includes the runner's start; filling a 64 MB heap takes about
# 0.7 s more, so 1 s was a race between memory_limit and timeout.
SLOW = {"call_flood": 3.0, "v8_fatal": 3.0, "heap_growth": 3.0}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case(tmp_path, name):
    source, code = CASES[name]
    before = runner_pids()
    timeout = SLOW.get(name, TIMEOUT)
    out, elapsed, rc = _run_cli(tmp_path, source, timeout=timeout)
    assert rc == 1
    assert out["ok"] is False
    assert_clean_error(out["error"], code)
    # The deadline holds from the engine's start of the run (runner start
    # included), as the engine reports it ...
    run_sec = out["stats"]["total_ms"] / 1000
    assert run_sec < timeout + 0.5, f"{name}: the run took {run_sec:.2f}s"
    # ... and end to end, with two interpreter starts (CLI and runner) on
    # top, which a loaded machine slows down.
    assert elapsed < timeout + 1.5, f"{name} took {elapsed:.2f}s end to end"
    for _ in range(40):  # a runner started just before the CLI exited needs a moment to see it
        if not runner_pids() - before:
            break
        time.sleep(0.05)
    assert runner_pids() - before == set(), "a runner outlived its CLI"
    ok, _, rc = _run_cli(tmp_path, "export default (ctx) => ctx.input * 2", "--input", "21")
    assert rc == 0 and ok["result"] == 42


def test_named_errors_arrive_within_deadline_plus_half_second(tmp_path):
    # The runner start is part of the deadline: the engine's own clock of the
    # run (total_ms, from the start of the run to the named error) holds it
    # within half a second. End to end, the CLI's interpreter start comes on
    # top, which a loaded machine slows down (2.502 s seen in a CI run).
    out, elapsed, _ = _run_cli(tmp_path, "export default () => { for(;;){} }", timeout=2.0)
    assert out["error"]["code"] == "timeout"
    assert 2.0 <= out["stats"]["total_ms"] / 1000 < 2.5
    assert 2.0 <= elapsed < 3.5


def test_syntax_error_has_line_and_column(tmp_path):
    out, _, rc = _run_cli(tmp_path, "export default () => {\n  let x = ;\n}")
    assert rc == 1
    assert (out["error"]["line"], out["error"]["column"]) == (2, 11)


def test_script_error_stack_names_only_script_lines(tmp_path):
    src = (
        "function g() {\n  throw new TypeError('bad thing')\n}\nexport default () => {\n  g()\n}\n"
    )
    out, _, _ = _run_cli(tmp_path, src)
    err = out["error"]
    assert err["code"] == "script_error"
    assert err["message"] == "TypeError: bad thing"
    assert (err["line"], err["column"]) == (2, 9)  # V8 points at `new TypeError`
    frames = err["stack"].splitlines()
    assert frames and all("script.js:" in f for f in frames), frames
    assert "script.js:5:" in err["stack"]


def test_deep_recursion_is_a_clean_range_error_with_line(tmp_path):
    out, _, _ = _run_cli(
        tmp_path, "function f(n) { return f(n + 1) + 1 }\nexport default () => f(0)"
    )
    assert out["error"]["code"] == "script_error"
    assert out["error"]["message"].startswith("RangeError: Maximum call stack size exceeded")
    assert out["error"]["line"] == 1


def test_string_doubling_is_a_clean_range_error(tmp_path):
    out, _, _ = _run_cli(
        tmp_path, "export default () => { let s = 'x'; for (;;) s = s + s }", "--memory-mb", "1024"
    )
    assert out["error"]["code"] in ("script_error", "memory_limit")
    if out["error"]["code"] == "script_error":
        assert out["error"]["message"].startswith("RangeError")


def test_cli_json_shape_and_exit_codes(tmp_path):
    src = "export default async (ctx) => { sdk.log.info('hi', {n: ctx.input.n}); console.warn('w', 1); return ctx.input.n + 1 }"
    out, _, rc = _run_cli(tmp_path, src, "--input", '{"n": 41}')
    assert rc == 0
    assert set(out) == {"ok", "result", "error", "logs", "stats"}
    assert out["result"] == 42 and out["error"] is None
    assert [(r["level"], r["message"]) for r in out["logs"]] == [("info", "hi"), ("warn", "w 1")]
    assert out["logs"][0]["fields"] == {"n": 41}
    assert set(out["stats"]) >= {"wall_ms", "cpu_ms", "heap_peak_bytes", "host_calls"}
    assert out["stats"]["heap_peak_bytes"] > 0


@pytest.mark.parametrize(
    "args",
    [
        ["run"],
        ["run", "x.js", "--timeout", "abc"],
        ["run", "{script}", "--input", "{not json"],
        ["run", "{script}", "--timeout", "-1"],
        ["run", "/nonexistent/file.js"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(tmp_path, args):
    script = tmp_path / "s.js"
    script.write_text("export default () => 1")
    args = [a.replace("{script}", str(script)) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", *args], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr


def test_check_and_types(tmp_path):
    good = tmp_path / "good.js"
    good.write_text("export default () => 1")
    bad = tmp_path / "bad.js"
    bad.write_text("export default () => {\n  return )\n}")
    cli = [sys.executable, "-m", "iota_scripts_sdk.cli"]
    assert subprocess.run([*cli, "check", str(good)], capture_output=True).returncode == 0
    proc = subprocess.run([*cli, "check", str(bad), "--json"], capture_output=True, text=True)
    assert proc.returncode == 1
    err = json.loads(proc.stdout)["error"]
    assert err["code"] == "syntax_error" and err["line"] == 2
    types = subprocess.run([*cli, "types"], capture_output=True, text=True)
    assert types.returncode == 0
    assert "declare const sdk" in types.stdout
    assert "searchRead<M extends ModelName" in types.stdout


def test_redis_url_shares_the_cache_between_processes(tmp_path):
    import uuid

    import redis

    key = f"cli-test-{uuid.uuid4().hex}"
    src = f"export default async () => sdk.cache.incr('{key}', 1, 60)"
    url = "redis://127.0.0.1:6379/0"
    first, _, _ = _run_cli(tmp_path, src, "--redis-url", url)
    second, _, _ = _run_cli(tmp_path, src, "--redis-url", url)
    assert (first["result"], second["result"]) == (1, 2)
    # without Redis each CLI process has its own in-process store
    alone, _, _ = _run_cli(tmp_path, src)
    assert alone["result"] == 1
    client = redis.Redis.from_url(url)
    assert [k for k in client.scan_iter(match=f"iota:c:cli:{key}")] == [
        f"iota:c:cli:{key}".encode()
    ]
    client.delete(f"iota:c:cli:{key}")


def test_redis_down_is_cache_unavailable(tmp_path):
    out, elapsed, rc = _run_cli(
        tmp_path,
        "export default async () => sdk.cache.get('k')",
        "--redis-url",
        "redis://127.0.0.1:1/0",
        timeout=5,
    )
    assert rc == 1
    assert_clean_error(out["error"], "cache_unavailable")
    assert elapsed < 4


def test_input_from_file_and_thrown_values(tmp_path):
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"rows": list(range(1000))}))
    out, _, rc = _run_cli(
        tmp_path, "export default (ctx) => ctx.input.rows.length", "--input", f"@{data}"
    )
    assert (rc, out["result"]) == (0, 1000)
    out, _, _ = _run_cli(tmp_path, "export default () => { throw 'plain' }")
    assert out["error"]["message"] == "Uncaught: plain"
    out, _, _ = _run_cli(tmp_path, "export default () => { throw {message: 'obj'} }")
    assert out["error"]["message"] == "Uncaught: obj"


def test_runner_dies_with_a_killed_cli(tmp_path):
    script = tmp_path / "spin.js"
    script.write_text("export default () => { for (;;) {} }")
    before = runner_pids()
    proc = spawn_cli(
        [
            sys.executable,
            "-m",
            "iota_scripts_sdk.cli",
            "run",
            str(script),
            "--json",
            "--timeout",
            "30",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):  # wait until its runner spins
        if runner_pids() - before:
            break
        time.sleep(0.05)
    assert runner_pids() - before, "the CLI never started a runner"
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    for _ in range(40):
        if not runner_pids() - before:
            break
        time.sleep(0.05)
    assert runner_pids() - before == set(), "a runner kept spinning after its CLI was killed"
