"""A secret read through sdk.secrets.get never leaves the run (issue 10 §3):
logs, live lines, result and error carry ``[secret:name]``, in the real engine."""

from __future__ import annotations

import json

from iota_scripts_sdk.capabilities import parse
from iota_scripts_sdk.masking import SecretMask

SECRET = 'sk_live_"Zürich"\\42'  # noqa: S105 - a test value; a quote, a backslash, non-ASCII: escaped in JSON text
OTHER = "pw-0123456789"

LEAKY = """export default async () => {
  const s = await sdk.secrets.get("stripe_key");
  const o = await sdk.secrets.get("other");
  console.log(s);
  sdk.log.info("token=" + s + ";", { nested: { deep: [s, "x" + o + "y"] }, [s]: 1 });
  console.error("both", s + o);
  return { whole: s, inside: "Bearer " + s, list: [[s]], key: { [o]: o } };
}"""


def _hosts():
    values = {"stripe_key": SECRET, "other": OTHER}
    return {"secrets.get": lambda args: values[args[0]]}


def test_logs_live_lines_and_result_are_masked(engine):
    live = []
    res = engine.run(
        LEAKY,
        host=_hosts(),
        on_log=live.append,
        capabilities=parse({"secrets": ["stripe_key", "other"]}),
    )
    assert res.ok, res.error
    seen = json.dumps([res.result, res.logs, live], ensure_ascii=False)
    assert SECRET not in seen and OTHER not in seen
    assert json.dumps(SECRET)[1:-1] not in seen  # nor its JSON-escaped form
    assert "sk_live" not in seen and "0123456789" not in seen
    assert res.result == {
        "whole": "[secret:stripe_key]",
        "inside": "Bearer [secret:stripe_key]",
        "list": [["[secret:stripe_key]"]],
        "key": {"[secret:other]": "[secret:other]"},
    }
    assert res.result_json is not None and b"sk_live" not in res.result_json
    messages = [line["message"] for line in live]
    assert "token=[secret:stripe_key];" in messages
    assert "both [secret:stripe_key][secret:other]" in messages
    assert live == res.logs


def test_an_error_message_and_stack_are_masked(engine):
    source = """export default async () => {
      const s = await sdk.secrets.get("stripe_key");
      throw new Error("could not use " + s);
    }"""
    res = engine.run(source, host=_hosts())
    assert not res.ok
    assert res.error.message.endswith("could not use [secret:stripe_key]")
    assert "sk_live" not in res.error.message and "sk_live" not in (res.error.stack or "")


def test_runs_that_read_no_secret_are_untouched(engine):
    res = engine.run('export default () => ({ v: "sk_live_x" })', host=_hosts())
    assert res.result == {"v": "sk_live_x"}


def test_the_longest_secret_is_masked_first():
    mask = SecretMask()
    mask.add("short", "abc")
    mask.add("long", "abcdef")
    mask.add("empty", "")
    assert mask.text("xabcdefx abc") == "x[secret:long]x [secret:short]"
    assert mask.data({"abc": ["abcdef", 1, None]}) == {"[secret:short]": ["[secret:long]", 1, None]}
    assert not SecretMask() and mask


def test_what_becomes_an_event_or_another_run_is_masked_http_is_not(engine):
    seen = {}

    def keep(name):
        def host(args):
            seen[name] = args
            return None if name != "http.fetch" else {"status": 200, "headers": {}, "body": ""}

        return host

    hosts = {**_hosts(), **{n: keep(n) for n in ("events.emit", "scripts.enqueue", "http.fetch")}}
    source = """export default async () => {
      const s = await sdk.secrets.get("other");
      await sdk.events.emit("paid", { token: s });
      await sdk.scripts.enqueue("next", { token: "x" + s });
      await sdk.http.fetch("https://api.example.com/", { headers: { Authorization: s } });
      return 1;
    }"""
    res = engine.run(source, host=hosts)
    assert res.ok, res.error
    assert seen["events.emit"][1] == {"token": "[secret:other]"}
    assert seen["scripts.enqueue"][1] == {"token": "x[secret:other]"}
    assert seen["http.fetch"][1]["headers"]["Authorization"] == OTHER
