"""Threat: a script makes the server call internal addresses (SSRF).

The outbound-HTTP cases of HOSTILE.md through ``iota-scripts run --json``.

A real loopback server listens on every port the script aims at and counts
its hits: a blocked destination must get none. ``--allow-host '*'`` allows
every *public* host, so only the address rules stand between the script and
the server.
"""

from __future__ import annotations

import json

import pytest
from _checks import assert_clean_error, run_cli
from http_servers import LoopbackServer, redirect_route

SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "0",
    "0.0.0.0",
    "2130706433",
    "0177.0.0.1",
    "127.1",
    "0x7f000001",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "[fd00::1]",
    "[64:ff9b::7f00:1]",
]


def _run(tmp_path, source: str, *extra: str) -> dict:
    return run_cli(tmp_path, source, *extra)[0]


@pytest.fixture(scope="module")
def server():
    with LoopbackServer({"/redirect": redirect_route("http://127.0.0.1/")}) as srv:
        yield srv


def test_every_internal_spelling_is_blocked_before_connecting(tmp_path, server):
    urls = [f"http://{host}:{server.port}/" for host in SPELLINGS]
    src = (
        "export default async (ctx) => { const out = [];"
        " for (const u of ctx.input) { try { await sdk.http.get(u); out.push('connected') } catch (e) { out.push(e.code) } }"
        " return out }"
    )
    out = _run(tmp_path, src, "--input", json.dumps(urls), "--allow-host", "*")
    assert out["ok"], out
    assert out["result"] == ["destination_blocked"] * len(SPELLINGS)
    assert server.hits == 0


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://example.com/", "scheme_not_allowed"),
        ("ftp://example.com/", "scheme_not_allowed"),
        ("https://example.com/", "destination_blocked"),  # not on the allow-list below
    ],
)
def test_schemes_and_allow_list(tmp_path, url, code):
    out = _run(
        tmp_path,
        "export default async (ctx) => sdk.http.get(ctx.input)",
        "--input",
        json.dumps(url),
        "--allow-host",
        "api.example.org",
    )
    assert_clean_error(out["error"], code)


def test_crlf_and_credential_headers_are_rejected(tmp_path):
    src = (
        "export default async () => { const out = [];"
        " for (const h of [{'X-A': 'a\\r\\nX-Injected: 1'}, {'Host': 'evil'}, {'Cookie': 'a=b'}, {'Authorization': 'Bearer x'}]) {"
        "   try { await sdk.http.get('https://api.example.org/', {headers: h}) } catch (e) { out.push(e.code) } }"
        " return out }"
    )
    out = _run(tmp_path, src, "--allow-host", "api.example.org")
    assert out["result"] == ["invalid_argument"] * 4
