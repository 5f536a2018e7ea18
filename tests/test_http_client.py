# Over 600 lines: the SSRF-safe client's hostile cases, each against real loopback servers.
"""Tests of the SSRF-safe HTTP client (iota_scripts_sdk._http).

All traffic stays on 127.0.0.0/8: an autouse spy replaces ``socket.create_connection`` and
``socket.getaddrinfo``, records every call, refuses (and reports) anything that is not a
loopback address or a stubbed name, and can route a fake *public* IP to a loopback server
so the "public address" paths can be exercised without leaving the machine.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import math
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from http_servers import (
    ConnectProxy,
    LoopbackServer,
    drip_headers_route,
    drip_route,
    gzip_bomb_route,
    json_route,
    make_self_signed_cert,
    raw_route,
    redirect_route,
    server_tls_context,
    text_route,
    wait_until,
)

from iota_scripts_sdk._http import HttpPolicy, HttpResponse, fetch
from iota_scripts_sdk.errors import ScriptError

API = "api.example.test"
OTHER = "other.example.test"

# --------------------------------------------------------------------------------------------
# Network spy and helpers
# --------------------------------------------------------------------------------------------


@dataclass
class NetSpy:
    """What the code under test tried to reach."""

    connections: list[tuple[str, int]] = field(default_factory=list)
    gai_calls: list[str] = field(default_factory=list)
    routes: dict[str, str] = field(default_factory=dict)  # fake public IP -> loopback IP
    dns: dict[str, list[str]] = field(default_factory=dict)  # names getaddrinfo may answer
    violations: list[str] = field(default_factory=list)


def _is_loopback_v4(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return ip.version == 4 and ip.is_loopback


@pytest.fixture(autouse=True)
def net_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetSpy]:
    spy = NetSpy()
    real_create_connection = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        host, port = str(address[0]), int(address[1])
        spy.connections.append((host, port))
        real_host = spy.routes.get(host, host)
        if not _is_loopback_v4(real_host):
            spy.violations.append(f"connect to {host}:{port}")
            raise ConnectionRefusedError("test spy: non-loopback connection refused")
        return real_create_connection((real_host, port), *args, **kwargs)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        spy.gai_calls.append(name)
        if name in spy.dns:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port)))
                for ip in spy.dns[name]
            ]
        if _is_loopback_v4(name):
            return real_getaddrinfo(host, port, *args, **kwargs)
        spy.violations.append(f"DNS lookup of {name}")
        raise socket.gaierror(socket.EAI_NONAME, "test spy: no DNS in tests")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield spy
    assert spy.violations == [], f"traffic outside loopback attempted: {spy.violations}"


class StubResolver:
    """Stub DNS: name -> addresses, or name -> successive answers (the last one repeats)."""

    def __init__(self, answers: dict[str, list[str] | list[list[str]]] | None = None) -> None:
        default: dict[str, list[str] | list[list[str]]] = {
            API: ["127.0.0.1"],
            OTHER: ["127.0.0.1"],
            "wrong.example.test": ["127.0.0.1"],
            "example.test": ["127.0.0.1"],
            "xn--bcher-kva.example.test": ["127.0.0.1"],
        }
        default.update(answers or {})
        self.answers = default
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown test name")
        answer = self.answers[host]
        if answer and isinstance(answer[0], list):
            seen = sum(1 for h, _ in self.calls if h == host)
            return list(answer[min(seen, len(answer)) - 1])  # type: ignore[arg-type]
        return list(answer)  # type: ignore[arg-type]


def loop_policy(resolver: StubResolver | None = None, **overrides: Any) -> HttpPolicy:
    """Policy for success paths: any host, 127.0.0.1 exempted, stub DNS to 127.0.0.1."""
    options: dict[str, Any] = {
        "allow_hosts": ("*",),
        "extra_allowed_networks": ("127.0.0.1/32",),
        "resolver": resolver if resolver is not None else StubResolver(),
        "timeout_sec": 5.0,
    }
    options.update(overrides)
    return HttpPolicy(**options)


def raises_code(code: str, func: Callable[[], Any]) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        func()
    assert info.value.code == code, f"{info.value.code}: {info.value.message}"
    return info.value


def assert_clean_message(err: ScriptError) -> None:
    """No tracebacks, exception reprs, errno noise or local paths reach scripts."""
    for bad in ("Traceback", "Errno", "Error(", "/usr/", "/tmp/", ".py", "<"):
        assert bad not in err.message, err.message


@pytest.fixture
def servers() -> Iterator[Callable[..., LoopbackServer]]:
    started: list[LoopbackServer] = []

    def make(routes: dict[str, Any] | None = None, **kwargs: Any) -> LoopbackServer:
        srv = LoopbackServer(routes, **kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.close()


@pytest.fixture
def server(servers: Callable[..., LoopbackServer]) -> LoopbackServer:
    return servers()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


# --------------------------------------------------------------------------------------------
# Success paths and response shape
# --------------------------------------------------------------------------------------------


def test_get_json_success(server: LoopbackServer, net_spy: NetSpy) -> None:
    server.routes["/data"] = json_route({"hello": "world"}, headers=[("X-Answer", "42")])
    resolver = StubResolver()
    resp = fetch(loop_policy(resolver), server.url("/data?x=1", host=API))
    assert resp.status == 200
    assert json.loads(resp.body) == {"hello": "world"}
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-answer"] == "42"
    assert resp.url == f"http://{API}:{server.port}/data?x=1"
    assert resp.redirected is False
    assert resolver.calls == [(API, server.port)]
    assert net_spy.connections == [("127.0.0.1", server.port)]  # the pinned IP, not the name
    [req] = server.requests
    assert req.method == "GET"
    assert req.target == "/data?x=1"
    assert req.headers["host"] == f"{API}:{server.port}"
    assert req.headers["user-agent"] == "iota-scripts/0.1"
    assert req.headers["accept-encoding"] == "gzip, deflate"
    assert req.headers["connection"] == "close"
    assert "content-length" not in req.headers


def test_post_json_body(server: LoopbackServer) -> None:
    payload = json.dumps({"n": 1, "s": "é"})
    resp = fetch(
        loop_policy(),
        server.url("/submit", host=API),
        method="post",
        headers={"Content-Type": "application/json", "X-Trace": "t-1"},
        body=payload,
    )
    echoed = json.loads(resp.body)
    assert resp.status == 200
    assert echoed["method"] == "POST"
    assert json.loads(echoed["body"]) == {"n": 1, "s": "é"}
    [req] = server.requests
    assert req.body == payload.encode("utf-8")
    assert req.headers["content-length"] == str(len(payload.encode("utf-8")))
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-trace"] == "t-1"


def test_string_body_gets_default_content_type_and_bytes_body_none(
    server: LoopbackServer,
) -> None:
    fetch(loop_policy(), server.url("/a", host=API), method="PUT", body="plain")
    fetch(loop_policy(), server.url("/b", host=API), method="PUT", body=b"\x00\x01")
    text_req, bytes_req = server.requests
    assert text_req.headers["content-type"] == "text/plain;charset=UTF-8"
    assert "content-type" not in bytes_req.headers
    assert bytes_req.body == b"\x00\x01"


def test_post_without_body_sends_zero_length(server: LoopbackServer) -> None:
    fetch(loop_policy(), server.url("/", host=API), method="POST")
    assert server.requests[0].headers["content-length"] == "0"


def test_response_headers_lowercase_and_repeated_joined(server: LoopbackServer) -> None:
    server.routes["/h"] = json_route(
        {}, headers=[("X-Multi", "a"), ("x-multi", "b"), ("Set-Cookie", "k=v")]
    )
    resp = fetch(loop_policy(), server.url("/h", host=API))
    assert resp.headers["x-multi"] == "a, b"
    assert resp.headers["set-cookie"] == "k=v"
    assert all(name == name.lower() for name in resp.headers)


def test_error_status_is_returned_not_raised(server: LoopbackServer) -> None:
    server.routes["/missing"] = text_route(b"nope", status=404)
    resp = fetch(loop_policy(), server.url("/missing", host=API))
    assert (resp.status, resp.body) == (404, "nope")


def test_head_has_empty_body(server: LoopbackServer) -> None:
    server.routes["/h"] = text_route(b"body that must not be read")
    resp = fetch(loop_policy(), server.url("/h", host=API), method="HEAD")
    assert resp.status == 200
    assert resp.body == ""
    assert server.requests[0].method == "HEAD"


def test_to_dict_shape(server: LoopbackServer) -> None:
    resp = fetch(loop_policy(), server.url("/", host=API))
    data = resp.to_dict()
    assert set(data) == {"status", "headers", "body", "url", "redirected"}
    assert data["status"] == 200 and data["redirected"] is False
    data["headers"]["x"] = "mutated"
    assert "x" not in resp.headers  # a copy
    assert isinstance(resp, HttpResponse)


def test_charset_from_content_type_and_replacement(server: LoopbackServer) -> None:
    server.routes["/latin"] = text_route(
        "café".encode("latin-1"), content_type="text/plain; charset=ISO-8859-1"
    )
    server.routes["/bad"] = text_route(b"ok\xff", content_type="text/plain")
    server.routes["/weird"] = text_route(b"x", content_type="text/plain; charset=base64")
    policy = loop_policy()
    assert fetch(policy, server.url("/latin", host=API)).body == "café"
    assert fetch(policy, server.url("/bad", host=API)).body == "ok\ufffd"
    assert fetch(policy, server.url("/weird", host=API)).body == "x"


def test_non_ascii_path_is_percent_encoded(server: LoopbackServer) -> None:
    fetch(loop_policy(), server.url("/päth?q=ä b", host=API))
    assert server.requests[0].target == "/p%C3%A4th?q=%C3%A4%20b"


def test_fragment_not_sent(server: LoopbackServer) -> None:
    resp = fetch(loop_policy(), server.url("/page#secret", host=API))
    assert server.requests[0].target == "/page"
    assert resp.url.endswith("/page")


def test_public_addresses_are_allowed(servers: Callable[..., LoopbackServer], net_spy: NetSpy):
    """No extra_allowed_networks: a public v4 and v6 address pass validation (the spy routes
    them to loopback so nothing leaves the machine)."""
    srv = servers()
    net_spy.routes.update({"8.8.8.8": "127.0.0.1", "2606:4700:4700::1111": "127.0.0.1"})
    resolver = StubResolver({API: ["8.8.8.8"], OTHER: ["2606:4700:4700::1111"]})
    policy = HttpPolicy(allow_hosts=("*",), resolver=resolver, timeout_sec=5)
    assert fetch(policy, srv.url("/", host=API)).status == 200
    assert fetch(policy, srv.url("/", host=OTHER)).status == 200
    assert net_spy.connections == [
        ("8.8.8.8", srv.port),
        ("2606:4700:4700::1111", srv.port),
    ]


def test_default_resolver_is_getaddrinfo(server: LoopbackServer, net_spy: NetSpy) -> None:
    net_spy.dns[API] = ["127.0.0.1"]
    policy = HttpPolicy(allow_hosts=(API,), extra_allowed_networks=("127.0.0.1/32",))
    resp = fetch(policy, server.url("/", host=API))
    assert resp.status == 200
    assert API in net_spy.gai_calls


# --------------------------------------------------------------------------------------------
# Blocked destinations
# --------------------------------------------------------------------------------------------

BLOCKED_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "api.localhost",
    "0",
    "0.0.0.0",
    "2130706433",
    "0x7f000001",
    "0X7F000001",
    "0177.0.0.1",
    "017700000001",
    "127.1",
    "127.0.1",
    "0x7f.1",
    "127.0.0.1.",
    "１２７．０．０．１",  # noqa: RUF001 - full-width spelling is the point of the test
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:169.254.169.254]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::1]",
    "[fe80::1]",
    "[fd00::1]",
    "[fc00::1]",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
]


@pytest.mark.parametrize("spelling", BLOCKED_SPELLINGS)
def test_blocked_literal_spellings_never_connect(
    spelling: str, server: LoopbackServer, net_spy: NetSpy
) -> None:
    policy = HttpPolicy(allow_hosts=("*",))  # default deny list, real default resolver
    err = raises_code("destination_blocked", lambda: fetch(policy, server.url("/", host=spelling)))
    assert_clean_message(err)
    assert server.hits == 0
    assert net_spy.connections == []
    assert net_spy.gai_calls == []  # decided without any DNS lookup


BLOCKED_ADDRESSES = [
    "0.1.2.3",
    "10.1.2.3",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "172.16.5.4",
    "192.0.0.8",
    "192.0.2.10",
    "192.88.99.1",
    "192.168.0.1",
    "198.18.0.1",
    "198.19.255.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.251",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",  # mapped addresses are refused even when the v4 is public
    "::127.0.0.1",
    "64:ff9b::a00:1",
    "64:ff9b:1::1",
    "100::1",
    "2001::1",
    "2001:db8::1",
    "2002:a00:1::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "not-an-ip",
]


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_blocked_resolved_addresses(address: str, net_spy: NetSpy) -> None:
    resolver = StubResolver({"evil.example.test": [address]})
    policy = HttpPolicy(allow_hosts=("*",), resolver=resolver)
    raises_code("destination_blocked", lambda: fetch(policy, "http://evil.example.test/"))
    assert resolver.calls == [("evil.example.test", 80)]
    assert net_spy.connections == []


def test_any_blocked_address_refuses_the_host(server: LoopbackServer, net_spy: NetSpy) -> None:
    resolver = StubResolver({API: ["127.0.0.1", "10.0.0.1"]})  # first one is allowed
    raises_code(
        "destination_blocked", lambda: fetch(loop_policy(resolver), server.url("/", host=API))
    )
    assert resolver.calls == [(API, server.port)]
    assert server.hits == 0
    assert net_spy.connections == []


def test_extra_network_does_not_exempt_embedded_ipv4(net_spy: NetSpy) -> None:
    resolver = StubResolver({"six.example.test": ["2002:7f00:1::1"]})  # 6to4 of 127.0.0.1
    policy = HttpPolicy(
        allow_hosts=("*",), extra_allowed_networks=("2002::/16",), resolver=resolver
    )
    raises_code("destination_blocked", lambda: fetch(policy, "http://six.example.test/"))
    assert net_spy.connections == []


def test_allow_list_never_overrides_deny_list(net_spy: NetSpy) -> None:
    policy = HttpPolicy(allow_hosts=("10.0.0.1", "169.254.169.254"))
    raises_code("destination_blocked", lambda: fetch(policy, "http://10.0.0.1/"))
    raises_code("destination_blocked", lambda: fetch(policy, "http://169.254.169.254/latest/"))
    assert net_spy.connections == []


# --------------------------------------------------------------------------------------------
# DNS pinning / rebinding
# --------------------------------------------------------------------------------------------


def test_dns_rebinding_connects_only_to_pinned_address(
    server: LoopbackServer, net_spy: NetSpy
) -> None:
    """First answer public (1.1.1.1, routed to the loopback server by the spy), every later
    answer 127.0.0.1: a client that re-resolves to connect would hit 127.0.0.1."""
    net_spy.routes["1.1.1.1"] = "127.0.0.1"
    resolver = StubResolver({API: [["1.1.1.1"], ["127.0.0.1"]]})
    policy = HttpPolicy(allow_hosts=(API,), resolver=resolver, timeout_sec=5)
    resp = fetch(policy, server.url("/pinned", host=API))
    assert resp.status == 200
    assert resolver.calls == [(API, server.port)]  # exactly once for the hop
    assert net_spy.connections == [("1.1.1.1", server.port)]
    assert server.requests[0].headers["host"] == f"{API}:{server.port}"


def test_rebinding_between_hops_is_caught(server: LoopbackServer, net_spy: NetSpy) -> None:
    server.routes["/first"] = redirect_route("/second")
    resolver = StubResolver({API: [["127.0.0.1"], ["10.0.0.1"]]})
    raises_code(
        "destination_blocked", lambda: fetch(loop_policy(resolver), server.url("/first", host=API))
    )
    assert resolver.calls == [(API, server.port), (API, server.port)]  # once per hop
    assert [r.path for r in server.requests] == ["/first"]
    assert net_spy.connections == [("127.0.0.1", server.port)]


def test_dns_failure_is_http_error(server: LoopbackServer) -> None:
    resolver = StubResolver({API: []})
    err = raises_code("http_error", lambda: fetch(loop_policy(resolver), server.url("/", host=API)))
    assert "cannot resolve host" in err.message
    err = raises_code(
        "http_error", lambda: fetch(loop_policy(), server.url("/", host="unknown.example.test"))
    )
    assert err.message == "cannot resolve host unknown.example.test"
    assert server.hits == 0


def test_slow_dns_counts_against_the_deadline(net_spy: NetSpy) -> None:
    release = threading.Event()

    def slow_resolver(host: str, port: int) -> list[str]:
        release.wait(5)
        return ["127.0.0.1"]

    policy = loop_policy(resolver=slow_resolver, timeout_sec=0.3)  # type: ignore[arg-type]
    start = time.monotonic()
    try:
        raises_code("timeout", lambda: fetch(policy, f"http://{API}/"))
    finally:
        release.set()
    assert 0.3 <= time.monotonic() - start < 0.8
    assert net_spy.connections == []


# --------------------------------------------------------------------------------------------
# Allow-list
# --------------------------------------------------------------------------------------------


def test_empty_allow_list_refuses_everything(server: LoopbackServer, net_spy: NetSpy) -> None:
    resolver = StubResolver()
    policy = loop_policy(resolver, allow_hosts=())
    raises_code("destination_blocked", lambda: fetch(policy, server.url("/", host=API)))
    raises_code("destination_blocked", lambda: fetch(policy, server.url("/")))
    assert resolver.calls == []  # refused before resolution
    assert server.hits == 0 and net_spy.connections == []


def test_allow_list_exact_and_wildcard(server: LoopbackServer) -> None:
    resolver = StubResolver()
    exact = loop_policy(resolver, allow_hosts=(API,))
    assert fetch(exact, server.url("/", host=API)).status == 200
    raises_code("destination_blocked", lambda: fetch(exact, server.url("/", host=OTHER)))
    wildcard = loop_policy(resolver, allow_hosts=("*.example.test",))
    assert fetch(wildcard, server.url("/", host=OTHER)).status == 200
    raises_code(  # subdomains only, not the apex
        "destination_blocked", lambda: fetch(wildcard, server.url("/", host="example.test"))
    )
    raises_code(  # suffix must match on a label boundary
        "destination_blocked", lambda: fetch(wildcard, server.url("/", host="evilexample.test"))
    )
    assert ("example.test", server.port) not in resolver.calls
    assert len(server.requests) == 2


def test_allow_list_case_trailing_dot_and_idna(server: LoopbackServer) -> None:
    resolver = StubResolver()
    policy = loop_policy(resolver, allow_hosts=("API.Example.TEST.", "bücher.example.test"))
    assert fetch(policy, server.url("/", host="api.EXAMPLE.test.")).status == 200
    assert fetch(policy, server.url("/", host="BÜCHER.example.test")).status == 200
    assert fetch(policy, server.url("/", host="xn--bcher-kva.example.test")).status == 200
    assert resolver.calls[1] == ("xn--bcher-kva.example.test", server.port)
    assert server.requests[1].headers["host"] == f"xn--bcher-kva.example.test:{server.port}"


def test_allow_list_literal_ip_entry(server: LoopbackServer) -> None:
    policy = loop_policy(allow_hosts=("127.0.0.1",))
    assert fetch(policy, server.url("/")).status == 200
    # the name resolves to the allowed IP, but names are checked before resolution
    raises_code("destination_blocked", lambda: fetch(policy, server.url("/", host=API)))
    assert server.hits == 1


# --------------------------------------------------------------------------------------------
# URL validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "ftp://api.example.test/file",
        "gopher://api.example.test:70/_SET%20x",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "ws://api.example.test/",
        "api.example.test/path",
        "//api.example.test/path",
        "",
    ],
)
def test_scheme_not_allowed(url: str, net_spy: NetSpy) -> None:
    raises_code("scheme_not_allowed", lambda: fetch(loop_policy(), url))
    assert net_spy.connections == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw@api.example.test/",
        "http://user@api.example.test/",
        "http://api.example.test@127.0.0.1/",
        "http://api.example.test:99999/",
        "http://api.example.test:abc/",
        "http://api.example.test:0/",
        "http://[::1/",
        "http://[v1.x]/",
        "http://[1.2.3.4]/",
        "http://[fe80::1%25eth0]/",
        "http://",
        "http:///path",
        "http:api.example.test/",
        "http://api.exa mple.test/",
        "http://api.example.test\r\n/",
        "http://exa\tmple.test/",
        "http://exa\\mple.test/",
        "http://%31%32%37.0.0.1/",
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://0x100000000/",
        "http://a..b/",
        12345,
    ],
)
def test_malformed_urls_are_invalid_argument(url: Any, net_spy: NetSpy) -> None:
    resolver = StubResolver()
    err = raises_code("invalid_argument", lambda: fetch(loop_policy(resolver), url))
    assert_clean_message(err)
    assert resolver.calls == [] and net_spy.connections == [] and net_spy.gai_calls == []


# --------------------------------------------------------------------------------------------
# Redirects
# --------------------------------------------------------------------------------------------


def test_redirect_followed(server: LoopbackServer) -> None:
    server.routes["/start"] = redirect_route("/middle", 301)
    server.routes["/middle"] = redirect_route(server.url("/final", host=OTHER), 308)
    server.routes["/final"] = json_route({"done": True})
    resp = fetch(loop_policy(), server.url("/start", host=API))
    assert resp.status == 200 and json.loads(resp.body) == {"done": True}
    assert resp.redirected is True
    assert resp.url == f"http://{OTHER}:{server.port}/final"
    assert [r.path for r in server.requests] == ["/start", "/middle", "/final"]


@pytest.mark.parametrize(
    ("status", "method", "expected_method", "body_kept"),
    [
        (301, "POST", "GET", False),
        (302, "POST", "GET", False),
        (303, "POST", "GET", False),
        (303, "PUT", "GET", False),
        (302, "PUT", "PUT", True),
        (307, "POST", "POST", True),
        (308, "PATCH", "PATCH", True),
    ],
)
def test_redirect_method_rewriting(
    server: LoopbackServer, status: int, method: str, expected_method: str, body_kept: bool
) -> None:
    server.routes["/r"] = redirect_route("/target", status)
    fetch(
        loop_policy(),
        server.url("/r", host=API),
        method=method,
        body='{"a": 1}',
        headers={"Content-Type": "application/json"},
    )
    first, second = server.requests
    assert first.body == b'{"a": 1}'
    assert second.method == expected_method
    assert second.body == (b'{"a": 1}' if body_kept else b"")
    assert ("content-type" in second.headers) is body_kept


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{alt_port}/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
        "http://0x7f000002:{alt_port}/",  # 127.0.0.2 spelled in hex
        "http://evil.example.test/",  # resolves to 10.0.0.1
    ],
)
def test_redirect_to_blocked_destination(
    servers: Callable[..., LoopbackServer], net_spy: NetSpy, location: str
) -> None:
    first = servers()
    alt = servers(host="127.0.0.2")
    target = location.format(alt_port=alt.port, port=first.port)
    first.routes["/go"] = redirect_route(target)
    resolver = StubResolver({"evil.example.test": ["10.0.0.1"]})
    err = raises_code(
        "destination_blocked", lambda: fetch(loop_policy(resolver), first.url("/go", host=API))
    )
    assert_clean_message(err)
    assert first.hits == 1
    assert alt.hits == 0
    assert net_spy.connections == [("127.0.0.1", first.port)]


def test_redirect_to_disallowed_scheme(server: LoopbackServer) -> None:
    server.routes["/go"] = redirect_route("file:///etc/passwd")
    raises_code("scheme_not_allowed", lambda: fetch(loop_policy(), server.url("/go", host=API)))
    server.routes["/go2"] = redirect_route("gopher://api.example.test/")
    raises_code("scheme_not_allowed", lambda: fetch(loop_policy(), server.url("/go2", host=API)))
    assert server.hits == 2


def test_redirect_to_host_outside_allow_list(server: LoopbackServer) -> None:
    server.routes["/go"] = redirect_route(server.url("/x", host=OTHER))
    resolver = StubResolver()
    policy = loop_policy(resolver, allow_hosts=(API,))
    raises_code("destination_blocked", lambda: fetch(policy, server.url("/go", host=API)))
    assert resolver.calls == [(API, server.port)]  # OTHER never resolved
    assert server.hits == 1


def test_redirect_with_credentials_in_location_is_http_error(server: LoopbackServer) -> None:
    server.routes["/go"] = redirect_route(f"http://user:pw@{API}:{server.port}/x")
    raises_code("http_error", lambda: fetch(loop_policy(), server.url("/go", host=API)))
    assert server.hits == 1


def test_redirect_loop_too_many_redirects(server: LoopbackServer) -> None:
    server.routes["/loop"] = redirect_route("/loop")
    policy = loop_policy(max_redirects=3)
    err = raises_code("too_many_redirects", lambda: fetch(policy, server.url("/loop", host=API)))
    assert "3" in err.message
    assert server.hits == 4  # the original request plus 3 followed redirects


def test_zero_redirects_allowed(server: LoopbackServer) -> None:
    server.routes["/r"] = redirect_route("/x")
    raises_code(
        "too_many_redirects",
        lambda: fetch(loop_policy(max_redirects=0), server.url("/r", host=API)),
    )
    assert server.hits == 1


def test_redirect_without_location_is_returned(server: LoopbackServer) -> None:
    server.routes["/r"] = text_route(b"moved", status=302)
    resp = fetch(loop_policy(), server.url("/r", host=API))
    assert (resp.status, resp.body, resp.redirected) == (302, "moved", False)


# --------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------


def test_credentials_injected_for_matching_host_only(server: LoopbackServer) -> None:
    policy = loop_policy(credentials=((API, "X-Api-Key", "k-123"),))
    fetch(policy, server.url("/", host=API))
    fetch(policy, server.url("/", host=OTHER))
    to_api, to_other = server.requests
    assert to_api.headers["x-api-key"] == "k-123"
    assert "x-api-key" not in to_other.headers


def test_credentials_dropped_on_cross_origin_redirect(server: LoopbackServer) -> None:
    server.routes["/same"] = redirect_route("/next")
    server.routes["/next"] = redirect_route(server.url("/away", host=OTHER))
    server.routes["/away"] = redirect_route(server.url("/back", host=API))
    policy = loop_policy(
        credentials=(("*.example.test", "X-Api-Key", "k-123"),), allow_script_credentials=True
    )
    resp = fetch(
        policy,
        server.url("/same", host=API),
        headers={"Authorization": "Bearer script-token", "X-Plain": "kept"},
    )
    assert resp.status == 200
    same, nxt, away, back = server.requests
    for req in (same, nxt):  # same origin: credentials sent
        assert req.headers["x-api-key"] == "k-123"
        assert req.headers["authorization"] == "Bearer script-token"
    for req in (away, back):  # left the origin (even though the pattern matches OTHER)
        assert "x-api-key" not in req.headers
        assert "authorization" not in req.headers
        assert req.headers["x-plain"] == "kept"


def test_port_change_is_cross_origin(servers: Callable[..., LoopbackServer]) -> None:
    """Same host name, another port: another origin, so credentials stay behind."""
    first = servers()
    second = servers()
    first.routes["/r"] = redirect_route(second.url("/x", host=API))
    policy = loop_policy(credentials=((API, "X-Api-Key", "k"),))
    assert fetch(policy, first.url("/r", host=API)).status == 200
    assert first.requests[0].headers["x-api-key"] == "k"
    assert "x-api-key" not in second.requests[0].headers


def test_tls_to_plain_redirect_is_cross_origin(
    servers: Callable[..., LoopbackServer], tls_server: LoopbackServer, tls_files: tuple[Path, Path]
) -> None:
    """https -> http on the same host: credentials are not downgraded to cleartext."""
    plain = servers()
    tls_server.routes["/r"] = redirect_route(plain.url("/x", host=API))
    policy = loop_policy(
        credentials=((API, "X-Api-Key", "k"),), _ssl_context=_trusting_context(tls_files[0])
    )
    resp = fetch(policy, tls_server.url("/r", host=API))
    assert resp.url == f"http://{API}:{plain.port}/x" and resp.redirected
    assert tls_server.requests[0].headers["x-api-key"] == "k"
    assert "x-api-key" not in plain.requests[0].headers


# --------------------------------------------------------------------------------------------
# Request validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Test": "a\r\nX-Injected: 1"},
        {"X-Test": "a\nb"},
        {"X-Test": "a\rb"},
        {"X-Test": "a\x00b"},
        {"X-Test": "a\x1bb"},
        {"X Bad": "v"},
        {"X:Y": "v"},
        {"": "v"},
        {"X-Ü": "v"},
        {"X\r\nY": "v"},
        {"X-Obj": ["list"]},
        {"X-Bool": True},
    ],
)
def test_header_injection_rejected(server: LoopbackServer, headers: dict[str, Any]) -> None:
    raises_code(
        "invalid_argument", lambda: fetch(loop_policy(), server.url("/", host=API), headers=headers)
    )
    assert server.hits == 0


@pytest.mark.parametrize(
    "name", ["Host", "host", "Cookie", "COOKIE", "Proxy-Authorization", "Authorization"]
)
def test_forbidden_headers_rejected(server: LoopbackServer, name: str) -> None:
    err = raises_code(
        "invalid_argument",
        lambda: fetch(loop_policy(), server.url("/", host=API), headers={name: "x"}),
    )
    assert name in err.message
    assert server.hits == 0


def test_authorization_allowed_when_policy_allows(server: LoopbackServer) -> None:
    policy = loop_policy(allow_script_credentials=True)
    fetch(policy, server.url("/", host=API), headers={"Authorization": "Bearer t"})
    assert server.requests[0].headers["authorization"] == "Bearer t"
    # still no Host/Cookie override
    raises_code(
        "invalid_argument",
        lambda: fetch(policy, server.url("/", host=API), headers={"Host": "evil"}),
    )


def test_hop_by_hop_and_framing_headers_stripped(server: LoopbackServer) -> None:
    sent = {
        "Connection": "keep-alive, X-Secret",
        "Keep-Alive": "timeout=99",
        "TE": "trailers",
        "Trailer": "X-T",
        "Transfer-Encoding": "chunked",
        "Upgrade": "websocket",
        "Proxy-Connection": "keep-alive",
        "Content-Length": "999",
        "Accept-Encoding": "br",
        "X-Kept": "yes",
    }
    resp = fetch(loop_policy(), server.url("/", host=API), method="POST", body="abc", headers=sent)
    assert resp.status == 200
    got = server.requests[0].headers
    for name in ("keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"):
        assert name not in got
    assert got["connection"] == "close"
    assert got["content-length"] == "3"
    assert got["accept-encoding"] == "gzip, deflate"
    assert got["x-kept"] == "yes"
    assert server.requests[0].body == b"abc"


def test_script_user_agent_and_case_duplicates(server: LoopbackServer) -> None:
    fetch(
        loop_policy(),
        server.url("/", host=API),
        headers={"User-Agent": "my-script", "X-A": "1", "x-a": "2"},
    )
    got = server.requests[0].headers
    assert got["user-agent"] == "my-script"
    assert got["x-a"] == "1, 2"


def test_idempotency_key(server: LoopbackServer) -> None:
    fetch(loop_policy(), server.url("/", host=API), method="POST", idempotency_key="key-1 a")
    assert server.requests[0].headers["idempotency-key"] == "key-1 a"
    for bad in ("", "k\r\nX: y", "ключ", "k" * 256, "\x7f"):
        raises_code(
            "invalid_argument",
            lambda bad=bad: fetch(
                loop_policy(), server.url("/", host=API), method="POST", idempotency_key=bad
            ),
        )
    assert server.hits == 1


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FOO", "GET\r\n", "", None])
def test_invalid_methods(server: LoopbackServer, method: Any) -> None:
    raises_code(
        "invalid_argument", lambda: fetch(loop_policy(), server.url("/", host=API), method=method)
    )
    assert server.hits == 0


@pytest.mark.parametrize("method", ["get", "HEAD", "POST", "put", "PATCH", "DELETE", "options"])
def test_valid_methods(server: LoopbackServer, method: str) -> None:
    fetch(loop_policy(), server.url("/", host=API), method=method)
    assert server.requests[0].method == method.upper()


def test_request_body_limits(server: LoopbackServer) -> None:
    policy = loop_policy(max_request_bytes=10)
    url = server.url("/", host=API)
    raises_code("argument_too_large", lambda: fetch(policy, url, method="POST", body="x" * 11))
    raises_code("argument_too_large", lambda: fetch(policy, url, method="POST", body="é" * 6))
    raises_code("argument_too_large", lambda: fetch(policy, url, method="POST", body=b"x" * 11))
    raises_code("invalid_argument", lambda: fetch(policy, url, method="GET", body="x"))
    raises_code("invalid_argument", lambda: fetch(policy, url, method="POST", body=123))  # type: ignore[arg-type]
    assert server.hits == 0
    fetch(policy, url, method="POST", body="x" * 10)
    assert server.requests[0].body == b"x" * 10


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, "5", True])
def test_invalid_timeout_argument(server: LoopbackServer, timeout: Any) -> None:
    raises_code(
        "invalid_argument",
        lambda: fetch(loop_policy(), server.url("/", host=API), timeout_sec=timeout),
    )
    assert server.hits == 0


@pytest.mark.parametrize(
    "options",
    [
        {"allow_hosts": "api.example.test"},
        {"allow_hosts": ("a*.example.test",)},
        {"allow_hosts": ("*.10.0.0.1",)},
        {"extra_allowed_networks": ("not-a-cidr",)},
        {"proxy_url": "socks5://127.0.0.1:1080"},
        {"proxy_url": "http://127.0.0.1:99999"},
        {"credentials": (("api.example.test", "Bad Header", "v"),)},
        {"credentials": (("api.example.test", "X-Key", "v\r\nX: y"),)},
        {"timeout_sec": 0},
        {"max_response_bytes": -1},
        {"user_agent": "ua\r\nX: y"},
    ],
)
def test_policy_validation(options: dict[str, Any]) -> None:
    raises_code("invalid_argument", lambda: HttpPolicy(**options))


# --------------------------------------------------------------------------------------------
# Deadline
# --------------------------------------------------------------------------------------------


def test_drip_fed_body_hits_total_deadline(server: LoopbackServer) -> None:
    server.routes["/drip"] = drip_route(b"x" * 100, 0.2)
    policy = loop_policy(timeout_sec=1.0)
    start = time.monotonic()
    err = raises_code("timeout", lambda: fetch(policy, server.url("/drip", host=API)))
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed <= 1.5, elapsed
    assert API in err.message and "1 s" in err.message
    assert_clean_message(err)


def test_drip_fed_headers_hit_total_deadline(server: LoopbackServer) -> None:
    server.routes["/slow-head"] = drip_headers_route(0.05)
    start = time.monotonic()
    raises_code(
        "timeout",
        lambda: fetch(loop_policy(timeout_sec=0.5), server.url("/slow-head", host=API)),
    )
    assert 0.5 <= time.monotonic() - start <= 1.0


def test_call_timeout_only_lowers_policy_timeout(server: LoopbackServer) -> None:
    server.routes["/drip"] = drip_route(b"x" * 100, 0.05)
    url = server.url("/drip", host=API)
    start = time.monotonic()
    raises_code("timeout", lambda: fetch(loop_policy(timeout_sec=0.4), url, timeout_sec=30))
    assert 0.4 <= time.monotonic() - start < 0.9
    start = time.monotonic()
    err = raises_code("timeout", lambda: fetch(loop_policy(timeout_sec=30), url, timeout_sec=0.4))
    assert 0.4 <= time.monotonic() - start < 0.9
    assert "0.4 s" in err.message


def test_deadline_covers_redirect_chain(server: LoopbackServer) -> None:
    server.routes["/r"] = redirect_route("/drip")
    server.routes["/drip"] = drip_route(b"x" * 100, 0.05)
    start = time.monotonic()
    raises_code("timeout", lambda: fetch(loop_policy(timeout_sec=0.4), server.url("/r", host=API)))
    assert time.monotonic() - start < 0.9
    assert server.hits == 2


# --------------------------------------------------------------------------------------------
# Body size, encodings, lying servers
# --------------------------------------------------------------------------------------------


def test_response_cap_exact_limit_ok_one_more_fails(server: LoopbackServer) -> None:
    server.routes["/ok"] = text_route(b"a" * 1000)
    server.routes["/big"] = text_route(b"a" * 1001)
    policy = loop_policy(max_response_bytes=1000)
    assert len(fetch(policy, server.url("/ok", host=API)).body) == 1000
    err = raises_code("response_too_large", lambda: fetch(policy, server.url("/big", host=API)))
    assert "1000" in err.message


def test_response_cap_without_content_length(server: LoopbackServer) -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    server.routes["/eof"] = raw_route(head + b"a" * 50_000)
    server.routes["/chunked"] = raw_route(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"400\r\n" + b"b" * 1024 + b"\r\n" for _ in range(50))
        + b"0\r\n\r\n"
    )
    policy = loop_policy(max_response_bytes=10_000)
    raises_code("response_too_large", lambda: fetch(policy, server.url("/eof", host=API)))
    raises_code("response_too_large", lambda: fetch(policy, server.url("/chunked", host=API)))
    small = loop_policy(max_response_bytes=100_000)
    assert fetch(small, server.url("/chunked", host=API)).body == "b" * 51_200


def test_huge_declared_length_fails_fast(server: LoopbackServer) -> None:
    server.routes["/huge"] = raw_route(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\nabc", hold_open=5
    )
    start = time.monotonic()
    raises_code(
        "response_too_large",
        lambda: fetch(loop_policy(max_response_bytes=1000), server.url("/huge", host=API)),
    )
    assert time.monotonic() - start < 0.5


def test_lying_content_length_longer_body_is_cut(server: LoopbackServer) -> None:
    server.routes["/lie"] = raw_route(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + b"x" * 2_000_000, hold_open=5
    )
    start = time.monotonic()
    resp = fetch(loop_policy(max_response_bytes=1000), server.url("/lie", host=API))
    assert resp.body == "xxxxx"
    assert time.monotonic() - start < 1.0


def test_lying_content_length_shorter_body_held_open_times_out(server: LoopbackServer) -> None:
    server.routes["/short"] = raw_route(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", hold_open=5
    )
    start = time.monotonic()
    raises_code(
        "timeout", lambda: fetch(loop_policy(timeout_sec=0.5), server.url("/short", host=API))
    )
    assert 0.5 <= time.monotonic() - start < 1.0


def test_lying_content_length_shorter_body_then_close(server: LoopbackServer) -> None:
    server.routes["/short"] = raw_route(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
    err = raises_code("http_error", lambda: fetch(loop_policy(), server.url("/short", host=API)))
    assert "ended early" in err.message


def test_gzip_and_deflate_are_decoded(server: LoopbackServer) -> None:
    text = b"hello compressed world " * 20
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    server.routes["/gzip"] = text_route(gzip.compress(text), headers=[("Content-Encoding", "gzip")])
    server.routes["/zlib"] = text_route(
        zlib.compress(text), headers=[("Content-Encoding", "deflate")]
    )
    server.routes["/raw"] = text_route(
        raw_deflate.compress(text) + raw_deflate.flush(), headers=[("Content-Encoding", "Deflate")]
    )
    server.routes["/two"] = text_route(
        gzip.compress(b"one ") + gzip.compress(b"two"), headers=[("Content-Encoding", "x-gzip")]
    )
    policy = loop_policy()
    for path in ("/gzip", "/zlib", "/raw"):
        assert fetch(policy, server.url(path, host=API)).body == text.decode(), path
    assert fetch(policy, server.url("/two", host=API)).body == "one two"


def test_cap_applies_to_decoded_bytes(server: LoopbackServer) -> None:
    compressed = gzip.compress(b"a" * 5000)
    assert len(compressed) < 1000
    server.routes["/z"] = text_route(compressed, headers=[("Content-Encoding", "gzip")])
    raises_code(
        "response_too_large",
        lambda: fetch(loop_policy(max_response_bytes=1000), server.url("/z", host=API)),
    )


def test_unknown_encoding_returned_raw(server: LoopbackServer) -> None:
    server.routes["/br"] = text_route(b"raw-bytes", headers=[("Content-Encoding", "br")])
    assert fetch(loop_policy(), server.url("/br", host=API)).body == "raw-bytes"


def test_corrupt_gzip_is_http_error(server: LoopbackServer) -> None:
    server.routes["/bad"] = text_route(
        b"\x1f\x8b\x08\x00garbage-garbage", headers=[("Content-Encoding", "gzip")]
    )
    err = raises_code("http_error", lambda: fetch(loop_policy(), server.url("/bad", host=API)))
    assert_clean_message(err)


def test_gzip_bomb_stops_at_cap(server: LoopbackServer) -> None:
    total = 1 << 30  # 1 GiB of zeros, compressed on the fly by the server
    # 16 MiB of zeros per write (~16 KiB on the wire): inflating a whole read without
    # max_length would allocate ~16 MiB at once, far above the cap and the threshold below.
    server.routes["/bomb"] = gzip_bomb_route(total, step=16 << 20)
    policy = loop_policy(max_response_bytes=1 << 20, timeout_sec=10)
    tracemalloc.start()
    start = time.monotonic()
    try:
        raises_code("response_too_large", lambda: fetch(policy, server.url("/bomb", host=API)))
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 3.0
    assert peak < 8 * 1024 * 1024, peak  # cap is 1 MiB; the bomb is 1 GiB
    assert server.bomb_input_bytes < total // 4


# --------------------------------------------------------------------------------------------
# Connection failures
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_http_error() -> None:
    port = _free_port()
    err = raises_code("http_error", lambda: fetch(loop_policy(), f"http://{API}:{port}/"))
    assert err.message == f"connection to {API} was refused"


def test_protocol_garbage_is_http_error(server: LoopbackServer) -> None:
    server.routes["/ssh"] = raw_route(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")
    err = raises_code("http_error", lambda: fetch(loop_policy(), server.url("/ssh", host=API)))
    assert_clean_message(err)


# --------------------------------------------------------------------------------------------
# Proxies
# --------------------------------------------------------------------------------------------

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def test_environment_proxies_are_ignored(
    servers: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch, net_spy: NetSpy
) -> None:
    target = servers()
    env_proxy = servers()
    for var in PROXY_VARS:
        monkeypatch.setenv(var, env_proxy.url("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    resp = fetch(loop_policy(), target.url("/direct", host=API))
    assert resp.status == 200
    assert env_proxy.hits == 0
    assert target.hits == 1
    assert net_spy.connections == [("127.0.0.1", target.port)]


def test_explicit_proxy_gets_connect_to_pinned_ip(
    servers: Callable[..., LoopbackServer],
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
    net_spy: NetSpy,
) -> None:
    target = servers()
    env_proxy = servers()
    for var in PROXY_VARS:
        monkeypatch.setenv(var, env_proxy.url("/"))
    resp = fetch(loop_policy(proxy_url=proxy.url), target.url("/via?x=1", host=API))
    assert resp.status == 200
    assert proxy.connects == [f"127.0.0.1:{target.port}"]  # the IP, never the name
    assert net_spy.connections == [("127.0.0.1", proxy.port)]
    [req] = target.requests
    assert req.target == "/via?x=1"  # origin-form inside the tunnel
    assert req.headers["host"] == f"{API}:{target.port}"
    assert "proxy-authorization" not in req.headers
    assert env_proxy.hits == 0


def test_blocked_destination_never_reaches_proxy(proxy: ConnectProxy) -> None:
    policy = HttpPolicy(allow_hosts=("*",), proxy_url=proxy.url)
    raises_code("destination_blocked", lambda: fetch(policy, "http://169.254.169.254/"))
    raises_code("destination_blocked", lambda: fetch(policy, "http://localhost/"))
    assert proxy.hits == 0


def test_proxy_refusal_is_http_error(server: LoopbackServer) -> None:
    with ConnectProxy(refuse=True) as refusing:
        err = raises_code(
            "http_error",
            lambda: fetch(loop_policy(proxy_url=refusing.url), server.url("/", host=API)),
        )
        assert "proxy" in err.message and "403" in err.message
        assert refusing.hits == 1
    assert server.hits == 0


# --------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"), (API,))


@pytest.fixture
def tls_server(
    servers: Callable[..., LoopbackServer], tls_files: tuple[Path, Path]
) -> LoopbackServer:
    return servers(tls=server_tls_context(*tls_files))


def _trusting_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def test_tls_untrusted_self_signed_certificate(tls_server: LoopbackServer) -> None:
    err = raises_code("http_error", lambda: fetch(loop_policy(), tls_server.url("/", host=API)))
    assert "certificate" in err.message and API in err.message
    assert_clean_message(err)
    assert tls_server.requests == []  # no HTTP request went over the unverified channel
    assert tls_server.sni_names == [API]  # SNI is the name, although we connect to the IP
    assert wait_until(lambda: tls_server.tls_failures == 1)


def test_tls_trusted_via_test_context(
    tls_server: LoopbackServer, tls_files: tuple[Path, Path], net_spy: NetSpy
) -> None:
    policy = loop_policy(_ssl_context=_trusting_context(tls_files[0]))
    resp = fetch(policy, tls_server.url("/secure", host=API))
    assert resp.status == 200
    assert resp.url == f"https://{API}:{tls_server.port}/secure"
    assert tls_server.sni_names == [API]
    assert net_spy.connections == [("127.0.0.1", tls_server.port)]


def test_tls_hostname_mismatch(tls_server: LoopbackServer, tls_files: tuple[Path, Path]) -> None:
    policy = loop_policy(_ssl_context=_trusting_context(tls_files[0]))
    err = raises_code(
        "http_error", lambda: fetch(policy, tls_server.url("/", host="wrong.example.test"))
    )
    assert "certificate" in err.message
    assert tls_server.requests == []


def test_tls_through_proxy_tunnel(
    tls_server: LoopbackServer, tls_files: tuple[Path, Path], proxy: ConnectProxy
) -> None:
    policy = loop_policy(proxy_url=proxy.url, _ssl_context=_trusting_context(tls_files[0]))
    resp = fetch(policy, tls_server.url("/tunnel", host=API))
    assert resp.status == 200
    assert proxy.connects == [f"127.0.0.1:{tls_server.port}"]
    assert tls_server.sni_names == [API]
    assert tls_server.requests[0].headers["host"] == f"{API}:{tls_server.port}"
