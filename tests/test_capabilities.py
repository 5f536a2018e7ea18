"""Capabilities (issue 10 §2) in the real engine: parsing, the schema, the
check on every sdk call, and the suggestion from the AST."""

from __future__ import annotations

import json

import jsonschema
import pytest

from iota_scripts_sdk import ScriptError
from iota_scripts_sdk.capabilities import SCHEMA, canonical, parse

FULL = {
    "models": {"res.partner": ["write", "read"], "sale.order": ["read"]},
    "http": ["*.example.org", "api.example.com"],
    "events": ["order.exported", "crm.*"],
    "scripts": ["step-2"],
    "secrets": ["stripe_key"],
    "cache": "vat",
}

TRY_ALL = """export default async () => {
  const out = [];
  for (const call of [
    () => sdk.db.search("res.partner", []),
    () => sdk.db.write("res.partner", [1], {name: "x"}),
    () => sdk.db.create("res.partner", {name: "x"}),
    () => sdk.db.unlink("sale.order", [1]),
    () => sdk.db.call("res.partner", "copy", [1]),
    () => sdk.db.call("res.partner", "exists", [1]),
    () => sdk.db.call("res.partner", "action_archive", [1]),
    () => sdk.events.emit("crm.lead.won", {}),
    () => sdk.events.emit("order.deleted", {}),
    () => sdk.scripts.enqueue("step-2"),
    () => sdk.scripts.enqueue("step-3"),
    () => sdk.secrets.get("stripe_key"),
    () => sdk.secrets.get("other"),
    () => sdk.http.get("https://EVIL.example.net/x"),
    () => sdk.flags.enabled("f"),
  ]) {
    try { out.push(await call()); } catch (e) { out.push([e.code, e.message]); }
  }
  return out;
}"""


def _answer(name):
    return lambda args: name


def _host():
    names = (
        "db.search",
        "db.write",
        "db.create",
        "db.unlink",
        "db.call",
        "events.emit",
        "scripts.enqueue",
        "secrets.get",
        "flags.enabled",
    )
    return {name: _answer(name) for name in names}


def denied(capability):
    return ["access_denied", f"capability {capability!r} not declared"]


def test_every_sdk_call_is_checked_and_the_error_names_the_capability(engine):
    res = engine.run(TRY_ALL, host=_host(), capabilities=parse(FULL))
    assert res.error is None, res.error
    assert res.result == [
        "db.search",
        "db.write",
        denied("models.res.partner.create"),
        denied("models.sale.order.unlink"),
        denied("models.res.partner.create"),  # copy makes a record
        "db.call",  # exists only looks
        "db.call",  # any other method writes
        "events.emit",  # crm.* covers crm.lead.won
        denied("events.order.deleted"),
        "scripts.enqueue",
        denied("scripts.step-3"),
        "[secret:stripe_key]",  # the value the host answered, masked in the result
        denied("secrets.other"),
        denied("http.evil.example.net"),
        "flags.enabled",
    ]


def test_no_declaration_checks_nothing(engine):
    res = engine.run(TRY_ALL, host=_host())
    assert res.error is None
    assert (
        res.result[2] == "db.create" and res.result[12] == "[secret:stripe_key]"
    )  # same fake value: masked


def test_http_hosts_are_the_allow_list_and_cache_needs_a_namespace(engine):
    source = """export default async () => {
      const out = [];
      for (const call of [() => sdk.http.get("https://api.example.com/"),
                          () => sdk.cache.set("k", 1), () => sdk.cache.get("k")]) {
        try { out.push(await call()); } catch (e) { out.push([e.code, e.message]); }
      }
      return out;
    }"""
    res = engine.run(source, capabilities=parse({"http": ["api.example.com"]}))
    # declared: the call reaches the HTTP client (no network here: the
    # resolver or the connection fails, never access_denied)
    assert res.result[0][0] not in ("access_denied",), res.result
    assert res.result[1] == denied("cache")
    assert res.result[2] == denied("cache")


def test_cache_namespaces_keep_keys_apart(engine):
    put = 'export default async () => { await sdk.cache.set("k", "from-a"); return 1; }'
    get = 'export default async () => await sdk.cache.get("k")'
    a, b = parse({"cache": "ns-a"}), parse({"cache": "ns-b"})
    tenant = "test-caps/1"
    assert engine.run(put, tenant=tenant, user="7", capabilities=a).ok
    assert engine.run(get, tenant=tenant, user="7", capabilities=a).result == "from-a"
    assert engine.run(get, tenant=tenant, user="7", capabilities=b).result is None
    # an undeclared script of the same user does not see a namespace either
    assert engine.run(get, tenant=tenant, user="7").result is None
    # nor does another run-as user in the same namespace
    assert engine.run(get, tenant=tenant, user="8", capabilities=a).result is None
    # "default" is the user's shared cache, the one of undeclared scripts
    default = parse({"cache": "default"})
    assert engine.run(put, tenant=tenant, user="7").ok
    assert engine.run(get, tenant=tenant, user="7", capabilities=default).result == "from-a"


def test_computed_access_is_checked_like_a_literal_one(engine):
    source = 'export default async () => { try { return await sdk["d" + "b"]["wri" + "te"]("res.partner", [1], {}); } catch (e) { return [e.code, e.message]; } }'
    res = engine.run(
        source, host=_host(), capabilities=parse({"models": {"res.partner": ["read"]}})
    )
    assert res.result == denied("models.res.partner.write")


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"models": {"res.partner": ["delete"]}}, "models.res.partner"),
        ({"models": {"Res Partner": ["read"]}}, "models.Res Partner"),
        ({"http": ["http://x.com/"]}, "http[0]"),
        ({"events": ["a b"]}, "events[0]"),
        ({"secrets": ["a", "a"]}, "secrets"),
        ({"cache": ""}, "cache"),
        ({"network": []}, "network"),
        ([], "declaration"),
    ],
)
def test_parse_and_the_schema_refuse_the_same_declarations(bad, where):
    with pytest.raises(ScriptError) as caught:
        parse(bad)
    assert caught.value.code == "invalid_argument"
    assert f"capabilities: {where}:" in caught.value.message
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_the_schema_accepts_what_parse_accepts_and_canonical_is_stable():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(FULL, SCHEMA)
    text = canonical(FULL)
    assert text == canonical(json.loads(text)) == canonical(json.dumps(FULL, indent=2))
    assert " " not in text
    assert text.startswith('{"cache":"vat","events":["crm.*","order.exported"]')
    assert json.loads(text)["models"]["res.partner"] == ["read", "write"]
    assert canonical({}) == "{}"


def test_suggest_reads_literal_calls_and_aliases(engine):
    source = """export default async (ctx) => {
  const { db } = sdk;
  const ids = await sdk.db.search("res.partner", []);
  await db.write("res.partner", ids, {});
  await sdk.db.call("sale.order", "action_confirm", [1]);
  await sdk.http.get("https://API.Example.com/rates");
  await sdk.events.emit(`order.exported`, {});
  await sdk.secrets.get("stripe_key");
  await sdk.cache.incr("n");
  await sdk.db.read(ctx.input.model, [1]);
  const f = sdk.db.unlink;
  return sdk["se" + "crets"];
};"""
    found = engine.suggest_capabilities(source, ["legacy.example.org"])
    assert found.capabilities.to_dict() == {
        "models": {"res.partner": ["read", "write"], "sale.order": ["write"]},
        "http": ["api.example.com", "legacy.example.org"],
        "events": ["order.exported"],
        "secrets": ["stripe_key"],
        "cache": "default",
    }
    assert [(u["line"], u["call"]) for u in found.unresolved] == [
        (10, "sdk.db.read"),
        (11, "sdk.db.unlink"),
        (12, "sdk.[computed]"),
    ]
    # the suggestion runs the script it was made from
    res = engine.run(
        "export default async () => { await sdk.db.search('res.partner', []); return 1; }",
        host=_host(),
        capabilities=engine.suggest_capabilities(
            "export default async () => { await sdk.db.search('res.partner', []); return 1; }"
        ).capabilities,
    )
    assert res.ok


def test_suggest_reports_a_syntax_error_with_its_position(engine):
    with pytest.raises(ScriptError) as caught:
        engine.suggest_capabilities("export default () => {\n  sdk.db.search(;\n}")
    assert caught.value.code == "syntax_error" and caught.value.line == 2
