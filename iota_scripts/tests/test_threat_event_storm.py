"""Threat: an event storm or a busy company drops real events.

Issue 16 §3: the event quota delays, it never drops.

* IOTA Scripts' own lifecycle events (``script.executed``, ...) never use the
  company's ``event_quota_per_minute``.
* Over the quota, events wait (pending, with an ``eta``) and are dispatched
  later: all of them, at a bounded rate. Dead letters are for failing
  handlers and loops only.
* An event storm stays bounded by the hop guard and the quota, drains, and
  shows on the dashboard.

The quota's window is one minute: the tests move the dispatcher's clock
(``models/iota_script_delivery._now``) instead of waiting.
"""

import json
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..models import iota_script_delivery
from ..tools.sentinel import as_engine
from .common import IotaScriptsCase, RealCursorMixin

ECHO = "export default (ctx) => ({ id: ctx.event.id, payload: ctx.event.payload });"
EMIT_ONE = """\
export default async (ctx) => {
  await sdk.events.emit("order.placed", { n: ctx.input && ctx.input.n });
  return 1;
};
"""
STORM = """\
export default async (ctx) => {
  await sdk.events.emit("storm.tick", { hop: ctx.event.hop });
  await sdk.events.emit("storm.tick", { hop: ctx.event.hop });
};
"""


def _quota(n, **more):
    return patch.dict(
        "os.environ",
        {
            "IOTA_SCRIPTS_EVENT_QUOTA_PER_MINUTE": str(n),
            "IOTA_SCRIPTS_QUEUE_RETRY_BASE_SEC": "0",
            **{f"IOTA_SCRIPTS_{k.upper()}": str(v) for k, v in more.items()},
        },
    )


@tagged("post_install", "-at_install")
class TestEventQuotaLifecycle(IotaScriptsCase):
    def test_lifecycle_events_do_not_use_the_quota(self):
        """A company that ran many scripts (one script.executed each) still gets its events."""
        handler = self._script(ECHO, name="order handler")
        sub = self.env["iota.script.subscription"].create(
            {"event_type": "order.placed", "script_id": handler.id}
        )
        # someone listens to the lifecycle events too: they are dispatched, not counted
        watcher = self._script(ECHO, name="watcher")
        self.env["iota.script.subscription"].create(
            {"event_type": "script.executed", "script_id": watcher.id}
        )
        busy = self._script("export default () => 1;", name="busy")
        emitter = self._script(EMIT_ONE, name="emitter")
        with _quota(3):
            for _run in range(6):
                self.assertEqual(busy.action_run().state, "succeeded")
            self.assertEqual(emitter.action_run(input={"n": 1}).state, "succeeded")
            lifecycle = self.env["iota.script.event"].search(
                [("type", "=", "script.executed"), ("company_id", "=", self.company_a.id)]
            )
            self.assertGreaterEqual(len(lifecycle), 7)
            self.assertEqual(set(lifecycle.mapped("origin")), {"system"})
            self.env["iota.script.delivery"]._dispatch_batch(500)
        delivery = self.env["iota.script.delivery"].search([("subscription_id", "=", sub.id)])
        self.assertEqual(len(delivery), 1)
        self.assertEqual((delivery.state, delivery.last_error), ("queued", False))
        self.assertEqual(delivery.execution_id.state, "queued")
        event = delivery.event_id
        self.assertEqual((event.state, event.origin), ("done", "script"))
        self.assertTrue(event.charged_at, "a script event counts against the quota")
        self.assertFalse(any(lifecycle.mapped("charged_at")), "lifecycle events never count")
        self.assertEqual(set(lifecycle.mapped("state")), {"done"})

    def test_over_the_quota_events_wait_and_are_not_dead(self):
        handler = self._script(ECHO, name="order handler")
        sub = self.env["iota.script.subscription"].create(
            {"event_type": "order.placed", "script_id": handler.id}
        )
        emitter = self._script(EMIT_ONE, name="emitter")
        with _quota(2):
            for n in range(5):
                emitter.action_run(input={"n": n})
            self.env["iota.script.delivery"]._dispatch_batch(500)
            deliveries = self.env["iota.script.delivery"].search([("subscription_id", "=", sub.id)])
            self.assertEqual(deliveries.mapped("state"), ["queued"] * 2)
            events = self.env["iota.script.event"].search(
                [("type", "=", "order.placed")], order="id"
            )
            self.assertEqual(events.mapped("state"), ["done"] * 2 + ["pending"] * 3)
            self.assertFalse(events.filtered(lambda e: e.state == "dead"))
            waiting = events.filtered(lambda e: e.state == "pending")
            self.assertTrue(all(waiting.mapped("eta")), "the waiting events know when they go")
            # the dashboard shows them
            data = self.env["iota.script.execution"].get_dashboard_data()
            self.assertEqual(data["events_waiting"], {"pending": 3, "held_by_quota": 3})
            # a minute later, the next two go; then the last one
            later = waiting[0].eta
            with patch.object(iota_script_delivery, "_now", lambda: later):
                self.env["iota.script.delivery"]._dispatch_batch(500)
            self.assertEqual(events.mapped("state"), ["done"] * 4 + ["pending"])
            with patch.object(iota_script_delivery, "_now", lambda: later + timedelta(seconds=61)):
                self.env["iota.script.delivery"]._dispatch_batch(500)
        self.assertEqual(events.mapped("state"), ["done"] * 5)
        deliveries = self.env["iota.script.delivery"].search([("subscription_id", "=", sub.id)])
        self.assertEqual(len(deliveries), 5)
        self.assertFalse(deliveries.filtered(lambda d: d.state == "dead"))


@tagged("post_install", "-at_install")
class TestEventQuotaBulk(RealCursorMixin, TransactionCase):
    """Through the real record save, dispatcher and queue, on committed data."""

    def setUp(self):
        super().setUp()
        self.clock = [fields.Datetime.now()]
        patcher = patch.object(iota_script_delivery, "_now", lambda: self.clock[0])
        patcher.start()
        self.addCleanup(patcher.stop)
        # the demo data's partner rules would run a script per new partner
        with self._env() as env:
            rules = env["base.automation"].search(
                [("model_id.model", "=", "res.partner"), ("active", "=", True)]
            )
            rule_ids = rules.ids
            rules.active = False
        self.addCleanup(self._restore_rules, rule_ids)

    def _restore_rules(self, rule_ids):
        with self._env() as env:
            env["base.automation"].browse(rule_ids).active = True

    def _drain(self, rounds=200):
        super()._drain(rounds=rounds, batch_size=500, budget_sec=120)

    def _record_event_rule(self, env, event_type):
        rule = env["base.automation"].create(
            {
                "name": event_type,
                "model_id": env["ir.model"]._get_id("res.partner"),
                "trigger": "on_create",
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": f"emit {event_type}",
                            "model_id": env["ir.model"]._get_id("res.partner"),
                            "state": "iota_event",
                            "iota_event_type": event_type,
                        },
                    )
                ],
            }
        )
        return rule.id

    def _cleanup_bulk(self, event_type, rule_id):
        with self._env() as env:
            env["base.automation"].browse(rule_id).unlink()
            env.cr.execute("DELETE FROM iota_script_event WHERE type = %s", [event_type])
            env.cr.execute("DELETE FROM res_partner WHERE name LIKE 'IOTA bulk %%'")

    def test_bulk_import_of_5000_contacts_is_delivered_in_full_at_a_bounded_rate(self):
        event_type = "bulk.partner.created"
        quota, count = 2000, 5000
        script_id = self._committed_script(ECHO, name="bulk handler")
        with self._env() as env:
            sub_id = (
                env["iota.script.subscription"]
                .create({"event_type": event_type, "script_id": script_id, "origin": "record"})
                .id
            )
            rule_id = self._record_event_rule(env, event_type)
        self.addCleanup(self._cleanup_bulk, event_type, rule_id)
        with _quota(quota):
            # the import: one save of 5,000 contacts
            with self._env() as env:
                company = env.ref("base.main_company")
                env["res.partner"].create(
                    [{"name": f"IOTA bulk {i}", "company_id": company.id} for i in range(count)]
                )
            with self._env() as env:
                self.assertEqual(
                    env["iota.script.event"].search_count(
                        [("type", "=", event_type), ("origin", "=", "record")]
                    ),
                    count,
                )
            per_window = []
            delivered = 0
            for _window in range(10):
                self._drain()
                with self._env() as env:
                    now_done = env["iota.script.delivery"].search_count(
                        [("subscription_id", "=", sub_id), ("state", "=", "done")]
                    )
                    if not per_window:
                        waiting = env["iota.script.execution"].get_dashboard_data()[
                            "events_waiting"
                        ]
                        self.assertEqual(waiting["held_by_quota"], count - quota)
                per_window.append(now_done - delivered)
                delivered = now_done
                if delivered == count:
                    break
                # nothing moves before the window passes
                self._drain()
                with self._env() as env:
                    self.assertEqual(
                        env["iota.script.delivery"].search_count(
                            [("subscription_id", "=", sub_id), ("state", "=", "done")]
                        ),
                        delivered,
                    )
                self.clock[0] += timedelta(seconds=61)
        self.assertEqual(per_window, [2000, 2000, 1000], "at most the quota per minute")
        with self._env() as env:
            deliveries = env["iota.script.delivery"].search_read(
                [("subscription_id", "=", sub_id)], ["state", "attempts"]
            )
            self.assertEqual(len(deliveries), count, "every contact reached the handler")
            self.assertEqual({d["state"] for d in deliveries}, {"done"}, "none dead")
            self.assertEqual({d["attempts"] for d in deliveries}, {1})
            self.assertFalse(
                env["iota.script.event"].search_count(
                    [("type", "=", event_type), ("state", "!=", "done")]
                )
            )
            runs = env["iota.script.execution"].search_count(
                [("script_id", "=", script_id), ("state", "=", "succeeded")]
            )
            self.assertEqual(runs, count)

    def test_event_storm_is_bounded_drains_and_shows_on_the_dashboard(self):
        script_id = self._committed_script(STORM, name="storm handler")
        with self._env() as env:
            sub_id = (
                env["iota.script.subscription"]
                .create({"event_type": "storm.tick", "script_id": script_id})
                .id
            )
            script = env["iota.script"].browse(script_id)
            as_engine(env["iota.script.event"])._record(
                "storm.tick", {}, script=script, user=env.user, origin="script"
            )
        # hops 0..4 run (1+2+4+8+16 = 31 events), hop 5's 32 events are loop-guarded
        with _quota(10, event_max_hops=4):
            seen_waiting = []
            for _window in range(20):
                self._drain()
                with self._env() as env:
                    data = env["iota.script.execution"].get_dashboard_data()
                    seen_waiting.append(data["events_waiting"]["held_by_quota"])
                    pending = env["iota.script.event"].search_count(
                        [("type", "=", "storm.tick"), ("state", "=", "pending")]
                    )
                if not pending:
                    break
                self.clock[0] += timedelta(seconds=61)
            else:
                self.fail("the storm did not drain")
        self.assertGreater(max(seen_waiting), 0, "the storm showed as events waiting")
        self.assertEqual(seen_waiting[-1], 0)
        with self._env() as env:
            deliveries = env["iota.script.delivery"].search_read(
                [("subscription_id", "=", sub_id)], ["state", "last_error", "hop"]
            )
            done = [d for d in deliveries if d["state"] == "done"]
            dead = [d for d in deliveries if d["state"] == "dead"]
            self.assertEqual(len(done), 31)
            self.assertEqual(len(dead), 32)
            self.assertTrue(all(d["last_error"].startswith("loop_guard") for d in dead))
            self.assertEqual({d["hop"] for d in dead}, {5})
            # at most the quota (10) of events went out per minute
            events = env["iota.script.event"].search_read(
                [("type", "=", "storm.tick"), ("charged_at", "!=", False)], ["charged_at"]
            )
            per_minute = {}
            for event in events:
                per_minute[event["charged_at"]] = per_minute.get(event["charged_at"], 0) + 1
            self.assertEqual(sum(per_minute.values()), 31)
            self.assertLessEqual(max(per_minute.values()), 10)
            payloads = env["iota.script.event"].search_read(
                [("type", "=", "storm.tick")], ["payload_json"]
            )
            self.assertEqual(len(payloads), 63)
            self.assertTrue(all(json.loads(p["payload_json"]) is not None for p in payloads))
