import os
from pathlib import Path
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from ..tools.settings import DEFAULTS, DOCS, get_setting, scripts_enabled, settings_markdown


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

    def test_redis_url(self):
        self.assertIsNone(get_setting(self.env, "redis_url"))
        self.env["ir.config_parameter"].set_param(
            "iota_scripts.redis_url", "redis://db-param:6379/0"
        )
        self.assertEqual(get_setting(self.env, "redis_url"), "redis://db-param:6379/0")
        with patch.dict(os.environ, {"IOTA_SCRIPTS_REDIS_URL": "redis://from-env:6379/1"}):
            self.assertEqual(get_setting(self.env, "redis_url"), "redis://from-env:6379/1")

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
        self.assertGreaterEqual(checked, 8)
        doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
        self.assertEqual(
            doc.read_text(encoding="utf-8"),
            settings_markdown(),
            "docs/configuration.md is stale: run scripts/settings-doc",
        )
