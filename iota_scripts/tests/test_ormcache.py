"""tools/ormcache.py: Odoo's ormcache without the per-call signature binding.

The cached methods here live on a plain class that carries the registry as
``pool``, which is all an ormcache asks of a model: the cache under test is
the registry's own LRU, cleared by ``registry.clear_cache()``.
"""

import functools

from odoo import tools
from odoo.tests import TransactionCase, tagged

from ..tools.ormcache import cached_call, ormcache


class _Counted:
    _name = "iota.test.ormcache"

    def __init__(self, registry):
        self.pool = registry
        self.computed = []

    @ormcache("key", "other")
    def _ours(self, key, other):
        self.computed.append((key, other))
        return {"key": key, "n": len(self.computed)}

    @tools.ormcache("key")
    def _odoo(self, key):
        self.computed.append(key)
        return len(self.computed)


class _Override(_Counted):
    def _odoo(self, key):
        return super()._odoo(key) * 100


class _WrappedOverride(_Counted):
    # functools.wraps copies __dict__, __cache__ included: it is still an override
    @functools.wraps(_Counted._odoo)
    def _odoo(self, key):
        return super()._odoo(key) * 100


@tagged("post_install", "-at_install")
class TestOrmcache(TransactionCase):
    def test_a_hit_is_the_cached_value_until_the_registry_clears_it(self):
        model = _Counted(self.registry)
        first = model._ours(1, "a")
        self.assertIs(model._ours(1, "a"), first)
        self.assertIs(model._ours(key=1, other="a"), first)  # keywords: the same key
        self.assertEqual(model._ours(2, "a")["n"], 2)
        self.assertEqual(model.computed, [(1, "a"), (2, "a")])
        self.registry.clear_cache()
        self.assertEqual(model._ours(1, "a")["n"], 3)
        # what cached_call checks to know the cache's own wrapper
        self.assertIs(_Counted._ours.__wrapped__, _Counted._ours.__cache__.method)

    def test_an_unhashable_key_is_computed_as_odoo_does(self):
        model = _Counted(self.registry)
        with self.assertLogs("odoo.tools.cache", "WARNING"):
            self.assertEqual(model._ours([1], "a")["n"], 1)
        self.assertEqual(model.computed, [([1], "a")])

    def test_a_method_with_defaults_or_variadics_is_refused(self):
        for source in (
            "def f(self, key, other=1): return key",
            "def f(self, *keys): return keys",
            "def f(self, **keys): return keys",
        ):
            scope = {}
            exec(source, scope)  # noqa: S102 - three fixed method shapes
            with self.assertRaisesRegex(TypeError, "default or a variadic parameter"):
                ormcache("self")(scope["f"])

    def test_cached_call_reads_odoos_cache_of_a_method(self):
        model = _Counted(self.registry)
        self.assertEqual(cached_call(model, "_odoo", "x"), 1)
        self.assertEqual(cached_call(model, "_odoo", "x"), 1)
        self.assertEqual(model._odoo("x"), 1)  # Odoo's own call hits the same entry
        self.assertEqual(model.computed, ["x"])
        self.registry.clear_cache()
        self.assertEqual(cached_call(model, "_odoo", "x"), 2)

    def test_cached_call_never_skips_an_override(self):
        for cls in (_Override, _WrappedOverride):
            self.registry.clear_cache()
            model = cls(self.registry)
            self.assertEqual(cached_call(model, "_odoo", "y"), 100, cls.__name__)
            self.assertEqual(cached_call(model, "_odoo", "y"), 100, cls.__name__)
            self.assertEqual(model.computed, ["y"], cls.__name__)

    def test_a_system_parameter_is_read_through_the_cache(self):
        params = self.env["ir.config_parameter"]
        params.set_param("iota_scripts.test_ormcache", "one")
        self.assertEqual(cached_call(params, "_get_param", "iota_scripts.test_ormcache"), "one")
        # a write that bypasses the ORM clears nothing: the cache answers
        self.env.cr.execute(
            "UPDATE ir_config_parameter SET value = 'two' WHERE key = 'iota_scripts.test_ormcache'"
        )
        self.assertEqual(cached_call(params, "_get_param", "iota_scripts.test_ormcache"), "one")
        params.set_param("iota_scripts.test_ormcache", "three")  # the ORM clears it
        self.assertEqual(cached_call(params, "_get_param", "iota_scripts.test_ormcache"), "three")
