"""Sentry events and JSON log lines, without Odoo (tools/observability/).

The events are built from real engine failures (real V8), sent by the REAL
sentry-sdk client and transport to a FAKE Sentry server on loopback (no
Sentry can run here: iota_scripts/tests/sentry_server.py), and decoded there.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from pathlib import Path

import pytest
import sentry_sdk
from addon_tools import load

events = load("observability.sentry_events")
json_logs = load("observability.json_logs")

_spec = importlib.util.spec_from_file_location(
    "iota_sentry_server",
    Path(__file__).resolve().parent.parent / "iota_scripts" / "tests" / "sentry_server.py",
)
sentry_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sentry_server)

NESTED = """
function check(order) {
  if (!order.ok) throw new TypeError("order " + order.id + " is not ok");
}
async function sync(orders) {
  for (const o of orders) check(o);
}
export default async function (ctx) {
  await sync([{id: 7, ok: false}]);
}
"""


def test_v8_stack_becomes_sentry_frames_outermost_first(engine):
    result = engine.run(NESTED, input={}, ctx={})
    assert result.error.code == "script_error"
    frames = events.js_frames(result.error.stack, "orders@v3")
    assert [(f["function"], f["lineno"]) for f in frames] == [
        ("<anonymous>", 9),
        ("sync", 6),
        ("check", 3),
    ]
    assert {f["filename"] for f in frames} == {"orders@v3"}
    assert all(f["platform"] == "javascript" and f["colno"] > 0 for f in frames)


def test_script_failure_event_is_fingerprinted_and_carries_js_frames_only(engine):
    error = engine.run(NESTED, input={}, ctx={}).error
    event = events.script_failure_event(
        db="db1",
        company_id=3,
        script_key="orders",
        version=2,
        execution_id=99,
        trigger="endpoint",
        code=error.code,
        message=error.message,
        stack=error.stack,
        line=error.line,
        column=error.column,
    )
    assert event["fingerprint"] == [
        "iota-scripts",
        "script",
        "db1",
        "3",
        "orders",
        "2",
        "script_error",
    ]
    exc = event["exception"]["values"][0]
    assert (exc["type"], exc["value"]) == ("TypeError", "order 7 is not ok")
    assert [f["function"] for f in exc["stacktrace"]["frames"]][-1] == "check"
    assert not any(f["filename"].endswith(".py") for f in exc["stacktrace"]["frames"])
    assert event["tags"]["iota.code"] == "script_error"
    assert event["tags"]["iota.version"] == "2"


def test_a_timeout_without_stack_keeps_its_code_as_type():
    event = events.script_failure_event(
        db="d", company_id=1, script_key="k", version=1, execution_id=None,
        trigger="manual", code="timeout", message="the run passed its deadline",
    )  # fmt: skip
    exc = event["exception"]["values"][0]
    assert exc["type"] == "timeout" and "stacktrace" not in exc
    assert event["fingerprint"][-1] == "timeout"


def test_scrub_removes_secrets_and_personal_data():
    event = {
        "message": "refused jane.doe@example.com: Authorization: Bearer abc.def.ghi password=hunter2",
        "user": {"email": "jane.doe@example.com", "ip_address": "10.0.0.1"},
        "server_name": "host-1",
        "request": {
            "method": "POST",
            "url": "https://erp.example.com/iota/api/v1/x?token=t0k3n",
            "headers": {"Authorization": "Bearer abc", "X-Hub-Signature": "sha256=ff"},
            "cookies": {"session_id": "s"},
            "data": {"card": "4111"},
        },
        "extra": {
            "input": {"n": 1},
            "api_key": "AKIA1234",
            "note": "key sk_live_4eC39HqLyjWDarjtT1zdp7dc then pin 98127",
        },
        "contexts": {"iota_script": {"script": "very_long_script_key_2024_orders_sync"}},
        "tags": {"iota.script": "very_long_script_key_2024_orders_sync", "other": "x@y.org"},
        "fingerprint": ["iota-scripts", "script", "db", "1", "k", "1", "script_error"],
    }
    out = events.scrub(event, {"iota_secrets": ["98127"]})
    text = json.dumps(out)
    for secret in (
        "jane.doe@example.com", "abc.def.ghi", "hunter2", "10.0.0.1", "host-1", "t0k3n",
        "sha256=ff", "session_id", "4111", "AKIA1234", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "98127", "x@y.org", '"n": 1',
    ):  # fmt: skip
        assert secret not in text, secret
    assert out["request"] == {"method": "POST", "url": "https://erp.example.com/iota/api/v1/x"}
    # our own identifiers stay, even when they look like tokens
    assert out["tags"]["iota.script"] == "very_long_script_key_2024_orders_sync"
    assert out["contexts"]["iota_script"]["script"] == "very_long_script_key_2024_orders_sync"
    assert out["fingerprint"][-1] == "script_error"


def test_secret_values_are_found_under_secret_keys_at_any_depth():
    found = events.secret_values(
        {"user": {"password": "hunter22", "name": "Ann"}, "tokens": ["t-1234", "t-5678"]},
        {"headers": {"x-hub-signature": "sha256=abcd"}, "json": {"n": "1234"}},
    )
    assert set(found) == {"hunter22", "t-1234", "t-5678", "sha256=abcd"}


@pytest.fixture
def fake_sentry():
    server = sentry_server.FakeSentry()
    yield server
    server.stop()


def test_the_real_transport_delivers_a_scrubbed_event(engine, fake_sentry):
    source = """
export default async function (ctx) {
  throw new Error("cannot bill " + ctx.input.email + " with " + ctx.input.api_token);
}
"""
    data = {"email": "bob@example.org", "api_token": "tok-31337-abcd"}
    error = engine.run(source, input=data, ctx={}).error
    client = sentry_sdk.Client(
        dsn=fake_sentry.dsn,
        default_integrations=False,
        with_locals=False,
        send_default_pii=False,
        before_send=events.scrub,
    )
    event = events.script_failure_event(
        db="db", company_id=1, script_key="billing", version=4, execution_id=5,
        trigger="queue", code=error.code, message=error.message, stack=error.stack,
    )  # fmt: skip
    client.capture_event(event, hint={"iota_secrets": events.secret_values(data)})
    client.flush(timeout=5)
    received = fake_sentry.wait(lambda e: e.get("logger") == "iota_scripts.script")
    assert len(received) == 1
    got = received[0]
    assert got["fingerprint"] == [
        "iota-scripts",
        "script",
        "db",
        "1",
        "billing",
        "4",
        "script_error",
    ]
    assert got["exception"]["values"][0]["value"] == "cannot bill [email] with [Filtered]"
    assert got["exception"]["values"][0]["stacktrace"]["frames"][0]["filename"] == "billing@v4"
    raw = fake_sentry.raw()
    assert b"bob@example.org" not in raw and b"tok-31337-abcd" not in raw
    client.close()


def test_json_lines_carry_the_run_and_a_null_trace_id_without_opentelemetry():
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("TEXT %(name)s %(message)s"))
    assert json_logs.install("json", [handler]) == 1
    assert json_logs.install("json", [handler]) == 0  # idempotent
    ours = logging.getLogger("iota_scripts_sdk.test_json")
    theirs = logging.getLogger("odoo.models.test_json")
    for logger in (ours, theirs):
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    with json_logs.running(7, "orders", 3, 41):
        ours.info("inside %s", "the run")
        theirs.info("not ours")
    ours.warning("outside")
    first, second, third = buf.getvalue().splitlines()
    line = json.loads(first)
    assert line["message"] == "inside the run"
    assert (line["company"], line["script"], line["version"], line["execution"]) == (
        7,
        "orders",
        3,
        41,
    )
    assert line["logger"] == "iota_scripts_sdk.test_json" and line["level"] == "INFO"
    assert "trace_id" in line and line["trace_id"] == json_logs.current_trace_id()
    assert second == "TEXT odoo.models.test_json not ours"
    assert json.loads(third)["execution"] is None
    assert json_logs.install("text", [logging.StreamHandler(io.StringIO())]) == 0


def test_trace_id_is_the_current_opentelemetry_spans():
    trace = pytest.importorskip("opentelemetry.trace", reason="opentelemetry-api not installed")
    context = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7, is_remote=False
    )
    assert json_logs.current_trace_id() is None
    with trace.use_span(trace.NonRecordingSpan(context)):
        assert json_logs.current_trace_id() == "4bf92f3577b34da6a3ce929d0e0e4736"
