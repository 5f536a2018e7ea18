"""Threat: a user reads or cancels another company's runs.

Who reads which runs: the Run wizard, schedules, record rules, manual triggers and live cancel."""

import json

from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..run.request import RunRequest
from .common import IotaScriptsCase

RESULT = "export default (ctx) => ({ trigger: ctx.trigger.type, input: ctx.input });"


@tagged("post_install", "-at_install")
class TestExecutionAccess(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user_a2 = cls._user("iota_user_a2", "iota_scripts.iota_scripts_group_user")
        admin = "iota_scripts.iota_scripts_group_admin"
        cls.admin_a = cls._user("iota_admin_of_a", admin)
        cls.admin_b = cls._user("iota_admin_of_b", admin, cls.company_b)
        cls.script_a = cls._script(RESULT, name="Run by hand")
        cls.script_b = cls._script(RESULT, company=cls.company_b, name="B's script")
        cls.run_b = (
            cls.script_b.with_user(cls.dev_b)
            .with_context(allowed_company_ids=cls.company_b.ids)
            .action_run(input={"b": "confidential"})
        )

    def _as(self, user, records):
        return records.with_user(user).with_context(allowed_company_ids=user.company_ids.ids)

    # ---- the Run wizard ----------------------------------------------------------------
    def test_wizard_reads_no_foreign_execution(self):
        Wizard = self._as(self.user_a, self.env["iota.script.run.wizard"])
        with self.assertRaises(AccessError):
            Wizard.create({"script_id": self.script_a.id, "execution_id": self.run_b.id})
        wizard = Wizard.create({"script_id": self.script_a.id})
        with self.assertRaises(AccessError):
            wizard.write({"execution_id": self.run_b.id})
        with self.assertRaises(AccessError):
            wizard.web_save({"execution_id": self.run_b.id}, {"result_json": {}})
        self.assertFalse(wizard.execution_id)
        # the server sets it, and the user reads their own run through it
        wizard.input_json = '{"n": 1}'
        wizard.action_run()
        self.assertEqual(wizard.state, "succeeded")
        self.assertEqual(json.loads(wizard.result_json), {"trigger": "manual", "input": {"n": 1}})
        # even a value set on the server is read with the user's rights
        wizard.sudo().execution_id = self.run_b
        with self.assertRaises(AccessError):
            wizard.invalidate_recordset()
            wizard.read(["result_json"])

    def test_no_related_field_reads_executions_as_superuser(self):
        """Every related field of any model whose path goes through an execution reads as the user."""
        crossing = []
        for name in self.env.registry:
            Model = self.env[name]
            for field in Model._fields.values():
                if not field.related:
                    continue
                model = Model
                for part in field.related.split(".")[:-1]:
                    step = model._fields[part]
                    model = self.env[step.comodel_name]
                    if model._name == "iota.script.execution":
                        crossing.append(field)
                        break
        self.assertIn(self.env["iota.script.run.wizard"]._fields["result_json"], crossing)
        self.assertEqual([str(f) for f in crossing if f.compute_sudo], [])

    # ---- schedules -----------------------------------------------------------------------
    def test_schedule_last_state_reads_no_foreign_execution(self):
        schedule = self.env["iota.script.schedule"].create({"script_id": self.script_a.id})
        mine = self._as(self.dev_a, schedule)
        for field in ("last_execution_id", "next_run", "last_run", "missed_count"):
            value = self.run_b.id if field == "last_execution_id" else False
            if field == "missed_count":
                value = 0
            with self.assertRaises(AccessError, msg=field):
                mine.write({field: value})
        with self.assertRaises(AccessError):
            self._as(self.dev_a, self.env["iota.script.schedule"]).create(
                {"script_id": self.script_a.id, "last_execution_id": self.run_b.id}
            )
        schedule.sudo().last_execution_id = self.run_b  # as if set by the server
        mine.invalidate_recordset()
        self.assertFalse(mine.last_state)
        # "Run now" by one user: another plain user reads the schedule, not the run
        self._as(self.user_a2, schedule).action_run_now()
        self.assertEqual(self._as(self.user_a2, schedule).last_state, "queued")
        other = self._as(self.user_a, schedule)
        other.invalidate_recordset()
        self.assertFalse(other.last_state)
        self.assertEqual(self._as(self.dev_a, schedule).last_state, "queued")

    # ---- record rules of executions -----------------------------------------------------------
    def test_users_read_their_manual_runs_and_the_server_runs(self):
        mine = self._as(self.user_a, self.script_a).action_run(input={"who": "a"})
        theirs = self._as(self.user_a2, self.script_a).action_run(input={"who": "a2"})
        server = self.env["iota.script.execution"]._run(RunRequest(self.script_a, {"type": "cron"}))
        Execution = self.env["iota.script.execution"]
        domain = [("script_id", "=", self.script_a.id)]
        self.assertEqual(self._as(self.user_a, Execution).search(domain), mine | server)
        self.assertEqual(self._as(self.user_a2, Execution).search(domain), theirs | server)
        self.assertEqual(self._as(self.dev_a, Execution).search(domain), mine | theirs | server)
        with self.assertRaises(AccessError):
            self._as(self.user_a, theirs).read(["result_json"])
        self.assertEqual(self._as(self.user_a, self.script_a).execution_count, 2)
        # nobody reads another company's runs, whatever the group
        for user in (self.user_a, self.dev_a):
            with self.assertRaises(AccessError):
                self._as(user, self.run_b).read(["result_json"])

    # ---- manual runs ----------------------------------------------------------------------
    def test_a_manual_run_cannot_claim_another_trigger(self):
        script = self._as(self.user_a, self.script_a)
        with self.assertRaises(TypeError):
            script.action_run(input={}, trigger="cron")
        execution = script.action_run(input={})
        self.assertEqual(json.loads(execution.result_json)["trigger"], "manual")
        self.assertEqual(execution.trigger, "manual")

    # ---- live cancel -----------------------------------------------------------------------
    def test_live_cancel_stays_in_the_company(self):
        # what LiveRun.start writes for a live run of dev_b in company B
        self.env.cr.execute(
            "INSERT INTO iota_script_execution_live (execution_id, user_id, token, company_id) "
            "VALUES (%s, %s, 'tok', %s)",
            [self.run_b.id, self.dev_b.id, self.company_b.id],
        )
        for user in (self.admin_a, self.user_a, self.dev_a):
            with self.assertRaises(AccessError, msg=user.login):
                self._as(user, self.env["iota.script.execution"]).action_cancel_live(self.run_b.id)
        self.env.cr.execute(
            "SELECT count(*) FROM iota_script_execution_cancel WHERE execution_id = %s",
            [self.run_b.id],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0)
        Execution = self._as(self.admin_b, self.env["iota.script.execution"])
        self.assertIs(Execution.action_cancel_live(self.run_b.id), True)

    def test_queued_cancel_by_the_starter_or_an_admin_of_the_company(self):
        theirs = self._as(self.user_a2, self.script_a).action_run(background=True)
        server = self.env["iota.script.execution"]._enqueue(
            RunRequest(self.script_a, {"type": "cron"})
        )
        for user, run in (
            (self.user_a, theirs),  # may not even read it
            (self.dev_a, theirs),  # reads it, did not start it
            (self.user_a, server),
            (self.dev_a, server),
            (self.admin_b, server),
        ):
            with self.assertRaises(AccessError, msg=f"{user.login} {run.trigger}"):
                self._as(user, run).action_cancel()
        self.assertEqual((theirs.state, server.state), ("queued", "queued"))
        self._as(self.user_a2, theirs).action_cancel()
        self.assertEqual(theirs.state, "cancelled")
        self._as(self.admin_a, server).action_cancel()
        self.assertEqual(server.state, "cancelled")
