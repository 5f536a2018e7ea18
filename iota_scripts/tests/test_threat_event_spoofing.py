"""Threat: a script forges events that look like the system's.

Issue 17, "Event origin": who emitted an event, seen by handlers and subscriptions.

A script may emit any type but ``script.*``, ``partner.created`` included:
``ctx.event.origin`` (``script``, ``record``, ``system``) and
``ctx.event.script`` tell the handler who did, and a subscription may accept
one origin only.
"""

import json

from odoo.tests import TransactionCase, tagged

from .common import RealCursorMixin

REPORT = """\
export default (ctx) => ({
  origin: ctx.event.origin, script: ctx.event.script, type: ctx.event.type,
});
"""
FORGE = """\
export default async () => {
  await sdk.events.emit("origin.partner.created", { model: "res.partner", id: 1 });
  return 1;
};
"""


@tagged("post_install", "-at_install")
class TestEventOrigin(RealCursorMixin, TransactionCase):
    def _drain(self, rounds=20):
        super()._drain(rounds=rounds)

    def _results(self, env, sub_id):
        deliveries = env["iota.script.delivery"].search(
            [("subscription_id", "=", sub_id)], order="id"
        )
        return [json.loads(d.execution_id.result_json) for d in deliveries]

    def _cleanup(self, rule_id, partner_id):
        with self._env() as env:
            env["base.automation"].browse(rule_id).unlink()
            env.cr.execute("DELETE FROM iota_script_event WHERE type = 'origin.partner.created'")
            env["res.partner"].browse(partner_id).unlink()

    def test_handlers_see_the_origin_and_subscriptions_filter_on_it(self):
        handler_id = self._committed_script(REPORT, name="origin handler")
        forger_id = self._committed_script(FORGE, name="forger")
        with self._env() as env:
            Sub = env["iota.script.subscription"]
            any_id = Sub.create(
                {"event_type": "origin.partner.created", "script_id": handler_id}
            ).id
            records_only_id = Sub.create(
                {
                    "event_type": "origin.partner.created",
                    "script_id": handler_id,
                    "origin": "record",
                }
            ).id
            scripts_only_id = Sub.create(
                {
                    "event_type": "origin.partner.created",
                    "script_id": handler_id,
                    "origin": "script",
                }
            ).id
            model_id = env["ir.model"]._get_id("res.partner")
            rule_id = (
                env["base.automation"]
                .create(
                    {
                        "name": "origin test",
                        "model_id": model_id,
                        "trigger": "on_create",
                        "filter_domain": "[('name', '=', 'IOTA origin partner')]",
                        "action_server_ids": [
                            (
                                0,
                                0,
                                {
                                    "name": "emit",
                                    "model_id": model_id,
                                    "state": "iota_event",
                                    "iota_event_type": "origin.partner.created",
                                },
                            )
                        ],
                    }
                )
                .id
            )
        # a record save, then a script that emits the same type
        with self._env() as env:
            partner_id = env["res.partner"].create({"name": "IOTA origin partner"}).id
        self.addCleanup(self._cleanup, rule_id, partner_id)
        with self._env() as env:
            run = env["iota.script"].browse(forger_id).action_run()
            self.assertEqual(run.state, "succeeded", run.error_message)
            forger_key = env["iota.script"].browse(forger_id).key
        self._drain()
        with self._env() as env:
            events = env["iota.script.event"].search(
                [("type", "=", "origin.partner.created")], order="id"
            )
            self.assertEqual(events.mapped("origin"), ["record", "script"])
            self.assertEqual(events[1].script_id.id, forger_id)
            record = {"origin": "record", "script": None, "type": "origin.partner.created"}
            scripted = {
                "origin": "script",
                "script": {"id": forger_id, "key": forger_key},
                "type": "origin.partner.created",
            }
            self.assertEqual(self._results(env, any_id), [record, scripted])
            self.assertEqual(self._results(env, records_only_id), [record])
            self.assertEqual(self._results(env, scripts_only_id), [scripted])
