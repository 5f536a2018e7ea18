"""Threat: a developer takes over a script that runs as a privileged user.

A privileged script (run as another user than the company's runner) is changed by that user or an admin only."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import IotaScriptsCase

SOURCE = "export default () => 1;"


@tagged("post_install", "-at_install")
class TestPrivilegedScriptGuard(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the privileged run-as user: a Developer too, so that it may edit its script
        cls.boss_a = cls._user(
            "iota_boss_a", "base.group_partner_manager,iota_scripts.iota_scripts_group_developer"
        )
        cls.admin_a = cls._user("iota_admin_a", "iota_scripts.iota_scripts_group_admin")
        # Odoo's settings administrator, but not an IOTA Scripts administrator
        cls.system_a = cls._user(
            "iota_system_a", "base.group_system,iota_scripts.iota_scripts_group_developer"
        )
        cls.script = cls._script(SOURCE, name="Privileged", run_as_user_id=cls.boss_a.id)
        cls.plain = cls._script(SOURCE, name="Runs as the runner")
        cls.other = cls._script(SOURCE, name="Another privileged", run_as_user_id=cls.boss_a.id)

    def _as(self, user, records):
        return records.with_user(user).with_context(allowed_company_ids=self.company_a.ids)

    def _refused(self, fn, name):
        with self.assertRaises(AccessError, msg=name) as caught:
            fn()
        self.assertIn("only that user or an IOTA Scripts administrator", str(caught.exception))

    def test_script_fields(self):
        changes = {
            "source": "export default () => 2;",
            "allowed_hosts": "*",
            "state": "disabled",
            "timeout_sec": 2.0,
            "memory_mb": 32,
            "input_schema": '{"type": "object"}',
            "active": False,
            "key": "renamed",
            "run_as_user_id": self.company_a._iota_scripts_runner_user().id,
        }
        script = self._as(self.dev_a, self.script)
        for name, value in changes.items():
            self._refused(lambda n=name, v=value: script.write({n: v}), name)
        self._refused(script.action_disable, "action_disable")
        # what it is called is no change to what it does
        script.write({"name": "Renamed", "description": "Described", "user_id": self.dev_a.id})
        self.assertEqual(self.script.version_number, 1)
        self.assertEqual(self.script.state, "active")
        # the script's own run-as user and an administrator may change it
        for user in (self.boss_a, self.admin_a):
            self._as(user, self.script).write({"source": f"export default () => {user.id};"})
        self.assertEqual(self.script.version_number, 3)
        # a script that runs as the runner is any Developer's to change
        self._as(self.dev_a, self.plain).write({"source": "export default () => 3;"})

    def test_versions(self):
        self._as(self.admin_a, self.script).write({"source": "export default () => 2;"})
        first = self.script.version_ids.filtered(lambda v: v.number == 1)
        self._refused(self._as(self.dev_a, first).action_restore, "restore")
        self.assertEqual(self.script.version_number, 2)
        Version = self._as(self.dev_a, self.env["iota.script.version"])
        with self.assertRaises(UserError):
            Version.create({"script_id": self.script.id, "source": "export default () => 9;"})
        with self.assertRaises(UserError):
            self._as(self.dev_a, first).write({"source": "export default () => 9;"})
        self._as(self.boss_a, first).action_restore()
        self.assertEqual(self.script.version_number, 3)

    def test_copy_runs_as_the_runner(self):
        copy = self._as(self.dev_a, self.script).copy()
        self.assertEqual(copy.run_as_user_id, self.company_a._iota_scripts_runner_user())
        copy.write({"source": "export default () => 4;"})  # the copy is the developer's

    def test_subscriptions(self):
        Sub = self._as(self.dev_a, self.env["iota.script.subscription"])
        oracle = {
            "event_type": "partner.*",
            "script_id": self.script.id,
            "record_model": "res.partner",
            "record_domain": "[('name', 'ilike', 'secret')]",
        }
        self._refused(lambda: Sub.create(oracle), "create")
        own = Sub.create({"event_type": "partner.*", "script_id": self.plain.id})
        self._refused(lambda: own.write({"script_id": self.script.id}), "move onto")
        theirs = self.env["iota.script.subscription"].create(
            {"event_type": "partner.*", "script_id": self.script.id}
        )
        theirs = self._as(self.dev_a, theirs)
        self._refused(lambda: theirs.write({"record_model": "res.partner"}), "write")
        self._refused(lambda: theirs.write({"active": False}), "pause")
        self._refused(theirs.unlink, "unlink")
        self._as(self.boss_a, theirs).write({"event_type": "partner.created"})

    def test_schedules(self):
        Schedule = self._as(self.dev_a, self.env["iota.script.schedule"])
        self._refused(lambda: Schedule.create({"script_id": self.script.id}), "create")
        theirs = self._as(
            self.dev_a, self.env["iota.script.schedule"].create({"script_id": self.script.id})
        )
        self._refused(lambda: theirs.write({"cron": "* * * * *"}), "write")
        self._refused(theirs.unlink, "unlink")
        own = Schedule.create({"script_id": self.plain.id})
        self._refused(lambda: own.write({"script_id": self.script.id}), "move onto")
        self._as(self.admin_a, theirs).write({"cron": "*/5 * * * *"})

    def test_endpoints(self):
        Endpoint = self._as(self.dev_a, self.env["iota.script.endpoint"])
        # public: a caller-mode endpoint is refused to any Developer anyway (test_endpoint_security)
        values = {
            "script_id": self.script.id,
            "path": "/guarded-x",
            "methods": "GET",
            "auth_mode": "public",
        }
        self._refused(lambda: Endpoint.create(values), "create")
        own = Endpoint.create({**values, "script_id": self.plain.id})
        self._refused(lambda: own.write({"script_id": self.script.id}), "move onto")
        theirs = self._as(
            self.dev_a,
            self.env["iota.script.endpoint"].create({**values, "path": "/guarded-y"}),
        )
        self._refused(lambda: theirs.write({"methods": "POST"}), "write")
        self._refused(theirs.unlink, "unlink")

    def test_server_actions_crons_and_automation_rules(self):
        partner_model = self.env["ir.model"]._get("res.partner")
        Action = self._as(self.system_a, self.env["ir.actions.server"])
        values = {
            "name": "Run it",
            "model_id": partner_model.id,
            "state": "iota_script",
            "iota_script_id": self.script.id,
        }
        self._refused(lambda: Action.create(values), "server action")
        own = Action.create({**values, "iota_script_id": self.plain.id})
        self._refused(lambda: own.write({"iota_script_id": self.script.id}), "point at")
        script_b = self._script(SOURCE, company=self.company_b, name="B's script")
        with self.assertRaises(AccessError):  # Odoo checks no company on this field
            Action.create({**values, "iota_script_id": script_b.id})
        with self.assertRaises(AccessError):
            own.write({"iota_script_id": script_b.id})
        # the script form's "Schedule" button is gone (issue 18); a scheduled action made by hand is guarded
        cron_values = {
            "name": "System's cron",
            "model_id": self.env["ir.model"]._get_id("iota.script"),
            "state": "iota_script",
            "iota_script_id": self.script.id,
            "interval_number": 1,
            "interval_type": "days",
        }
        self._refused(
            lambda: self._as(self.system_a, self.env["ir.cron"]).create(cron_values), "schedule"
        )
        cron = self.env["ir.cron"].create(
            {
                "name": "Admin's cron",
                "model_id": self.env["ir.model"]._get_id("iota.script"),
                "state": "iota_script",
                "iota_script_id": self.script.id,
                "interval_number": 1,
                "interval_type": "days",
            }
        )
        self._refused(
            lambda: self._as(self.system_a, cron).write({"interval_type": "minutes"}), "cron"
        )
        rule = self.env["base.automation"].create(
            {
                "name": "Admin's rule",
                "model_id": partner_model.id,
                "trigger": "on_create_or_write",
                "action_server_ids": [(0, 0, {**values, "name": "Run it (rule)"})],
            }
        )
        self._refused(
            lambda: self._as(self.system_a, rule).write({"filter_domain": "[('name', '=', 'x')]"}),
            "automation rule",
        )
        self._refused(self._as(self.system_a, rule).unlink, "automation unlink")
