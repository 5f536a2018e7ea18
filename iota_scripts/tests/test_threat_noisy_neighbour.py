"""Threat: one company's flood holds back another company.

Issue 17, "Fairness": companies take turns in the dispatcher and the queue.

One company's flood of events or queued runs must not hold back another
company's; the reserved priorities (0-9) are for IOTA Scripts administrators.
"""

from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from .common import IotaScriptsCase, RealCursorMixin

NOOP = "export default () => 1;"
FLOOD = """\
export default async (ctx) => {
  for (let i = 0; i < ctx.input.n; i++) await sdk.events.emit("fair.tick", { i });
  return ctx.input.n;
};
"""


@tagged("post_install", "-at_install")
class TestDispatcherFairness(IotaScriptsCase):
    def test_one_company_flood_does_not_hold_back_another(self):
        handler_a = self._script(NOOP, name="A handler")
        handler_b = self._script(NOOP, name="B handler", company=self.company_b)
        Sub = self.env["iota.script.subscription"]
        Sub.create({"event_type": "fair.tick", "script_id": handler_a.id})
        sub_b = Sub.create({"event_type": "fair.tick", "script_id": handler_b.id})
        flood_a = self._script(FLOOD, name="A flood")
        one_b = self._script(FLOOD, name="B one", company=self.company_b)
        with patch.dict("os.environ", {"IOTA_SCRIPTS_MAX_EVENTS_PER_RUN": "300"}):
            self.assertEqual(flood_a.action_run(input={"n": 300}).state, "succeeded")
            # B's event is written after A's 300
            self.assertEqual(one_b.action_run(input={"n": 1}).state, "succeeded")
        self.env["iota.script.delivery"]._dispatch_batch(20)
        delivery_b = self.env["iota.script.delivery"].search([("subscription_id", "=", sub_b.id)])
        self.assertEqual(len(delivery_b), 1, "B's event went in the first batch")
        self.assertEqual(delivery_b.state, "queued")


@tagged("post_install", "-at_install")
class TestQueueFairness(RealCursorMixin, TransactionCase):
    def _company_b(self):
        with self._env() as env:
            company = env["res.company"].search([("name", "=", "IOTA fairness B")], limit=1)
            if not company:
                company = env["res.company"].create({"name": "IOTA fairness B"})
            return company.id

    def test_queue_claims_companies_in_turns(self):
        company_b = self._company_b()
        script_a = self._committed_script(NOOP, name="A flood")
        script_b = self._committed_script(NOOP, name="B", company_id=company_b)
        with self._env() as env:
            Script = env["iota.script"]
            # background runs, as a user asks for them (the Run button, RPC)
            flood = [Script.browse(script_a).action_run(background=True).id for _i in range(40)]
            late = [Script.browse(script_b).action_run(background=True).id for _i in range(2)]
        self.assertLess(max(flood), min(late))
        with self._env() as env:
            claimed = env["iota.script.execution"]._queue_claim("fair-worker", limit=4)
            self.assertEqual(sorted(claimed.ids), sorted(flood[:2] + late))
            # the worker runs its batch in turns: A, B, A, B
            self.assertEqual(claimed.ids, [flood[0], late[0], flood[1], late[1]])
