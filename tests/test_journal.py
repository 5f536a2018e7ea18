"""The journal of a run's sdk calls, and replay from it (``iota_scripts_sdk.journal``).

Real V8 runner processes (the session ``engine`` fixture); the HTTP calls go
to a loopback server that counts its hits.
"""

from __future__ import annotations

import pytest

from iota_scripts_sdk import Journal, Limits, ReplayHost, ScriptError
from iota_scripts_sdk.journal import waterfall

FAST = Limits(timeout_sec=3.0)

SOURCE = """
export default async function (ctx) {
  const rows = await sdk.db.searchRead("res.partner", [["id", "=", ctx.input.id]], ["name"]);
  await sdk.events.emit("partner.seen", { id: ctx.input.id });
  let denied = null;
  try { await sdk.db.unlink("res.partner", [1]); } catch (e) { denied = e.code; }
  return { name: rows[0].name, denied };
}
"""


def _host(calls):
    def search_read(args):
        calls.append(("db.searchRead", args))
        return [{"id": args[1][0][2], "name": "Ada"}]

    def emit(args):
        calls.append(("events.emit", args))
        return "uuid-1"

    def unlink(args):
        calls.append(("db.unlink", args))
        raise ScriptError("access_denied", "no")

    return {"db.searchRead": search_read, "events.emit": emit, "db.unlink": unlink}


def _record(engine, source=SOURCE, input_value=None, **kw):
    journal = Journal(**kw)
    calls: list = []
    res = engine.run(
        source, input=input_value or {"id": 7}, limits=FAST, host=_host(calls), journal=journal
    )
    return res, journal.to_dict(), calls


def test_every_call_is_journaled_in_order_with_answers_and_timing(engine):
    res, journal, calls = _record(engine)
    assert res.ok and res.result == {"name": "Ada", "denied": "access_denied"}
    assert [name for name, _args in calls] == ["db.searchRead", "events.emit", "db.unlink"]
    assert [e["call"] for e in journal["entries"]] == ["db.searchRead", "events.emit", "db.unlink"]
    first, second, third = journal["entries"]
    assert first["args"] == ["res.partner", [["id", "=", 7]], ["name"]]
    assert first["result"] == [{"id": 7, "name": "Ada"}] and first["ok"] is True
    assert second["result"] == "uuid-1"
    assert third["ok"] is False and third["error"]["code"] == "access_denied"
    assert [e["seq"] for e in journal["entries"]] == [1, 2, 3]
    assert 0 <= first["start_ms"] <= second["start_ms"] <= third["start_ms"]
    assert all(e["duration_ms"] >= 0 for e in journal["entries"])
    assert journal["calls"] == 3 and journal["truncated"] is False
    rows = waterfall(journal)
    assert [(r["namespace"], r["outcome"]) for r in rows] == [
        ("db", "ok"),
        ("events", "ok"),
        ("db", "access_denied"),
    ]


def test_engine_served_calls_are_journaled_too(engine):
    journal = Journal()
    src = "export default async () => { await sdk.cache.set('k', 1); return await sdk.http.get('ftp://x') }"
    res = engine.run(src, limits=FAST, journal=journal)
    assert res.error.code == "scheme_not_allowed"
    calls = [(e["call"], e["ok"]) for e in journal.to_dict()["entries"]]
    # cache answered by the engine (memory or redis: either way an answer), http refused
    assert calls[0][0] == "cache.set" and calls[1] == ("http.fetch", False)


def test_replay_serves_the_journal_and_calls_no_host(engine):
    res, journal, _calls = _record(engine)
    replay = ReplayHost(journal)
    again = engine.run(SOURCE, input={"id": 7}, limits=FAST, host=replay.functions())
    assert again.ok and again.result == res.result
    assert replay.finish() == []


def test_replay_reports_each_kind_of_divergence(engine):
    _res, journal, _calls = _record(engine)
    # a different argument (id 8), an extra call (db.write), and the emit never made
    changed = (
        SOURCE.replace('["id", "=", ctx.input.id]', '["id", "=", 8]')
        .replace(
            'await sdk.events.emit("partner.seen", { id: ctx.input.id });',
            'let extra = null; try { await sdk.db.write("res.partner", [7], {x: 1}) } catch (e) { extra = e.code }',
        )
        .replace(
            "return { name: rows[0].name, denied };",
            "return { name: rows[0].name, denied, extra };",
        )
    )
    replay = ReplayHost(journal)
    res = engine.run(changed, input={"id": 7}, limits=FAST, host=replay.functions())
    assert res.ok, res.error
    assert res.result == {"name": "Ada", "denied": "access_denied", "extra": "replay_diverged"}
    kinds = [d["kind"] for d in replay.finish()]
    # the unlink comes where the emit was recorded: a different call, then the emit is missing
    assert kinds == ["different_argument", "extra_call", "different_call", "missing_calls"]
    div = replay.divergences
    assert div[0]["args"][1] == [["id", "=", 8]] and div[0]["recorded"][1] == [["id", "=", 7]]
    assert div[1]["call"] == "db.write" and div[1]["expected"] == "events.emit"
    assert div[2]["call"] == "db.unlink" and div[2]["expected"] == "events.emit"
    assert div[3]["calls"] == [{"seq": 2, "call": "events.emit"}] and div[3]["count"] == 1


def test_replay_in_another_order_is_a_different_call(engine):
    _res, journal, _calls = _record(engine)
    swapped = SOURCE.replace(
        'const rows = await sdk.db.searchRead("res.partner", [["id", "=", ctx.input.id]], ["name"]);\n'
        '  await sdk.events.emit("partner.seen", { id: ctx.input.id });',
        'await sdk.events.emit("partner.seen", { id: ctx.input.id });\n'
        '  const rows = await sdk.db.searchRead("res.partner", [["id", "=", ctx.input.id]], ["name"]);',
    )
    assert swapped != SOURCE
    replay = ReplayHost(journal)
    res = engine.run(swapped, input={"id": 7}, limits=FAST, host=replay.functions())
    assert res.ok and res.result["name"] == "Ada"
    assert [d["kind"] for d in replay.finish()] == ["different_call"]


def test_the_size_cap_cuts_the_journal_and_replay_refuses_it(engine):
    src = "export default async () => { for (let i = 0; i < 50; i++) await sdk.db.searchRead('res.partner', [], ['name']); return 1 }"
    journal = Journal(max_bytes=1024)
    res = engine.run(
        src,
        limits=FAST,
        host={"db.searchRead": lambda args: [{"name": "x" * 100}]},
        journal=journal,
    )
    assert res.ok
    stored = journal.to_dict()
    assert stored["truncated"] is True and stored["calls"] == 50
    # every call keeps its timing (the waterfall), the late ones lose their answers
    assert len(stored["entries"]) == 50
    assert stored["entries"][0].get("result") and stored["entries"][-1]["cut"] is True
    assert len(waterfall(stored)) == 50
    with pytest.raises(ScriptError) as e:
        ReplayHost(stored)
    assert e.value.code == "journal_truncated" and "50 sdk calls" in e.value.message


def test_secret_http_headers_are_masked_in_the_journal_and_in_replay():
    journal = Journal()
    args = [
        "https://api.example.com/x",
        {"headers": {"Authorization": "Bearer s3cret", "Accept": "a"}},
    ]
    journal.record("http.fetch", args, True, {"status": 200}, 1.0, 1.5)
    stored = journal.to_dict()
    assert "s3cret" not in str(stored)
    assert stored["entries"][0]["args"][1]["headers"] == {"Authorization": "***", "Accept": "a"}
    replay = ReplayHost(stored)
    # the same call, with the real secret, is the same call
    assert replay.answer("http.fetch", args) == {"status": 200}
    assert replay.finish() == []


def test_secret_values_are_masked_in_the_journal_and_replay_keeps_them_masked(engine):
    src = """export default async () => {
      const key = await sdk.secrets.get("stripe_key");
      await sdk.db.searchRead("res.partner", [["ref", "=", key]], ["name"]);
      return "ok";
    }"""
    host = {
        "secrets.get": lambda args: "sk_live_TOPSECRET",
        "db.searchRead": lambda args: [],
    }
    journal = Journal()
    res = engine.run(src, limits=FAST, host=host, journal=journal)
    assert res.ok, res.error
    stored = journal.to_dict()
    assert "TOPSECRET" not in str(stored)
    first, second = stored["entries"]
    assert first["result"] == "[secret:stripe_key]"
    assert second["args"][1] == [["ref", "=", "[secret:stripe_key]"]]
    replay = ReplayHost(stored)
    again = engine.run(src, limits=FAST, host=replay.functions())
    assert again.ok and replay.finish() == []
