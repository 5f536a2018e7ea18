"""Threat: permissions that change while runs are queued or running keep working.

A run-as user archived, taken out of the script's company, or stripped of a
group after a run was queued, or between two runs of a schedule: the next
run sees the change. It is refused with ``access_denied`` naming why, and
recorded (never dropped); what is still allowed keeps running.
"""

import json

from odoo.tests import tagged

from .common import IotaScriptsCase, work_queue

WRITE_PARTNER = """export default async (ctx) => {
  await sdk.db.write("res.partner", [ctx.input.id], { ref: "touched" });
  return (await sdk.db.read("res.partner", [ctx.input.id], ["ref"]))[0].ref;
};"""


@tagged("post_install", "-at_install")
class TestThreatPermissionChange(IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.bot = self._user("iota_perm_bot", "base.group_partner_manager")
        self.script = self._script(WRITE_PARTNER, run_as_user_id=self.bot.id)
        self.input = {"id": self.partner_a.id}

    def _queued_then_run(self):
        execution = self.script.action_run(input=self.input, background=True)
        self.assertEqual(execution.state, "queued")
        return execution

    def test_a_run_as_user_archived_after_the_run_was_queued_runs_nothing(self):
        execution = self._queued_then_run()
        self.bot.active = False
        work_queue(self)
        self.assertEqual(execution.state, "failed")
        self.assertEqual(execution.error_code, "access_denied")
        self.assertIn("archived", execution.error_message)
        self.assertFalse(self.partner_a.ref)
        # a run by hand says the same, recorded
        by_hand = self.script.action_run(input=self.input)
        self.assertEqual((by_hand.state, by_hand.error_code), ("failed", "access_denied"))

    def test_a_run_as_user_taken_out_of_the_company_runs_nothing(self):
        execution = self._queued_then_run()
        self.bot.write(
            {"company_ids": [(6, 0, self.company_b.ids)], "company_id": self.company_b.id}
        )
        work_queue(self)
        self.assertEqual((execution.state, execution.error_code), ("failed", "access_denied"))
        self.assertIn(self.company_a.name, execution.error_message)
        self.assertFalse(self.partner_a.ref)

    def test_a_group_removed_between_two_runs_applies_to_the_next(self):
        first = self.script.action_run(input=self.input)
        self.assertEqual((first.state, json.loads(first.result_json)), ("succeeded", "touched"))
        self.partner_a.ref = False
        self.bot.write({"groups_id": [(3, self.env.ref("base.group_partner_manager").id)]})
        second = self.script.action_run(input=self.input)
        self.assertEqual((second.state, second.error_code), ("failed", "access_denied"))
        self.assertFalse(self.partner_a.ref)
        self.assertNoLeak(second.error_message)

    def test_restored_permissions_run_again(self):
        self.bot.active = False
        refused = self.script.action_run(input=self.input)
        self.assertEqual(refused.error_code, "access_denied")
        self.bot.active = True
        again = self.script.action_run(input=self.input)
        self.assertEqual(again.state, "succeeded", again.error_message)
        self.assertEqual(self.partner_a.ref, "touched")
