import os
from pathlib import Path
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from ..tools.settings import (
    DEFAULTS,
    DOCS,
    get_engine,
    get_setting,
    ratelimit_redis_url,
    restart_engine,
    scripts_enabled,
    settings_markdown,
)


@tagged("post_install", "-at_install")
class TestSettings(TransactionCase):
    def test_order_env_conf_parameter_default(self):
        params = self.env["ir.config_parameter"]
        self.assertEqual(get_setting(self.env, "retention_days"), 30)
        params.set_param("iota_scripts.retention_days", "7")
        self.assertEqual(get_setting(self.env, "retention_days"), 7)
        with patch.dict(config.misc, {"iota_scripts": {"retention_days": "5"}}):
            self.assertEqual(get_setting(self.env, "retention_days"), 5)
            with patch.dict(os.environ, {"IOTA_SCRIPTS_RETENTION_DAYS": "3"}):
                self.assertEqual(get_setting(self.env, "retention_days"), 3)
        params.set_param("iota_scripts.retention_days", "not a number")
        self.assertEqual(get_setting(self.env, "retention_days"), 30)

    def test_engine_keys_are_site_keys(self):
        # Issue 17 "Engine settings": one process serves every database, so the first
        # database to run a script must not pick the Redis or the proxy of the others.
        # (This test replaced test_redis_url, which asserted the database parameter won.)
        restart_engine()
        self.addCleanup(restart_engine)
        params = self.env["ir.config_parameter"]
        for key in ("redis_url", "http_proxy", "ratelimit_redis_url", "runners"):
            params.set_param(f"iota_scripts.{key}", "redis://db-param:6379/0")
        params.set_param("iota_scripts.runners", "9")
        self.assertIsNone(get_setting(self.env, "redis_url"))
        self.assertIsNone(get_setting(self.env, "http_proxy"))
        self.assertIsNone(ratelimit_redis_url())
        self.assertEqual(get_setting(self.env, "runners"), 4)
        engine = get_engine(self.env)  # lazy: no runner starts here
        self.assertIsNone(engine.config.redis_url)
        self.assertIsNone(engine.config.http_proxy_url)
        self.assertEqual(engine.config.runners, 4)
        restart_engine()
        site = {"redis_url": "redis://from-conf:6379/2", "http_proxy": "http://proxy.conf:3128"}
        with patch.dict(config.misc, {"iota_scripts": site}):
            self.assertEqual(get_setting(self.env, "redis_url"), "redis://from-conf:6379/2")
            self.assertEqual(ratelimit_redis_url(), "redis://from-conf:6379/2")
            engine = get_engine(self.env)
            self.assertEqual(engine.config.redis_url, "redis://from-conf:6379/2")
            self.assertEqual(engine.config.http_proxy_url, "http://proxy.conf:3128")
            restart_engine()
            with patch.dict(
                os.environ,
                {
                    "IOTA_SCRIPTS_REDIS_URL": "redis://from-env:6379/1",
                    "IOTA_SCRIPTS_RATELIMIT_REDIS_URL": "redis://limiter:6379/3",
                },
            ):
                self.assertEqual(get_setting(self.env, "redis_url"), "redis://from-env:6379/1")
                self.assertEqual(ratelimit_redis_url(), "redis://limiter:6379/3")
                self.assertEqual(get_engine(self.env).config.redis_url, "redis://from-env:6379/1")
                page = self.env["res.config.settings"].create({})
                self.assertEqual(page.iota_scripts_redis_url, "redis://from-env:6379/1")
                self.assertIn("IOTA_SCRIPTS_REDIS_URL", page.iota_scripts_overrides)

    def test_site_switch_ignores_the_database(self):
        self.env["ir.config_parameter"].set_param("iota_scripts.enabled", "0")
        self.assertTrue(scripts_enabled())
        with patch.dict(config.misc, {"iota_scripts": {"enabled": False}}):
            self.assertFalse(scripts_enabled())
        with patch.dict(os.environ, {"IOTA_SCRIPTS_ENABLED": "off"}):
            self.assertFalse(scripts_enabled())

    def test_settings_page(self):
        settings = self.env["res.config.settings"].create(
            {"iota_scripts_retention_days": 12, "iota_scripts_max_depth": 2}
        )
        settings.execute()
        self.assertEqual(get_setting(self.env, "retention_days"), 12)
        self.assertEqual(get_setting(self.env, "max_depth"), 2)
        self.assertTrue(self.env["res.config.settings"].create({}).iota_scripts_enabled)

    def test_one_table_of_defaults(self):
        """The settings page's defaults and docs/configuration.md come from DEFAULTS."""
        self.assertEqual(set(DOCS), set(DEFAULTS), "every setting has one line in DOCS")
        Settings = self.env["res.config.settings"]
        page = Settings.default_get(list(Settings._fields))
        checked = 0
        for name, field in Settings._fields.items():
            key = (getattr(field, "config_parameter", None) or "").removeprefix("iota_scripts.")
            if key in DEFAULTS and name in page and field.default is not None:
                self.assertEqual(page[name], DEFAULTS[key][0], name)
                checked += 1
        # 7: `runners` is a site key since issue 17, shown read-only, not a parameter
        self.assertGreaterEqual(checked, 7)
        self.assertEqual(Settings.create({}).iota_scripts_runners, DEFAULTS["runners"][0])
        doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
        self.assertEqual(
            doc.read_text(encoding="utf-8"),
            settings_markdown(),
            "docs/configuration.md is stale: run scripts/settings-doc",
        )
