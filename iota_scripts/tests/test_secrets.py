"""Secrets (issue 10 §3) on real Odoo with the real engine: encrypted at rest with a
key outside the database, write-only, read only when declared, every read
recorded, masked in logs, results, errors and live lines, rotation, a lost
key, and company isolation."""

import json
import os
import uuid
from contextlib import contextmanager
from unittest.mock import patch

from cryptography.fernet import Fernet
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..run.request import RunRequest
from ..tools import live, secret_box
from .common import IotaScriptsCase, RealCursorMixin

KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()
VALUE = 'sk_live_Q9"Zürich"\\tail-7f3a'  # a quote, a backslash, non-ASCII: escaped in JSON text

#: Shows the secret every way a run can: whole, inside text, nested, as a key, in an error.
LEAKY = """export default async function (ctx) {
  const s = await sdk.secrets.get("stripe_key");
  console.log(s);
  sdk.log.info("Authorization: Bearer " + s + " (sent)", { headers: { auth: s }, list: [s, 1] });
  if (ctx.input && ctx.input.fail) throw new Error("the API refused " + s + "!");
  return { whole: s, inside: "key=" + s + ";", nested: [{ deep: [s] }], [s]: true };
}
"""


@contextmanager
def keys(*fernet_keys):
    with patch.dict(os.environ, {"IOTA_SCRIPTS_SECRET_KEYS": ",".join(fernet_keys)}):
        yield


def declares(*names):
    return json.dumps({"secrets": list(names)})


class SecretsCase(IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.enterContext(keys(KEY_1))
        self.admin_a = self._user(
            "iota_secret_admin_a", "iota_scripts.iota_scripts_group_admin,base.group_allow_export"
        )

    def _secret(self, name="stripe_key", value=VALUE, company=None):
        return (
            self.env["iota.script.secret"]
            .with_user(self.admin_a if company is None else self.env.user)
            .create({"name": name, "value": value, "company_id": (company or self.company_a).id})
        )

    def _run(self, script, input=None):
        return self.env["iota.script.execution"]._run(
            RunRequest(script, {"type": "cron"}, input=input)
        )

    def assertMasked(self, execution):
        stored = json.dumps(
            execution.read(["log_json", "result_json", "error_message", "error_stack"])
        )
        for form in (VALUE, json.dumps(VALUE)[1:-1], "sk_live_Q9", "tail-7f3a"):
            self.assertNotIn(form, stored)


@tagged("post_install", "-at_install")
class TestSecrets(SecretsCase):
    def test_the_value_is_encrypted_and_write_only(self):
        secret = self._secret()
        self.assertTrue(secret.has_value)
        self.assertEqual(secret.key_id, secret_box.current_key_id())
        as_admin = secret.with_user(self.admin_a)
        self.assertEqual(as_admin.read(["value"])[0]["value"], False)
        self.assertEqual(as_admin.export_data(["name", "value"])["datas"], [["stripe_key", ""]])
        self.assertEqual(
            as_admin.search_read([("id", "=", secret.id)], ["value"])[0]["value"], False
        )
        with self.assertRaises(AccessError):
            as_admin.read(["ciphertext"])
        token = secret.sudo().ciphertext
        self.assertNotIn("sk_live", token)
        self.assertEqual(secret_box.decrypt(token), VALUE)
        self.env.cr.execute("SELECT * FROM iota_script_secret WHERE id = %s", [secret.id])
        self.assertNotIn("sk_live", json.dumps(self.env.cr.fetchall(), default=str))
        # the audit trail names the field, never the value
        audit = self.env["iota.script.audit"].search([("res_model", "=", secret._name)])
        self.assertTrue(audit)
        self.assertNotIn("sk_live", json.dumps(audit.read(), default=str))

    def test_a_run_never_shows_the_secret_and_every_read_is_recorded(self):
        secret = self._secret()
        script = self._script(LEAKY, capabilities_json=declares("stripe_key"))
        execution = self._run(script)
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertMasked(execution)
        self.assertEqual(
            json.loads(execution.result_json),
            {
                "whole": "[secret:stripe_key]",
                "inside": "key=[secret:stripe_key];",
                "nested": [{"deep": ["[secret:stripe_key]"]}],
                "[secret:stripe_key]": True,
            },
        )
        logs = json.loads(execution.log_json)
        self.assertEqual(logs[0]["message"], "[secret:stripe_key]")
        self.assertEqual(logs[1]["message"], "Authorization: Bearer [secret:stripe_key] (sent)")
        self.assertEqual(logs[1]["fields"]["headers"]["auth"], "[secret:stripe_key]")
        failed = self._run(script, {"fail": True})
        self.assertEqual(failed.state, "failed")
        self.assertIn("the API refused [secret:stripe_key]!", failed.error_message)
        self.assertMasked(failed)
        reads = secret.sudo().read_ids
        self.assertEqual(len(reads), 2, "the failed run's read is kept too")
        self.assertEqual(set(reads.execution_id.ids), {execution.id, failed.id})
        self.assertEqual(reads.script_id, script)
        self.assertEqual(reads.user_id, script.run_as_user_id)

    def test_a_dry_run_report_masks_what_it_captured(self):
        self._secret()
        source = """export default async () => {
  const s = await sdk.secrets.get("stripe_key");
  await sdk.http.post("https://api.example.com/charge", "key=" + s, { headers: { "X-Custom": s } });
  await sdk.events.emit("paid", { token: s });
  return "ok";
}
"""
        script = self._script(
            source,
            capabilities_json=json.dumps(
                {"secrets": ["stripe_key"], "http": ["api.example.com"], "events": ["paid"]}
            ),
        )
        report = script.with_user(self.dev_a).action_dry_run()
        self.assertEqual(report["state"], "succeeded", report["error"])
        [call] = report["dry_run"]["http"]
        self.assertEqual(call["body"], "key=[secret:stripe_key]")
        self.assertEqual(call["headers"]["X-Custom"], "[secret:stripe_key]")
        self.assertEqual(
            report["dry_run"]["events"][0]["payload"], {"token": "[secret:stripe_key]"}
        )
        self.assertNotIn("sk_live", json.dumps(report, default=str))

    def test_a_secret_the_capabilities_do_not_name_is_access_denied(self):
        self._secret()
        self._secret("other_key", "other-value")
        source = """export default async () => {
  const out = [];
  for (const name of ["other_key", "stripe_key"]) {
    try { out.push(await sdk.secrets.get(name)); } catch (e) { out.push([e.code, e.message]); }
  }
  return out;
}
"""
        declared = self._run(self._script(source, capabilities_json=declares("stripe_key")))
        self.assertEqual(
            json.loads(declared.result_json),
            [
                ["access_denied", "capability 'secrets.other_key' not declared"],
                "[secret:stripe_key]",
            ],
        )
        # a script without a declaration reads no secret at all
        undeclared = self._run(self._script(source, name="undeclared"))
        self.assertEqual(
            [code for code, _message in json.loads(undeclared.result_json)],
            ["access_denied", "access_denied"],
        )

    def test_rotation_re_encrypts_every_secret(self):
        secret = self._secret()
        other = self._secret("other_key", "other-value")
        old_token = secret.sudo().ciphertext
        with keys(KEY_2, KEY_1):
            action = self.env["iota.script.secret"].with_user(self.admin_a).action_rotate_keys()
            self.assertEqual(action["params"]["type"], "success")
            new_id = secret_box.current_key_id()
        self.assertEqual((secret.key_id, other.key_id), (new_id, new_id))
        self.assertNotEqual(secret.sudo().ciphertext, old_token)
        # the old key is no longer needed
        script = self._script(
            'export default async () => (await sdk.secrets.get("stripe_key")).length;\n',
            capabilities_json=declares("stripe_key"),
        )
        with keys(KEY_2):
            self.assertEqual(json.loads(self._run(script).result_json), len(VALUE))

    def test_a_lost_key_gives_a_clear_error_and_shows_nothing(self):
        self._secret()
        script = self._script(LEAKY, capabilities_json=declares("stripe_key"))
        with keys(KEY_2):
            execution = self._run(script)
        self.assertEqual(execution.state, "failed")
        self.assertEqual(execution.error_code, "secret_unreadable")
        self.assertIn("'stripe_key'", execution.error_message)
        self.assertIn("key was lost or removed", execution.error_message)
        self.assertMasked(execution)
        self.assertNoLeak(execution.error_message)
        with keys(), self.assertRaisesRegex(UserError, "no secret key is configured"):
            self._secret("third", "x")
        with keys("not-a-key"), self.assertRaisesRegex(UserError, "not a Fernet key"):
            self._secret("fourth", "x")

    def test_company_b_reads_neither_the_secret_nor_the_record_of_company_a(self):
        self._secret()
        script_b = self._script(
            'export default async () => { try { return await sdk.secrets.get("stripe_key"); }'
            " catch (e) { return [e.code, e.message]; } };\n",
            company=self.company_b,
            capabilities_json=declares("stripe_key"),
        )
        execution = self._run(script_b)
        self.assertEqual(
            json.loads(execution.result_json),
            ["not_found", "no secret 'stripe_key' in this company"],
        )
        admin_b = self._user(
            "iota_secret_admin_b", "iota_scripts.iota_scripts_group_admin", self.company_b
        )
        Secrets = self.env["iota.script.secret"].with_user(admin_b)
        self.assertFalse(Secrets.search([]))
        self.assertFalse(self.env["iota.script.secret.read"].with_user(admin_b).search([]))


@tagged("post_install", "-at_install")
class TestSecretsLive(RealCursorMixin, SecretsCase):
    def test_live_lines_carry_the_mask(self):
        token = uuid.uuid4().hex
        admin = self.env.ref("base.user_admin")
        main = self.env.ref("base.main_company")
        self._secret(company=main)
        script = self._script(LEAKY, company=main, capabilities_json=declares("stripe_key"))
        values = script.with_user(admin).action_run_live(None, token)
        self.assertEqual(values["state"], "succeeded")
        with self._env() as env:
            env.cr.execute(
                "SELECT message FROM bus_bus "
                "WHERE message::jsonb -> 'payload' ->> 'token' = %s ORDER BY id",
                [token],
            )
            messages = [row[0] for row in env.cr.fetchall()]
            env.cr.execute(
                "DELETE FROM bus_bus WHERE message::jsonb -> 'payload' ->> 'token' = %s", [token]
            )
        lines = [
            line["message"]
            for m in messages
            if json.loads(m)["type"] == live.LOG
            for line in json.loads(m)["payload"]["lines"]
        ]
        self.assertEqual(
            lines[:2], ["[secret:stripe_key]", "Authorization: Bearer [secret:stripe_key] (sent)"]
        )
        everything = json.dumps([messages, values], default=str)
        for form in (VALUE, json.dumps(VALUE)[1:-1], "sk_live_Q9", "tail-7f3a"):
            self.assertNotIn(form, everything)
