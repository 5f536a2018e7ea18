import contextlib
import json
import os
import resource
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import config, mute_logger

from ..run.request import RunRequest
from ..run.start import run_env
from .common import IotaScriptsCase

HELLO = """\
export default async function (ctx) {
  sdk.log.info("hello", { n: ctx.input.n });
  console.log("from console");
  return { doubled: ctx.input.n * 2, trigger: ctx.trigger, script: ctx.script, company: ctx.company };
}
"""


#: What tells start.run_env's query among the statements of a run.
RUN_ENV_QUERY = '"p"."lang"'


@contextlib.contextmanager
def sql_statements(cr):
    """The SQL statements ``cr`` sends inside the block (a list, filled as they go)."""
    statements = []
    execute = type(cr).execute

    def spy(cursor, query, params=None, log_exceptions=True):
        statements.append(str(getattr(query, "code", query)))
        return execute(cursor, query, params, log_exceptions)

    with patch.object(type(cr), "execute", spy):
        yield statements


@tagged("post_install", "-at_install")
class TestIotaScriptExecution(IotaScriptsCase):
    def test_manual_run_records_history(self):
        script = self._script(HELLO)
        execution = script.with_user(self.user_a).action_run(input={"n": 21})
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        result = json.loads(execution.result_json)
        self.assertEqual(result["doubled"], 42)
        self.assertEqual(result["trigger"], {"type": "manual"})
        self.assertEqual(result["script"], {"id": script.id, "key": script.key, "version": 1})
        self.assertEqual(result["company"]["id"], self.company_a.id)
        self.assertEqual(execution.script_id, script)
        self.assertEqual(execution.version_id, script.version_id)
        self.assertEqual(execution.trigger, "manual")
        self.assertEqual(execution.company_id, self.company_a)
        self.assertEqual(execution.user_id, self.company_a._iota_scripts_runner_user())
        self.assertEqual(execution.triggered_by_id, self.user_a)
        self.assertEqual(json.loads(execution.input_json), {"n": 21})
        self.assertFalse(execution.input_truncated or execution.result_truncated)
        self.assertTrue(execution.date_start and execution.date_end)
        self.assertGreater(execution.wall_ms, 0)
        self.assertGreater(execution.heap_peak_bytes, 0)
        self.assertEqual(execution.log_count, 2)
        logs = json.loads(execution.log_json)
        self.assertEqual(
            (logs[0]["level"], logs[0]["message"], logs[0]["fields"]), ("info", "hello", {"n": 21})
        )
        self.assertIn("from console", execution.log_text)
        self.assertFalse(execution.error_code)
        events = self.env["iota.script.event"].search([("execution_id", "=", execution.id)])
        self.assertEqual(events.mapped("type"), ["script.executed"])
        # the user reads the run of their company
        self.assertEqual(execution.with_user(self.user_a).read(["state"])[0]["state"], "succeeded")
        self.assertEqual(script.last_execution_id, execution)

    def test_script_error_keeps_line_and_column(self):
        script = self._script("export default () => {\n  null.boom();\n};\n")
        execution = script.action_run()
        self.assertEqual(execution.state, "failed")
        self.assertEqual(execution.error_code, "script_error")
        self.assertEqual((execution.error_line, execution.error_column), (2, 8))
        self.assertIn("TypeError", execution.error_message)
        self.assertNoLeak(execution.error_message)
        self.assertNoLeak(execution.error_stack)
        self.assertEqual(
            self.env["iota.script.event"].search([("execution_id", "=", execution.id)]).type,
            "script.failed",
        )

    def test_timeout(self):
        script = self._script("export default () => { while (true) {} };", timeout_sec=0.5)
        execution = script.action_run()
        self.assertEqual((execution.state, execution.error_code), ("timed_out", "timeout"))
        self.assertLess(execution.wall_ms, 2000)
        self.assertEqual(script.action_run().state, "timed_out")  # and the next run is served

    def test_failed_run_leaves_nothing_behind(self):
        script = self._script(
            """export default async () => {
              await sdk.db.create("res.partner", { name: "written then undone" });
              await sdk.events.emit("test.undone", { a: 1 });
              throw new Error("changed my mind");
            };""",
            run_as_user_id=self.bot_a.id,
        )
        execution = script.action_run()
        self.assertEqual(execution.state, "failed")
        self.assertEqual(execution.host_calls, 2)
        self.assertFalse(self.env["res.partner"].search([("name", "=", "written then undone")]))
        self.assertFalse(self.env["iota.script.event"].search([("type", "=", "test.undone")]))

    def test_savepoint_only_when_the_run_touches_the_database(self):
        pure = self._script("export default () => 1;", name="pure", key="pure")
        writer = self._script(
            """export default async () => {
              await sdk.db.create("res.partner", { name: "kept by a savepoint" });
              return 2;
            };""",
            name="writer",
            key="writer",
            run_as_user_id=self.bot_a.id,
        )
        cr = self.env.cr
        with patch.object(cr, "savepoint", wraps=cr.savepoint) as savepoint:
            self.assertEqual(pure.action_run().state, "succeeded")
            self.assertEqual(savepoint.call_count, 0)
            self.assertEqual(writer.action_run().state, "succeeded")
            # the run's savepoint, then the one of the sdk.db call inside it
            self.assertEqual(savepoint.call_count, 2)
        self.assertTrue(self.env["res.partner"].search([("name", "=", "kept by a savepoint")]))

    def test_run_path_reads_company_version_and_tags_in_its_one_query(self):
        """The company's settings, the version's columns and (without tag-limited
        policy rules) the script's tags come with start.run_env's one query: no
        fetch of every res_company or iota_script_version column, no tag query."""
        script = self._script("export default () => 1;", name="lean", key="lean")
        Execution = self.env["iota.script.execution"]
        Execution.flush_model()
        Execution._run(RunRequest(script, {"type": "cron"}))  # fills the registry's ormcaches
        self.env.invalidate_all()
        with sql_statements(self.env.cr) as statements:
            execution = Execution._run(RunRequest(script, {"type": "cron"}))
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertTrue([q for q in statements if RUN_ENV_QUERY in q], statements)
        # the ORM's fetch of a record's columns, and the script's tags
        for fetch in (
            'SELECT "res_company"."id", "res_company"."name"',
            'SELECT "iota_script_version"."id", "iota_script_version"."company_id"',
            '"iota_script_iota_script_tag_rel"',
        ):
            with self.subTest(fetch=fetch):
                self.assertFalse([q for q in statements if fetch in q])

    def test_runs_of_one_transaction_read_the_run_env_once(self):
        """The runs of a queue group share one transaction: the second finds what
        run_env reads in the ORM cache (no query), and a write in between (the
        run-as user's language) is what the next run sees. A run written once
        (reserve_id) always asks, for its execution id."""
        script = self._script("export default () => 1;", name="twice", key="twice")
        runner = self.company_a._iota_scripts_runner_user()
        Execution = self.env["iota.script.execution"]
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env.invalidate_all()

        def run_env_queries(**kw):
            with sql_statements(self.env.cr) as statements:
                env, name, execution_id = run_env(Execution, script, runner, **kw)
            self.assertEqual(name, self.company_a.name)
            return env, execution_id, len([q for q in statements if RUN_ENV_QUERY in q])

        version = script.version_id
        self.assertEqual(run_env_queries(version=version)[1:], (None, 1))
        self.assertEqual(run_env_queries(version=version)[1:], (None, 0))
        self.assertEqual(version.source, "export default () => 1;")
        runner.partner_id.lang = "fr_FR"  # not flushed: in the cache only
        env, _, queries = run_env_queries(version=version)
        self.assertEqual((env.lang, queries), ("fr_FR", 0))
        _, execution_id, queries = run_env_queries(version=version, reserve_id=True)
        self.assertTrue(execution_id)
        self.assertEqual(queries, 1)

    def test_company_settings_changed_in_the_transaction_hold_for_its_runs(self):
        """run_env fills the cache only where it is empty: a setting written
        earlier in the same transaction is the one the run sees."""
        script = self._script("export default () => 1;", name="unsigned", key="unsigned")
        self.company_a.write(
            {"iota_scripts_require_approval": True, "iota_scripts_require_signed": True}
        )
        # the refusal is logged as a warning (and the responsible user told)
        with mute_logger("odoo.addons.iota_scripts.models.iota_script_version_approval"):
            execution = self.env["iota.script.execution"]._run(RunRequest(script, {"type": "cron"}))
        self.assertEqual(execution.state, "failed")
        self.assertEqual(execution.error_code, "signature_invalid")
        self.company_a.write(
            {"iota_scripts_require_signed": False, "iota_capabilities_required": True}
        )
        execution = self.env["iota.script.execution"]._run(RunRequest(script, {"type": "cron"}))
        self.assertEqual(execution.error_code, "capabilities_required")

    def test_events_emit_writes_the_outbox(self):
        script = self._script(
            """export default async () => {
              const id = await sdk.events.emit("order.flagged", { order: 7, why: "big" });
              let reserved;
              try { await sdk.events.emit("script.executed", {}); } catch (e) { reserved = e.code; }
              let bad;
              try { await sdk.events.emit("Not A Type", {}); } catch (e) { bad = e.code; }
              return { id, reserved, bad };
            };"""
        )
        execution = script.action_run()
        result = json.loads(execution.result_json)
        self.assertEqual((result["reserved"], result["bad"]), ("access_denied", "invalid_argument"))
        event = self.env["iota.script.event"].search([("uuid", "=", result["id"])])
        self.assertEqual(event.type, "order.flagged")
        self.assertEqual(json.loads(event.payload_json), {"order": 7, "why": "big"})
        self.assertEqual(
            (event.state, event.origin, event.company_id, event.script_id, event.execution_id),
            ("pending", "script", self.company_a, script, execution),
        )
        self.assertEqual(event.user_id, self.company_a._iota_scripts_runner_user())
        with self.assertRaises(UserError):
            event.with_context(iota_scripts_engine=True).write({"state": "done"})

    def test_only_the_engine_writes_executions(self):
        script = self._script(HELLO)
        execution = script.action_run(input={"n": 1})
        Execution = self.env["iota.script.execution"]
        for model in (Execution, Execution.with_context(iota_scripts_engine=True)):
            with self.assertRaises(UserError):
                model.create(
                    {"script_id": script.id, "company_id": self.company_a.id, "trigger": "manual"}
                )
            with self.assertRaises(UserError):
                execution.with_env(model.env).write({"state": "failed"})
        self.assertEqual(execution.state, "succeeded")

    def test_disabled_or_archived_scripts_do_not_run(self):
        script = self._script(HELLO, state="disabled")
        with self.assertRaises(UserError):
            script.action_run(input={"n": 1})
        script.state = "draft"
        self.assertEqual(script.action_run(input={"n": 1}).state, "succeeded")  # drafts run by hand
        script.active = False
        with self.assertRaises(UserError):
            script.action_run(input={"n": 1})

    def test_site_switch(self):
        script = self._script(HELLO)
        with patch.dict(os.environ, {"IOTA_SCRIPTS_ENABLED": "0"}):
            with self.assertRaisesRegex(UserError, "disabled on this server"):
                script.action_run(input={"n": 1})
        self.assertFalse(self._executions(script))

    def test_large_values_are_capped(self):
        script = self._script(
            'export default (ctx) => ({ big: "x".repeat(200000), input: ctx.input });'
        )
        execution = script.action_run(input={"blob": "y" * 100000})
        self.assertEqual(execution.state, "succeeded")
        self.assertTrue(execution.result_truncated and execution.input_truncated)
        self.assertEqual(len(execution.result_json), 64 * 1024)

    def test_runner_crash_leaves_odoo_running(self):
        script = self._script('export default () => "ab".repeat(2**27).split("").length;')
        with self.assertLogs("iota_scripts_sdk", "WARNING"):
            execution = script.action_run()
        self.assertEqual((execution.state, execution.error_code), ("failed", "sandbox_crashed"))
        self.assertNoLeak(execution.error_message)
        after = self._script("export default () => 40 + 2;", name="after the crash")
        self.assertEqual(json.loads(after.action_run().result_json), 42)

    def test_runs_under_odoo_default_memory_limit(self):
        # The server sets RLIMIT_AS (limit_memory_hard, 2.5 GiB by default)
        # before the tests run, and V8 aborts under it: runs must still work,
        # because V8 lives in runner processes that lift it.
        limit = config["limit_memory_hard"]
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if not limit or soft != limit:
            self.skipTest("the suite was not started by an Odoo server with limit_memory_hard")
        script = self._script(
            "export default () => { const a = []; for (let i = 0; i < 300000; i++) a.push('x' + i); return a.length }",
            memory_mb=256,
        )
        execution = script.action_run()
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(json.loads(execution.result_json), 300000)
        self.assertGreater(execution.heap_peak_bytes, 10 * 1024 * 1024)
        self.assertEqual(resource.getrlimit(resource.RLIMIT_AS)[0], limit)

    def test_retention(self):
        script = self._script(HELLO)
        old, new = script.action_run(input={"n": 1}), script.action_run(input={"n": 2})
        self.env.cr.execute(
            "UPDATE iota_script_execution SET create_date = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(days=31), old.id],
        )
        self.env["iota.script.execution"].invalidate_model()
        self.env["iota.script.execution"]._cron_prune()
        self.assertFalse(old.exists())
        self.assertTrue(new.exists())
        cron = self.env.ref("iota_scripts.iota_script_execution_cron_prune")
        self.assertTrue(cron.active)

    def test_run_wizard(self):
        script = self._script(HELLO)
        wizard = Form(
            self.env["iota.script.run.wizard"]
            .with_user(self.user_a)
            .with_context(default_script_id=script.id)
        )
        wizard.input_json = '{"n": 5}'
        record = wizard.save()
        record.action_run()
        self.assertEqual(record.state, "succeeded")
        self.assertEqual(json.loads(record.result_json)["doubled"], 10)
        self.assertIn("hello", record.log_text)
        record.input_json = "{not json"
        with self.assertRaises(UserError):
            record.action_run()

    def test_every_manual_run_checks_the_input_schema(self):
        """The form's Run button, the Run panel and action_run: one input check."""
        script = self._script(HELLO)
        script.input_schema = json.dumps(
            {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        )
        as_user = script.with_user(self.user_a)
        wizard = Form(
            self.env["iota.script.run.wizard"]
            .with_user(self.user_a)
            .with_context(default_script_id=script.id)
        )
        wizard.input_json = '{"n": "five"}'
        record = wizard.save()
        before = self.env["iota.script.execution"].search_count([("script_id", "=", script.id)])
        for run in (
            record.action_run,
            lambda: as_user.action_run(input={}),
            lambda: as_user.action_run(input={"n": 1.5}, background=True),
            lambda: as_user.action_run_live({"n": None}, "token"),
        ):
            with self.assertRaises(UserError) as caught:
                run()
            self.assertIn("input schema", str(caught.exception))
        # refused before anything ran or was queued
        after = self.env["iota.script.execution"].search_count([("script_id", "=", script.id)])
        self.assertEqual(after, before)
        record.input_json = '{"n": 2}'
        record.action_run()
        self.assertEqual(json.loads(record.result_json)["doubled"], 4)

    def test_http_follows_the_allow_list(self):
        source = """export default async (ctx) => {
          const out = {};
          for (const url of ctx.input.urls) {
            try { await sdk.http.get(url, { timeoutSec: 2 }); out[url] = "fetched"; }
            catch (e) { out[url] = e.code; }
          }
          return out;
        };"""
        closed = self._script(source, name="no hosts")
        opened = self._script(
            source, name="some hosts", allowed_hosts="localhost\n127.0.0.1\n*.example.invalid"
        )
        urls = ["http://localhost:9/", "http://127.0.0.1:9/", "http://api.example.com/"]
        # no declaration: no host at all
        result = json.loads(closed.action_run(input={"urls": urls}).result_json)
        self.assertEqual(set(result.values()), {"destination_blocked"}, result)
        # loopback stays blocked even when declared; undeclared hosts are refused by name
        result = json.loads(opened.action_run(input={"urls": urls}).result_json)
        self.assertEqual(
            result,
            {
                "http://localhost:9/": "destination_blocked",
                "http://127.0.0.1:9/": "destination_blocked",
                "http://api.example.com/": "access_denied",
            },
        )
        with self.assertRaises(ValidationError):
            opened.allowed_hosts = "http://example.com/path"

    def test_cache_is_per_company(self):
        source = """export default async (ctx) => {
          if (ctx.input.set) await sdk.cache.set("shared-key", ctx.input.set, 60);
          return await sdk.cache.get("shared-key");
        };"""
        script_a = self._script(source, name="cache A")
        script_b = self._script(source, name="cache B", company=self.company_b)
        self.assertEqual(
            json.loads(script_a.action_run(input={"set": "secret of A"}).result_json), "secret of A"
        )
        self.assertIsNone(json.loads(script_b.action_run(input={}).result_json))
        self.assertEqual(json.loads(script_a.action_run(input={}).result_json), "secret of A")
