import hashlib

from iota_scripts_sdk.api import API_VERSION
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger
from psycopg2 import IntegrityError

from .common import IotaScriptsCase

V1 = "export default () => 1;\n"
V2 = "export default () => 2;\n"


@tagged("post_install", "-at_install")
class TestIotaScriptVersion(IotaScriptsCase):
    def test_versions_follow_source_changes(self):
        script = self._script(V1)
        self.assertEqual(script.version_count, 1)
        v1 = script.version_id
        self.assertEqual((v1.number, v1.source), (1, V1))
        self.assertEqual(v1.sha256, hashlib.sha256(V1.encode()).hexdigest())
        self.assertEqual(v1.author_id, self.env.user)
        self.assertEqual(v1.company_id, self.company_a)

        script.write({"source": V1})  # unchanged: no new version
        script.write({"name": "Renamed"})
        self.assertEqual(script.version_count, 1)

        script.with_user(self.dev_a).write({"source": V2})
        v2 = script.version_id
        self.assertEqual((v2.number, v2.source, v2.author_id), (2, V2, self.dev_a))
        self.assertEqual(script.version_ids, v1 | v2)
        events = self.env["iota.script.event"].search([("script_id", "=", script.id)])
        self.assertEqual(sorted(events.mapped("type")), ["script.created", "script.updated"])

    def test_versions_are_immutable(self):
        script = self._script(V1)
        version = script.version_id
        # a client can send the context key, never the sentinel object
        for env_version in (version, version.with_context(iota_scripts_engine=True)):
            with self.assertRaises(UserError):
                env_version.write({"source": "export default () => 666"})
            with self.assertRaises(UserError):
                env_version.unlink()
        with self.assertRaises(UserError):
            self.env["iota.script.version"].with_context(iota_scripts_engine=True).create(
                {"script_id": script.id, "source": V2}
            )
        with self.assertRaises(UserError):
            script.write({"version_id": False})
        self.assertEqual(version.source, V1)

    def test_restore_creates_a_new_version(self):
        script = self._script(V1)
        v1 = script.version_id
        script.write({"source": V2})
        v3 = v1.with_user(self.dev_a).action_restore()
        self.assertEqual(v3.number, 3)
        self.assertEqual(v3.source, V1)
        self.assertEqual(script.source, V1)
        self.assertEqual(script.version_id, v3)
        self.assertIn("v1", v3.note)
        # a plain user may not restore (no write access on scripts)
        with self.assertRaises(AccessError):
            v1.with_user(self.user_a).action_restore()

    def test_syntax_error_refused_with_line_and_column(self):
        count = self.env["iota.script"].search_count([])
        with self.assertRaisesRegex(ValidationError, r"^Line 2, column 11: "):
            self._script("export default () => {\n  let x = ;\n};\n")
        self.assertEqual(self.env["iota.script"].search_count([]), count)
        script = self._script(V1)
        with self.assertRaisesRegex(ValidationError, r"Line 1, column \d+"):
            script.write({"source": "export default ( => 1"})
        self.assertEqual(script.version_count, 1)

    def test_html_like_comments_refused_at_save_and_at_run(self):
        # Issue 17 "HTML-like comments": V8 runs the body as a classic script, where
        # `<!--` starts a line comment; the checker (module goal) reads an operator.
        hidden = (
            "export default function () {\n"
            "  let a = 3, b = 5;\n"
            "  const r = a <!-- b; globalThis.hits = (globalThis.hits || 0) + 1\n"
            "  return [r, globalThis.hits];\n"
            "}\n"
        )
        with self.assertRaisesRegex(ValidationError, r"^Line 3, column 15: '<!--' is not allowed"):
            self._script(hidden)
        script = self._script(V1)
        with self.assertRaisesRegex(ValidationError, r"^Line 2, column 3: '-->' is not allowed"):
            script.write({"source": "export default () => 1 /*\n*/--> 2\n"})
        self.assertEqual(script.version_count, 1)
        # A version saved before the check existed (written here with SQL) fails at run.
        self.env.cr.execute(
            "UPDATE iota_script_version SET source = %s WHERE id = %s",
            (hidden, script.version_id.id),
        )
        script.version_id.invalidate_recordset(["source"])
        for _ in range(2):
            execution = script.action_run()
            self.assertEqual(execution.state, "failed")
            self.assertEqual((execution.error_code, execution.error_line), ("syntax_error", 3))
            self.assertIn("'<!--' is not allowed", execution.error_message)

    def test_source_size_limit(self):
        self.env["ir.config_parameter"].set_param("iota_scripts.max_source_bytes", 100)
        with self.assertRaisesRegex(ValidationError, "at most 100"):
            self._script("export default () => 1;\n" + "//" + "x" * 200)
        self.env["ir.config_parameter"].set_param("iota_scripts.max_source_bytes", 50 * 1024 * 1024)
        with self.assertRaisesRegex(ValidationError, "at most"):  # the engine's ceiling still holds
            self._script("//" + "x" * (5 * 1024 * 1024))

    def test_key_unique_per_company(self):
        self._script(V1, key="same_key")
        self._script(V1, key="same_key", company=self.company_b)
        with self.assertRaises(ValidationError):
            self._script(V1, key="Not A Key!")
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            self._script(V1, key="same_key")

    def test_run_as_user(self):
        script = self._script(V1)
        runner = self.company_a._iota_scripts_runner_user()
        self.assertEqual(script.run_as_user_id, runner)
        self.assertEqual(runner.login, f"iota_scripts_runner_{self.company_a.id}")
        group_user = self.env.ref("base.group_user")
        self.assertIn(group_user, runner.groups_id)
        self.assertFalse(runner.groups_id - group_user - group_user.trans_implied_ids)
        self.assertEqual(runner.company_ids, self.company_a)
        self.assertFalse(runner.active)
        # only administrators choose the run-as user; never the superuser
        with self.assertRaises(AccessError):
            script.with_user(self.dev_a).write({"run_as_user_id": self.dev_a.id})
        with self.assertRaises(ValidationError):
            script.write({"run_as_user_id": self.env.ref("base.user_root").id})
        with self.assertRaises(ValidationError):
            script.write({"run_as_user_id": self.dev_b.id})  # not a user of company A
        script.write({"run_as_user_id": self.bot_a.id})
        self.assertEqual(script.run_as_user_id, self.bot_a)

    def test_company_is_fixed(self):
        script = self._script(V1)
        with self.assertRaises(UserError):
            script.write({"company_id": self.company_b.id})

    def test_source_needs_developer(self):
        script = self._script(V1)
        with self.assertRaises(AccessError):
            script.with_user(self.user_a).read(["source"])
        with self.assertRaises(AccessError):
            script.with_user(self.user_a).write({"name": "nope"})
        self.assertEqual(script.with_user(self.dev_a).read(["source"])[0]["source"], V1)

    def test_form_creates_first_version(self):
        with Form(self.env["iota.script"].with_user(self.dev_a)) as form:
            form.name = "From the form"
            form.source = V2
        script = form.record
        self.assertEqual(script.key, "from_the_form")
        self.assertEqual(script.company_id, self.company_a)
        self.assertEqual(script.version_id.number, 1)
        self.assertEqual(script.sudo().run_as_user_id, self.company_a._iota_scripts_runner_user())

    def test_archived_script_keeps_history(self):
        script = self._script(V1)
        script.action_run()
        script.active = False
        self.assertEqual(script.version_count, 1)
        self.assertEqual(len(self._executions(script)), 1)
        with self.assertRaises(UserError):
            script.action_run()

    def test_copy_and_delete(self):
        script = self._script(V1, run_as_user_id=self.bot_a.id)
        copy = script.copy()
        self.assertEqual(copy.key, f"{script.key}_copy")
        self.assertEqual(copy.name, "Test script (copy)")
        self.assertEqual(copy.source, V1)
        self.assertEqual(copy.version_id.number, 1)
        self.assertNotEqual(copy.version_id, script.version_id)
        self.assertEqual(copy.run_as_user_id, self.company_a._iota_scripts_runner_user())
        self.assertEqual(script.copy().key, f"{script.key}_copy_2")
        copy.action_run()
        versions = copy.version_ids
        with self.assertRaises(AccessError):
            copy.with_user(self.dev_a).unlink()  # developers archive; administrators delete
        copy.unlink()
        self.assertFalse(versions.exists())


@tagged("post_install", "-at_install")
class TestApiVersion(IotaScriptsCase):
    def test_scripts_declare_the_sdk_api_version(self):
        script = self._script("export default () => 1;")
        self.assertEqual(script.api_version, API_VERSION)  # new scripts: the current one
        major, minor = (int(p) for p in API_VERSION.split("."))
        script.api_version = f"{major}.0"  # an older minor of this major: fine
        for bad in (f"{major}.{minor + 1}", f"{major + 1}.0", "1", "v1.2", "", "1.2.3"):
            with self.subTest(bad=bad), self.assertRaises(ValidationError):
                with self.env.cr.savepoint():
                    script.api_version = bad
                    script.flush_recordset()
