"""The dashboard's adoption figures (models/iota_script_execution_adoption.py), per company and system-wide."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from ..run.request import RunRequest
from .common import IotaScriptsCase

OK = "export default () => 1;"
FAIL = "export default () => { throw new Error('no'); };"


@tagged("post_install", "-at_install")
class TestAdoption(IotaScriptsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_a = cls._user(
            "iota_adoption_admin",
            "iota_scripts.iota_scripts_group_admin,base.group_system",
            company=cls.company_a,
        )
        cls.admin_a.company_ids |= cls.company_b

    def _data(self, user, scope="company", companies=None):
        Execution = self.env["iota.script.execution"].with_user(user)
        if companies is not None:
            Execution = Execution.with_context(allowed_company_ids=companies.ids)
        return Execution.get_adoption_data(scope)

    def test_figures_of_one_company(self):
        manual = self._script(OK, name="By hand")
        failing = self._script(FAIL, name="Failing")
        scheduled = self._script(OK, name="Scheduled")
        self.env["iota.script.schedule"].create({"script_id": scheduled.id, "cron": "0 3 * * *"})
        endpoint = self._script(OK, name="Served")
        self.env["iota.script.endpoint"].create(
            {
                "script_id": endpoint.id,
                "path": "/adoption/served",
                "methods": "GET",
                "auth_mode": "public",
            }
        )
        self._script(OK, company=self.company_b, name="Other company")
        Execution = self.env["iota.script.execution"]
        for _i in range(3):
            Execution._run(RunRequest(manual, {"type": "cron"}))
        for _i in range(2):
            Execution._run(RunRequest(failing, {"type": "cron"}))
        data = self._data(self.admin_a, companies=self.company_a)
        self.assertEqual([c["id"] for c in data["companies"]], [self.company_a.id])
        by_trigger = data["scripts_by_trigger"]
        self.assertEqual(by_trigger["schedule"], 1)
        self.assertEqual(by_trigger["endpoint"], 1)
        self.assertEqual(by_trigger["manual"], 2)  # "By hand" and "Failing": no trigger
        self.assertGreaterEqual(data["authors_active"], 1)
        today = sum(day.get("cron", 0) for day in data["runs_per_day"].values())
        self.assertEqual(today, 5)
        self.assertEqual(
            [(s["name"], s["count"]) for s in data["top_by_runs"]], [("By hand", 3), ("Failing", 2)]
        )
        self.assertEqual(
            [(s["name"], s["count"]) for s in data["top_by_failures"]], [("Failing", 2)]
        )
        self.assertEqual(
            data["migrations"], {"converted": 0, "shadowing": 0, "switched": 0, "rolled_back": 0}
        )
        manual.migration_state = "switched"
        failing.migration_state = "shadowing"
        data = self._data(self.admin_a, companies=self.company_a)
        self.assertEqual(
            data["migrations"], {"converted": 0, "shadowing": 1, "switched": 1, "rolled_back": 0}
        )
        names = {s["name"] for s in data["top_by_runs"] + data["top_by_failures"]}
        self.assertNotIn("Other company", names)

    def test_share_of_rules_and_crons_that_run_scripts(self):
        script = self._script(OK, name="Automated")
        model = self.env["ir.model"]._get("res.partner")
        before = self._data(self.admin_a)["script_share"]["automation"]
        for state, values in (
            ("iota_script", {"iota_script_id": script.id}),
            ("code", {"code": "pass"}),
            ("code", {"code": "pass"}),
        ):
            rule = self.env["base.automation"].create(
                {"name": f"rule {state}", "model_id": model.id, "trigger": "on_create_or_write"}
            )
            self.env["ir.actions.server"].create(
                {
                    "name": "act",
                    "model_id": model.id,
                    "state": state,
                    "base_automation_id": rule.id,
                    **values,
                }
            )
        after = self._data(self.admin_a)["script_share"]["automation"]
        self.assertEqual(after["scripts"] - before["scripts"], 1)
        self.assertEqual(after["python"] - before["python"], 2)
        total = after["scripts"] + after["python"]
        self.assertEqual(after["share"], round(100.0 * after["scripts"] / total, 1))
        self.assertEqual(self._data(self.admin_a)["scripts_by_trigger"]["automation"], 1)
        # Odoo's rules are administrators' records: other users get no share
        self.assertIsNone(self._data(self.user_a)["script_share"])

    def test_system_wide_is_for_administrators_and_spans_their_companies(self):
        self._script(OK, name="In A")
        in_b = self._script(OK, company=self.company_b, name="In B")
        self.env["iota.script.execution"]._run(RunRequest(in_b, {"type": "cron"}))
        data = self._data(self.admin_a, "system")
        self.assertLessEqual(
            {self.company_a.id, self.company_b.id}, {c["id"] for c in data["companies"]}
        )
        self.assertIn("In B", [s["name"] for s in data["top_by_runs"]])
        with self.assertRaises(AccessError):
            self._data(self.dev_a, "system")
        with self.assertRaises(UserError):
            self._data(self.admin_a, "everything")
        # a user of company A alone sees nothing of B, whatever scope it asks for
        data = self._data(self.user_a)
        self.assertNotIn("In B", [s["name"] for s in data["top_by_runs"]])


@tagged("post_install", "-at_install")
class TestAdoptionUi(HttpCase):
    def test_adoption_screen(self):
        admin = self.env.ref("base.user_admin")
        company_b = self.env["res.company"].create({"name": "IOTA Company B"})
        admin.company_ids |= company_b
        Script = self.env["iota.script"]
        mine = Script.create({"name": "Adoption tour script", "state": "active", "source": OK})
        self.env["iota.script.schedule"].create({"script_id": mine.id, "cron": "0 3 * * *"})
        other = Script.create(
            {
                "name": "Adoption tour other",
                "state": "active",
                "source": OK,
                "company_id": company_b.id,
            }
        )
        Execution = self.env["iota.script.execution"]
        for script in (mine, other):
            Execution._run(RunRequest(script, {"type": "cron"}))
        admin.company_id = self.env.company
        self.start_tour("/odoo", "iota_scripts_adoption_tour", login="admin", timeout=120)
