# Over 600 lines: the gateway's cases against one real Odoo HTTP server share its fixtures.
"""The gateway against the real Odoo HTTP server (the cases of HOSTILE.md "HTTP routes").

Requests carry the test cookie (``test_request_key``) so that the server
uses this test's cursor; the server serialises them on that cursor. The
requests of the parallel test are still sent at once by 50 client threads.
"""

import hashlib
import hmac
import json
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import patch
from urllib.parse import urlparse

import psycopg2
import requests
from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from ..controllers import main as gateway
from ..sdk_host.db import DbHost
from .common import LEAKS

_logger = logging.getLogger(__name__)


def TOMORROW():
    return fields.Datetime.add(fields.Datetime.now(), days=1)


ECHO = """
export default async function (ctx) {
  return {request: ctx.request, execution: ctx.execution.id, company: ctx.company.id};
}
"""
OK = "export default async function (ctx) { return {ok: true, version: 1}; }"
OK_V2 = "export default async function (ctx) { return {ok: true, version: 2}; }"
THROWS = (
    "export default async function (ctx) { throw new Error('secret internals at /work/x.js'); }"
)
LOOPS = "export default async function (ctx) { while (true) {} }"
MAPPED = """
export default async function (ctx) {
  if (ctx.request.query.bad === "header") return {status: 200, headers: {"Set-Cookie": "a=b"}, json: {}};
  if (ctx.request.query.bad === "schema") return {status: 200, json: {n: "nope"}};
  return {status: 201, headers: {"X-App-Thing": "yes"}, json: {n: ctx.request.json.n, id: ctx.execution.id}};
}
"""


class _Conflict(psycopg2.errors.SerializationFailure):
    """What PostgreSQL raises on a write conflict (with its SQLSTATE, which
    Odoo's retry loop logs)."""

    pgcode = "40001"


COUNTS = """
export default async function (ctx) {
  const n = await sdk.db.searchCount("res.partner", []);
  return {json: ctx.request.json, counted: n >= 0};
}
"""


OPENAPI_VARY = "Origin, Authorization, Cookie"  # the document depends on the caller


@tagged("post_install", "-at_install")
class TestEndpointHttp(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A site key (environment or configuration file), never a database parameter.
        cls.startClassPatcher(
            patch.dict(os.environ, {"IOTA_SCRIPTS_REDIS_URL": "redis://127.0.0.1:6379/0"})
        )
        cls.company = cls.env["res.company"].create({"name": "IOTA API Company"})
        cls.caller = new_test_user(
            cls.env,
            "iota_api_caller",
            groups="base.group_user",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )
        cls.outsider = new_test_user(cls.env, "iota_api_outsider", groups="base.group_user")
        cls.api_key = (
            cls.env["res.users.apikeys"]
            .with_user(cls.caller)
            ._generate(None, "test key", TOMORROW())
        )
        cls.scripts = {}
        for key, source in (
            ("echo", ECHO),
            ("ok", OK),
            ("ok2", OK_V2),
            ("throws", THROWS),
            ("loops", LOOPS),
            ("mapped", MAPPED),
            ("counts", COUNTS),
        ):
            cls.scripts[key] = cls.env["iota.script"].create(
                {
                    "name": key,
                    "company_id": cls.company.id,
                    "state": "active",
                    "source": source,
                    "timeout_sec": 1 if key == "loops" else 5,
                }
            )

    def _endpoint(self, script, path, **values):
        return self.env["iota.script.endpoint"].create(
            {
                "script_id": self.scripts[script].id,
                "path": path,
                "auth_mode": values.pop("auth_mode", "public"),
                "methods": values.pop("methods", "GET"),
                **values,
            }
        )

    def _call(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.opener.request(method, self.base_url() + path, **kw)

    def assertError(self, response, status, code, vary="Origin"):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.headers.get("Content-Type"), "application/json; charset=utf-8")
        self.assertEqual(response.json()["error"]["code"], code)
        self.assertEqual(response.headers.get("Vary"), vary)
        self.assertFalse(LEAKS.search(response.text), response.text)

    # ---- request mapping -------------------------------------------------------------
    def test_request_mapping_and_execution(self):
        self._endpoint("echo", "/echo/{id}", methods="GET,POST", store_request_body=True)
        response = self._call(
            "POST",
            "/iota/api/v1/echo/AbC?x=1&x=2&y=3",
            data=json.dumps({"n": 1, "password": "hunter2"}),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer nope",
                "X-Openerp-Session-Id": "s",
                "X-Custom": "kept",
            },
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(response.headers["Cache-Control"], "no-store")
        self.assertIn("RateLimit-Remaining", response.headers)
        got = response.json()
        request = got["request"]
        self.assertEqual(request["method"], "POST")
        self.assertEqual(request["path"], "/echo/AbC")
        self.assertEqual(request["params"], {"id": "AbC"})
        self.assertEqual(request["query"], {"x": ["1", "2"], "y": "3"})
        self.assertEqual(request["json"], {"n": 1, "password": "hunter2"})
        self.assertEqual(request["headers"]["x-custom"], "kept")
        for hidden in ("cookie", "authorization", "x-openerp-session-id"):
            self.assertNotIn(hidden, request["headers"])
        self.assertEqual(got["company"], self.company.id)
        execution = self.env["iota.script.execution"].browse(got["execution"])
        self.assertEqual(execution.trigger, "endpoint")
        self.assertEqual(execution.http_method, "POST")
        self.assertEqual(execution.http_path, "/iota/api/v1/echo/AbC")
        self.assertEqual(execution.http_status, 200)
        self.assertGreater(execution.latency_ms, 0)
        # public endpoints run as the company's runner, never as the author
        self.assertEqual(execution.user_id, self.company._iota_scripts_runner_user())
        self.assertEqual(json.loads(execution.request_body), {"n": 1, "password": "***"})
        self.assertNotIn("hunter2", execution.trigger_json + (execution.input_json or ""))

    def test_request_body_not_stored_by_default(self):
        self._endpoint("echo", "/echo", methods="POST")
        response = self._call("POST", "/iota/api/v1/echo", json={"a": 1})
        execution = self.env["iota.script.execution"].browse(response.json()["execution"])
        self.assertFalse(execution.request_body)

    def test_response_mapping(self):
        self._endpoint(
            "mapped",
            "/mapped",
            methods="POST",
            response_schema=json.dumps(
                {"type": "object", "properties": {"n": {"type": "integer"}}}
            ),
        )
        response = self._call("POST", "/iota/api/v1/mapped", json={"n": 3})
        self.assertEqual(response.status_code, 201, response.text)
        self.assertEqual(response.headers["X-App-Thing"], "yes")
        self.assertEqual(response.json()["n"], 3)
        self.assertError(
            self._call("POST", "/iota/api/v1/mapped?bad=header", json={}), 500, "invalid_response"
        )
        self.assertError(
            self._call("POST", "/iota/api/v1/mapped?bad=schema", json={}), 500, "invalid_response"
        )

    def test_script_failures(self):
        self._endpoint("throws", "/throws")
        self._endpoint("loops", "/loops")
        response = self._call("GET", "/iota/api/v1/throws")
        self.assertError(response, 500, "script_error")
        self.assertNotIn("secret internals", response.text)
        self.assertError(self._call("GET", "/iota/api/v1/loops"), 504, "timeout")
        execution = self.env["iota.script.execution"].search(
            [("script_id", "=", self.scripts["loops"].id)]
        )
        self.assertEqual((execution.state, execution.http_status), ("timed_out", 504))

    def test_not_found_and_methods(self):
        self._endpoint("ok", "/things/{id}", methods="GET")
        self.assertError(self._call("GET", "/iota/api/v1/nothing"), 404, "not_found")
        self.assertError(self._call("GET", "/iota/api/v9/things/1"), 404, "not_found")
        self.assertError(self._call("GET", "/iota/api/V1/things/1"), 404, "not_found")
        self.assertError(self._call("GET", "/iota/api/v1/Things/1"), 404, "not_found")
        response = self._call("DELETE", "/iota/api/v1/things/1")
        self.assertError(response, 405, "method_not_allowed")
        self.assertEqual(response.headers["Allow"], "GET, OPTIONS")
        for path in (
            "/iota/api/v1/things/%2e%2e",
            "/iota/api/v1/things%2f1",
            "/iota/api/v1/things/1/",
        ):
            self.assertError(self._call("GET", path), 400, "invalid_path")
        # an archived script answers 404
        self.scripts["ok"].active = False
        self.assertError(self._call("GET", "/iota/api/v1/things/1"), 404, "not_found")

    # ---- hostile bodies ----------------------------------------------------------------
    def test_hostile_bodies(self):
        self._endpoint("echo", "/body", methods="POST", max_body_bytes=1024)
        url = "/iota/api/v1/body"
        ctype = {"Content-Type": "application/json"}
        self.assertError(
            self._call("POST", url, data="[" * 500 + "]" * 500, headers=ctype), 400, "too_deep"
        )
        self.assertError(
            self._call("POST", url, data=b'{"a": "\xff\xfe"}', headers=ctype), 400, "malformed_utf8"
        )
        self.assertError(
            self._call("POST", url, data=b'{"a": NaN}', headers=ctype), 400, "invalid_json"
        )
        self.assertError(self._call("POST", url, data=b'{"a":', headers=ctype), 400, "invalid_json")
        self.assertError(
            self._call("POST", url, data=b'{"a": 1' + b"0" * 30 + b"}", headers=ctype),
            400,
            "invalid_json",
        )
        self.assertError(
            self._call("POST", url, data=b'{"\\ud800": 1}', headers=ctype), 400, "invalid_json"
        )
        self.assertError(
            self._call("POST", url, data=b'["\\udfff"]', headers=ctype), 400, "invalid_json"
        )
        self.assertError(
            self._call("POST", url, data=b"a=b", headers={"Content-Type": "text/plain"}),
            415,
            "unsupported_media_type",
        )
        self.assertError(
            self._call("POST", url, data=b"x" * 2048, headers=ctype), 413, "payload_too_large"
        )
        # a nesting bomb bigger than Python's recursion limit, under a larger cap
        self._endpoint("echo", "/bomb", methods="POST", max_body_bytes=4 * 1024 * 1024)
        bomb = "[" * 1_000_000 + "]" * 1_000_000
        self.assertError(
            self._call("POST", "/iota/api/v1/bomb", data=bomb, headers=ctype), 400, "too_deep"
        )

    def test_200_mb_body_is_refused_unread(self):
        self._endpoint("echo", "/big", methods="POST")
        host = urlparse(self.base_url())
        with socket.create_connection((host.hostname, host.port), timeout=30) as sock:
            head = (
                "POST /iota/api/v1/big HTTP/1.1\r\n"
                f"Host: {host.netloc}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {200 * 1024 * 1024}\r\n"
                f"Cookie: test_request_key={self.http_request_key}\r\n"
                "Connection: close\r\n\r\n"
            )
            sock.sendall(head.encode() + b"[" * 65536)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        self.assertIn(b" 413 ", status_line)
        self.assertIn(b'"payload_too_large"', rest)

    # ---- auth modes ---------------------------------------------------------------------
    def test_api_key(self):
        self._endpoint("echo", "/partners/{id}", auth_mode="api_key")
        url = "/iota/api/v1/partners/1"
        response = self._call("GET", url)
        self.assertError(response, 401, "unauthenticated")
        self.assertEqual(response.headers["WWW-Authenticate"], "Bearer")
        self.assertError(
            self._call("GET", url, headers={"Authorization": "Bearer wrong"}),
            401,
            "unauthenticated",
        )
        response = self._call("GET", url, headers={"Authorization": f"Bearer {self.api_key}"})
        self.assertEqual(response.status_code, 200, response.text)
        self.assertNotIn("authorization", response.json()["request"]["headers"])
        execution = self.env["iota.script.execution"].browse(response.json()["execution"])
        self.assertEqual(execution.user_id, self.caller)

    def test_api_key_group_and_company(self):
        self._endpoint(
            "ok", "/admin-only", auth_mode="api_key", group_id=self.env.ref("base.group_system").id
        )
        self.assertError(
            self._call(
                "GET",
                "/iota/api/v1/admin-only",
                headers={"Authorization": f"Bearer {self.api_key}"},
            ),
            403,
            "forbidden",
        )
        self._endpoint("ok", "/others", auth_mode="api_key")
        outsider_key = (
            self.env["res.users.apikeys"].with_user(self.outsider)._generate(None, "k", TOMORROW())
        )
        self.assertError(
            self._call(
                "GET", "/iota/api/v1/others", headers={"Authorization": f"Bearer {outsider_key}"}
            ),
            403,
            "forbidden",
        )

    def test_user_session(self):
        self._endpoint("echo", "/me", auth_mode="user", methods="GET,POST")
        programmatic = {"X-Requested-With": "XMLHttpRequest"}
        self.assertError(
            self._call("GET", "/iota/api/v1/me", headers=programmatic), 401, "unauthenticated"
        )
        self.authenticate("iota_api_caller", "iota_api_caller")
        response = self._call("GET", "/iota/api/v1/me", headers=programmatic)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertNotIn("cookie", response.json()["request"]["headers"])
        execution = self.env["iota.script.execution"].browse(response.json()["execution"])
        self.assertEqual(execution.user_id, self.caller)
        # a cookie-authenticated call from a foreign page is refused (CSRF)
        self.assertError(
            self._call(
                "POST", "/iota/api/v1/me", json={}, headers={"Origin": "https://evil.example"}
            ),
            403,
            "cors_denied",
        )

    def test_hmac(self):
        endpoint = self._endpoint("echo", "/hook", auth_mode="hmac", methods="POST")
        secret = endpoint.hmac_secret.encode()
        body = b'{"event": "paid"}'

        def signed(stamp, payload=body, key=secret):
            message = f"{stamp}\nPOST\n/iota/api/v1/hook\n\n".encode() + payload
            digest = hmac.new(key, message, hashlib.sha256).hexdigest()
            return {
                "X-Timestamp": str(stamp),
                "X-Signature": f"sha256={digest}",
                "Content-Type": "application/json",
            }

        url = "/iota/api/v1/hook"
        now = int(time.time())
        self.assertError(
            self._call("POST", url, data=body, headers={"Content-Type": "application/json"}),
            401,
            "bad_signature",
        )
        self.assertError(
            self._call("POST", url, data=body, headers=signed(now, key=b"wrong")),
            401,
            "bad_signature",
        )
        self.assertError(
            self._call("POST", url, data=body, headers=signed(now - 3600)), 401, "bad_signature"
        )
        self.assertError(
            self._call("POST", url, data=b'{"event": "x"}', headers=signed(now)),
            401,
            "bad_signature",
        )
        headers = signed(now)
        response = self._call("POST", url, data=body, headers=headers)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertNotIn("x-signature", response.json()["request"]["headers"])
        self.assertError(self._call("POST", url, data=body, headers=headers), 401, "replayed")

    # ---- versions, schemas, idempotency, OpenAPI ---------------------------------------------
    def test_versions_and_deprecation(self):
        self._endpoint("ok", "/status", deprecated=True, sunset_date="2027-01-31")
        self._endpoint("ok2", "/status", api_version="v2")
        v1 = self._call("GET", "/iota/api/v1/status")
        v2 = self._call("GET", "/iota/api/v2/status")
        self.assertEqual((v1.json()["version"], v2.json()["version"]), (1, 2))
        self.assertEqual(v1.headers["Deprecation"], "true")
        self.assertEqual(v1.headers["Sunset"], "Sun, 31 Jan 2027 00:00:00 GMT")
        self.assertNotIn("Deprecation", v2.headers)
        self.assertNotIn("Sunset", v2.headers)

    def test_schema_validation(self):
        self._endpoint(
            "echo",
            "/validated",
            methods="POST",
            body_schema=json.dumps(
                {
                    "type": "object",
                    "required": ["n"],
                    "properties": {"n": {"type": "integer", "maximum": 10}},
                }
            ),
            query_schema=json.dumps(
                {
                    "type": "object",
                    "properties": {"mode": {"enum": ["a", "b"]}},
                    "additionalProperties": False,
                }
            ),
        )
        url = "/iota/api/v1/validated"
        response = self._call("POST", url, json={"n": 11})
        self.assertError(response, 400, "validation_error")
        self.assertIn("body/n", response.json()["error"]["message"])
        self.assertError(self._call("POST", url, json={}), 400, "validation_error")
        self.assertError(self._call("POST", url), 400, "validation_error")
        self.assertError(
            self._call("POST", url + "?mode=c", json={"n": 1}), 400, "validation_error"
        )
        self.assertError(
            self._call("POST", url + "?other=1", json={"n": 1}), 400, "validation_error"
        )
        self.assertEqual(self._call("POST", url + "?mode=a", json={"n": 1}).status_code, 200)

    def test_idempotency(self):
        self._endpoint("echo", "/orders", methods="POST")
        url = "/iota/api/v1/orders"
        first = self._call("POST", url, json={"n": 1}, headers={"Idempotency-Key": "k-1"})
        self.assertEqual(first.status_code, 200)
        again = self._call("POST", url, json={"n": 1}, headers={"Idempotency-Key": "k-1"})
        self.assertEqual(again.status_code, 200)
        self.assertEqual(again.json(), first.json())
        self.assertEqual(again.headers["Idempotency-Replayed"], "true")
        self.assertError(
            self._call("POST", url, json={"n": 2}, headers={"Idempotency-Key": "k-1"}),
            422,
            "idempotency_key_reused",
        )
        other = self._call("POST", url, json={"n": 1}, headers={"Idempotency-Key": "k-2"})
        self.assertNotEqual(other.json()["execution"], first.json()["execution"])
        self.assertEqual(
            self.env["iota.script.execution"].search_count(
                [("script_id", "=", self.scripts["echo"].id)]
            ),
            2,
        )
        self.assertError(
            self._call("POST", url, json={}, headers={"Idempotency-Key": "é"}),
            400,
            "invalid_idempotency_key",
        )

    def test_idempotency_after_a_refused_answer(self):
        # The script ran and committed (its run succeeded), but the gateway
        # refused its answer (500 invalid_response): a retry with the same key
        # must replay that answer, not run the script's effects a second time.
        self._endpoint(
            "mapped",
            "/refused",
            methods="POST",
            response_schema=json.dumps(
                {"type": "object", "properties": {"n": {"type": "integer"}}}
            ),
        )
        url = "/iota/api/v1/refused?bad=schema"
        key = {"Idempotency-Key": "refused-1"}
        first = self._call("POST", url, json={"n": 1}, headers=key)
        self.assertError(first, 500, "invalid_response")
        again = self._call("POST", url, json={"n": 1}, headers=key)
        self.assertError(again, 500, "invalid_response")
        self.assertEqual(again.headers.get("Idempotency-Replayed"), "true")
        runs = self.env["iota.script.execution"].search(
            [("script_id", "=", self.scripts["mapped"].id)]
        )
        self.assertEqual(runs.mapped("state"), ["succeeded"])
        # a script that failed (its effects rolled back) may be retried with its key
        self._endpoint("throws", "/throws-once", methods="POST")
        key = {"Idempotency-Key": "throws-1"}
        for _attempt in range(2):
            response = self._call("POST", "/iota/api/v1/throws-once", json={}, headers=key)
            self.assertError(response, 500, "script_error")
            self.assertNotIn("Idempotency-Replayed", response.headers)

    def test_replayed_request_sees_its_body_again(self):
        # A serialization failure in sdk.db makes Odoo replay the request
        # (service.model.retrying): the retried run must see the same body.
        self._endpoint("counts", "/counts", methods="POST")
        original = DbHost.search_count
        failures = []

        def conflicting(host, args):
            if not failures:
                failures.append(1)
                raise _Conflict("could not serialize access")
            return original(host, args)

        with (
            patch.object(DbHost, "search_count", conflicting),
            patch("odoo.service.model.time.sleep"),
        ):
            response = self._call(
                "POST", "/iota/api/v1/counts", json={"n": 5}, headers={"Idempotency-Key": "r-1"}
            )
        self.assertEqual(failures, [1], "the first attempt met the conflict")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json(), {"json": {"n": 5}, "counted": True})
        runs = self.env["iota.script.execution"].search(
            [("script_id", "=", self.scripts["counts"].id)]
        )
        self.assertEqual(runs.mapped("state"), ["succeeded"], "the first attempt was rolled back")
        # the key reserved by the rolled-back attempt went with it
        again = self._call(
            "POST", "/iota/api/v1/counts", json={"n": 5}, headers={"Idempotency-Key": "r-1"}
        )
        self.assertEqual(again.headers.get("Idempotency-Replayed"), "true")
        self.assertEqual(again.json(), response.json())

    def test_openapi(self):
        # the demo data's endpoint (the quick start's curl) is in the main company:
        # archived here so that the documents list exactly what this test creates
        self.env["iota.script.endpoint"].search([]).action_archive()
        self._endpoint(
            "echo",
            "/partners/{id}",
            auth_mode="api_key",
            methods="GET,PUT",
            body_schema=json.dumps({"type": "object"}),
            query_schema=json.dumps(
                {"type": "object", "properties": {"fields": {"type": "string"}}}
            ),
        )
        self._endpoint("ok2", "/status", api_version="v2", deprecated=True)
        self._endpoint(
            "ok", "/admins-only", auth_mode="api_key", group_id=self.ref("base.group_system")
        )
        self._endpoint("ok", "/hidden", publish_openapi=False)
        self._endpoint("ok", "/hooks", auth_mode="hmac", methods="POST")
        elsewhere = self.env["iota.script"].create(
            {
                "name": "elsewhere",
                "state": "active",
                "source": OK,
                "company_id": self.env.company.id,
            }
        )
        self.env["iota.script.endpoint"].create(
            {"script_id": elsewhere.id, "path": "/elsewhere", "auth_mode": "public"}
        )
        self.env["iota.script.endpoint"].create(
            {"script_id": elsewhere.id, "path": "/elsewhere-key", "auth_mode": "api_key"}
        )

        def paths(response):
            self.assertEqual(response.status_code, 200, response.text)
            self.assertIn("Authorization", response.headers["Vary"])
            return sorted(response.json()["paths"])

        # anonymous: the public endpoints of the company asked for, when it lists them
        self.company.iota_api_public_listing = True
        anonymous = self._call("GET", "/iota/api/openapi.json")
        self.assertEqual(paths(anonymous), [])
        self.assertEqual(
            paths(self._call("GET", f"/iota/api/openapi.json?company={self.company.id}")),
            ["/v2/status"],
        )
        self.assertEqual(
            paths(self._call("GET", f"/iota/api/openapi.json?company={self.env.company.id}")),
            [],
        )
        # an API-key caller: what its companies publish that it may call
        auth = {"Authorization": f"Bearer {self.api_key}"}
        keyed = self._call("GET", "/iota/api/openapi.json", headers=auth)
        self.assertEqual(paths(keyed), ["/v1/hooks", "/v1/partners/{id}", "/v2/status"])
        doc = keyed.json()
        self.assertEqual(doc["openapi"], "3.1.0")
        operation = doc["paths"]["/v1/partners/{id}"]["get"]
        self.assertEqual(operation["security"], [{"api_key": []}])
        self.assertEqual(
            [(p["name"], p["in"]) for p in operation["parameters"]],
            [("id", "path"), ("fields", "query")],
        )
        self.assertEqual(
            doc["paths"]["/v1/partners/{id}"]["put"]["requestBody"]["content"]["application/json"][
                "schema"
            ],
            {"type": "object"},
        )
        self.assertTrue(doc["paths"]["/v2/status"]["get"]["deprecated"])
        self.assertNotIn("secret", json.dumps(doc["paths"]).lower())
        v2 = self._call("GET", "/iota/api/openapi.json?version=v2", headers=auth).json()
        self.assertEqual(list(v2["paths"]), ["/status"])
        self.assertEqual(v2["servers"], [{"url": "/iota/api/v2"}])
        self.assertError(
            self._call(
                "GET", f"/iota/api/openapi.json?company={self.env.company.id}", headers=auth
            ),
            403,
            "forbidden",
            vary=OPENAPI_VARY,
        )
        self.assertError(
            self._call("GET", "/iota/api/openapi.json", headers={"Authorization": "Bearer nope"}),
            401,
            "unauthenticated",
            vary=OPENAPI_VARY,
        )
        # an admin of the company also sees the group-restricted endpoint
        self.caller.groups_id += self.env.ref("base.group_system")
        self.assertIn(
            "/v1/admins-only", paths(self._call("GET", "/iota/api/openapi.json", headers=auth))
        )
        self.caller.groups_id -= self.env.ref("base.group_system")
        # a session user sees the same as with its key; a user of the other
        # company sees that company's endpoints only
        self.authenticate("iota_api_caller", "iota_api_caller")
        self.assertEqual(
            paths(self._call("GET", "/iota/api/openapi.json")),
            ["/v1/hooks", "/v1/partners/{id}", "/v2/status"],
        )
        self.authenticate("iota_api_outsider", "iota_api_outsider")
        self.assertEqual(
            paths(self._call("GET", "/iota/api/openapi.json")),
            ["/v1/elsewhere", "/v1/elsewhere-key"],
        )
        self.assertError(
            self._call("GET", "/iota/api/openapi.json?company=x"),
            400,
            "invalid_argument",
            vary=OPENAPI_VARY,
        )
        self.assertError(
            self._call("GET", "/iota/api/openapi.json?version=1"),
            400,
            "invalid_argument",
            vary=OPENAPI_VARY,
        )

    # ---- CORS ---------------------------------------------------------------------------
    def test_cors(self):
        self._endpoint("ok", "/cors", methods="GET,POST", cors_origins="https://app.example.com")
        self._endpoint(
            "ok", "/cors-creds", cors_origins="https://app.example.com", cors_allow_credentials=True
        )
        url = "/iota/api/v1/cors"
        good = self._call("GET", url, headers={"Origin": "https://app.example.com"})
        self.assertEqual(good.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        self.assertNotIn("Access-Control-Allow-Credentials", good.headers)
        self.assertEqual(good.headers["Vary"], "Origin")
        for origin in (
            "https://app.example.com.evil.com",
            "https://evil.com",
            "http://app.example.com",
            "null",
            "https://app.example.com:444",
        ):
            response = self._call("GET", url, headers={"Origin": origin})
            self.assertNotIn("Access-Control-Allow-Origin", response.headers, origin)
            self.assertEqual(response.headers["Vary"], "Origin")
            preflight = self._call(
                "OPTIONS", url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
            )
            self.assertError(preflight, 403, "cors_denied")
            self.assertNotIn("Access-Control-Allow-Origin", preflight.headers)
        preflight = self._call(
            "OPTIONS",
            url,
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
        self.assertEqual(preflight.status_code, 204)
        self.assertEqual(
            preflight.headers["Access-Control-Allow-Origin"], "https://app.example.com"
        )
        self.assertIn("POST", preflight.headers["Access-Control-Allow-Methods"])
        self.assertEqual(preflight.headers["Vary"], "Origin")
        self.assertError(
            self._call(
                "OPTIONS",
                url,
                headers={
                    "Origin": "https://app.example.com",
                    "Access-Control-Request-Method": "DELETE",
                },
            ),
            405,
            "method_not_allowed",
        )
        creds = self._call(
            "GET", "/iota/api/v1/cors-creds", headers={"Origin": "https://app.example.com"}
        )
        self.assertEqual(creds.headers["Access-Control-Allow-Credentials"], "true")
        self.assertEqual(creds.headers["Access-Control-Allow-Origin"], "https://app.example.com")
        # errors carry Vary too, and never a wildcard
        for response in (
            self._call("GET", "/iota/api/v1/none", headers={"Origin": "https://x.example"}),
            good,
        ):
            self.assertEqual(response.headers["Vary"], "Origin")
            self.assertNotEqual(response.headers.get("Access-Control-Allow-Origin"), "*")

    # ---- rate limits ----------------------------------------------------------------------
    def test_200_parallel_requests_against_50_per_minute(self):
        self._endpoint("ok", "/limited", rate_limit_per_min=50)
        url = self.base_url() + "/iota/api/v1/limited"
        cookies = dict(self.opener.cookies)

        def call(_):
            with requests.Session() as session:
                session.cookies.update(cookies)
                return session.get(url, timeout=60)

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(call, range(200)))
        elapsed = time.monotonic() - started
        ok = [r for r in responses if r.status_code == 200]
        limited = [r for r in responses if r.status_code == 429]
        _logger.info(
            "200 parallel requests in %.2fs: %s allowed, %s limited", elapsed, len(ok), len(limited)
        )
        # The default algorithm is the exact sliding window: 50 in any 60 s, whatever
        # the order or the timing of the requests.
        self.assertEqual((len(ok), len(limited)), (50, 150), {r.status_code for r in responses})
        self.assertLess(elapsed, 60)
        self.assertEqual(sorted(int(r.headers["RateLimit-Remaining"]) for r in ok), list(range(50)))
        for response in ok:
            self.assertEqual(response.headers["RateLimit-Limit"], "50")
            self.assertEqual(response.headers["RateLimit-Reset"], "60")
            self.assertNotIn("Retry-After", response.headers)
        for response in limited:
            # the oldest of the 50 leaves the window 60 s after it was spent
            self.assertGreaterEqual(int(response.headers["Retry-After"]), 60 - int(elapsed) - 1)
            self.assertLessEqual(int(response.headers["Retry-After"]), 60)
            self.assertEqual(response.headers["RateLimit-Limit"], "50")
            self.assertEqual(response.headers["RateLimit-Remaining"], "0")
            self.assertEqual(response.json()["error"]["code"], "rate_limited")
        # and the minute stays closed
        self.assertError(self._call("GET", "/iota/api/v1/limited"), 429, "rate_limited")
        self.assertEqual(
            self.env["iota.script.execution"].search_count(
                [("script_id", "=", self.scripts["ok"].id)]
            ),
            len(ok),
        )

    def test_gcra_option(self):
        endpoint = self._endpoint(
            "ok", "/smooth", rate_limit_per_min=3, rate_limit_algorithm="gcra"
        )
        url = "/iota/api/v1/smooth"
        for _ in range(3):
            self.assertEqual(self._call("GET", url).status_code, 200)
        denied = self._call("GET", url)
        self.assertError(denied, 429, "rate_limited")
        # GCRA refills one request per 60/3 s
        self.assertLessEqual(int(denied.headers["Retry-After"]), 20)
        # switching the algorithm keeps working (each has its own Redis keys)
        endpoint.rate_limit_algorithm = "sliding_window"
        self.assertEqual(self._call("GET", url).status_code, 200)

    def test_spoofed_forwarded_for_does_not_reset_the_limiter(self):
        self._endpoint("ok", "/spoof", rate_limit_per_min=3)
        url = "/iota/api/v1/spoof"
        for _ in range(3):
            self.assertEqual(self._call("GET", url).status_code, 200)
        # the once-per-process proxy_mode warning is tested in test_threat_endpoint_abuse
        silenced = patch.object(gateway, "_proxy_warned", True)
        silenced.start()
        self.addCleanup(silenced.stop)
        for n in range(5):
            spoofed = self._call(
                "GET",
                url,
                headers={
                    "X-Forwarded-For": f"203.0.113.{n}",
                    "X-Forwarded-Host": "evil.example",
                    "X-Real-IP": f"198.51.100.{n}",
                },
            )
            self.assertError(spoofed, 429, "rate_limited")
            self.assertIn("Retry-After", spoofed.headers)

    def test_limits_are_per_client(self):
        self._endpoint("ok", "/per-client", rate_limit_per_min=2, auth_mode="api_key")
        url = "/iota/api/v1/per-client"
        auth = {"Authorization": f"Bearer {self.api_key}"}
        for _ in range(2):
            self.assertEqual(self._call("GET", url, headers=auth).status_code, 200)
        self.assertError(self._call("GET", url, headers=auth), 429, "rate_limited")
        caller2 = new_test_user(
            self.env,
            "iota_api_caller2",
            groups="base.group_user",
            company_id=self.company.id,
            company_ids=[(6, 0, self.company.ids)],
        )
        key2 = self.env["res.users.apikeys"].with_user(caller2)._generate(None, "k2", TOMORROW())
        self.assertEqual(
            self._call("GET", url, headers={"Authorization": f"Bearer {key2}"}).status_code, 200
        )

    def test_redis_down_policy(self):
        self.startPatcher(
            patch.dict(os.environ, {"IOTA_SCRIPTS_RATELIMIT_REDIS_URL": "redis://127.0.0.1:1/0"})
        )
        self._endpoint("ok", "/closed")
        self._endpoint("ok", "/open", rate_limit_on_unavailable="allow")
        self.assertError(self._call("GET", "/iota/api/v1/closed"), 503, "rate_limit_unavailable")
        self.assertEqual(self._call("GET", "/iota/api/v1/open").status_code, 200)
