"""Dry-run on real records (issue 12 §2), on real PostgreSQL and real V8.

Nothing a dry-run does persists, whatever its outcome; its HTTP calls never
leave (a loopback egress proxy counts the requests that do); its events and
enqueues are captured, never written; and its report holds the write diff.
"""

import http.server
import json
import threading
from unittest.mock import patch

from iota_scripts_sdk import Engine, EngineConfig
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import IotaScriptsCase

#: A public address literal: resolving it needs no DNS, and the egress proxy
#: (the counting server) receives the CONNECT for it.
PUBLIC_URL = "http://93.184.215.14/hook"


def counting_proxy(case):
    """A loopback server that counts every request it receives (CONNECT included)."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _count(self):
            hits.append((self.command, self.path))
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_CONNECT = _count

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    case.addCleanup(server.server_close)
    case.addCleanup(server.shutdown)
    return f"http://127.0.0.1:{server.server_port}", hits


@tagged("post_install", "-at_install")
class TestDryRun(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.victim = cls.env["res.partner"].create(
            {"name": "Victim of A", "company_id": cls.company_a.id}
        )

    def _dry(self, source, user=None, **values):
        values.setdefault("run_as_user_id", self.bot_a.id)
        script = self._script(source, **values)
        report = script.with_user(user or self.dev_a).action_dry_run()
        return script, report

    def _ref_in_db(self, partner):
        self.env.invalidate_all()
        self.env.cr.execute("SELECT ref FROM res_partner WHERE id = %s", [partner.id])
        return self.env.cr.fetchone()[0]

    def _assert_nothing_kept(self, script):
        self.assertFalse(self._ref_in_db(self.partner_a))
        self.assertFalse(self.env["res.partner"].search([("name", "=", "Made by a dry run")]))
        self.assertTrue(self.victim.exists())
        self.assertFalse(self._executions(script), "a dry-run leaves no execution")

    def test_write_create_unlink_diff_and_nothing_persists(self):
        script, report = self._dry(
            f"""export default async () => {{
              await sdk.db.write("res.partner", [{self.partner_a.id}], {{ref: "dry", name: "Renamed"}});
              const id = await sdk.db.create("res.partner", {{name: "Made by a dry run", company_id: {self.company_a.id}}});
              await sdk.db.unlink("res.partner", [{self.victim.id}]);
              sdk.log.info("done");
              return {{created: id}};
            }};"""
        )
        self.assertEqual(report["state"], "succeeded", report["error"])
        self.assertFalse(report["id"])
        diff = report["dry_run"]
        [write] = [w for w in diff["writes"] if w["id"] == self.partner_a.id]
        self.assertEqual(write["model"], "res.partner")
        self.assertEqual(write["changes"]["ref"], [False, "dry"])
        self.assertEqual(write["changes"]["name"], ["Partner of A", "Renamed"])
        # a stored computed field that followed the write shows too
        self.assertEqual(write["changes"]["complete_name"], ["Partner of A", "Renamed"])
        [created] = diff["created"]
        self.assertEqual(
            (created["model"], created["id"]), ("res.partner", report["result"]["created"])
        )
        self.assertEqual(created["values"]["name"], "Made by a dry run")
        self.assertEqual(
            diff["deleted"], [{"model": "res.partner", "id": self.victim.id, "name": "Victim of A"}]
        )
        self.assertEqual([line["message"] for line in report["logs"]], ["done"])
        self._assert_nothing_kept(script)
        self.assertEqual(self.partner_a.name, "Partner of A")

    def test_nothing_persists_after_a_failure_a_timeout_or_memory_limit(self):
        write = f'await sdk.db.write("res.partner", [{self.partner_a.id}], {{ref: "dry"}});'
        cases = {
            "failed": f"export default async () => {{ {write} throw new Error('kaput'); }};",
            "timed_out": f"export default async () => {{ {write} while (true) {{}} }};",
            "memory_limit": f"""export default async () => {{ {write}
                const a = []; for (let i = 0; i < 2000000; i++) a.push('x'.repeat(100) + i); }};""",
        }
        for expected, source in cases.items():
            with self.subTest(expected):
                script, report = self._dry(
                    source, name=f"fails: {expected}", timeout_sec=1, memory_mb=16
                )
                code = report["error"]["code"]
                if expected == "memory_limit":
                    self.assertIn(code, ("memory_limit", "sandbox_crashed"))
                else:
                    self.assertEqual(report["state"], expected)
                # the failed run is rolled back like a real one: it would write nothing
                self.assertEqual(report["dry_run"]["writes"], [])
                self._assert_nothing_kept(script)

    def test_a_dry_run_that_cannot_start_raises(self):
        script = self._script("export default () => 1;", run_as_user_id=self.bot_a.id)
        script.active = False
        with self.assertRaises(UserError):
            script.with_user(self.dev_a).action_dry_run()
        self.assertFalse(self._executions(script))

    def test_http_events_and_enqueues_are_captured_not_done(self):
        proxy_url, hits = counting_proxy(self)
        engine = Engine(EngineConfig(runners=1, http_proxy_url=proxy_url))
        self.addCleanup(engine.close)
        target = self._script("export default () => 1;", name="target", key="dry_target")
        source = f"""export default async () => {{
          try {{ await sdk.http.post("{PUBLIC_URL}", {{n: 1}}, {{headers: {{"X-Api-Key": "s3cret"}}}}); }}
          catch (e) {{ sdk.log.info("http " + e.code); }}
          try {{ await sdk.http.get("http://other.example.org/"); }}
          catch (e) {{ sdk.log.info("blocked " + e.code); }}
          await sdk.events.emit("order.dry", {{n: 1}});
          await sdk.scripts.enqueue("dry_target", {{n: 2}});
          return "ok";
        }};"""
        script = self._script(source, run_as_user_id=self.bot_a.id, allowed_hosts="93.184.215.14")
        Event = self.env["iota.script.event"].sudo()
        with patch("odoo.addons.iota_scripts.run.pipeline.get_engine", return_value=engine):
            report = script.with_user(self.dev_a).action_dry_run()
            self.assertEqual(report["state"], "succeeded", report["error"])
            self.assertEqual(hits, [], "a dry-run sent an HTTP request")
            self.assertFalse(Event.search([("type", "=", "order.dry")]))
            self.assertFalse(self._executions(target))
            # the control: the same script, run for real, reaches the proxy
            real = script.action_run()
        self.assertEqual(real.state, "succeeded", real.error_message)
        self.assertTrue(hits, f"the control run did not reach the egress proxy: {real.log_json}")
        self.assertTrue(Event.search([("type", "=", "order.dry")]))
        # the declared hosts apply as in a real run
        self.assertIn("blocked access_denied", [line["message"] for line in report["logs"]])
        diff = report["dry_run"]
        [call] = diff["http"]
        self.assertEqual((call["method"], call["url"]), ("POST", PUBLIC_URL))
        self.assertEqual(call["headers"]["X-Api-Key"], "***")
        self.assertEqual(json.loads(call["body"]), {"n": 1})
        self.assertEqual(diff["events"], [{"type": "order.dry", "payload": {"n": 1}}])
        self.assertEqual(diff["enqueued"][0]["key"], "dry_target")
        self.assertEqual(diff["enqueued"][0]["input"], {"n": 2})

    def test_dry_run_runs_as_the_run_as_user_of_the_scripts_company(self):
        # bot_a may not write a partner of company B; a dry-run is no sudo
        script, report = self._dry(
            f"""export default async () => {{
              await sdk.db.write("res.partner", [{self.partner_b.id}], {{ref: "dry"}});
            }};"""
        )
        self.assertEqual(report["state"], "failed")
        self.assertEqual(report["error"]["code"], "access_denied")
        self.assertEqual(report["dry_run"]["writes"], [])
        self.assertFalse(self._ref_in_db(self.partner_b))
        # and a developer of B cannot dry-run a script of A at all
        with self.assertRaises(AccessError):
            script.with_user(self.dev_b).action_dry_run()

    def test_a_version_other_than_the_current_one(self):
        script = self._script("export default () => 'one';", run_as_user_id=self.bot_a.id)
        first = script.version_id
        script.source = "export default () => 'two';"
        self.assertNotEqual(script.version_id, first)
        report = script.with_user(self.dev_a).action_dry_run(version_id=first.id)
        self.assertEqual((report["result"], report["version_number"]), ("one", first.number))
        other = self._script("export default () => 3;", name="other")
        with self.assertRaises(UserError):
            script.with_user(self.dev_a).action_dry_run(version_id=other.version_id.id)

    def test_test_on_a_record_from_a_server_action(self):
        script = self._script(
            "export default async (ctx) => { await sdk.db.write(ctx.records.model, ctx.records.ids, {ref: ctx.trigger.type}); };",
            run_as_user_id=self.bot_a.id,
        )
        action = self.env["ir.actions.server"].create(
            {
                "name": "Run it",
                "model_id": self.env["ir.model"]._get("res.partner").id,
                "state": "iota_script",
                "iota_script_id": script.id,
            }
        )
        opened = action.with_user(self.dev_a).action_iota_dry_run()
        wizard = (
            self.env["iota.script.dry.run.wizard"].with_user(self.dev_a).browse(opened["res_id"])
        )
        wizard.record_ref = f"res.partner,{self.partner_a.id}"
        wizard.action_dry_run()
        self.assertEqual(wizard.state, "succeeded", wizard.error)
        [write] = json.loads(wizard.report_json)["writes"]
        self.assertEqual(write["changes"]["ref"], [False, "manual"])
        self.assertIn("o_iota_scripts_diff_change", wizard.report_html)
        self._assert_nothing_kept(script)
