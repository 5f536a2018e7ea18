"""Security review (issue 17) of endpoint records, as the users who make them.

Caller modes are for administrators, the version behind them is frozen,
replay rows stay in their company, remote schema references are refused,
and a path collision names nothing of another company.
"""

import http.server
import json
import threading

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import IotaScriptsCase

V1 = "export default async function (ctx) { return {version: 1}; }"
V2 = "export default async function (ctx) { return {version: 2}; }"
REMOTE = json.dumps({"$ref": "https://schemas.example.com/order.json"})
LOCAL = json.dumps(
    {"$defs": {"n": {"type": "integer"}}, "properties": {"n": {"$ref": "#/$defs/n"}}}
)


def schema_server(case):
    """A loopback server answering any GET with a schema; returns ``(port, hits)``."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            payload = b'{"type": "integer"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    case.addCleanup(server.server_close)
    case.addCleanup(server.shutdown)
    return server.server_port, hits


@tagged("post_install", "-at_install")
class TestEndpointSecurity(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.script_a = cls._script(V1)
        cls.admin_a = new_test_user(
            cls.env,
            "iota_admin_a",
            groups="base.group_user,iota_scripts.iota_scripts_group_admin",
            company_id=cls.company_a.id,
            company_ids=[(6, 0, cls.company_a.ids)],
        )
        cls.admin_b = new_test_user(
            cls.env,
            "iota_admin_b",
            groups="base.group_user,iota_scripts.iota_scripts_group_admin",
            company_id=cls.company_b.id,
            company_ids=[(6, 0, cls.company_b.ids)],
        )

    def _endpoint(self, user, path, **values):
        Endpoint = self.env["iota.script.endpoint"].with_user(user)
        return Endpoint.create({"script_id": self.script_a.id, "path": path, **values})

    # ---- High 1: who may publish an endpoint that runs as its caller ------------------------
    def test_developers_cannot_publish_caller_mode_endpoints(self):
        for values in ({"auth_mode": "user"}, {"auth_mode": "api_key"}, {}):
            with self.subTest(values=values), self.assertRaises(AccessError):
                self._endpoint(self.dev_a, "/mine", **values)
        public = self._endpoint(self.dev_a, "/mine", auth_mode="public")
        self.assertFalse(public.pinned_version_id)
        for vals in (
            {"auth_mode": "user"},
            {"auth_mode": "api_key"},
            {"pinned_version_id": self.script_a.version_id.id},
        ):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                public.with_user(self.dev_a).write(vals)
        # an administrator's caller-mode endpoint: a Developer changes nothing of it
        keyed = self._endpoint(self.admin_a, "/keyed", auth_mode="api_key")
        self.assertEqual(keyed.pinned_version_id, self.script_a.version_id)
        for vals in (
            {"rate_limit_per_min": 5},
            {"group_id": False},
            {"script_id": self._script(V2, name="other").id},
            {"auth_mode": "public"},
        ):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                keyed.with_user(self.dev_a).write(vals)
        with self.assertRaises(AccessError):
            keyed.with_user(self.dev_a).action_approve_current_version()

    def test_new_versions_wait_for_an_administrator(self):
        keyed = self._endpoint(self.admin_a, "/keyed", auth_mode="api_key")
        first = self.script_a.version_id
        self.script_a.with_user(self.dev_a).write({"source": V2})
        self.assertNotEqual(self.script_a.version_id, first)
        self.assertEqual(keyed.pinned_version_id, first)
        keyed.with_user(self.admin_a).action_approve_current_version()
        self.assertEqual(keyed.pinned_version_id, self.script_a.version_id)
        # leaving the caller modes drops the approval; entering them approves again
        keyed.with_user(self.admin_a).auth_mode = "hmac"
        self.assertFalse(keyed.pinned_version_id)
        keyed.with_user(self.admin_a).auth_mode = "user"
        self.assertEqual(keyed.pinned_version_id, self.script_a.version_id)
        # a version of another script is never approved for this endpoint
        other = self._script(V1, name="other")
        with self.assertRaises(ValidationError):
            keyed.write({"pinned_version_id": other.version_id.id})
        # deleting the script takes its versions and the endpoint
        self.script_a.unlink()
        self.assertFalse(keyed.exists())

    # ---- Medium: replay rows ---------------------------------------------------------------
    def test_replay_rows_stay_in_their_company(self):
        endpoint = self._endpoint(self.admin_a, "/hook", auth_mode="hmac", methods="POST")
        Replay = self.env["iota.script.endpoint.replay"].sudo()
        row = Replay._iota_reserve(endpoint, "signature", "hmac", "abc")
        self.assertEqual(Replay.with_user(self.admin_a).search([("id", "=", row.id)]), row)
        theirs = Replay.with_user(self.admin_b)
        self.assertFalse(theirs.search([("id", "=", row.id)]))
        with self.assertRaises(AccessError):
            theirs.browse(row.id).read(["body", "key"])
        with self.assertRaises(AccessError):
            theirs.browse(row.id).unlink()
        self.assertTrue(row.exists())
        self.assertEqual(row.company_id, self.company_a)

    # ---- Medium: schema references --------------------------------------------------------
    def test_remote_schema_references_are_refused_at_save(self):
        for fname in ("body_schema", "query_schema", "response_schema"):
            with self.subTest(fname=fname), self.assertRaises(ValidationError) as caught:
                self._endpoint(self.dev_a, "/schema", auth_mode="public", **{fname: REMOTE})
            self.assertIn("remote_reference", str(caught.exception))
        nested = json.dumps({"properties": {"x": {"items": {"$dynamicRef": "http://x/y"}}}})
        with self.assertRaises(ValidationError):
            self._endpoint(self.dev_a, "/schema", auth_mode="public", body_schema=nested)
        self._endpoint(self.dev_a, "/schema", auth_mode="public", body_schema=LOCAL)
        with self.assertRaises(ValidationError) as caught:
            self.script_a.with_user(self.dev_a).input_schema = REMOTE
        self.assertIn("remote_reference", str(caught.exception))
        self.script_a.with_user(self.dev_a).input_schema = LOCAL
        self.script_a._check_run_input({"n": 1})
        with self.assertRaises(UserError):
            self.script_a._check_run_input({"n": "x"})

    def test_remote_input_schema_saved_before_is_never_fetched(self):
        port, hits = schema_server(self)
        self.env.cr.execute(
            "UPDATE iota_script SET input_schema = %s WHERE id = %s",
            [json.dumps({"$ref": f"http://127.0.0.1:{port}/never.json"}), self.script_a.id],
        )
        self.script_a.invalidate_recordset(["input_schema"])
        with self.assertRaises(UserError) as caught:
            self.script_a._check_run_input({"n": 1})
        self.assertIn("remote_reference", str(caught.exception))
        self.assertEqual(hits, [])

    # ---- Medium: one namespace, nothing of the other company ------------------------------
    def test_collision_with_another_company_names_nothing(self):
        script_b = self._script(V1, company=self.company_b, name="B secret script")
        self.env["iota.script.endpoint"].create(
            {"script_id": script_b.id, "path": "/orders/{order_ref}", "auth_mode": "public"}
        )
        with self.assertRaises(ValidationError) as caught:
            self._endpoint(self.dev_a, "/orders/{id}", auth_mode="public")
        message = str(caught.exception)
        self.assertIn("another company", message)
        self.assertNotIn("order_ref", message)
        self.assertNotIn("B secret", message)

    def test_cors_origins_are_stored_normalised(self):
        endpoint = self._endpoint(
            self.dev_a,
            "/cors",
            auth_mode="public",
            cors_origins="HTTPS://App.Example.com:443/\nhttp://localhost:8080",
        )
        self.assertEqual(endpoint.cors_origins, "https://app.example.com\nhttp://localhost:8080")
