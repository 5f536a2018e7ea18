"""The script studio's server side: editor page (CSP), typings, check, templates, versions."""

import json
import shutil
import tempfile
from pathlib import Path
from unittest.mock import patch

from odoo.tests import Form, HttpCase, tagged

from ..controllers import editor
from ..controllers.editor import EDITOR_CSP
from ..models import iota_script_studio
from ..tools.templates import TEMPLATES
from ..tools.typings import MAX_TYPINGS_BYTES, model_typings
from .common import IotaScriptsCase


@tagged("post_install", "-at_install")
class TestTypings(IotaScriptsCase):
    def test_models_and_fields_follow_the_users_rights(self):
        admin = model_typings(self.env(user=self.env.ref("base.user_admin")))["dts"]
        dev = model_typings(self.env(user=self.dev_a))["dts"]
        user = model_typings(self.env(user=self.user_a))["dts"]
        self.assertIn('"res.partner": {', dev)
        self.assertIn('    "name": string | false;', dev)
        self.assertIn('    "parent_id": [number, string] | false;', dev)
        # ir.cron needs the Settings group: the admin sees it, a developer does not
        self.assertIn('"ir.cron": {', admin)
        self.assertNotIn('"ir.cron"', dev)
        # sdk.db refuses these models whatever the rights
        self.assertNotIn('"ir.config_parameter"', admin)
        # field groups: iota.script.source is for developers only
        script_block = lambda dts: dts.split('"iota.script": {', 1)[1].split("\n  };", 1)[0]  # noqa: E731
        self.assertIn('"source": string | false;', script_block(dev))
        self.assertNotIn('"source"', script_block(user))
        # secret-looking fields are never listed
        self.assertNotRegex(admin, r'\n    "(password|new_password|api_key)"')
        # selections become literal unions
        self.assertIn('"state": "draft" | "active" | "disabled" | false;', script_block(dev))

    def test_size_is_capped(self):
        with patch("odoo.addons.iota_scripts.tools.typings.MAX_TYPINGS_BYTES", 20000):
            small = model_typings(self.env(user=self.dev_a))
        self.assertTrue(small["truncated"])
        self.assertLessEqual(len(small["dts"].encode()), 20000)
        full = model_typings(self.env(user=self.dev_a))
        self.assertFalse(full["truncated"])
        self.assertLess(len(full["dts"].encode()), MAX_TYPINGS_BYTES)
        self.assertGreater(full["models"], small["models"])

    def test_cached_per_user_and_registry_signature(self):
        calls = []
        real = iota_script_studio.model_typings

        def counting(env):
            calls.append(env.uid)
            return real(env)

        Script = self.env["iota.script"]
        Script.env.registry.clear_cache()
        with patch.object(iota_script_studio, "model_typings", counting):
            first = Script.with_user(self.dev_a)._iota_editor_typings()
            again = Script.with_user(self.dev_a)._iota_editor_typings()
            self.assertEqual(calls, [self.dev_a.id])
            self.assertEqual(first, again)
            Script.with_user(self.dev_b)._iota_editor_typings()
            self.assertEqual(calls, [self.dev_a.id, self.dev_b.id])
            # another registry signature (a registry reloaded elsewhere): generated again
            registry = self.env.registry
            with patch.object(registry, "registry_sequence", (registry.registry_sequence or 0) + 1):
                bumped = Script.with_user(self.dev_a)._iota_editor_typings()
            self.assertEqual(len(calls), 3)
            self.assertNotEqual(bumped["signature"], first["signature"])
            # a schema change (a custom field) clears the cache: the new field shows
            self.assertNotIn('"x_iota_probe"', first["dts"])
            self.env["ir.model.fields"].create(
                {
                    "name": "x_iota_probe",
                    "model_id": self.env["ir.model"]._get_id("res.partner"),
                    "field_description": "Probe",
                    "ttype": "char",
                }
            )
            after = Script.with_user(self.dev_a)._iota_editor_typings()
        self.assertEqual(len(calls), 4)
        self.assertIn('    "x_iota_probe": string | false;', after["dts"])


@tagged("post_install", "-at_install")
class TestTemplates(IotaScriptsCase):
    def test_every_template_passes_the_engine_check(self):
        self.assertEqual(
            list(TEMPLATES),
            ["manual_report", "record_change", "scheduled_job", "http_endpoint", "event_handler"],
        )
        Script = self.env["iota.script"]
        Rules, no_tags = self.env["iota.script.policy.rule"], self.env["iota.script.tag"]
        for key, (_label, source) in TEMPLATES.items():
            self.assertIsNone(Script._source_problem(source), key)
            # and the recommended policy rules
            self.assertEqual(Rules._iota_violations(source, self.company_a, no_tags), [], key)
        # and the check does refuse a broken one
        problem = Script._source_problem("export default () => {\n  return 1 +;\n}\n")
        self.assertEqual((problem["line"], problem["column"]), (2, 13))

    def test_choosing_a_template_fills_a_new_script(self):
        form = Form(self.env["iota.script"].with_user(self.dev_a))
        form.template = "http_endpoint"
        self.assertEqual(form.source, TEMPLATES["http_endpoint"][1])
        self.assertEqual(form.name, "HTTP endpoint")
        script = form.save()
        self.assertEqual(script.version_id.source, TEMPLATES["http_endpoint"][1])


@tagged("post_install", "-at_install")
class TestVersions(IotaScriptsCase):
    def test_size_and_restore_from_the_diff(self):
        script = (
            self.env["iota.script"]
            .with_user(self.dev_a)
            .create({"name": "Sized", "source": "export default () => 'é';\n"})
        )
        script.source = "export default () => 2;\n"
        v1, v2 = script.version_ids.sorted("number")
        self.assertEqual(v1.size_bytes, len("export default () => 'é';\n".encode()))
        self.assertEqual(v1.size_bytes, 27)
        self.assertEqual(v2.size_bytes, 24)
        action = v1.with_user(self.dev_a).action_open_diff()
        self.assertEqual(action["tag"], "iota_scripts.version_diff")
        self.assertEqual(action["params"], {"script_id": script.id, "left_id": v1.id})
        v3 = v1.with_user(self.dev_a).action_restore()
        self.assertEqual((v3.number, v3.source, v3.note), (3, v1.source, "Restored from v1"))
        self.assertEqual(script.version_id, v3)


@tagged("post_install", "-at_install")
class TestEditorRoutes(HttpCase):
    def setUp(self):
        super().setUp()
        from odoo.tests import new_test_user

        self.dev = new_test_user(
            self.env,
            "iota_studio_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
        )
        self.plain = new_test_user(
            self.env,
            "iota_studio_user",
            groups="base.group_user,iota_scripts.iota_scripts_group_user",
        )

    def _json(self, url, params):
        res = self.url_open(
            url,
            data=json.dumps({"jsonrpc": "2.0", "method": "call", "params": params}),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(res.status_code, 200)
        return res.json()

    def test_editor_page_has_a_strict_csp(self):
        self.authenticate("iota_studio_dev", "iota_studio_dev")
        res = self.url_open("/iota_scripts/editor")
        self.assertEqual(res.status_code, 200)
        csp = res.headers["Content-Security-Policy"]
        self.assertEqual(csp, EDITOR_CSP)
        self.assertIn("script-src 'self';", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertNotIn("blob:", csp)
        self.assertIn("frame-ancestors 'self'", csp)
        self.assertEqual(res.headers["X-Frame-Options"], "SAMEORIGIN")
        self.assertIn("/iota_scripts/static/lib/monaco/min/vs/loader.js", res.text)
        self.assertNotIn("<script>", res.text)  # no inline script
        # the vendored files it names are served
        for path in ("loader.js", "editor/editor.main.js", "base/worker/workerMain.js"):
            self.assertEqual(
                self.url_open(f"/iota_scripts/static/lib/monaco/min/vs/{path}").status_code,
                200,
                path,
            )
        self.authenticate("iota_studio_user", "iota_studio_user")
        self.assertEqual(self.url_open("/iota_scripts/editor").status_code, 403)

    def test_editor_page_names_npm_ci_when_monaco_is_missing(self):
        """Monaco comes from npm: without it the page says how to install it, never blank."""
        self.assertEqual(editor.monaco_not_installed(), ([], []))  # this server has it (npm ci ran)
        self.authenticate("iota_studio_dev", "iota_studio_dev")
        with tempfile.TemporaryDirectory() as empty:
            with (
                patch.object(editor, "ADDON_ROOT", Path(empty)),
                self.assertLogs("odoo.addons.iota_scripts.controllers.editor", "WARNING") as logs,
            ):
                res = self.url_open("/iota_scripts/editor")
        self.assertEqual(res.status_code, 503)
        self.assertIn("static/lib/monaco/min/vs/loader.js", logs.output[0])
        self.assertEqual(res.headers["Content-Security-Policy"], EDITOR_CSP)
        message = (
            "The Monaco editor is not installed on this server: run `npm ci` in the "
            "IOTA Scripts folder, then reload this page."
        )
        self.assertIn(f"<p>{message}</p>", res.text)
        # the frame script reports it to the field, which falls back to the basic editor
        self.assertIn(f'data-error="{message}"', res.text)
        self.assertIn(
            '<script src="/iota_scripts/static/editor/editor_frame.js"></script>', res.text
        )
        self.assertNotIn("loader.js", res.text)
        self.assertNotIn("<script>", res.text)
        frame_js = self.url_open("/iota_scripts/static/editor/editor_frame.js")
        self.assertIn("container.dataset.error", frame_js.text)
        # non-developers still get 403, installed or not
        self.authenticate("iota_studio_user", "iota_studio_user")
        with patch.object(editor, "ADDON_ROOT", Path("/nonexistent")):
            self.assertEqual(self.url_open("/iota_scripts/editor").status_code, 403)

    def test_editor_page_names_npm_ci_when_monaco_is_altered(self):
        """A placed Monaco file that differs from its sha256 (a partial copy, a file
        edited in place) gets a 503 naming ``npm ci``, never a broken editor."""
        spec = json.loads((Path(editor.__file__).parent.parent / "third_party.json").read_text())
        files = [f["to"] for f in spec["packages"]["monaco-editor"]["files"]]
        main_to = "static/lib/monaco/min/vs/editor/editor.main.js"
        self.assertIn(main_to, files)
        self.authenticate("iota_studio_dev", "iota_studio_dev")
        with tempfile.TemporaryDirectory() as root, patch.object(editor, "ADDON_ROOT", Path(root)):
            for to in files:  # a copy of this server's install (mtimes kept)
                (Path(root) / to).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(editor.__file__).parent.parent / to, Path(root) / to)
            self.assertEqual(editor.monaco_not_installed(), ([], []))
            self.assertEqual(self.url_open("/iota_scripts/editor").status_code, 200)
            main = Path(root) / main_to
            data = main.read_bytes()
            main.write_bytes(data[: len(data) // 2])  # a partial copy
            with self.assertLogs("odoo.addons.iota_scripts.controllers.editor", "WARNING") as logs:
                res = self.url_open("/iota_scripts/editor")
            self.assertEqual(res.status_code, 503)
            self.assertIn(main_to, logs.output[0])
            self.assertIn("differ from their sha256", logs.output[0])
            message = (
                "The Monaco editor on this server differs from the version package-lock.json "
                "pins: run `npm ci` in the IOTA Scripts folder, then reload this page."
            )
            self.assertIn(f'data-error="{message}"', res.text)
            self.assertNotIn("loader.js", res.text)
            # the same size, one byte changed: its new mtime makes it hashed again
            main.write_bytes(data[:-1] + (b" " if data[-1:] != b" " else b"\n"))
            self.assertEqual(editor.monaco_not_installed(), ([], [main_to]))
            # a missing file is named as missing, before any altered one
            (Path(root) / files[0]).unlink()
            self.assertEqual(editor.monaco_not_installed(), ([files[0]], [main_to]))
            with self.assertLogs("odoo.addons.iota_scripts.controllers.editor", "WARNING"):
                res = self.url_open("/iota_scripts/editor")
            self.assertEqual(res.status_code, 503)
            self.assertIn("The Monaco editor is not installed on this server", res.text)
            # reinstalled: served again
            shutil.copy2(Path(editor.__file__).parent.parent / files[0], Path(root) / files[0])
            main.write_bytes(data)
            self.assertEqual(editor.monaco_not_installed(), ([], []))
            self.assertEqual(self.url_open("/iota_scripts/editor").status_code, 200)

    def test_check_route_reports_positions(self):
        self.authenticate("iota_studio_dev", "iota_studio_dev")
        bad = self._json(
            "/iota_scripts/editor/check", {"source": "export default () => {\n  return 1 +;\n}\n"}
        )
        marker = bad["result"]["markers"][0]
        self.assertEqual((marker["line"], marker["column"]), (2, 13))
        self.assertIn("Unexpected token", marker["message"])
        good = self._json("/iota_scripts/editor/check", {"source": TEMPLATES["manual_report"][1]})
        self.assertEqual(good["result"], {"markers": []})
        big = self._json("/iota_scripts/editor/check", {"source": "//" + "x" * 300000})
        self.assertIn("bytes", big["result"]["markers"][0]["message"])
        self.assertIsNone(big["result"]["markers"][0]["line"])
        self.authenticate("iota_studio_user", "iota_studio_user")
        refused = self._json("/iota_scripts/editor/check", {"source": "x"})
        self.assertEqual(refused["error"]["data"]["name"], "odoo.exceptions.AccessError")

    def test_check_route_knows_library_scripts(self):
        """A library script's source has no default export: the editor's check accepts it."""
        self.authenticate("iota_studio_dev", "iota_studio_dev")
        source = "export function total(xs) {\n  return xs.length;\n}\n"
        script = self._json("/iota_scripts/editor/check", {"source": source})
        self.assertIn("export default", script["result"]["markers"][0]["message"])
        library = self._json("/iota_scripts/editor/check", {"source": source, "library": True})
        self.assertEqual(library["result"], {"markers": []})

    def test_check_route_warns_about_unknown_fields(self):
        """A source that parses: the field names its reads do not find, as warnings (issue 18)."""
        self.authenticate("iota_studio_dev", "iota_studio_dev")
        source = (
            "export default async () => {\n"
            '  const a = await sdk.db.searchRead("res.partner", [], ["name", "nmae"]);\n'
            "  const b = await sdk.db.read('res.partner', [1], [\n    'email', 'emial', dynamic]);\n"
            '  const c = await sdk.db.read("no.such.model", [1], ["x"]);\n'
            '  const d = await sdk.db.searchRead(model, [], ["anything"]);\n'
            "  return [a, b, c, d];\n"
            "};\n"
        )
        markers = self._json("/iota_scripts/editor/check", {"source": source})["result"]["markers"]
        self.assertEqual(
            [(m["line"], m["column"], m["severity"], m["message"]) for m in markers],
            [
                (2, 65, "warning", 'res.partner has no field "nmae"'),
                (4, 14, "warning", 'res.partner has no field "emial"'),
            ],
        )
        lines = source.splitlines()
        self.assertEqual(lines[1][64:70], '"nmae"')
        self.assertEqual(lines[3][13:20], "'emial'")

    def test_typings_route(self):
        self.authenticate("iota_studio_dev", "iota_studio_dev")
        res = self._json("/iota_scripts/editor/typings", {})["result"]
        paths = [lib["path"] for lib in res["libs"]]
        self.assertEqual(paths, ["file:///iota/sdk.d.ts", "file:///iota/models.d.ts"])
        sdk_dts, models_dts = (lib["content"] for lib in res["libs"])
        self.assertIn("interface IotaModels {}", sdk_dts)
        self.assertIn('"res.partner": {', models_dts)
        self.assertNotIn('"ir.cron"', models_dts)
        self.assertGreater(res["models"], 20)
        self.assertFalse(res["truncated"])
        self.authenticate("iota_studio_user", "iota_studio_user")
        refused = self._json("/iota_scripts/editor/typings", {})
        self.assertEqual(refused["error"]["data"]["name"], "odoo.exceptions.AccessError")
