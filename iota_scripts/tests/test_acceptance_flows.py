"""The three flows of the issue, end to end on committed data, as a user sets them up.

1. A ``*/1 * * * *`` schedule runs every minute (the cron jobs are called as
   Odoo's cron threads would, one minute slot after the other).
2. A handler subscribed to ``partner.created`` runs after a contact is
   created (automation rule "Emit script event" on creation).
3. A throwing handler ends in Dead letters after its retries; once the
   script is fixed, a replay succeeds, once.
"""

import json
from datetime import timedelta
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from ..tools.sentinel import as_engine
from .common import RealCursorMixin

FAST_RETRIES = {"IOTA_SCRIPTS_QUEUE_RETRY_BASE_SEC": "0"}


@tagged("post_install", "-at_install")
class TestAcceptanceFlows(RealCursorMixin, TransactionCase):
    def _work(self):
        """Dispatches and runs until nothing is left."""
        with patch.dict("os.environ", FAST_RETRIES):
            for _round in range(30):
                with self._env() as env:
                    dispatched = env["iota.script.delivery"]._cron_dispatch()
                with self._env() as env:
                    ran = env["iota.script.execution"]._cron_process_queue(budget_sec=30)
                if not dispatched and not ran:
                    return
        self.fail("the bus did not settle")

    def test_every_minute_schedule_runs_each_minute(self):
        script_id = self._committed_script("export default (ctx) => ctx.trigger.slot;")
        with self._env() as env:
            schedule = env["iota.script.schedule"].create(
                {"script_id": script_id, "cron": "*/1 * * * *", "tz": "UTC"}
            )
            schedule_id = schedule.id
            first = schedule.next_run
            self.assertEqual((first.second, first.microsecond), (0, 0))
        # the enqueuer's clock one second into each of two consecutive minutes
        for minute in range(2):
            with self._env() as env:
                now = first + timedelta(minutes=minute, seconds=1)
                self.assertEqual(env["iota.script.schedule"]._fire(schedule_id, now=now), 1)
            self._work()
        with self._env() as env:
            runs = env["iota.script.execution"].search(
                [("schedule_id", "=", schedule_id)], order="id"
            )
            self.assertEqual(runs.mapped("state"), ["succeeded", "succeeded"])
            self.assertEqual(
                [json.loads(r.result_json) for r in runs],
                [str(first), str(first + timedelta(minutes=1))],
            )
            schedule = env["iota.script.schedule"].browse(schedule_id)
            self.assertEqual(schedule.next_run, first + timedelta(minutes=2))
            self.assertEqual(schedule.missed_count, 0)

    def test_partner_created_runs_its_handler(self):
        handler_id = self._committed_script(
            "export default async (ctx) => (await sdk.db.read('res.partner', "
            "[ctx.event.payload.id], ['name']))[0].name;"
        )
        with self._env() as env:
            sub = env["iota.script.subscription"].create(
                {"event_type": "partner.created", "script_id": handler_id}
            )
            rule = env["base.automation"].create(
                {
                    "name": "partner.created (test)",
                    "model_id": env["ir.model"]._get_id("res.partner"),
                    "trigger": "on_create",
                    "action_server_ids": [
                        (
                            0,
                            0,
                            {
                                "name": "emit partner.created",
                                "model_id": env["ir.model"]._get_id("res.partner"),
                                "state": "iota_event",
                                "iota_event_type": "partner.created",
                            },
                        )
                    ],
                }
            )
            sub_id, rule_id = sub.id, rule.id
        self.addCleanup(self._delete, "base.automation", rule_id)
        with self._env() as env:
            partner = env["res.partner"].create(
                {"name": "Flow Contact", "company_id": env.ref("base.main_company").id}
            )
            partner_id = partner.id
        self.addCleanup(self._delete, "res.partner", partner_id)
        self._work()
        with self._env() as env:
            delivery = env["iota.script.delivery"].search([("subscription_id", "=", sub_id)])
            self.assertEqual(len(delivery), 1)
            # committed: the other tests must not find this event
            self.addCleanup(self._delete, "iota.script.event", delivery.event_id.id)
            self.assertEqual(delivery.state, "done")
            self.assertEqual(json.loads(delivery.payload_json)["id"], partner_id)
            run = delivery.execution_id
            self.assertEqual((run.state, run.trigger), ("succeeded", "event"))
            self.assertEqual(json.loads(run.result_json), "Flow Contact")

    def test_throwing_handler_dead_letters_then_replay_after_fix_succeeds_once(self):
        handler_id = self._committed_script("export default () => { throw new Error('not yet'); };")
        with self._env() as env:
            sub_id = (
                env["iota.script.subscription"]
                .create({"event_type": "order.paid", "script_id": handler_id, "max_attempts": 3})
                .id
            )
            script = env["iota.script"].browse(handler_id)
            as_engine(env["iota.script.event"])._record(
                "order.paid", {"order": 7}, script=script, user=env.user, origin="script"
            )
        self._work()
        with self._env() as env:
            delivery = env["iota.script.delivery"].search([("subscription_id", "=", sub_id)])
            self.assertEqual((delivery.state, delivery.attempts), ("dead", 3))
            self.assertTrue(delivery.last_error.startswith("script_error: Error: not yet"))
            # what the Dead letters menu lists (its default filter: state dead)
            dead_letters = env.ref("iota_scripts.iota_script_delivery_action_dead")
            self.assertIn("search_default_dead", dead_letters.context)
            self.assertIn(delivery, env["iota.script.delivery"].search([("state", "=", "dead")]))
            delivery_id = delivery.id
            # the developer fixes the handler
            env["iota.script"].browse(
                handler_id
            ).source = "export default (ctx) => ({ paid: ctx.event.payload.order });"
        with self._env() as env:
            env["iota.script.delivery"].browse(delivery_id).action_replay()
        self._work()
        with self._env() as env:
            delivery = env["iota.script.delivery"].browse(delivery_id)
            self.assertEqual((delivery.state, delivery.replay_count), ("done", 1))
            runs = env["iota.script.execution"].search(
                [("delivery_id", "=", delivery_id)], order="id"
            )
            self.assertEqual(runs.mapped("state"), ["failed", "succeeded"])
            self.assertEqual(json.loads(runs[-1].result_json), {"paid": 7})
            self.assertEqual(runs[-1].version_id.number, 2)

    def _delete(self, model, record_id):
        with self._env() as env:
            env[model].browse(record_id).exists().unlink()
