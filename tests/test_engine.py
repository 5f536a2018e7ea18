# Over 600 lines: the engine's public API, case by case, with real V8.
"""The engine API: isolation, the bridge, host functions, concurrency and recovery.

Real V8 runner processes throughout (the session ``engine`` fixture).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from _checks import assert_clean_error

from iota_scripts_sdk import Engine, EngineConfig, Limits, ScriptError, typescript
from iota_scripts_sdk._protocol import SHARED_AREA_BYTES, SHARED_MIN_BYTES
from iota_scripts_sdk.api import API, host_names

FAST = Limits(timeout_sec=2.0)


def run(engine, src, **kw):
    kw.setdefault("limits", FAST)
    return engine.run(src, **kw)


# ---- script contract ---------------------------------------------------------------


def test_default_export_forms(engine):
    forms = {
        "export default (ctx) => ctx.input + 1": 2,
        "export default async function (ctx) { return ctx.input + 1 }": 2,
        "export default function main(ctx) { return helper(ctx.input) }\nfunction helper(x) { return x + 1 }": 2,
        "const f = (ctx) => ctx.input + 1\nexport { f as default }": 2,
        "export const k = 10\nexport default (ctx) => ctx.input + k": 11,
        "const v = await Promise.resolve(5)\nexport default (ctx) => ctx.input + v": 6,
        "export default class { }": None,
    }
    for src, expected in forms.items():
        res = run(engine, src, input=1)
        if expected is None:
            assert res.error.code == "script_error"  # a class is not callable without new
        else:
            assert res.ok, (src, res.error)
            assert res.result == expected, src


def test_missing_default_export_and_imports_are_syntax_errors(engine):
    res = run(engine, "const x = 1")
    assert res.error.code == "syntax_error" and "export default" in res.error.message
    res = run(engine, "import fs from 'fs'\nexport default () => 1")
    assert res.error.code == "syntax_error" and res.error.line == 1
    res = run(engine, "export default () => 1\nexport * from 'x'")
    assert res.error.code == "syntax_error" and res.error.line == 2


def test_html_like_comments_are_refused_at_check_and_at_run(engine):
    # acorn (module goal) reads `a <!-- b` as `a < !(--b)`; V8 runs the body as a
    # classic script where `<!--`, and `-->` at a line start, begin a line comment:
    # the checked code and the run code would differ. Issue 17 "HTML-like comments".
    hidden = (
        "export default function () {\n"
        "  let a = 3, b = 5;\n"
        "  const r = a <!-- b; globalThis.hits = (globalThis.hits || 0) + 1\n"
        "  return [r, globalThis.hits];\n"
        "}\n"
    )
    line_start = "export default function () {\n  let x = 2 /*\n  */ --> x = 3\n  return x\n}\n"
    for src, token, line, column in ((hidden, "<!--", 3, 15), (line_start, "-->", 3, 6)):
        checked = engine.check(src)
        assert checked is not None and checked.code == "syntax_error", src
        assert f"'{token}' is not allowed" in checked.message
        assert (checked.line, checked.column) == (line, column)
        for _ in range(2):  # a warm context would keep what the hidden code did
            res = run(engine, src)
            assert res.error is not None and res.error.code == "syntax_error"
            assert (res.error.line, res.error.column) == (line, column)
    # The same characters in strings, templates, regexps and comments stay allowed,
    # and so do the operators once spaced.
    ok = (
        'export default () => { const s = "<!-- -->", t = `<!--${1}-->`, r = /<!--|-->/;'
        " /* <!-- */ // -->\n let b = 5, c = 1; return [s, t, r.source, 3 < ! --b, c-- > 0] }"
    )
    res = run(engine, ok)
    assert res.ok, res.error
    assert res.result == ["<!-- -->", "<!--1-->", "<!--|-->", False, True]


def test_ctx_carries_input_trigger_and_host_fields(engine):
    res = run(
        engine,
        "export default (ctx) => ({input: ctx.input, trigger: ctx.trigger, records: ctx.records})",
        input={"a": [1, 2]},
        ctx={"trigger": {"type": "manual"}, "records": {"model": "res.partner", "ids": [1]}},
    )
    assert res.result == {
        "input": {"a": [1, 2]},
        "trigger": {"type": "manual"},
        "records": {"model": "res.partner", "ids": [1]},
    }


def test_result_conversions(engine):
    res = run(
        engine,
        "export default () => ({d: new Date(0), u: undefined, n: NaN, a: [undefined, 1], s: 'é'})",
    )
    assert res.result == {"d": "1970-01-01T00:00:00.000Z", "n": None, "a": [None, 1], "s": "é"}
    # refused, each with its key (docs/guide/writing-scripts.md)
    for value, named in (
        ("({f() {}})", 'a function is not JSON-serialisable (at key "f")'),
        ("({s: Symbol('s')})", 'a Symbol is not JSON-serialisable (at key "s")'),
        ("[1, Symbol('s')]", 'a Symbol is not JSON-serialisable (at key "1")'),
        ("({b: 10n})", 'a BigInt is not JSON-serialisable (at key "b")'),
        ("({m: new Map()})", "a Map is not JSON-serialisable"),
        ("({s: new Set([1])})", "a Set is not JSON-serialisable"),
        ("({p: Promise.resolve(1)})", "a Promise is not JSON-serialisable"),
        ("({d: new Date(NaN)})", "an invalid Date is not JSON-serialisable"),
    ):
        res = run(engine, f"export default () => {value}")
        assert (res.error.code, res.error.message) == ("invalid_argument", named), value
    res = run(
        engine,
        "export default () => { class P { constructor() { this.x = 1 } get y() { return 2 } }"
        " return [new P(), {toJSON() { return 'own' }}] }",
    )
    assert res.result_json == b'[{"x":1},"own"]'


# ---- isolation ---------------------------------------------------------------------


def test_no_host_realm(engine):
    res = run(
        engine,
        "export default () => [typeof process, typeof require, typeof fetch, typeof XMLHttpRequest,"
        " typeof WebAssembly, typeof SharedArrayBuffer, typeof Atomics, typeof FinalizationRegistry,"
        " typeof WeakRef, typeof setTimeout, typeof __timer_manager]",
    )
    assert res.result == ["undefined"] * 11
    res = run(engine, "export default () => Function('return this')()")
    assert_clean_error(res.error.to_dict(), "script_error")
    assert "EvalError" in res.error.message
    res = run(engine, "export default () => eval('1 + 1')")
    assert "EvalError" in res.error.message


def test_prototype_pollution_is_invisible_to_the_next_run(engine):
    # Array.prototype's methods may be replaced during a run (the prelude
    # seals it, see "hardening"): its own run sees that, no other run does.
    pollute = (
        "export default () => { const r = [];"
        " try { Object.prototype.polluted = 1 } catch (e) { r[r.length] = e.name }"
        " try { JSON.parse = () => 'hijacked' } catch (e) { r[r.length] = e.name }"
        " try { Array.prototype.push = () => 0; r[r.length] = [].push(1) } catch (e) { r[r.length] = e.name }"
        " try { Promise.prototype.then = () => 0 } catch (e) { r[r.length] = e.name }"
        " globalThis.leak = 'secret'; return r }"
    )
    probe = (
        "export default () => [({}).polluted, JSON.parse('1'), typeof globalThis.leak, [].push(1)]"
    )
    for tenant in ("company-a", "company-a", "company-b"):
        assert run(engine, pollute, tenant=tenant).result == [
            "TypeError",
            "TypeError",
            0,
            "TypeError",
        ]
        assert run(engine, probe, tenant=tenant).result == [None, 1, "undefined", 1]
        # the same script version again, warm: its own global is gone too
        assert run(engine, pollute + "\n", tenant=tenant).ok
        assert run(engine, "export default () => typeof leak", tenant=tenant).result == "undefined"


def test_a_run_that_changes_array_prototype_leaves_no_trace_in_its_warm_context(engine):
    # One script (one warm context): the run given "patch" replaces array
    # methods and length; the next run of the same version sees the originals.
    src = (
        "export default (ctx) => { const r = [];"
        " if (ctx.input === 'patch') {"
        "   Array.prototype.map = function () { return 'patched' };"
        "   Array.prototype[Symbol.iterator] = function* () { yield 'patched' };"
        "   Array.prototype.length = 3 }"
        " const adds = [() => { Array.prototype.extra = 1 }, () => { Object.prototype.extra = 1 },"
        "   () => { delete Array.prototype.map }, () => { Object.prototype.toString = () => 'x' },"
        "   () => Object.defineProperty(Array.prototype, 'map', {get() { return 1 }})];"
        " for (let i = 0; i < adds.length; i++) {"
        "   try { adds[i](); r[r.length] = 'allowed' } catch (e) { r[r.length] = e.name } }"
        " return [[1, 2].map((x) => x * 2), [...[1]], Array.prototype.length, r,"
        "   Object.isFrozen(Object.prototype), Object.isSealed(Array.prototype)] }"
    )
    refused = ["TypeError"] * 5
    clean = [[2, 4], [1], 0, refused, True, True]
    assert run(engine, src, input="check", tenant="array-proto").result == clean
    patched = run(engine, src, input="patch", tenant="array-proto").result
    assert patched == ["patched", ["patched"], 3, refused, True, True]
    for _ in range(2):
        assert run(engine, src, input="check", tenant="array-proto").result == clean


def test_a_run_that_changes_regexp_prototype_leaves_no_trace_in_its_warm_context(engine):
    # RegExp.prototype is left mutable (V8's regexp fast paths need its
    # shape): a run may change it for itself; the next run of the same
    # version sees the original, and the prelude's own parsing (the error's
    # line below) never used what the script put there.
    src = (
        "export default (ctx) => {\n"
        " if (ctx.input === 'patch') {\n"
        "   RegExp.prototype.exec = () => null;\n"
        "   RegExp.prototype[Symbol.replace] = () => 'patched';\n"
        "   Object.defineProperty(RegExp.prototype, 'flags', {get() { return 'x' }});\n"
        "   RegExp.prototype.extra = 1;\n"
        "   if ('a1'.replace(/\\d/, 'N') === 'patched') throw new Error('patched') }\n"
        " return ['a1'.replace(/\\d/, 'N'), /b/.exec('abc')[0], /x/g.flags, 'extra' in RegExp.prototype] }"
    )
    clean = ["aN", "b", "g", False]
    assert run(engine, src, input="check", tenant="regexp-proto").result == clean
    res = run(engine, src, input="patch", tenant="regexp-proto")
    assert (res.error.code, res.error.message, res.error.line) == (
        "script_error",
        "Error: patched",
        7,
    )
    for _ in range(2):
        assert run(engine, src, input="check", tenant="regexp-proto").result == clean


def test_override_mistake_is_fixed(engine):
    res = run(
        engine,
        "export default () => { const e = new Error('x'); e.name = 'MyError'; const o = {}; o.toString = () => 'o';"
        " class A {}; A.prototype.toString = () => 'a'; return [String(e), String(o), String(new A())] }",
    )
    assert res.result == ["MyError: x", "o", "a"]


def test_sdk_is_frozen_and_host_policy_unchanged(engine):
    res = run(
        engine,
        "export default async () => { const r = [];"
        " for (const f of [() => { sdk.http = {} }, () => { sdk.http.fetch = () => 1 }, () => { delete sdk.log },"
        "   () => { globalThis.sdk = {} }, () => Object.defineProperty(sdk, 'x', {value: 1})]) {"
        "   try { f(); r.push('changed') } catch (e) { r.push(e.name) } }"
        " try { await sdk.http.get('https://example.com') } catch (e) { r.push(e.code) }"
        " return r }",
    )
    assert res.result == ["TypeError"] * 5 + ["destination_blocked"]


def test_different_tenants_never_share_a_context(engine):
    # Both runs keep state in a global that is not deleted when a non-configurable
    # property is made: such a context is dropped, never reused.
    src = (
        "export default () => { const seen = globalThis.mark; "
        "Object.defineProperty(globalThis, 'mark', {value: 'x', configurable: false}); return seen ?? null }"
    )
    assert run(engine, src, tenant="t1").result is None
    assert run(engine, src, tenant="t2").result is None
    assert run(engine, src, tenant="t1").result is None


def test_error_prepare_stack_trace_hook_is_refused(engine):
    res = run(
        engine, "export default () => { Error.prepareStackTrace = () => ({host: true}); return 1 }"
    )
    assert res.error.code == "script_error" and "TypeError" in res.error.message


# ---- the bridge ----------------------------------------------------------------------


BRIDGE_ATTACKS = [
    # the stock mini-racer glue used Promise.withResolvers: it is frozen, and unused
    "Promise.withResolvers = () => { throw new Error('hijacked') }",
    "Object.defineProperty(Promise, 'withResolvers', {get() { throw new Error('hijacked') }})",
    "JSON.stringify = () => '{}'",
    "Array.prototype[Symbol.iterator] = function* () {}",
    "Map.prototype.get = () => undefined",
]


@pytest.mark.parametrize("attack", BRIDGE_ATTACKS)
def test_bridge_survives_tampering(engine, attack):
    src = (
        "export default async () => { try { " + attack + " } catch (e) {}\n"
        "  await sdk.cache.set('bridge', {v: [1, 2]}); return await sdk.cache.get('bridge') }"
    )
    res = run(engine, src, tenant="bridge")
    assert res.ok, res.error
    assert res.result == {"v": [1, 2]}


def test_getters_are_read_once_and_proxies_refused(engine):
    res = run(
        engine,
        "export default async () => { let n = 0;"
        " const o = { get v() { n += 1; return n === 1 ? 'first' : 'x'.repeat(1e6) } };"
        " await sdk.cache.set('g', o); const r = [await sdk.cache.get('g'), n];"
        " for (const p of [new Proxy({}, {}), Proxy.revocable([], {}).proxy,"
        "   new Proxy({}, {ownKeys() { for(;;){} }})]) {"
        "   try { await sdk.cache.set('p', p); r.push('sent') } catch (e) { r.push(e.code) } }"
        " return r }",
        tenant="getters",
    )
    assert res.result == [
        {"v": "first"},
        1,
        "invalid_argument",
        "invalid_argument",
        "invalid_argument",
    ]


def test_a_results_getters_run_once_and_what_they_returned_is_written(engine):
    # The result's copy reads each property once, nested objects included; a
    # getter that would answer differently the second time (a function, a
    # huge string) or that adds a toJSON while it is read changes nothing.
    res = run(
        engine,
        "export default () => { const seen = {a: 0, b: 0};"
        " const inner = { get b() { seen.b += 1; return seen.b === 1 ? [1, {c: 2}] : () => 1 } };"
        " const o = { get a() { seen.a += 1;"
        "   Object.defineProperty(o, 'toJSON', {value: () => 'hijacked', enumerable: true});"
        "   return seen.a === 1 ? inner : 'x'.repeat(1e6) }, seen };"
        " return o }",
        tenant="result-getters",
    )
    assert res.ok, res.error
    assert res.result == {"a": {"b": [1, {"c": 2}]}, "seen": {"a": 1, "b": 1}}


def test_a_results_keys_keep_their_order_and_a_proto_key_stays_data(engine):
    # Integer-like keys first, then insertion order (JSON.stringify's order),
    # for plain and null-prototype objects; an own "__proto__" key (which
    # JSON.parse makes) is written as data, nested too, never as a prototype.
    res = run(
        engine,
        "export default () => { const n = Object.create(null); n.z = 1; n['7'] = 2; n.a = {b: 1, '2': 0};"
        ' const p = JSON.parse(\'{"__proto__": {"x": 1}, "k": [{"__proto__": 2}]}\');'
        " return [n, p, {y: 1, '10': 2, '9': 3, x: [n.a]}] }",
        tenant="result-keys",
    )
    assert res.ok, res.error
    assert res.result_json == (
        b'[{"7":2,"z":1,"a":{"2":0,"b":1}},{"__proto__":{"x":1},"k":[{"__proto__":2}]},'
        b'{"9":3,"10":2,"y":1,"x":[{"2":0,"b":1}]}]'
    )


def test_non_json_arguments_are_invalid_in_js(engine):
    res = run(
        engine,
        "export default async () => { const r = []; const cyc = {}; cyc.self = cyc;"
        " for (const v of [() => 1, Symbol('s'), 10n, cyc, new Date(NaN), new Map(), {toString() { return 'x' }}]) {"
        "   try { await sdk.cache.set('k', v); r.push('ok') } catch (e) { r.push(e.code + ':' + (e instanceof sdk.SdkError)) } }"
        " return r }",
    )
    assert res.result == ["invalid_argument:true"] * 7


def test_host_errors_reach_js_as_code_and_message_only(engine):
    def boom(args):
        raise RuntimeError("/secret/path/db.py: SELECT password FROM res_users")

    def denied(args):
        raise ScriptError("access_denied", "no")

    res = run(
        engine,
        "export default async () => { const r = [];"
        " for (const f of [() => sdk.db.search('x'), () => sdk.db.read('x', [1]), () => sdk.events.emit('e'),"
        "   () => sdk.scripts.enqueue('k', 1, { delaySec: 5 })]) {"
        "   try { await f() } catch (e) { r.push([e.code, e.message, Object.keys(e)]) } } return r }",
        host={"db.search": boom, "db.read": denied},
    )
    assert res.result == [
        ["internal_error", "db.search failed on the host", ["code"]],
        ["access_denied", "no", ["code"]],
        ["not_available", "sdk.events is not available on this host", ["code"]],
        ["not_available", "sdk.scripts is not available on this host", ["code"]],
    ]


def test_host_functions_run_on_the_calling_thread(engine):
    seen = []

    def search(args):
        seen.append((threading.get_ident(), args))
        return [1, 2, 3]

    res = run(
        engine,
        "export default async () => sdk.db.search('res.partner', [['id', '>', 0]], {limit: 3})",
        host={"db.search": search},
    )
    assert res.result == [1, 2, 3]
    assert seen == [(threading.get_ident(), ["res.partner", [["id", ">", 0]], {"limit": 3}])]
    assert res.stats["host_calls"] == 1


def test_uncaught_sdk_error_keeps_its_code_forged_codes_do_not(engine):
    res = run(engine, "export default async () => { await sdk.http.get('ftp://x') }")
    assert res.error.code == "scheme_not_allowed"
    res = run(
        engine, "export default () => { throw Object.assign(new Error('x'), {code: 'timeout'}) }"
    )
    assert res.error.code == "script_error"
    res = run(engine, "export default () => { throw new sdk.SdkError('access_denied', 'forged') }")
    assert res.error.code == "script_error"
    res = run(
        engine,
        "export default async () => { try { await sdk.http.get('ftp://x') } catch (e) { return [e instanceof sdk.SdkError, e.code] } }",
    )
    assert res.result == [True, "scheme_not_allowed"]


def test_budget_exceeded_is_sticky_and_inflight_bounded(engine):
    inflight = []

    def get(args):
        inflight.append(1)
        return None

    limits = Limits(timeout_sec=5, max_host_calls=50, max_inflight_calls=4)
    res = run(
        engine,
        "export default async () => { const ps = []; for (let i = 0; i < 200000; i++) ps.push(sdk.cache.get('k').catch(e => e.code));"
        " const r = await Promise.all(ps); return r.filter(x => x === 'budget_exceeded').length }",
        host={"cache.get": get},
        limits=limits,
    )
    assert res.error.code == "budget_exceeded"
    assert len(inflight) == 50


def test_logs_are_structured_and_capped(engine):
    limits = Limits(max_log_lines=3)
    res = run(
        engine,
        "export default () => { for (let i = 0; i < 10; i++) console.log('line', i, {i}); sdk.log.error('e', {x: [1n, () => 1, Symbol('s')]}) }",
        limits=limits,
    )
    assert res.ok
    assert [r["message"] for r in res.logs] == [
        'line 0 {"i":0}',
        'line 1 {"i":1}',
        'line 2 {"i":2}',
    ]
    assert res.stats["logs_dropped"] == 8
    res = run(
        engine,
        "export default () => { for (let i = 0; i < 100; i++) sdk.log.info('y'.repeat(1000)) }",
        limits=Limits(max_log_bytes=10_000),
    )
    assert len(res.logs) == 9 and res.stats["logs_dropped"] == 91


def test_on_log_streams_before_the_result(engine):
    seen = []
    t = []

    def on_log(rec):
        seen.append(rec["message"])
        t.append(time.monotonic())

    res = run(
        engine,
        "export default async () => { sdk.log.info('first'); await sdk.cache.get('x'); sdk.log.info('second'); return 1 }",
        on_log=on_log,
    )
    assert res.ok and seen == ["first", "second"]


# ---- limits ---------------------------------------------------------------------------


def test_cpu_limit(engine):
    res = run(
        engine, "export default () => { for(;;){} }", limits=Limits(timeout_sec=5, cpu_sec=0.3)
    )
    assert res.error.code == "cpu_limit"
    assert res.stats["total_ms"] < 1500


def test_without_memfd_large_frames_take_the_pipe(monkeypatch):
    """Where memfd_create is missing or refused (old kernels, strict
    seccomp profiles), runners start without a shared area and large runs
    and results cross in the pipe."""
    from iota_scripts_sdk import _pool

    refused: list[int] = []
    monkeypatch.setattr(_pool.SharedArea, "create", classmethod(lambda cls: refused.append(1)))
    eng = Engine(EngineConfig(runners=1))
    try:
        text = "é" * 200_000
        res = eng.run("export default (ctx) => ctx.input + '!'", input=text, limits=FAST)
        assert (res.ok, res.result) == (True, text + "!")
        assert refused, "the runner was started without asking for an area"
    finally:
        eng.close()


def test_a_run_that_ends_at_its_deadline_gets_one_answer():
    """The run's end and its deadline race: V8's thread sends the result,
    the runner's main thread the timeout; one claims the end first. Each
    run gets a result or a timeout, never both mixed into the next run,
    and never a crashed runner."""
    eng = Engine(EngineConfig(runners=1))
    try:
        src = "export default (ctx) => { const t = Date.now(); while (Date.now() - t < ctx.input) {} return ctx.input }"
        seen = set()
        for i in range(24):
            wait_ms = 44 + i % 8  # around the 50 ms deadline
            res = eng.run(src, input=wait_ms, limits=Limits(timeout_sec=0.05))
            if res.ok:
                assert res.result == wait_ms
                seen.add("ok")
            else:
                assert res.error.code in ("timeout", "cpu_limit"), res.error
                seen.add("limit")
            after = eng.run("export default (ctx) => ctx.input", input=i, limits=FAST)
            assert (after.ok, after.result) == (True, i)
        assert "ok" in seen
    finally:
        eng.close()


def test_memory_limit_is_per_run_setting(engine):
    src = "export default (ctx) => { const a = []; for (let i = 0; i < ctx.input; i++) a.push('x'.repeat(100) + i); return a.length }"
    assert run(engine, src, input=200_000, limits=Limits(memory_mb=256)).result == 200_000
    assert run(engine, src, input=400_000, limits=Limits(memory_mb=16)).error.code == "memory_limit"


def test_input_and_source_caps(engine):
    big = Engine(EngineConfig(runners=1, max_source_bytes=1024))
    try:
        res = big.run("export default () => 1 // " + "x" * 2000)
        assert res.error.code == "source_too_large"
    finally:
        big.close()
    res = run(engine, "export default (c) => 1", input="x" * 100, limits=Limits(max_input_bytes=50))
    assert res.error.code == "argument_too_large"
    res = run(engine, "export default (c) => 1", input={1, 2})
    assert res.error.code == "invalid_argument"


def test_host_answers_are_capped(engine):
    res = run(
        engine,
        "export default async () => { try { await sdk.db.read('x', [1]) } catch (e) { return e.code } }",
        host={"db.read": lambda args: "x" * 1000},
        limits=Limits(max_reply_bytes=100),
    )
    assert res.result == "response_too_large"


def test_get_engine_follows_its_config():
    from iota_scripts_sdk import get_engine

    one = get_engine(EngineConfig(runners=1))
    assert get_engine() is one and get_engine(EngineConfig(runners=1)) is one
    two = get_engine(EngineConfig(runners=1, max_source_bytes=1000))
    assert two is not one and two.config.max_source_bytes == 1000
    assert two.run("export default () => 3").result == 3
    two.close()


def test_limits_validate_by_name():
    with pytest.raises(ScriptError) as e:
        Limits(timeout_sec=-1)
    assert e.value.code == "invalid_argument" and "timeout_sec" in e.value.message
    with pytest.raises(ScriptError):
        Limits.from_dict({"timeout_sec": 1, "nope": 2})
    for bad in ("https://x.com", "a*b", "x.com/path"):
        with pytest.raises(ScriptError) as e:
            Limits(allow_hosts=(bad,))
        assert e.value.code == "invalid_argument" and e.value.message.startswith(
            "Limits.allow_hosts"
        )
    assert Limits(allow_hosts=("*", "*.example.com", "api.example.com", "203.0.113.9")).allow_hosts


def test_limits_refuse_what_equals_a_valid_value():
    # Validated values are remembered (Limits.__post_init__); values equal to
    # them but of another type, or unhashable, are still checked.
    Limits(memory_mb=1, timeout_sec=2, allow_hosts=("a.example.com",))
    for bad in (
        {"memory_mb": True},
        {"memory_mb": 1.0},
        {"timeout_sec": True},
        {"allow_hosts": ["a.example.com"]},
        {"allow_hosts": ("a.example.com", 1)},
    ):
        with pytest.raises(ScriptError) as e:
            Limits(**{"memory_mb": 1, "timeout_sec": 2, "allow_hosts": ("a.example.com",), **bad})
        assert e.value.code == "invalid_argument" and next(iter(bad)) in e.value.message, bad
    same = Limits(memory_mb=1, timeout_sec=2, allow_hosts=("a.example.com",))
    assert (same.memory_mb, same.timeout_sec) == (1, 2)


# ---- pool, concurrency, recovery -------------------------------------------------------


def test_many_threads_at_once(engine):
    results = {}

    def worker(i):
        results[i] = engine.run(
            "export default async (ctx) => { await sdk.cache.incr('threads'); return ctx.input * 2 }",
            input=i,
            tenant=f"t{i % 3}",
        )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {i: r.result for i, r in results.items()} == {i: i * 2 for i in range(24)}
    assert engine.stats()["runners"] <= 2


def test_waiting_queue_is_bounded():
    eng = Engine(EngineConfig(runners=1, max_waiting=1, wait_timeout_sec=5))
    try:
        out = []
        threads = [
            threading.Thread(
                target=lambda: out.append(
                    eng.run(
                        "export default () => { const t = Date.now(); while (Date.now() - t < 700) {} }"
                    )
                )
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(30)
        codes = sorted(r.error.code if r.error else "ok" for r in out)
        assert "busy" in codes and "ok" in codes
    finally:
        eng.close()


def test_runner_killed_from_outside_mid_run():
    eng = Engine(EngineConfig(runners=1))
    try:
        assert eng.run("export default () => 1").ok
        pid = next(iter(eng._pool._idle)).pid

        def killer():
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)

        threading.Thread(target=killer).start()
        res = eng.run("export default () => { for(;;){} }", limits=Limits(timeout_sec=5))
        assert_clean_error(res.error.to_dict(), "sandbox_crashed")
        assert res.stats["total_ms"] < 2000
        res = eng.run("export default () => 'alive'")
        assert res.result == "alive"
    finally:
        eng.close()


def test_v8_abort_respawns_and_host_memory_stays_put(engine):
    rss = lambda: int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")  # noqa: E731
    before = rss()
    res = run(
        engine,
        'export default () => "ab".repeat(2**27).split("").length',
        limits=Limits(timeout_sec=10),
    )
    assert res.error.code == "sandbox_crashed"
    res = run(
        engine,
        'export default () => "x".repeat(2**28)',
        limits=Limits(timeout_sec=10, memory_mb=1024),
    )
    assert res.error.code == "result_too_large"
    assert rss() - before < 50 * 1024 * 1024
    assert run(engine, "export default () => 7").result == 7


def test_cancel_kills_the_run():
    eng = Engine(EngineConfig(runners=1))
    try:
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        t0 = time.monotonic()
        res = eng.run(
            "export default () => { for(;;){} }", limits=Limits(timeout_sec=10), cancel=cancel
        )
        assert res.error.code == "cancelled"
        assert time.monotonic() - t0 < 1.5
        # what it used is measured before the runner goes (not 0, as a cancelled run showed)
        assert res.stats["wall_ms"] >= 250
        assert res.stats["cpu_ms"] > 0, res.stats
        assert eng.run("export default () => 1").ok
    finally:
        eng.close()


def test_recycle_after_n_runs():
    eng = Engine(EngineConfig(runners=1, recycle_after_runs=3))
    try:
        pids = []
        for _ in range(7):
            assert eng.run("export default () => 1").ok
            pids.append(next(iter(eng._pool._idle)).pid if eng._pool._idle else None)
            time.sleep(0.02)
        assert len({p for p in pids if p}) >= 2
    finally:
        eng.close()


def test_fork_child_gets_its_own_runners(engine):
    assert run(engine, "export default () => 1").ok
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not touch the parent's runners
        try:
            res = engine.run("export default () => 'child'")
            os.write(w, (res.result or "fail").encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 100) == b"child"
    assert run(engine, "export default () => 'parent'").result == "parent"


def test_no_runner_at_import():
    import subprocess
    import sys

    code = "import iota_scripts_sdk, os; print(len([p for p in os.listdir('/proc') if p.isdigit() and b'_runner' in open(f'/proc/{p}/cmdline','rb').read()]))"
    before = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert before.returncode == 0


# ---- the API declaration -----------------------------------------------------------------


def test_sdk_object_matches_declaration(engine):
    res = run(
        engine,
        "export default () => Object.fromEntries(Object.keys(sdk).filter(k => typeof sdk[k] === 'object').map(k => [k, Object.keys(sdk[k]).sort()]))",
    )
    declared = {ns.name: sorted(f.name for f in ns.functions) for ns in API}
    assert res.result == declared


def test_shipped_dts_is_generated_from_declaration():
    shipped = (Path(__file__).resolve().parent.parent / "iota_scripts_sdk" / "sdk.d.ts").read_text()
    assert shipped == typescript()
    for ns in API:
        for fn in ns.functions:
            assert f"    {fn.name}{fn.type_params}(" in shipped
    assert "db.searchRead" in host_names()
    # model names and fields are typed through IotaModels (filled by the editor)
    assert "interface IotaModels {}" in shipped
    assert "searchRead<M extends ModelName, F extends FieldOf<M> = FieldOf<M>>(" in shipped


def test_engine_never_imports_odoo():
    root = Path(__file__).resolve().parent.parent / "iota_scripts_sdk"
    for path in root.rglob("*.py"):
        for line in path.read_text().splitlines():
            assert not line.strip().startswith(("import odoo", "from odoo")), path


def test_tricky_text_round_trips_exactly(engine):
    tricky = {
        "q": 'it\'s "quoted" \\ back\\slash \u2028\u2029 é 😀 \x00 \n\t',
        "n": [1.5e300, -1, 0.1],
        "k'\"": True,
    }
    res = run(engine, "export default (ctx) => ctx.input", input=tricky)
    assert res.result == tricky
    res = run(
        engine,
        "export default async () => sdk.db.read('x', [1])",
        host={"db.read": lambda args: tricky},
    )
    assert res.result == tricky


@pytest.mark.parametrize(
    "chars",
    [SHARED_MIN_BYTES // 4, 150_000, SHARED_AREA_BYTES * 3 // 4],
    ids=["under the shared minimum", "records-sized", "over the shared area"],
)
def test_large_inputs_and_results_cross_whole_run_after_run(engine, chars):
    """Large run and done frames cross in the runner's shared area (the pipe
    carries their length), larger ones in the pipe: each arrives whole, and
    the next run's frame, written into the same area, never mixes with it."""
    # non-ASCII text: UTF-8 bytes (in the area) are not characters (in V8)
    text = ("é😀 abc" * (chars // 6 + 1))[:chars]
    src = "export default (ctx) => ({ t: ctx.input.t + ctx.input.i, n: ctx.input.t.length })"
    for i in range(3):
        limits = Limits(timeout_sec=20, max_result_bytes=4 * 1024 * 1024)
        res = run(engine, src, input={"t": text, "i": str(i)}, limits=limits)
        assert res.ok, res.error
        assert res.result == {"t": text + str(i), "n": len(text.encode("utf-16-le")) // 2}
    assert run(engine, "export default () => 6 * 7").result == 42


def test_a_deprecated_function_still_works_and_warns_once_per_run(engine, monkeypatch):
    # No function is deprecated in this API version: declare one for the test
    # (the host side reads the declaration; the runner's sdk is unchanged).
    from iota_scripts_sdk import engine as engine_module

    monkeypatch.setattr(
        engine_module,
        "deprecated_host_names",
        lambda: {"cache.get": "since 9.9: use sdk.cache.peek"},
    )
    lines = []
    res = engine.run(
        "export default async () => [await sdk.cache.get('a'), await sdk.cache.get('b'),"
        " await sdk.cache.incr('n')];",
        tenant="deprecation",
        on_log=lines.append,
    )
    assert res.ok, res.error
    assert res.result == [None, None, 1]  # still works
    warns = [rec for rec in res.logs if rec.get("fields", {}).get("deprecated")]
    assert [(w["level"], w["fields"]["deprecated"]) for w in warns] == [("warn", "sdk.cache.get")]
    assert "since 9.9: use sdk.cache.peek" in warns[0]["message"]
    assert warns[0] in lines  # streamed too (the Run panel's live output)


def test_deprecated_functions_are_struck_through_in_the_typings():
    from dataclasses import replace

    from iota_scripts_sdk import api

    ns = api.API[2]
    fn = replace(ns.functions[0], deprecated="since 9.9: use sdk.cache.peek")
    patched = (*api.API[:2], replace(ns, functions=(fn, *ns.functions[1:])), *api.API[3:])
    original = api.API
    try:
        api.API = patched
        text = api.typescript()
    finally:
        api.API = original
    assert f"@deprecated since 9.9: use sdk.cache.peek */\n    {fn.name}(" in text
    assert "@deprecated" not in api.typescript()  # nothing is deprecated today
