"""Threat: code runs that nobody else reviewed, or changed after approval (self-approval, SQL edits).

Four-eyes approval and signed versions (issue 10 §4), on real Odoo and real V8.

A developer cannot publish without another user's approval; nobody approves
their own submission by any path (button, RPC write, sudo, call_kw, SQL);
approval signs with Ed25519; a version tampered with in SQL is refused by
every trigger under "require signed", and its responsible user is told.
"""

import json
import os
from unittest.mock import patch

import psycopg2
from iota_scripts_sdk import signing
from odoo import api
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..tools.sentinel import as_engine
from .common import IotaScriptsCase, work_queue

KEY_1 = signing.generate_private_key()
KEY_2 = signing.generate_private_key()

# what ran shows in the result: "v1", or the tamperer's
RENAMES = """export default async (ctx) => {
  const found = await sdk.db.searchCount("res.partner", [["id", "=", ctx.input.id]]);
  return "v1:" + found;
}"""
TAMPERED = RENAMES.replace('"v1:"', '"tampered:"')


@tagged("post_install", "-at_install")
class TestVersionApproval(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"IOTA_SCRIPTS_SIGNING_KEY": KEY_1}))
        cls.company_a.iota_scripts_require_approval = True
        approver = "iota_scripts.iota_scripts_group_approver"
        cls.approver_1 = cls._user("iota_approver_1", approver)
        cls.approver_2 = cls._user("iota_approver_2", approver)
        cls.bot_a.groups_id |= cls.env.ref("iota_scripts.iota_scripts_group_developer")

    def _draft(self, source=RENAMES, author=None):
        author = author or self.dev_a
        script = (
            self.env["iota.script"]
            .with_user(author)
            .create({"name": "Reviewed", "company_id": self.company_a.id, "source": source})
        )
        script.sudo().state = "active"
        return script, self._newest(script)

    def _newest(self, script):
        return self.env["iota.script.version"].search(
            [("script_id", "=", script.id)], order="number desc", limit=1
        )

    def _approved(self, script, version):
        version.with_user(self.dev_a).action_submit()
        version.with_user(self.approver_1).action_approve()
        version.with_user(self.dev_a).action_publish()
        self.assertEqual(script.version_id, version)
        return version

    def _run(self, script):
        return script.action_run(input={"id": self.partner_a.id})

    # ---- life cycle --------------------------------------------------------------------
    def test_a_developer_cannot_publish_without_another_users_approval(self):
        script, version = self._draft()
        self.assertEqual(version.state, "draft")
        self.assertFalse(script.version_id, "a draft is not current")
        with self.assertRaisesRegex(UserError, "no published version yet"):
            self._run(script)
        with self.assertRaisesRegex(UserError, "requires another user's approval"):
            version.with_user(self.dev_a).action_publish()
        with self.assertRaisesRegex(UserError, "requires another user's approval"):
            script.with_user(self.dev_a)._iota_start_candidate(version)
        version.with_user(self.dev_a).action_submit()
        self.assertEqual((version.state, version.submitter_id), ("submitted", self.dev_a))
        with self.assertRaises(AccessError):  # a developer is no approver
            version.with_user(self.dev_a).action_approve()
        with self.assertRaisesRegex(UserError, "requires another user's approval"):
            version.with_user(self.dev_a).action_publish()
        version.with_user(self.approver_1).action_approve()
        self.assertEqual((version.state, version.approver_id), ("approved", self.approver_1))
        self.assertFalse(script.version_id, "approved, not yet published")
        version.with_user(self.dev_a).action_publish()
        self.assertEqual((version.state, script.version_id), ("published", version))
        execution = self._run(script)
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(json.loads(execution.result_json), "v1:1")
        # saving again makes a new draft; the published version keeps running
        script.with_user(self.dev_a).write({"source": RENAMES.replace("v1", "v2")})
        script.with_user(self.dev_a).write({"source": RENAMES.replace("v1", "v2")})
        self.assertEqual(
            script.sudo().version_ids.sorted("number").mapped("state"), ["published", "draft"]
        )
        self.assertEqual(script.version_id, version)

    def test_a_rejected_version_may_be_submitted_again(self):
        _script, version = self._draft()
        version.with_user(self.dev_a).action_submit()
        version.with_user(self.approver_1).action_reject(note="no tests")
        self.assertEqual((version.state, version.review_note), ("rejected", "no tests"))
        with self.assertRaises(UserError):
            version.with_user(self.approver_2).action_approve()
        version.with_user(self.dev_a).action_submit()
        version.with_user(self.approver_2).action_approve()
        self.assertEqual(version.state, "approved")

    def test_approval_off_publishes_at_save_as_before(self):
        script = self._script("export default () => 1", company=self.company_b)
        self.assertEqual(script.version_id.state, "published")
        self.assertFalse(script.version_id.signature)

    # ---- four eyes ---------------------------------------------------------------------
    def test_nobody_approves_their_own_submission_by_any_path(self):
        _script, version = self._draft(author=self.approver_1)
        version.with_user(self.approver_1).action_submit()
        own = version.with_user(self.approver_1)
        # the button
        with self.assertRaisesRegex(AccessError, "Four-eyes"):
            own.action_approve()
        # sudo keeps the user: still their own submission
        with self.assertRaisesRegex(AccessError, "Four-eyes"):
            own.sudo().action_approve()
        # an RPC write of the state (versions take no client writes at all)
        with self.assertRaises(UserError):
            own.write({"state": "approved"})
        with self.assertRaises(UserError):
            own.sudo().write({"state": "approved", "approver_id": self.approver_1.id})
        # call_kw, as /web/dataset/call_kw dispatches a JSON-RPC call
        with self.assertRaisesRegex(AccessError, "Four-eyes"):
            api.call_kw(own.browse(), "action_approve", [[version.id]], {})
        with self.assertRaises(UserError):
            api.call_kw(own.browse(), "write", [[version.id], {"state": "approved"}], {})
        # even the engine path (Python with the sentinel) hits the constraint
        with self.assertRaisesRegex(ValidationError, "Four-eyes"), self.env.cr.savepoint():
            as_engine(own).write({"state": "approved", "approver_id": self.approver_1.id})
        # and SQL: a CHECK constraint of the table
        with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.errors.CheckViolation):
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    "UPDATE iota_script_version SET state = 'approved', approver_id = submitter_id"
                    " WHERE id = %s",
                    [version.id],
                )
        version.invalidate_recordset()
        self.assertEqual((version.state, version.approver_id.id), ("submitted", False))
        # another approver succeeds
        version.with_user(self.approver_2).action_approve()
        self.assertEqual((version.state, version.approver_id), ("approved", self.approver_2))
        self.assertIsNone(version._iota_signature_error())

    def test_the_author_cannot_approve_what_someone_else_submitted(self):
        _script, version = self._draft(author=self.approver_1)
        version.with_user(self.approver_2).action_submit()
        with self.assertRaisesRegex(AccessError, "Four-eyes"):
            version.with_user(self.approver_1).action_approve()
        as_engine(version).write({"submitter_id": self.dev_a.id})
        with self.assertRaisesRegex(AccessError, "Four-eyes"):
            version.with_user(self.approver_1).action_approve()

    # ---- signatures --------------------------------------------------------------------
    def test_approval_signs_and_rotated_keys_still_verify(self):
        script, version = self._draft()
        self._approved(script, version)
        public_1 = signing.public_key_of(KEY_1)
        self.assertEqual(version.signature_key_id, signing.key_id(public_1))
        export = version._iota_signed_export()
        self.assertEqual(export["signature"]["approver_id"], self.approver_1.id)
        signing.verify_version(export, {signing.key_id(public_1): public_1})
        with patch.dict(os.environ, {"IOTA_SCRIPTS_SIGNING_KEY": KEY_2}):
            script.with_user(self.dev_a).write({"source": RENAMES.replace("v1", "v2")})
            v2 = self._newest(script)
            self._approved(script, v2)
        self.assertNotEqual(v2.signature_key_id, version.signature_key_id)
        keys = self.env["iota.script.signing.key"]._iota_public_keys()
        self.assertIn(version.signature_key_id, keys)
        self.assertIn(v2.signature_key_id, keys)
        self.assertIsNone(version._iota_signature_error(), "the old key still verifies")
        self.assertIsNone(v2._iota_signature_error())
        # archiving a key (compromised) makes its signatures fail
        self.env["iota.script.signing.key"].search(
            [("key_id", "=", version.signature_key_id)]
        ).active = False
        self.assertEqual(version._iota_signature_error().code, "signature_invalid")

    def test_require_signed_needs_approval_and_a_key(self):
        with self.assertRaises(ValidationError):
            self.company_b.iota_scripts_require_signed = True
        self.company_a.iota_scripts_require_signed = True
        _script, version = self._draft()
        version.with_user(self.dev_a).action_submit()
        with patch.dict(os.environ, {"IOTA_SCRIPTS_SIGNING_KEY": ""}):
            with self.assertRaisesRegex(UserError, "No signing key"):
                version.with_user(self.approver_1).action_approve()

    def test_a_version_tampered_in_sql_is_refused_by_every_trigger(self):
        self.company_a.iota_scripts_require_signed = True
        script, version = self._draft()
        script.sudo().user_id = self.dev_a
        self._approved(script, version)
        self.assertEqual(self._run(script).state, "succeeded")
        self.env.cr.execute(
            "UPDATE iota_script_version SET source = %s WHERE id = %s", [TAMPERED, version.id]
        )
        self.env.invalidate_all()
        self.env.registry.clear_cache()  # the run columns cached per registry
        # by hand
        manual = self._run(script)
        # an automation rule (on partner creation)
        model = self.env["ir.model"]._get("res.partner")
        rule = self.env["base.automation"].create(
            {"name": "signed", "model_id": model.id, "trigger": "on_create"}
        )
        self.env["ir.actions.server"].create(
            {
                "name": "run it",
                "model_id": model.id,
                "state": "iota_script",
                "iota_script_id": script.id,
                "base_automation_id": rule.id,
            }
        )
        self.env["res.partner"].create({"name": "new", "company_id": self.company_a.id})
        # the queue (schedules, events and sdk.scripts.enqueue run through it)
        script.action_run(input={"id": self.partner_a.id}, background=True)
        work_queue(self)
        runs = self._executions(script).filtered(lambda e: e.id > manual.id or e == manual)
        self.assertEqual(
            sorted(runs.mapped("trigger")),
            ["automation", "manual", "manual"],
            runs.read(["trigger"]),
        )
        for run in runs:
            self.assertEqual((run.state, run.error_code), ("failed", "signature_invalid"))
            self.assertIn("changed after approval", run.error_message)
            self.assertNoLeak(run.error_message)
            self.assertFalse(run.result_json, "the tampered source never ran")
        todos = self.env["mail.activity"].search(
            [("res_model", "=", "iota.script"), ("res_id", "=", script.id)]
        )
        self.assertEqual(len(todos), 1, "one to-do, however many runs were refused")
        self.assertEqual(todos.user_id, self.dev_a)
        self.assertIn("Signature refused", todos.summary)
        # restoring the reviewed source makes the signature hold again
        self.env.cr.execute(
            "UPDATE iota_script_version SET source = %s WHERE id = %s", [RENAMES, version.id]
        )
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        self.assertEqual(self._run(script).state, "succeeded")

    def test_an_unsigned_current_version_is_refused(self):
        script, version = self._draft()
        with patch.dict(os.environ, {"IOTA_SCRIPTS_SIGNING_KEY": ""}):
            self._approved(script, version)  # approved unsigned (signing not required yet)
        self.assertFalse(version.signature)
        self.company_a.iota_scripts_require_signed = True
        execution = self._run(script)
        self.assertEqual(execution.error_code, "signature_invalid")
        self.assertIn("not signed", execution.error_message)
        # submitting it again gets it signed
        version.with_user(self.dev_a).action_submit()
        version.with_user(self.approver_2).action_approve()
        version.with_user(self.dev_a).action_publish()
        self.assertEqual(self._run(script).state, "succeeded")


@tagged("post_install", "-at_install")
class TestSignedEndpoint(HttpCase):
    """The endpoint trigger, over real HTTP: a version tampered with in SQL is not run."""

    def test_an_endpoint_refuses_a_tampered_version(self):
        company = self.env["res.company"].create(
            {
                "name": "IOTA Signed Co",
                "iota_scripts_require_approval": True,
                "iota_scripts_require_signed": True,
            }
        )

        def user(login, group):
            return new_test_user(
                self.env,
                login,
                groups=f"base.group_user,iota_scripts.iota_scripts_group_{group}",
                company_id=company.id,
                company_ids=[(6, 0, company.ids)],
            )

        dev, approver = user("iota_signed_dev", "developer"), user("iota_signed_ok", "approver")
        source = 'export default () => ({ hello: "reviewed" });'
        with patch.dict(os.environ, {"IOTA_SCRIPTS_SIGNING_KEY": KEY_1}):
            script = (
                self.env["iota.script"]
                .with_user(dev)
                .create({"name": "Signed", "company_id": company.id, "source": source})
            )
            version = script.sudo().version_ids
            version.with_user(dev).action_submit()
            version.with_user(approver).action_approve()
            version.with_user(dev).action_publish()
        script.sudo().state = "active"
        self.env["iota.script.endpoint"].create(
            {"script_id": script.id, "path": "/signed", "auth_mode": "public", "methods": "GET"}
        )
        # the signed export, as `iota-scripts verify` reads it (developers only)
        self.authenticate("iota_signed_dev", "iota_signed_dev")
        exported = self.url_open(f"/iota_scripts/version/{version.id}/signed.json").json()
        public = signing.public_key_of(KEY_1)
        signing.verify_version(exported, {signing.key_id(public): public})
        self.assertEqual(exported["signature"]["approver_id"], approver.id)
        self.authenticate(None, None)
        url = self.base_url() + "/iota/api/v1/signed"
        response = self.opener.get(url, timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertIn("reviewed", response.text)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE iota_script_version SET source = %s WHERE id = %s",
            [source.replace("reviewed", "tampered"), version.id],
        )
        self.env.invalidate_all()
        response = self.opener.get(url, timeout=30)
        self.assertEqual(response.status_code, 500, response.text)
        self.assertEqual(response.json()["error"]["code"], "script_error")
        self.assertNotIn("tampered", response.text)
        execution = self.env["iota.script.execution"].search(
            [("script_id", "=", script.id)], order="id desc", limit=1
        )
        self.assertEqual(
            (execution.trigger, execution.error_code), ("endpoint", "signature_invalid")
        )
