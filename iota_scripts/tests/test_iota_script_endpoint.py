"""Endpoint records: paths refused or normalised at save, collisions of any company."""

import psycopg2
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import IotaScriptsCase

SOURCE = "export default async function (ctx) { return {ok: true}; }"


@tagged("post_install", "-at_install")
class TestIotaScriptEndpoint(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.script_a = cls._script(SOURCE)
        cls.script_b = cls._script(SOURCE, company=cls.company_b, name="B")

    def _endpoint(self, path, script=None, **values):
        script = script or self.script_a
        return self.env["iota.script.endpoint"].create(
            {
                "script_id": script.id,
                "path": path,
                "methods": values.pop("methods", "GET"),
                **values,
            }
        )

    def test_normalises_case_and_methods(self):
        endpoint = self._endpoint("/Orders/{id}", methods="post, get,GET")
        self.assertEqual(endpoint.path, "/orders/{id}")
        self.assertEqual(endpoint.methods, "GET,POST")
        self.assertEqual(endpoint.company_id, self.company_a)
        self.assertEqual(endpoint.url, "/iota/api/v1/orders/{id}")

    def test_refuses_tricky_paths(self):
        for path in (
            "/orders/..",
            "/orders/./x",
            "/orders/%2e%2e",
            "/orders%2fx",
            "/orders/%2E",
            "/orders/",
            "/orders//x",
            "orders",
            "/orders\\x",
            "/web/login",
            "/xmlrpc/2/object",
            "/jsonrpc",
            "/orders/{id}/{id}",
            "/or ders",
            "/",
            "/orders/a..b",
        ):
            with self.subTest(path=path), self.assertRaises(ValidationError):
                self._endpoint(path)

    def test_collisions_of_any_company(self):
        self._endpoint("/orders/{id}")
        for path, script in (
            ("/orders/{id}", self.script_b),  # another company
            ("/ORDERS/{id}", self.script_a),  # case trick
            ("/orders/{other}", self.script_a),  # same shape
            ("/orders/new", self.script_b),  # ambiguous with the parameter
            ("/{x}/{y}", self.script_a),
        ):
            with self.subTest(path=path), self.assertRaises(ValidationError):
                self._endpoint(path, script=script)
        # another method, another version, another shape: fine
        self._endpoint("/orders/{id}", methods="POST")
        self._endpoint("/orders/{id}", api_version="v2")
        self._endpoint("/orders/{id}/lines")

    def test_write_checks_collisions_too(self):
        self._endpoint("/orders/{id}")
        other = self._endpoint("/invoices/{id}")
        with self.assertRaises(ValidationError):
            other.path = "/Orders/{n}"
        # an archived endpoint frees its path
        other.active = False
        self._endpoint("/invoices/{id}")

    def test_refuses_bad_settings(self):
        for values in (
            {"api_version": "1"},
            {"api_version": "v0"},
            {"methods": "GET,TRACE"},
            {"rate_limit_per_min": 0},
            {"rate_limit_per_min": 100_001},  # the exact (default) algorithm stores each call
            {"rate_limit_per_min": 1_000_001, "rate_limit_algorithm": "gcra"},
            {"max_body_bytes": 64 * 1024 * 1024},
            {"body_schema": "{not json"},
            {"body_schema": '{"type": "nope"}'},
            {"cors_origins": "*"},
            {"cors_origins": "https://app.example.com/path"},
            {"cors_origins": "null"},
        ):
            with self.subTest(values=values), self.assertRaises(ValidationError):
                self._endpoint("/things", **values)

    def test_rate_limit_algorithms(self):
        endpoint = self._endpoint("/things")
        self.assertEqual(endpoint.rate_limit_algorithm, "sliding_window")
        endpoint.write({"rate_limit_algorithm": "gcra", "rate_limit_per_min": 1_000_000})
        with self.assertRaises(ValidationError):
            endpoint.rate_limit_algorithm = "sliding_window"
        Endpoint = self.env["iota.script.endpoint"]
        self.assertEqual(
            Endpoint._iota_resolve_spec("v1", ["things"])[0].rate_limit_algorithm, "gcra"
        )
        # a row from before the algorithm existed (no constraint ran) stays smooth
        self.env.cr.execute(
            "UPDATE iota_script_endpoint SET rate_limit_algorithm = 'sliding_window' WHERE id = %s",
            [endpoint.id],
        )
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        self.assertEqual(endpoint.rate_limit_algorithm, "sliding_window")
        spec = Endpoint._iota_resolve_spec("v1", ["things"])[0]
        self.assertEqual((spec.id, spec.rate_limit_algorithm), (endpoint.id, "gcra"))

    def test_script_of_another_company(self):
        with self.assertRaises(ValidationError):
            self._endpoint("/things", script=self.script_b, company_id=self.company_a.id)

    def test_route_cache_follows_writes(self):
        Endpoint = self.env["iota.script.endpoint"]
        endpoint = self._endpoint("/cached/{id}")
        found, params, _methods = Endpoint._iota_resolve("v1", ["cached", "7"])
        self.assertEqual((found, params), (endpoint, {"id": "7"}))
        endpoint.path = "/moved/{id}"
        self.assertFalse(Endpoint._iota_resolve("v1", ["cached", "7"])[0])
        self.assertEqual(Endpoint._iota_resolve("v1", ["moved", "7"])[0], endpoint)
        endpoint.active = False
        self.assertFalse(Endpoint._iota_resolve("v1", ["moved", "7"])[0])

    def test_route_cache_is_signalled_to_other_workers(self):
        # ormcache is per process: the change must mark the registry's
        # "default" cache as invalidated, which signal_changes() publishes
        # (the cache sequence in the database) for the other workers.
        registry = self.env.registry
        registry.reset_changes()
        endpoint = self._endpoint("/signalled")
        self.assertIn("default", registry.cache_invalidated)
        for values in ({"path": "/signalled2"}, {"active": False}, None):
            registry.reset_changes()
            self.assertNotIn("default", registry.cache_invalidated)
            endpoint.write(values) if values else endpoint.unlink()
            self.assertIn("default", registry.cache_invalidated, values)
        registry.reset_changes()

    def test_route_table_ignores_the_callers_active_test(self):
        Endpoint = self.env["iota.script.endpoint"]
        endpoint = self._endpoint("/archived")
        endpoint.active = False
        # the first caller fills the (shared) cache: its context must not matter
        loose = Endpoint.with_context(active_test=False)
        self.assertIsNone(loose._iota_resolve_spec("v1", ["archived"])[0])
        self.assertFalse(Endpoint._iota_resolve("v1", ["archived"])[0])

    def test_deleting_the_required_group_is_refused(self):
        # set null would open a group-restricted endpoint to every caller
        group = self.env["res.groups"].create({"name": "IOTA API callers"})
        endpoint = self._endpoint("/guarded", auth_mode="api_key", group_id=group.id)
        with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.IntegrityError):
            with self.env.cr.savepoint():
                group.unlink()
        self.assertEqual(endpoint.group_id, group)

    def test_route_cache_follows_script_deletion(self):
        script = self._script(SOURCE, name="doomed")
        self._endpoint("/doomed", script=script)
        Endpoint = self.env["iota.script.endpoint"]
        self.assertTrue(Endpoint._iota_resolve("v1", ["doomed"])[0])
        script.unlink()
        self.assertFalse(Endpoint._iota_resolve("v1", ["doomed"])[0])

    def test_developer_of_b_cannot_see_a(self):
        self._endpoint("/orders/{id}")
        Endpoint = self.env["iota.script.endpoint"].with_user(self.dev_b)
        self.assertFalse(Endpoint.search([]))
        self.assertNotIn(
            "hmac_secret", self.env["iota.script.endpoint"].with_user(self.user_a).fields_get()
        )
