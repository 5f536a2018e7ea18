"""Threat: callers abuse an endpoint (session calls, caller modes, CORS).

Security review (issue 17, issue 16 section 6) of the gateway, over real HTTP.

Session calls only from programs, caller modes on the approved version,
routing on method and path across companies, HMAC over the whole request,
a response header allowlist, CORS answers with the configured origin,
malformed numbers as 400, remote schema references never fetched, what
anonymous callers see of the OpenAPI document, and the proxy warning.
"""

import hashlib
import hmac
import json
import time
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from ..controllers import main as gateway
from .common import LEAKS
from .test_endpoint_security import schema_server

VERSION = (
    "export default async function (ctx) { return {version: %d, params: ctx.request.params}; }"
)
HEADERS = """
export default async function (ctx) {
  return {status: 200, headers: {[ctx.request.query.name]: "v"}, json: {}};
}
"""


def _tomorrow():
    return fields.Datetime.add(fields.Datetime.now(), days=1)


@tagged("post_install", "-at_install")
class TestEndpointHttpSecurity(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env["res.company"].create({"name": "IOTA Secure Company"})
        cls.other_company = cls.env["res.company"].create({"name": "IOTA Other Company"})
        cls.caller = new_test_user(
            cls.env,
            "iota_sec_caller",
            groups="base.group_user",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )
        cls.developer = new_test_user(
            cls.env,
            "iota_sec_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )
        cls.api_key = (
            cls.env["res.users.apikeys"].with_user(cls.caller)._generate(None, "k", _tomorrow())
        )

    def _script(self, source, company=None):
        return self.env["iota.script"].create(
            {
                "name": "sec",
                "company_id": (company or self.company).id,
                "state": "active",
                "source": source,
            }
        )

    def _endpoint(self, script, path, **values):
        values.setdefault("auth_mode", "public")
        return self.env["iota.script.endpoint"].create(
            {"script_id": script.id, "path": path, **values}
        )

    def _call(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.opener.request(method, self.base_url() + path, **kw)

    def assertError(self, response, status, code):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.json()["error"]["code"], code)
        self.assertFalse(LEAKS.search(response.text), response.text)

    def _runs(self, script):
        return self.env["iota.script.execution"].search_count([("script_id", "=", script.id)])

    # ---- High 1: session mode -------------------------------------------------------------
    def test_session_mode_refuses_links_and_images(self):
        script = self._script(VERSION % 1)
        self._endpoint(script, "/me", auth_mode="user")
        self.authenticate("iota_sec_caller", "iota_sec_caller")
        url = "/iota/api/v1/me"
        for headers in (
            {},  # a link, or an <img> of an old browser: no Origin, no Sec-Fetch-*
            {
                "Sec-Fetch-Site": "same-origin",
                "Sec-Fetch-Mode": "no-cors",
                "Sec-Fetch-Dest": "image",
            },
            {
                "Sec-Fetch-Site": "same-origin",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "document",
            },
            {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"},
        ):
            with self.subTest(headers=headers):
                self.assertError(self._call("GET", url, headers=headers), 403, "csrf_refused")
        self.assertEqual(self._runs(script), 0)
        for headers in (
            {"X-Requested-With": "XMLHttpRequest"},
            {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"},
        ):
            with self.subTest(headers=headers):
                response = self._call("GET", url, headers=headers)
                self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self._runs(script), 2)

    # ---- High 1: the approved version ------------------------------------------------------
    def test_caller_mode_runs_the_approved_version(self):
        script = self._script(VERSION % 1)
        endpoint = self._endpoint(script, "/pinned", auth_mode="api_key")
        bearer = {"Authorization": f"Bearer {self.api_key}"}
        public = self._endpoint(script, "/current")
        # a Developer saves new code: the public endpoint runs it, the caller-mode one does not
        script.with_user(self.developer).write({"source": VERSION % 2})
        self.assertEqual(self._call("GET", "/iota/api/v1/current").json()["version"], 2)
        response = self._call("GET", "/iota/api/v1/pinned", headers=bearer)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["version"], 1)
        execution = self.env["iota.script.execution"].search(
            [("endpoint_id", "=", endpoint.id)], limit=1
        )
        self.assertEqual(execution.version_id, endpoint.pinned_version_id)
        endpoint.action_approve_current_version()
        self.assertEqual(
            self._call("GET", "/iota/api/v1/pinned", headers=bearer).json()["version"], 2
        )
        # a row without an approval (made before approvals existed) runs nothing
        self.env.cr.execute(
            "UPDATE iota_script_endpoint SET pinned_version_id = NULL WHERE id = %s", [endpoint.id]
        )
        self.env.registry.clear_cache()
        runs = self._runs(script)
        self.assertError(
            self._call("GET", "/iota/api/v1/pinned", headers=bearer), 503, "not_approved"
        )
        self.assertEqual(self._runs(script), runs)
        self.assertTrue(public)

    # ---- issue 16 §6: routing on method and path -------------------------------------------
    def test_routing_on_method_and_path_across_companies(self):
        ours = self._script(VERSION % 1)
        theirs = self._script(VERSION % 2, company=self.other_company)
        self._endpoint(ours, "/items/{id}", methods="GET")
        self._endpoint(theirs, "/items/{x}", methods="POST", cors_origins="https://b.example")
        got = self._call("GET", "/iota/api/v1/items/7")
        self.assertEqual(got.status_code, 200, got.text)
        self.assertEqual(got.json(), {"version": 1, "params": {"id": "7"}})
        posted = self._call("POST", "/iota/api/v1/items/7")
        self.assertEqual(posted.status_code, 200, posted.text)
        self.assertEqual(posted.json(), {"version": 2, "params": {"x": "7"}})
        refused = self._call("DELETE", "/iota/api/v1/items/7")
        self.assertError(refused, 405, "method_not_allowed")
        self.assertEqual(refused.headers["Allow"], "GET, OPTIONS, POST")
        # the preflight of each method meets its own endpoint
        preflight = self._call(
            "OPTIONS",
            "/iota/api/v1/items/7",
            headers={"Origin": "https://b.example", "Access-Control-Request-Method": "POST"},
        )
        self.assertEqual(preflight.status_code, 204, preflight.text)
        self.assertEqual(preflight.headers["Access-Control-Allow-Origin"], "https://b.example")

    # ---- Medium: HMAC over method, path, query and body ---------------------------------
    def test_hmac_signs_method_path_query_and_body(self):
        script = self._script(VERSION % 1)
        endpoint = self._endpoint(script, "/hook/{id}", auth_mode="hmac", methods="POST,PUT")
        secret = endpoint.hmac_secret.encode()
        body = b'{"amount": 10}'
        stamp = str(int(time.time()))

        def headers(method, path, query, payload=body):
            message = f"{stamp}\n{method}\n{path}\n{query}\n".encode() + payload
            digest = hmac.new(secret, message, hashlib.sha256).hexdigest()
            return {
                "X-Timestamp": stamp,
                "X-Signature": f"sha256={digest}",
                "Content-Type": "application/json",
            }

        signed = headers("POST", "/iota/api/v1/hook/1", "mode=test")
        for method, url in (
            ("PUT", "/iota/api/v1/hook/1?mode=test"),  # another method
            ("POST", "/iota/api/v1/hook/2?mode=test"),  # another path
            ("POST", "/iota/api/v1/hook/1?mode=live"),  # another query
            ("POST", "/iota/api/v1/hook/1"),  # the query dropped
        ):
            with self.subTest(method=method, url=url):
                response = self._call(method, url, data=body, headers=signed)
                self.assertError(response, 401, "bad_signature")
        old = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        self.assertError(
            self._call(
                "POST",
                "/iota/api/v1/hook/1?mode=test",
                data=body,
                headers={**signed, "X-Signature": f"sha256={old}"},
            ),
            401,
            "bad_signature",
        )
        response = self._call("POST", "/iota/api/v1/hook/1?mode=test", data=body, headers=signed)
        self.assertEqual(response.status_code, 200, response.text)

    # ---- Low: malformed numbers -------------------------------------------------------------
    def test_malformed_numbers_are_400(self):
        script = self._script(VERSION % 1)
        self._endpoint(script, "/hook", auth_mode="hmac", methods="POST")
        # WSGI headers are latin-1: b"\xb2" arrives as "²", which str.isdigit() accepts
        for stamp in (b"\xb2", b"\xb9\xb2", b"12a", b"1" * 40, b"-5", b"+5"):
            with self.subTest(stamp=stamp):
                response = self._call(
                    "POST",
                    "/iota/api/v1/hook",
                    data=b"{}",
                    headers={
                        "X-Timestamp": stamp,
                        "X-Signature": "sha256=00",
                        "Content-Type": "application/json",
                    },
                )
                self.assertError(response, 400, "invalid_timestamp")
        for company in ("²", "\u0661", "9" * 40, "-1"):
            with self.subTest(company=company):
                response = self._call("GET", "/iota/api/openapi.json", params={"company": company})
                self.assertError(response, 400, "invalid_argument")

    # ---- Medium: response headers ------------------------------------------------------------
    def test_response_headers_are_an_allowlist(self):
        script = self._script(HEADERS)
        self._endpoint(script, "/headers")
        for name in (
            "X-Accel-Redirect",
            "X-Sendfile",
            "X-Lighttpd-Send-File",
            "X-Accel-Buffering",
            "Refresh",
            "Access-Control-Allow-Origin",
            "Set-Cookie",
            "Strict-Transport-Security",
            "Alt-Svc",
            "X-Thing",
        ):
            with self.subTest(name=name):
                response = self._call("GET", "/iota/api/v1/headers", params={"name": name})
                self.assertError(response, 500, "invalid_response")
                self.assertNotIn(name, response.headers)
        for name in ("ETag", "Location", "X-Total-Count", "X-App-Trace"):
            with self.subTest(name=name):
                response = self._call("GET", "/iota/api/v1/headers", params={"name": name})
                self.assertEqual(response.status_code, 200, response.text)
                self.assertEqual(response.headers[name], "v")

    # ---- issue 16 §6: CORS answers with the configured origin ----------------------------------
    def test_cors_answers_with_the_configured_origin(self):
        script = self._script(VERSION % 1)
        self._endpoint(
            script, "/cors", cors_origins="https://app.example.com\nhttp://local.test:8080"
        )
        for sent, answered in (
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.COM", "https://app.example.com"),
            ("https://app.example.com/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://LOCAL.test:8080", "http://local.test:8080"),
            ("https://app.example.com:8443", None),
            ("http://app.example.com", None),
            ("http://local.test", None),
            ("https://app.example.com/x", None),
            ("https://app.example.com.evil.test", None),
        ):
            with self.subTest(origin=sent):
                response = self._call("GET", "/iota/api/v1/cors", headers={"Origin": sent})
                self.assertEqual(response.status_code, 200, response.text)
                self.assertEqual(response.headers.get("Access-Control-Allow-Origin"), answered)

    # ---- Medium: remote $ref never fetched ---------------------------------------------------
    def test_remote_schema_reference_is_never_fetched(self):
        port, hits = schema_server(self)
        script = self._script(VERSION % 1)
        endpoint = self._endpoint(script, "/refs", methods="POST")
        # a row saved before references were checked (the save refuses it now)
        remote = json.dumps({"$ref": f"http://127.0.0.1:{port}/order.json"})
        self.env.cr.execute(
            "UPDATE iota_script_endpoint SET body_schema = %s WHERE id = %s", [remote, endpoint.id]
        )
        self.env.registry.clear_cache()
        response = self._call("POST", "/iota/api/v1/refs", json={"n": 1})
        self.assertError(response, 500, "invalid_schema")
        self.assertEqual(hits, [])
        # the row takes no other endpoint of its version down
        self._endpoint(script, "/fine")
        self.assertEqual(self._call("GET", "/iota/api/v1/fine").status_code, 200)

    # ---- Low: public listings ------------------------------------------------------------
    def test_anonymous_callers_see_only_listed_public_endpoints(self):
        script = self._script(VERSION % 1)
        self._endpoint(script, "/listed")
        self._endpoint(script, "/keyed", auth_mode="api_key")
        url = "/iota/api/openapi.json"
        company = {"company": str(self.company.id)}
        for params in ({}, company):
            with self.subTest(params=params):
                response = self._call("GET", url, params=params)
                self.assertEqual(response.status_code, 200, response.text)
                self.assertEqual(response.json()["paths"], {})
        self.company.iota_api_public_listing = True
        doc = self._call("GET", url, params=company).json()
        self.assertEqual(list(doc["paths"]), ["/v1/listed"])
        text = json.dumps(doc)
        for word in ("keyed", "iota_sec", "runner", "Secure Company"):
            self.assertNotIn(word, text)
        self.assertEqual(self._call("GET", url).json()["paths"], {})

    # ---- Low: proxies ----------------------------------------------------------------------------
    def test_forwarded_requests_without_proxy_mode_warn_once(self):
        script = self._script(VERSION % 1)
        self._endpoint(script, "/proxied")
        with (
            patch.object(gateway, "_proxy_warned", False, create=True),
            patch.dict(gateway.config.options, {"proxy_mode": False}),
            self.assertLogs(gateway.__name__, "WARNING") as logs,
        ):
            for _n in range(3):
                response = self._call(
                    "GET", "/iota/api/v1/proxied", headers={"X-Forwarded-For": "203.0.113.9"}
                )
                self.assertEqual(response.status_code, 200, response.text)
        warnings = [line for line in logs.output if "proxy_mode" in line]
        self.assertEqual(len(warnings), 1, logs.output)
