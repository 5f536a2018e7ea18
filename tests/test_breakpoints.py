"""Snapshot breakpoints and logpoints (issue 12 §4): the instrumenting transform, in the real engine."""

from __future__ import annotations

import pytest

from iota_scripts_sdk import Breakpoint, Limits, ScriptError
from iota_scripts_sdk.breakpoints import MAX_HITS_PER_BREAKPOINT, breakpoints_from

SOURCE = (
    "const k = 2;\n"  # 1
    "export default async function main(ctx) {\n"  # 2
    "  let total = 0;\n"  # 3
    "  const apiToken = 'abc';\n"  # 4
    "  for (const n of ctx.input.items) {\n"  # 5
    "    total += n * k;\n"  # 6
    "  }\n"  # 7
    "  if (total > 3) total += 1;\n"  # 8
    "  return helper(total);\n"  # 9
    "}\n"  # 10
    "function helper(x) {\n"  # 11
    "  const later = x * 2;\n"  # 12
    "  return later;\n"  # 13
    "}\n"  # 14
)


def run(engine, source=SOURCE, items=(1, 2, 3), **kw):
    return engine.run(source, input={"items": list(items)}, **kw)


def test_a_hit_captures_locals_this_and_the_scripts_own_stack(engine):
    res = run(engine, breakpoints=[Breakpoint(6), Breakpoint(12)])
    assert res.ok, res.error
    assert res.result == 26
    loop = [h for h in res.hits if h["line"] == 6]
    assert [h["vars"]["n"] for h in loop] == [1, 2, 3]
    assert [h["vars"]["total"] for h in loop] == [0, 2, 6]
    assert loop[0]["vars"]["k"] == 2
    assert loop[0]["vars"]["ctx"] == {"input": {"items": [1, 2, 3]}}
    assert loop[0]["vars"]["apiToken"] == "[masked]"
    [inner] = [h for h in res.hits if h["line"] == 12]
    # `later` is declared on the breakpoint's own line: not yet readable, not captured
    assert "later" not in inner["vars"] and inner["vars"]["x"] == 13
    assert inner["stack"] == [{"fn": "helper", "line": 12}, {"fn": "main", "line": 9}]
    assert inner["this"] is None


def test_without_breakpoints_the_plain_source_runs_and_nothing_is_captured(engine):
    plain = run(engine)
    armed = run(engine, breakpoints=[Breakpoint(6)])
    again = run(engine)
    assert plain.result == armed.result == again.result == 26
    assert plain.hits == [] and again.hits == [] and "hits" not in plain.to_dict()
    assert len(armed.hits) == 3 and "hits_dropped" not in plain.stats


def test_line_numbers_of_errors_and_stacks_are_kept(engine):
    source = (
        "export default async function main(ctx) {\n"
        "  const a = 1;\n"
        "  if (a) f(a);\n"  # 3: a statement in a slot of its own gets braces
        "  return 0;\n"
        "}\n"
        "function f(v) {\n"
        "  const o = null;\n"
        "  return o.x + v;\n"  # 8: throws
        "}\n"
    )
    plain = engine.run(source)
    armed = engine.run(source, breakpoints=[Breakpoint(3), Breakpoint(8)])
    assert plain.error.code == armed.error.code == "script_error"
    assert plain.error.line == armed.error.line == 8
    lines = lambda err: [ln.split("script.js:")[1].split(":")[0] for ln in err.stack.splitlines()]  # noqa: E731
    assert lines(plain.error) == lines(armed.error) == ["8", "3"]
    assert [h["line"] for h in armed.hits] == [3, 8]


def test_a_condition_selects_hits_and_its_error_is_a_note_not_a_failure(engine):
    res = run(engine, breakpoints=[Breakpoint(6, condition="n % 2 === 1 && total >= 0")])
    assert [h["vars"]["n"] for h in res.hits] == [1, 3]
    bad = run(engine, breakpoints=[Breakpoint(6, condition="nothing.here")])
    assert bad.ok and bad.result == 26
    assert bad.hits[0]["note"].startswith("the condition failed: ReferenceError")
    assert "vars" not in bad.hits[0]


def test_a_logpoint_logs_its_message_template(engine):
    res = run(engine, breakpoints=[Breakpoint(8, log="total is {total}, items {ctx.input.items}")])
    assert res.ok
    assert res.hits[0]["message"] == "total is 12, items [1,2,3]"
    assert [(r["message"], r["fields"]) for r in res.logs] == [
        ("total is 12, items [1,2,3]", {"logpoint": 8})
    ]


def test_a_condition_that_loops_forever_is_bounded_by_the_run_deadline(engine):
    res = run(
        engine,
        breakpoints=[Breakpoint(6, condition="(() => { for (;;) {} })()")],
        limits=Limits(timeout_sec=0.5),
    )
    assert not res.ok and res.error.code in ("timeout", "cpu_limit")
    assert res.stats["total_ms"] < 5000


def test_a_condition_may_not_change_the_run(engine):
    source = (
        "export default async function main(ctx) {\n"
        "  const seen = [];\n"
        "  seen.push(1);\n"
        "  return seen;\n"
        "}\n"
    )
    for cond in ("seen = 2", "seen.length++", "delete seen[0]", "await 1"):
        err = engine.check_breakpoints(source, [Breakpoint(3, condition=cond)])
        assert err is not None and err.code == "invalid_breakpoint" and err.line == 3, cond
    # a call with a side effect still runs (documented): the result shows it
    res = engine.run(source, breakpoints=[Breakpoint(3, condition="seen.push(9) > 5")])
    assert res.ok and res.result == [9, 1]
    # ... but the sdk is refused inside a condition: nothing leaves the run
    calls = []
    host = {"db.search": lambda args: calls.append(args) or []}
    res = engine.run(
        source,
        host=host,
        breakpoints=[Breakpoint(3, condition="sdk.db.search('res.partner', []) && false")],
    )
    assert res.ok and res.result == [1] and calls == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (2, "only declares a function"),
        (7, "no statement starts there"),
        (99, "no statement starts there"),
    ],
)
def test_a_breakpoint_on_a_line_without_a_statement_is_refused_by_name(engine, line, why):
    err = engine.check_breakpoints(SOURCE, [Breakpoint(line)])
    assert err.code == "invalid_breakpoint" and err.line == line and why in err.message
    res = run(engine, breakpoints=[Breakpoint(line)])
    assert not res.ok and res.error.code == "invalid_breakpoint" and res.error.line == line


@pytest.mark.parametrize(
    "cond",
    [
        "a // comment",
        "a /* c */",
        "a\n+b",
        "a); f((",
        "$$iota.b",
        "x <!-- y",
        "super.x",
    ],
)
def test_hostile_conditions_are_refused(engine, cond):
    err = engine.check_breakpoints(SOURCE, [Breakpoint(6, condition=cond)])
    assert err is not None and err.code == "invalid_breakpoint", cond


def test_bad_breakpoint_values_are_named_errors():
    for bad in ({"line": 0}, {"line": "3"}, {"line": 3, "when": "x"}, {"line": 3, "condition": 5}):
        with pytest.raises(ScriptError) as e:
            breakpoints_from([bad])
        assert e.value.code == "invalid_breakpoint"
    with pytest.raises(ScriptError):
        breakpoints_from([{"line": 3}, {"line": 3}])
    with pytest.raises(ScriptError):
        Breakpoint(3, condition="x" * 501)


def test_hits_are_capped_and_the_rest_counted(engine):
    res = run(engine, items=range(100), breakpoints=[Breakpoint(6)])
    assert res.ok and len(res.hits) == MAX_HITS_PER_BREAKPOINT
    assert res.stats["hits_dropped"] == 100 - MAX_HITS_PER_BREAKPOINT


def test_captures_are_depth_and_size_capped_and_secrets_masked(engine):
    source = (
        "export default async function main(ctx) {\n"
        "  const deep = {a: {b: {c: {d: 1}}}};\n"
        "  const long = 'x'.repeat(5000);\n"
        "  const big = Array.from({length: 5000}, (_, i) => ({i}));\n"
        "  const cfg = {user: 'u', password: 'p', nested: {secret: 's'}};\n"
        "  const auth = 'Bearer abc';\n"
        "  const header = 'Bearer xyz';\n"
        "  const self = {}; self.self = self;\n"
        "  const p = new Proxy({}, {get() { throw new Error('trap ran'); }});\n"
        "  return 1;\n"
        "}\n"
    )
    res = engine.run(source, breakpoints=[Breakpoint(10)])
    assert res.ok, res.error
    v = res.hits[0]["vars"]
    assert v["deep"] == {"a": {"b": {"c": "[Object]"}}}
    assert len(v["long"]) == 201
    assert v["big"][:2] == [{"i": 0}, {"i": 1}] and v["big"][-1] == "… 4970 more"
    assert len(v["big"]) == 31
    assert v["cfg"] == {"user": "u", "password": "[masked]", "nested": {"secret": "[masked]"}}
    assert v["auth"] == "[masked]" and v["header"] == "[masked]"
    assert v["self"] == {"self": "[Circular]"}
    assert v["p"] == "[Proxy]"
    assert len(str(res.hits[0])) < 20000


def test_names_in_their_temporal_dead_zone_are_reported_not_thrown(engine):
    source = (
        "export default async function main(ctx) {\n"
        "  return f();\n"
        "  function f() {\n"
        "    return g();\n"
        "  }\n"
        "  function g() { return 1; }\n"
        "}\n"
    )
    res = engine.run(source, breakpoints=[Breakpoint(4)])
    assert res.ok and res.result == 1
    assert res.hits[0]["stack"] == [{"fn": "f", "line": 4}, {"fn": "main", "line": 2}]


def test_this_is_captured_in_a_method(engine):
    source = (
        "class Acc { constructor() { this.sum = 5; }\n"
        "  add(v) {\n"
        "    return this.sum + v;\n"
        "  }\n"
        "}\n"
        "export default async (ctx) => new Acc().add(1);\n"
    )
    res = engine.run(source, breakpoints=[Breakpoint(3)])
    assert res.ok and res.result == 6
    assert res.hits[0]["this"] == {"sum": 5} and res.hits[0]["vars"]["v"] == 1


def test_a_script_cannot_forge_hits_on_a_run_without_breakpoints(engine):
    source = "export default async () => typeof $$iota.b;\n"
    assert engine.run(source).result == "undefined"


def test_a_secret_the_run_read_is_masked_in_its_hits(engine):
    source = (
        "export default async function main(ctx) {\n"
        "  const key = await sdk.secrets.get('shop');\n"
        "  const url = 'https://x/?k=' + key;\n"
        "  return url.length;\n"
        "}\n"
    )
    host = {"secrets.get": lambda args: "s3cr3t-value-42"}
    res = engine.run(source, host=host, breakpoints=[Breakpoint(4)])
    assert res.ok, res.error
    assert "s3cr3t-value-42" not in str(res.hits)
    assert res.hits[0]["vars"]["url"].startswith("https://x/?k=[secret")
