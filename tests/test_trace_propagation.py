"""The engine's tracing hooks: a span per sdk call, and trace-context headers on ``sdk.http``.

The engine has no tracing library: a host's observer returns a token from
``sdk_call_begin`` (its span), gets it back in ``sdk_call_end``, and gives the
``traceparent``/``tracestate`` that ``sdk.http`` sends (``trace_headers``). Real
runners, a real loopback HTTP server; DNS is stubbed to 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from http_servers import LoopbackServer, json_route

from iota_scripts_sdk import Engine, EngineConfig, EngineObserver, ScriptError
from iota_scripts_sdk._http import HttpPolicy, fetch
from iota_scripts_sdk.observer import sdk_call_name

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
API = "api.example.test"


class Tracer(EngineObserver):
    """Records begin/end/headers in order, as a tracer would see them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[Any, ...]] = []
        self.headers: dict[str, str] = {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}

    def sdk_call_begin(self, name: str, args: list[Any]) -> Any:
        with self.lock:
            self.events.append(("begin", name, list(args)))
            return f"span-{len(self.events)}"

    def sdk_call_end(self, token: Any, outcome: str, value: Any) -> None:
        with self.lock:
            self.events.append(("end", token, outcome, value))

    def trace_headers(self) -> dict[str, str]:
        with self.lock:
            self.events.append(("headers",))
            return self.headers


@pytest.fixture
def traced() -> Iterator[tuple[Engine, Tracer]]:
    engine = Engine(EngineConfig(runners=1))
    tracer = Tracer()
    engine.set_observer(tracer)
    yield engine, tracer
    engine.close()


def test_each_sdk_call_begins_and_ends_with_its_outcome_and_value(traced):
    engine, tracer = traced

    def denied(args: list[Any]) -> Any:
        raise ScriptError("access_denied", "no")

    src = """export default async () => {
      await sdk.db.search("res.partner", [["id", ">", 0]]);
      try { await sdk.db.read("res.partner", [1], ["name"]); } catch (e) {}
      try { await sdk.http.fetch("http://127.0.0.1/x"); } catch (e) {}
      return 1;
    }"""
    host = {"db.search": lambda args: [1, 2], "db.read": denied}
    result = engine.run(src, host=host)
    assert result.ok, result.error
    assert tracer.events == [
        ("begin", "db.search", ["res.partner", [["id", ">", 0]]]),
        ("end", "span-1", "ok", [1, 2]),
        ("begin", "db.read", ["res.partner", [1], ["name"]]),
        ("end", "span-3", "access_denied", None),
        ("begin", "http.fetch", ["http://127.0.0.1/x", {}]),
        # asked for the headers inside the call's span, before anything was sent
        ("headers",),
        ("end", "span-5", "destination_blocked", None),
    ]


def test_a_tracer_that_raises_or_returns_none_breaks_nothing(caplog):
    class Broken(EngineObserver):
        def sdk_call_begin(self, name, args):
            raise RuntimeError("boom")

        def trace_headers(self):
            raise RuntimeError("boom")

    engine = Engine(EngineConfig(runners=1))
    try:
        engine.set_observer(Broken())
        src = "export default async () => (await sdk.db.search('x', [])).length"
        result = engine.run(src, host={"db.search": lambda args: [1, 2, 3]})
        assert result.ok and result.result == 3
        assert "engine observer sdk_call_begin failed" in caplog.text
    finally:
        engine.close()


def test_undeclared_names_are_unknown():
    assert sdk_call_name("db.search") == "db.search"
    assert sdk_call_name("evil\nname") == "unknown"
    assert sdk_call_name(["db.search"]) == "unknown"


# ---- the wire: what sdk.http sends ------------------------------------------------------------
def _policy() -> HttpPolicy:
    return HttpPolicy(
        allow_hosts=("*",),
        extra_allowed_networks=("127.0.0.1/32",),
        resolver=lambda host, port: ["127.0.0.1"],
        timeout_sec=5.0,
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer({"/t": json_route({"ok": True})}).start()
    yield srv
    srv.close()


def test_trace_headers_are_sent_and_replace_the_scripts_own(server: LoopbackServer) -> None:
    script_headers = {"TraceParent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "X-Mine": "1"}
    trace = {"traceparent": TRACEPARENT, "tracestate": "vendor=1,other=x y"}
    fetch(_policy(), server.url("/t", host=API), headers=script_headers, trace_headers=trace)
    [req] = server.requests
    assert req.headers["traceparent"] == TRACEPARENT
    assert req.headers["tracestate"] == "vendor=1,other=x y"
    assert req.headers["x-mine"] == "1"
    assert [k.lower() for k, _v in req.raw_headers].count("traceparent") == 1


@pytest.mark.parametrize(
    "trace",
    [
        {"traceparent": TRACEPARENT + "\r\nX-Evil: 1"},
        {"traceparent": " " + TRACEPARENT},
        {"traceparent": "x" * 600},
        {"cookie": "a=b", "authorization": "Bearer x"},
    ],
)
def test_bad_trace_headers_are_dropped_never_sent(server: LoopbackServer, trace) -> None:
    resp = fetch(_policy(), server.url("/t", host=API), trace_headers=trace)
    assert resp.status == 200
    [req] = server.requests
    assert "traceparent" not in req.headers
    assert "x-evil" not in req.headers
    assert "cookie" not in req.headers and "authorization" not in req.headers


def test_without_trace_headers_nothing_is_added(server: LoopbackServer) -> None:
    fetch(_policy(), server.url("/t", host=API))
    [req] = server.requests
    assert "traceparent" not in req.headers and "tracestate" not in req.headers
