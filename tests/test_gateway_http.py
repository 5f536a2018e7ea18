"""The gateway's pure HTTP rules (iota_scripts/tools/gateway_http.py), without Odoo.

The module is loaded from its file, as part of a stand-in package holding
only the addon's ``tools`` folder: importing ``iota_scripts`` itself would
import Odoo. That it loads here at all is the first check (no Odoo import).
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys

import jsonschema
import pytest
from addon_tools import TOOLS, load

gw = load("gateway_http")


def test_it_loads_without_odoo():
    # a fresh interpreter: nothing else of the suite has imported Odoo there
    code = (
        "import sys, types, importlib; p = types.ModuleType('t'); "
        f"p.__path__ = [{str(TOOLS)!r}]; sys.modules['t'] = p; "
        "importlib.import_module('t.gateway_http'); "
        "print(sorted(m for m in sys.modules if m == 'odoo' or m.startswith('odoo.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe", "malformed_utf8"),
        (b"{", "invalid_json"),
        (b"NaN", "invalid_json"),
        (b'{"a": Infinity}', "invalid_json"),
        (b"[" * 65 + b"]" * 65, "too_deep"),
        (b"[" * 100000 + b"]" * 100000, "too_deep"),
        (b"18446744073709551616", "invalid_json"),
        (b'"\\ud800"', "invalid_json"),
    ],
)
def test_bad_bodies_are_named_400s(raw, code):
    with pytest.raises(gw.ApiError) as caught:
        gw.parse_json(raw)
    assert (caught.value.status, caught.value.code) == (400, code)


def test_good_bodies_parse_to_text_and_value():
    assert gw.parse_json('{"n": 1, "s": "é"}'.encode()) == (
        '{"n": 1, "s": "é"}',
        {"n": 1, "s": "é"},
    )
    nested = "[" * 64 + "]" * 64
    assert gw.parse_json(nested.encode())[0] == nested
    assert gw.parse_json(b"-9223372036854775808")[1] == -(2**63)


def test_secret_looking_keys_are_masked_at_any_depth():
    value = {"password": "p", "user": {"api_key": "k", "name": "Ada"}, "list": [{"token": 1}]}
    assert gw.mask(value) == {
        "password": "***",
        "user": {"api_key": "***", "name": "Ada"},
        "list": [{"token": "***"}],
    }


def test_hmac_message_covers_method_path_query_and_body():
    message = gw.hmac_message("1700000000", "POST", "/iota/api/v1/hook", "a=1", b'{"x":1}')
    assert message == b'1700000000\nPOST\n/iota/api/v1/hook\na=1\n{"x":1}'
    sign = lambda m: hmac.new(b"k", m, hashlib.sha256).hexdigest()  # noqa: E731
    others = [
        gw.hmac_message("1700000000", "GET", "/iota/api/v1/hook", "a=1", b'{"x":1}'),
        gw.hmac_message("1700000000", "POST", "/iota/api/v1/other", "a=1", b'{"x":1}'),
        gw.hmac_message("1700000000", "POST", "/iota/api/v1/hook", "a=2", b'{"x":1}'),
    ]
    assert all(sign(other) != sign(message) for other in others)


def test_request_target_keeps_what_the_client_sent():
    assert gw.request_target({"RAW_URI": "/iota/api/v1/a%2Fb?x=1", "QUERY_STRING": "x=1"}) == (
        "/iota/api/v1/a%2Fb",
        "x=1",
    )
    assert gw.request_target({"REQUEST_URI": "http://h:8069/iota/api/v1/a?q"})[0] == (
        "/iota/api/v1/a"
    )
    assert gw.request_target({"SCRIPT_NAME": "", "PATH_INFO": "/iota/api/v1/p"}) == (
        "/iota/api/v1/p",
        "",
    )


def test_only_programmatic_calls_count_as_programmatic():
    assert gw.programmatic({"X-Requested-With": "fetch"})
    assert gw.programmatic(
        {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}
    )
    # an <img> in the chatter: same origin, but not a fetch
    assert not gw.programmatic(
        {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}
    )
    assert not gw.programmatic({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "empty"})
    assert not gw.programmatic({})


def test_a_plain_value_is_the_json_body_of_a_200():
    out = gw.answer({"hello": "Ada"})
    assert (out.status, out.payload, out.raw, out.headers) == (200, {"hello": "Ada"}, None, {})
    assert gw.body_bytes(out.payload, out.raw) == b'{"hello": "Ada"}'


def test_a_shaped_answer_sets_status_headers_and_body():
    out = gw.answer({"status": 201, "headers": {"X-App-Id": "7", "ETag": "e"}, "body": "ok"})
    assert (out.status, out.raw, out.content_type) == (201, b"ok", "text/plain; charset=utf-8")
    assert out.headers == {"X-App-Id": "7", "ETag": "e"}
    assert gw.answer({"status": 204, "json": {"dropped": True}}).raw == b""


@pytest.mark.parametrize(
    "value",
    [
        {"status": 200, "headers": {"X-Accel-Redirect": "/etc/passwd"}},
        {"status": 200, "headers": {"X-Sendfile": "/etc/passwd"}},
        {"status": 200, "headers": {"Set-Cookie": "session_id=x"}},
        {"status": 200, "headers": {"Access-Control-Allow-Origin": "*"}},
        {"status": 200, "headers": {"X-App-Bad": "a\r\nSet-Cookie: x=1"}},
        {"status": 200, "headers": {"Bad Name": "x"}},
        {"status": 99},
        {"status": 600},
        {"status": 200, "body": {"not": "a string"}},
    ],
)
def test_answers_outside_the_rules_are_invalid_responses(value):
    with pytest.raises(gw.ApiError) as caught:
        gw.answer(value)
    assert (caught.value.status, caught.value.code) == (500, "invalid_response")


def test_a_response_schema_checks_json_answers_only():
    validator = jsonschema.Draft202012Validator({"type": "object", "required": ["id"]})
    assert gw.answer({"id": 1}, validator).payload == {"id": 1}
    with pytest.raises(gw.ApiError) as caught:
        gw.answer({"name": "no id"}, validator)
    assert caught.value.code == "invalid_response"
    # a text body is not JSON: the schema does not apply
    assert gw.answer({"status": 200, "body": "plain"}, validator).raw == b"plain"


def test_validation_errors_name_the_place():
    validator = jsonschema.Draft202012Validator(
        {"type": "object", "properties": {"n": {"type": "integer"}}}
    )
    with pytest.raises(gw.ApiError) as caught:
        gw.validate(validator, {"n": "x"}, "body")
    assert (caught.value.status, caught.value.code) == (400, "validation_error")
    assert caught.value.message.startswith("body/n: ")
