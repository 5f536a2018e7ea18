import json

from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..hooks import _uninstall_hook
from .common import IotaScriptsCase

NORMALISE = """\
export default async function (ctx) {
  const rows = await sdk.db.read(ctx.records.model, ctx.records.ids, ["email"]);
  for (const row of rows) {
    const email = (row.email || "").trim().toLowerCase();
    if (email !== row.email) await sdk.db.write(ctx.records.model, [row.id], { email });
  }
  return { trigger: ctx.trigger, records: ctx.records };
}
"""


@tagged("post_install", "-at_install")
class TestIrActionsServer(IotaScriptsCase):
    def _automation(self, script, trigger="on_create_or_write", domain=None, fields=()):
        partner_model = self.env["ir.model"]._get("res.partner")
        return self.env["base.automation"].create(
            {
                "name": f"Test automation for {script.name}",
                "model_id": partner_model.id,
                "trigger": trigger,
                "filter_domain": domain or False,
                "trigger_field_ids": [
                    (6, 0, [self.env["ir.model.fields"]._get("res.partner", f).id for f in fields])
                ],
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

    def test_automation_on_create_and_write(self):
        script = self._script(NORMALISE, run_as_user_id=self.bot_a.id)
        automation = self._automation(script, domain="[('ref', '=', 'auto')]", fields=["email"])
        partner = self.env["res.partner"].create(
            {"name": "Auto", "ref": "auto", "email": "  Mixed@Case.COM "}
        )
        self.assertEqual(partner.email, "mixed@case.com")
        execution = self._executions(script)
        self.assertEqual(len(execution), 1)
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual((execution.trigger, execution.res_model), ("automation", "res.partner"))
        self.assertEqual(json.loads(execution.res_ids), partner.ids)
        result = json.loads(execution.result_json)
        self.assertEqual(result["records"], {"model": "res.partner", "ids": partner.ids})
        self.assertEqual(result["trigger"]["type"], "automation")
        self.assertEqual(result["trigger"]["automation_id"], automation.id)
        self.assertEqual(result["trigger"]["event"], "on_create_or_write")

        partner.write({"email": "Second@Example.COM"})
        self.assertEqual(partner.email, "second@example.com")
        executions = self._executions(script)
        self.assertEqual(len(executions), 2)
        self.assertEqual(
            json.loads(executions[1].result_json)["trigger"]["changed_fields"], ["email"]
        )
        partner.write({"phone": "123"})  # not a trigger field
        self.assertEqual(len(self._executions(script)), 2)

    def test_on_write_script_writing_its_record_runs_once(self):
        script = self._script(
            """export default async (ctx) => {
              const [p] = await sdk.db.read("res.partner", ctx.records.ids, ["function"]);
              await sdk.db.write("res.partner", ctx.records.ids, { function: (p.function || "") + "+" });
            };""",
            run_as_user_id=self.bot_a.id,
        )
        self._automation(script, domain="[('ref', '=', 'loop')]")
        partner = self.env["res.partner"].create({"name": "Loop", "ref": "loop"})
        self.assertEqual(len(self._executions(script)), 1)
        partner.write({"name": "Loop again"})
        executions = self._executions(script)
        self.assertEqual(len(executions), 2)
        self.assertEqual(executions.mapped("state"), ["succeeded", "succeeded"])
        self.assertEqual(partner.function, "++")

    def test_on_save_without_trigger_fields_runs_once_per_save(self):
        """Odoo fires such a rule for each recomputed field too: one run per save all the same."""
        script = self._script(
            "export default (ctx) => ({ id: ctx.records.ids[0], changed: ctx.trigger.changed_fields ?? null });",
        )
        self._automation(script)  # no domain, no trigger field: any save of any contact
        company = self.env["res.partner"].create(
            {"name": "Saved Co", "is_company": True, "company_id": self.company_a.id}
        )
        self.assertEqual(len(self._executions(script)), 1)
        contact = self.env["res.partner"].create(
            {"name": "Saved Person", "parent_id": company.id, "company_id": self.company_a.id}
        )
        self.env.flush_all()  # recomputes complete_name, commercial_partner_id, ...
        self.assertEqual(
            [json.loads(e.result_json) for e in self._executions(script)],
            [{"id": company.id, "changed": None}, {"id": contact.id, "changed": None}],
        )
        contact.write({"name": "Saved Person 2"})  # complete_name follows: still one run
        self.env.flush_all()
        contact.write({"name": "Saved Person 2"})  # nothing changed: no run
        self.env.flush_all()
        company.write({"name": "Saved Co 2"})  # the contact's computed fields follow: not a save
        self.env.flush_all()
        self.assertEqual(
            [json.loads(e.result_json) for e in self._executions(script)[2:]],
            [{"id": contact.id, "changed": ["name"]}, {"id": company.id, "changed": ["name"]}],
        )
        self.assertEqual(contact.complete_name, "Saved Co 2, Saved Person 2")

    def test_uninstall_removes_the_actions_and_their_scheduled_actions(self):
        """A scheduled action keeps its server action (restrict): uninstalling must delete both."""
        script = self._script("export default () => 1;")
        automation = self._automation(script)
        cron = self.env["ir.cron"].create(
            {
                "name": "Script by cron",
                "model_id": self.env["ir.model"]._get_id("iota.script"),
                "state": "iota_script",
                "iota_script_id": script.id,
                "interval_number": 1,
                "interval_type": "days",
                "active": False,
            }
        )
        actions = (
            self.env["ir.actions.server"]
            .with_context(active_test=False)
            .search([("state", "=", "iota_script")])
        )
        self.assertIn(cron.ir_actions_server_id, actions)
        self.assertIn(automation.action_server_ids, actions)
        _uninstall_hook(self.env)
        self.assertFalse(cron.exists())
        self.assertFalse(actions.exists())
        self.assertTrue(automation.exists())  # the rule is the user's; its action goes
        script.unlink()  # nothing points to the script any more

    def test_scripts_triggering_scripts_are_bounded(self):
        script = self._script(
            """export default async (ctx) => {
              const [p] = await sdk.db.read("res.partner", ctx.records.ids, ["ref"]);
              const n = Number(p.ref.slice(5)) + 1;
              return await sdk.db.create("res.partner", { name: `chain ${n}`, ref: `chain${n}` });
            };""",
            run_as_user_id=self.bot_a.id,
        )
        self._automation(script, domain="[('ref', '=like', 'chain%')]")
        self.env["res.partner"].create({"name": "chain 0", "ref": "chain0"})
        executions = self._executions(script)
        self.assertEqual(executions.mapped("state"), ["succeeded"] * 3 + ["cancelled"])
        self.assertEqual(executions.mapped("generation"), [1, 2, 3, 4])
        self.assertEqual(executions[-1].error_code, "budget_exceeded")
        refs = self.env["res.partner"].search([("ref", "=like", "chain%")]).mapped("ref")
        self.assertEqual(sorted(refs), ["chain0", "chain1", "chain2", "chain3"])

    def test_records_of_another_company_are_not_passed(self):
        script = self._script(NORMALISE, run_as_user_id=self.bot_a.id)
        self._automation(script, domain="[('ref', '=', 'tenancy')]")
        partner = self.env["res.partner"].create(
            {"name": "B's", "ref": "tenancy", "email": "B@B.COM", "company_id": self.company_b.id}
        )
        self.assertEqual(partner.email, "B@B.COM")
        self.assertFalse(self._executions(script))

    def test_cron(self):
        script = self._script(
            """export default async (ctx) => {
              sdk.log.info("tick", { type: ctx.trigger.type });
              return { trigger: ctx.trigger, records: ctx.records ?? null,
                       count: await sdk.db.searchCount("res.partner", [["id", "=", PARTNER_ID]]) };
            };""".replace("PARTNER_ID", str(self.partner_a.id))
        )
        cron = self.env["ir.cron"].create(
            {
                "name": "Test cron script",
                "model_id": self.env["ir.model"]._get("res.partner").id,
                "state": "iota_script",
                "iota_script_id": script.id,
                "user_id": self.env.ref("base.user_root").id,
                "interval_number": 1,
                "interval_type": "days",
            }
        )
        cron.method_direct_trigger()
        execution = self._executions(script)
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        self.assertEqual(execution.trigger, "cron")
        result = json.loads(execution.result_json)
        self.assertEqual(
            result["trigger"], {"type": "cron", "cron_id": cron.id, "cron_name": cron.name}
        )
        self.assertIsNone(result["records"])
        self.assertEqual(result["count"], 1)
        self.assertEqual(execution.user_id, self.company_a._iota_scripts_runner_user())

    def test_contextual_action(self):
        script = self._script(
            "export default (ctx) => ({ trigger: ctx.trigger.type, records: ctx.records });"
        )
        action = self.env["ir.actions.server"].create(
            {
                "name": "Run from the Actions menu",
                "model_id": self.env["ir.model"]._get("res.partner").id,
                "state": "iota_script",
                "iota_script_id": script.id,
            }
        )
        records = self.partner_a | self.partner_b
        action.with_context(active_model="res.partner", active_ids=records.ids).run()
        execution = self._executions(script)
        self.assertEqual(execution.trigger, "manual")
        # company B's partner is not handed to company A's script
        self.assertEqual(
            json.loads(execution.result_json),
            {"trigger": "manual", "records": {"model": "res.partner", "ids": self.partner_a.ids}},
        )

    def test_disabled_script_is_not_triggered(self):
        script = self._script(NORMALISE, run_as_user_id=self.bot_a.id, state="disabled")
        self._automation(script, domain="[('ref', '=', 'off')]")
        partner = self.env["res.partner"].create({"name": "Off", "ref": "off", "email": "A@B.C"})
        self.assertEqual(partner.email, "A@B.C")
        script.write({"state": "active", "active": False})  # archived: not run either
        partner.write({"email": "X@Y.Z"})
        self.assertEqual(partner.email, "X@Y.Z")
        self.assertFalse(self._executions(script))

    def test_rules_on_executions_are_bounded(self):
        """A rule on executions (e.g. "on each run, run this") cannot feed itself forever."""
        watcher = new_test_user(
            self.env,
            "iota_watcher_a",
            # a Developer: a plain User reads no manual run of another user
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=self.company_a.id,
            company_ids=[(6, 0, self.company_a.ids)],
        )
        script = self._script(
            "export default (ctx) => ctx.records ? ctx.records.ids : 'by hand';",
            run_as_user_id=watcher.id,
        )
        execution_model = self.env["ir.model"]._get("iota.script.execution")
        self.env["base.automation"].create(
            {
                "name": "Each run runs the script again",
                "model_id": execution_model.id,
                "trigger": "on_create_or_write",
                "filter_domain": f"[('script_id', '=', {script.id})]",
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Run again",
                            "model_id": execution_model.id,
                            "state": "iota_script",
                            "iota_script_id": script.id,
                        },
                    )
                ],
            }
        )
        first = script.action_run()
        executions = self._executions(script)
        self.assertEqual(executions[0], first)
        self.assertEqual(
            executions.mapped("trigger"), ["manual", "automation", "automation", "automation"]
        )
        self.assertEqual(
            executions.mapped("state"), ["succeeded", "succeeded", "succeeded", "cancelled"]
        )
        self.assertEqual(json.loads(executions[1].result_json), first.ids)

    def test_convert_a_python_action_to_a_draft_script(self):
        model = self.env["ir.model"]._get("res.partner")
        python = (
            "for rec in records:\n"
            "    rec.write({'comment': 'checked'})\n"
            "log('done', level='info')\n"
            "total = sum(records.mapped('credit'))\n"
        )
        action = self.env["ir.actions.server"].create(
            {"name": "Check partners", "model_id": model.id, "state": "code", "code": python}
        )
        opened = action.action_iota_convert_to_script()
        script = self.env["iota.script"].browse(opened["res_id"])
        self.assertEqual((opened["res_model"], script.state), ("iota.script", "draft"))
        self.assertEqual(script.name, "Check partners (JavaScript)")
        self.assertIn(python.rstrip(), script.source)  # the Python, whole, in a comment
        self.assertIn(
            'await sdk.db.write(ctx.records.model, [id], {"comment": "checked"});', script.source
        )
        self.assertIn('sdk.log.info("done");', script.source)
        self.assertIn("// TODO: total = sum(records.mapped('credit'))", script.source)
        self.assertFalse(script._source_problem(script.source))
        # the Python action is not changed
        self.assertEqual((action.state, action.code), ("code", python))
        other = self.env["ir.actions.server"].create(
            {
                "name": "Not code",
                "model_id": model.id,
                "state": "iota_script",
                "iota_script_id": script.id,
            }
        )
        with self.assertRaises(UserError):
            other.action_iota_convert_to_script()
        # Odoo refuses to save Python that does not parse; older rows may hold some
        self.env.cr.execute("UPDATE ir_act_server SET code = 'def (:' WHERE id = %s", [action.id])
        action.invalidate_recordset(["code"])
        with self.assertRaisesRegex(UserError, "does not parse: line 1"):
            action.action_iota_convert_to_script()
        # a scheduled action converts its server action
        cron = self.env["ir.cron"].create(
            {
                "name": "Nightly check",
                "model_id": model.id,
                "state": "code",
                "code": "log('nightly')",
                "interval_number": 1,
                "interval_type": "days",
            }
        )
        opened = cron.action_iota_convert_to_script()
        self.assertIn(
            'sdk.log.info("nightly");', self.env["iota.script"].browse(opened["res_id"]).source
        )

    def _converted(self, python_action):
        opened = python_action.action_iota_convert_to_script()
        script = self.env["iota.script"].browse(opened["res_id"])
        script.write({"source": "export default async (ctx) => ({ ids: ctx.records.ids });"})
        return script

    def test_switch_an_automation_rule_to_the_script_and_back(self):
        model = self.env["ir.model"]._get("res.partner")
        rule = self.env["base.automation"].create(
            {"name": "Python on save", "model_id": model.id, "trigger": "on_create_or_write"}
        )
        python = self.env["ir.actions.server"].create(
            {
                "name": "Mark",
                "model_id": model.id,
                "state": "code",
                "code": "records.write({'comment': 'python'})",
                "base_automation_id": rule.id,
            }
        )
        script = self._converted(python)
        self.assertEqual(script.migration_state, "converted")
        # named after the rule: Odoo names a rule's actions after their type
        # ("Execute Code", when its form saves them)
        self.assertEqual(script.name, "Python on save (JavaScript)")
        with self.assertRaisesRegex(UserError, "Activate the script first"):
            script.action_iota_switch_from_python()
        script.action_activate()
        script.action_iota_switch_from_python()
        self.assertEqual(script.migration_state, "switched")
        self.assertEqual(rule.action_server_ids.mapped("state"), ["iota_script"])
        self.assertTrue(python.exists() and not python.base_automation_id)  # kept, detached
        partner = self.env["res.partner"].create({"name": "Switched"})
        self.assertFalse(partner.comment)  # the Python no longer runs...
        self.assertEqual(
            self._executions(script).mapped("state"), ["succeeded"]
        )  # ...the script does
        with self.assertRaises(UserError):
            script.action_iota_switch_from_python()
        script.action_iota_rollback_to_python()
        self.assertEqual(script.migration_state, "rolled_back")
        self.assertEqual(rule.action_server_ids, python)
        self.env["res.partner"].create({"name": "Rolled back"})
        self.assertEqual(len(self._executions(script)), 1)
        self.assertIn("Rolled", script.message_ids[0].body)
        self.assertIn("Switched", script.message_ids[1].body)
        # and switched again: the same rule, the script's action back
        script.action_iota_switch_from_python()
        self.assertEqual(rule.action_server_ids.mapped("state"), ["iota_script"])

    def test_switch_a_scheduled_action_to_the_script_and_back(self):
        model = self.env["ir.model"]._get("res.partner")
        cron = self.env["ir.cron"].create(
            {
                "name": "Nightly Python",
                "model_id": model.id,
                "state": "code",
                "code": "log('nightly')",
                "interval_number": 1,
                "interval_type": "days",
            }
        )
        script = self._converted(cron.ir_actions_server_id)
        script.action_activate()
        script.action_iota_switch_from_python()
        copy = script.migration_cron_id
        self.assertFalse(cron.active)  # archived, kept
        self.assertTrue(copy.active)
        self.assertEqual((copy.state, copy.iota_script_id), ("iota_script", script))
        self.assertEqual((copy.interval_number, copy.interval_type), (1, "days"))
        self.assertEqual(copy.nextcall, cron.nextcall)
        script.action_iota_rollback_to_python()
        self.assertTrue(cron.active)
        self.assertFalse(copy.active)

    def test_a_python_action_with_no_trigger_has_nothing_to_switch(self):
        model = self.env["ir.model"]._get("res.partner")
        python = self.env["ir.actions.server"].create(
            {"name": "Loose", "model_id": model.id, "state": "code", "code": "log('x')"}
        )
        script = self._converted(python)
        script.action_activate()
        with self.assertRaisesRegex(UserError, "nothing to move"):
            script.action_iota_switch_from_python()
        with self.assertRaisesRegex(UserError, "nothing to roll back"):
            script.action_iota_rollback_to_python()
