"""Threat: text from a script that is not Unicode fails the transaction that ran it.

Whatever a script produces is stored and served safely (issue 16 §6 "Invalid Unicode").

A string cut inside an emoji (a lone surrogate) and NUL (which PostgreSQL
refuses in text) in results, log lines and their fields, error messages,
event payloads and endpoint answers. Through real triggers: an automation
rule on a record save, the queue worker, an HTTP call. The transaction that
ran the script commits and the execution is kept either way.
"""

import json

from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from ..run.request import RunRequest
from ..tools.storable_text import header_value_error, storable_text, unicode_text
from .common import IotaScriptsCase, RealCursorMixin

FFFD = "\ufffd"

PRODUCER = """\
export default async function (ctx) {
  const cut = "😀".slice(0, 1);
  sdk.log.info("cut " + cut + " nul \\u0000", { cut, nul: "a\\u0000b", [cut]: 1 });
  console.log("console", cut, { cut });
  await sdk.events.emit("text.odd", { cut, nul: "\\u0000" });
  return { cut, nul: "a\\u0000b", pair: "😀" };
}
"""

FAILER = """\
export default function () {
  throw new Error("bad " + "😀".slice(0, 1) + " \\u0000 end");
}
"""

FAILER_MESSAGE = "Error: bad " + FFFD + " " + FFFD + " end"


class _Checks:
    def assertProduced(self, execution):
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(
            json.loads(execution.result_json), {"cut": FFFD, "nul": "a\x00b", "pair": "😀"}
        )
        logs = json.loads(execution.log_json)
        self.assertEqual(
            [(line["message"], line["fields"]) for line in logs],
            [
                (f"cut {FFFD} nul \x00", {"cut": FFFD, "nul": "a\x00b", FFFD: 1}),
                (f'console {FFFD} {{"cut":"{FFFD}"}}', None),
            ],
        )

    def assertFailed(self, execution):
        self.assertEqual((execution.state, execution.error_code), ("failed", "script_error"))
        self.assertEqual(execution.error_message, FAILER_MESSAGE)


@tagged("post_install", "-at_install")
class TestStorableText(TransactionCase):
    def test_threat_invalid_unicode(self):
        self.assertEqual(storable_text("a\ud800b\x00c"), "a\ufffdb\ufffdc")
        self.assertEqual(storable_text("😀 \ud83d\ude00"), "😀 😀")
        self.assertEqual(storable_text(False), False)
        self.assertEqual(unicode_text("a\udc00\x00"), "a\ufffd\x00")

    def test_header_values(self):
        self.assertIsNone(header_value_error("text/plain; q=0.5\tx"))
        for bad in ("café", "a\r\nSet-Cookie: x", "\x00", "😀", "x" * 4097, 5):
            self.assertIsNotNone(header_value_error(bad), bad)


@tagged("post_install", "-at_install")
class TestStorableTextOnSave(_Checks, IotaScriptsCase):
    """An automation rule on a record save (server action of type iota_script)."""

    def _automation(self, script):
        partner_model = self.env["ir.model"]._get("res.partner")
        return self.env["base.automation"].create(
            {
                "name": f"Odd text {script.name}",
                "model_id": partner_model.id,
                "trigger": "on_create_or_write",
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": f"Run {script.name}",
                            "model_id": partner_model.id,
                            "state": "iota_script",
                            "iota_script_id": script.id,
                        },
                    )
                ],
            }
        )

    def test_record_save_stores_what_the_script_produced(self):
        producer = self._script(PRODUCER, name="producer")
        failer = self._script(FAILER, name="failer")
        self._automation(producer)
        self._automation(failer)
        partner = self.env["res.partner"].create(
            {"name": "Saved with odd text", "company_id": self.company_a.id}
        )
        # What the save's commit would send to PostgreSQL, sent now.
        self.env.flush_all()
        self.env.invalidate_all()
        self.assertTrue(partner.exists())
        self.assertProduced(self._executions(producer).ensure_one())
        self.assertFailed(self._executions(failer).ensure_one())
        event = self.env["iota.script.event"].search(
            [("type", "=", "text.odd"), ("script_id", "=", producer.id)]
        )
        self.assertEqual(json.loads(event.ensure_one().payload_json), {"cut": FFFD, "nul": "\x00"})


@tagged("post_install", "-at_install")
class TestStorableTextQueue(_Checks, RealCursorMixin, TransactionCase):
    """Queued runs processed by the queue worker's cron method, committed."""

    def test_queue_worker_commits_and_keeps_the_executions(self):
        producer_id = self._committed_script(PRODUCER, timeout_sec=5)
        failer_id = self._committed_script(FAILER, timeout_sec=5)
        with self._env() as env:
            Execution = env["iota.script.execution"]
            ids = [
                Execution._enqueue(
                    RunRequest(env["iota.script"].browse(sid), {"type": "manual"})
                ).id
                for sid in (producer_id, failer_id)
            ]
        with self._env() as env:
            env["iota.script.execution"]._cron_process_queue(budget_sec=30)
        with self._env() as env:
            produced, failed = env["iota.script.execution"].browse(ids)
            self.assertProduced(produced)
            self.assertFailed(failed)
            event = env["iota.script.event"].search(
                [("type", "=", "text.odd"), ("execution_id", "=", produced.id)]
            )
            self.assertEqual(json.loads(event.payload_json), {"cut": FFFD, "nul": "\x00"})
            event.unlink()


@tagged("post_install", "-at_install")
class TestStorableTextEndpoint(HttpCase):
    """Endpoint answers: bodies are served as UTF-8; header values are ASCII or refused."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env["res.company"].create({"name": "IOTA Odd Text Company"})
        sources = {
            "json": 'export default () => ({ cut: "😀".slice(0, 1), nul: "\\u0000" })',
            "body": 'export default () => ({ status: 200, body: "x" + "😀".slice(1) })',
            "latin": (
                'export default () => ({ status: 200, body: "x",'
                ' headers: { "X-App-Name": "café" } })'
            ),
            "cut": (
                'export default () => ({ status: 200, body: "x",'
                ' headers: { "X-App-Name": "😀".slice(0, 1) } })'
            ),
            "ascii": (
                'export default () => ({ status: 200, body: "x",'
                ' headers: { "X-App-Name": "plain ascii" } })'
            ),
        }
        cls.scripts = {}
        for key, source in sources.items():
            cls.scripts[key] = cls.env["iota.script"].create(
                {
                    "name": f"odd {key}",
                    "company_id": cls.company.id,
                    "state": "active",
                    "source": source,
                }
            )
            cls.env["iota.script.endpoint"].create(
                {
                    "script_id": cls.scripts[key].id,
                    "path": f"/odd-text/{key}",
                    "auth_mode": "public",
                    "methods": "GET",
                }
            )
        new_test_user(cls.env, "iota_odd_text_user", groups="base.group_user")

    def _get(self, key):
        return self.opener.get(self.base_url() + f"/iota/api/v1/odd-text/{key}", timeout=30)

    def _execution(self, key):
        return self.env["iota.script.execution"].search(
            [("script_id", "=", self.scripts[key].id)], order="id desc", limit=1
        )

    def test_bodies(self):
        response = self._get("json")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json(), {"cut": FFFD, "nul": "\x00"})
        response = self._get("body")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.content, ("x" + FFFD).encode())
        self.assertEqual(self._execution("body").http_status, 200)

    def test_header_values_outside_ascii_are_refused_with_a_name(self):
        for key in ("latin", "cut"):
            response = self._get(key)
            self.assertEqual(response.status_code, 500, response.text)
            self.assertEqual(response.json()["error"]["code"], "invalid_response")
            self.assertNotIn("X-App-Name", response.headers)
            execution = self._execution(key)
            # The run itself succeeded and is kept; its answer was refused.
            self.assertEqual((execution.state, execution.http_status), ("succeeded", 500))
        response = self._get("ascii")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.headers["X-App-Name"], "plain ascii")
