"""Threat: text from a script that is not Unicode breaks the host.

Text that is not Unicode never leaves the sandbox (issue 16 §6 "Invalid Unicode").

A JS string may hold a lone surrogate (a string cut inside an emoji). The
bridge replaces each with U+FFFD, once, inside V8, before a result, log
line, error, host-call argument or cache value reaches Python. Real V8.
"""

from __future__ import annotations

import uuid

import orjson
import pytest
from redis_servers import REDIS_URL

from iota_scripts_sdk import Engine, EngineConfig, Limits
from iota_scripts_sdk.engine import valid_text

CUT = '"😀".slice(0, 1)'  # the high surrogate alone
LOW = '"😀".slice(1)'  # the low surrogate alone
FFFD = "\ufffd"
LIMITS = Limits(timeout_sec=5)


def _storable(value):
    """Fails when ``value`` holds text that UTF-8 (PostgreSQL, HTTP) refuses."""
    orjson.dumps(value)  # orjson refuses lone surrogates
    return value


def test_results_strings_keys_and_nesting_are_well_formed(engine):
    src = (
        f"export default () => {{ const c = {CUT}, l = {LOW};"
        " return { s: c + 'x', [c]: [l, {deep: 'a' + c}], pair: '😀', emoji: '😀'.slice(0, 1) + '😀'.slice(1),"
        " bs: '\\\\ud800 is an escape, not a surrogate' } }"
    )
    res = engine.run(src, limits=LIMITS)
    assert res.ok, res.error
    assert _storable(res.result) == {
        "s": FFFD + "x",
        FFFD: [FFFD, {"deep": "a" + FFFD}],
        "pair": "😀",
        "emoji": "😀",
        "bs": "\\ud800 is an escape, not a surrogate",
    }
    res = engine.run(f"export default () => {CUT}", limits=LIMITS)
    assert res.result == FFFD


def test_log_lines_and_fields(engine):
    src = (
        f"export default () => {{ const c = {CUT};"
        " sdk.log.info('cut ' + c, {field: c, [c]: 1}); console.log('console', c, {k: c}); return 1 }"
    )
    res = engine.run(src, limits=LIMITS)
    assert res.ok, res.error
    assert [(r["message"], r["fields"]) for r in _storable(res.logs)] == [
        ("cut " + FFFD, {"field": FFFD, FFFD: 1}),
        (f'console {FFFD} {{"k":"{FFFD}"}}', None),
    ]


def test_error_messages(engine):
    res = engine.run(f"export default () => {{ throw new Error('bad ' + {CUT}) }}", limits=LIMITS)
    assert res.error.code == "script_error"
    assert res.error.message == "Error: bad " + FFFD
    _storable(res.error.to_dict())
    # A message cut by the bridge's own 2,000-character limit inside an emoji.
    res = engine.run(
        "export default () => { throw new Error('a' + '😀'.repeat(1500)) }", limits=LIMITS
    )
    _storable(res.error.to_dict())
    assert res.error.message.endswith(FFFD + "…")


def test_host_calls_receive_well_formed_arguments(engine):
    seen = []

    def emit(args):
        seen.append(args)
        return {"echo": args[1]}

    src = f"export default async () => (await sdk.events.emit('x' + {CUT}, {{p: {CUT}}})).echo"
    res = engine.run(src, host={"events.emit": emit}, limits=LIMITS)
    assert res.ok, res.error
    assert seen == [["x" + FFFD, {"p": FFFD}]]
    assert res.result == {"p": FFFD}


def test_cache_values_are_stored_well_formed(main_redis):
    eng = Engine(EngineConfig(runners=1, redis_url=REDIS_URL))
    tenant = f"pytest/{uuid.uuid4().hex[:12]}"
    try:
        src = (
            f"export default async () => {{ await sdk.cache.set('k' + {CUT}, {{v: {CUT}}});"
            f" return await sdk.cache.get('k' + {CUT}) }}"
        )
        res = eng.run(src, tenant=tenant, limits=LIMITS)
        assert res.ok, res.error
        assert res.result == {"v": FFFD}
        res = eng.run("export default () => sdk.cache.get('k\\ufffd')", tenant=tenant)
        assert res.result == {"v": FFFD}
    finally:
        eng.run("export default () => sdk.cache.delete('k\\ufffd')", tenant=tenant)
        eng.close()


def test_nul_is_valid_unicode_and_passes_through(engine):
    # NUL is valid text: the engine keeps it; storage (PostgreSQL) is the
    # addon's concern (iota_scripts/tools/storable_text.py).
    res = engine.run("export default () => 'a\\u0000b'", limits=LIMITS)
    assert res.result == "a\x00b"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a\ud800b", "a\ufffdb"), ("\udc00", "\ufffd"), ("\ud83d\ude00", "😀"), ("ok", "ok")],
)
def test_valid_text(raw, expected):
    assert valid_text(raw) == expected


def test_result_json_is_the_sandbox_text_and_result_is_parsed_on_use(engine):
    res = engine.run("export default () => ({a: [1, 'é', null], b: {}})", limits=LIMITS)
    assert res.ok
    assert orjson.loads(res.result_json) == {"a": [1, "é", None], "b": {}}
    assert res.result == {"a": [1, "é", None], "b": {}}
    assert res.to_dict()["result"] == res.result
    res = engine.run("export default () => undefined", limits=LIMITS)
    assert (res.result_json, res.result) == (b"null", None)
