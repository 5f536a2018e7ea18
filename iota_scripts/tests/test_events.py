"""The event bus end to end: outbox, dispatch, queue, retries, dead letters, replay."""

import json
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..tools.sentinel import as_engine
from .common import IotaScriptsCase, RealCursorMixin, emit_on_create

POISON = "export default () => { throw new Error('poison'); };"
ECHO = "export default (ctx) => ({ id: ctx.event.id, payload: ctx.event.payload });"
IDEMPOTENT = """\
export default async (ctx) => {
  const seen = await sdk.cache.incr("seen:" + ctx.event.id);
  if (seen > 1) return { duplicate: true };
  await sdk.events.emit("applied.effect", { delivery: ctx.event.id });
  return { applied: true };
};
"""
PING_PONG = """\
export default async (ctx) => {
  await sdk.events.emit("loop.ping", { hop: ctx.event.hop });
  await sdk.events.emit("loop.ping", { hop: ctx.event.hop });
};
"""
FAST_RETRIES = {"IOTA_SCRIPTS_QUEUE_RETRY_BASE_SEC": "0"}


@tagged("post_install", "-at_install")
class TestEventBus(RealCursorMixin, TransactionCase):
    def _subscribe(self, pattern, source, **values):
        script_id = self._committed_script(source, name=f"Handler {pattern}")
        with self._env() as env:
            return env["iota.script.subscription"].create(
                {"event_type": pattern, "script_id": script_id, **values}
            ).id, script_id

    def _emit(self, event_type, payload, script_id, user=None):
        with self._env() as env:
            script = env["iota.script"].browse(script_id)
            return (
                as_engine(env["iota.script.event"])
                ._record(event_type, payload, script=script, user=user or env.user, origin="script")
                .id
            )

    def _drain(self, rounds=50):
        with patch.dict("os.environ", FAST_RETRIES):
            super()._drain(rounds=rounds)

    def _deliveries(self, sub_id):
        with self._env() as env:
            return env["iota.script.delivery"].search_read(
                [("subscription_id", "=", sub_id)],
                ["state", "attempts", "last_error", "version_id", "execution_id", "company_id"],
                order="id",
            )

    def test_poison_event_reaches_dead_letters_while_others_flow(self):
        bad, bad_script = self._subscribe("poison.*", POISON, max_attempts=3)
        good, good_script = self._subscribe("order.created", ECHO)
        for i in range(3):
            self._emit("poison.pill", {"i": i}, bad_script)
            self._emit("order.created", {"i": i}, good_script)
        self._drain()
        dead = self._deliveries(bad)
        self.assertEqual(len(dead), 3)
        for delivery in dead:
            self.assertEqual((delivery["state"], delivery["attempts"]), ("dead", 3))
            self.assertTrue(delivery["last_error"].startswith("script_error: Error: poison"))
            self.assertTrue(delivery["version_id"])
        done = self._deliveries(good)
        self.assertEqual([d["state"] for d in done], ["done"] * 3)
        self.assertEqual({d["attempts"] for d in done}, {1})
        with self._env() as env:
            for delivery in done:
                execution = env["iota.script.execution"].browse(delivery["execution_id"][0])
                result = json.loads(execution.result_json)
                self.assertEqual(result["id"], delivery["id"], "ctx.event.id is the delivery id")
                self.assertEqual(execution.trigger, "event")
            # the handler ran 3 times per poison event, and never in parallel with itself
            runs = env["iota.script.execution"].search(
                [("delivery_id", "in", [d["id"] for d in dead])]
            )
            self.assertEqual(len(runs), 3)
            self.assertEqual(set(runs.mapped("attempt")), {3})

    def test_replaying_twice_applies_once_as_the_original_user(self):
        sub, script_id = self._subscribe("thing.happened", IDEMPOTENT)
        with self._env() as env:
            original = env.ref("base.main_company")._iota_scripts_runner_user()
            admin = env.ref("base.user_admin")
            original_id, admin_id = original.id, admin.id
        self._emit("thing.happened", {"n": 1}, script_id, user=original)
        self._drain()
        (delivery,) = self._deliveries(sub)
        self.assertEqual(delivery["state"], "done")
        for _replay in range(2):
            with self._env() as env:
                env["iota.script.delivery"].with_user(admin_id).browse(
                    delivery["id"]
                ).action_replay()
            self._drain()
        with self._env() as env:
            record = env["iota.script.delivery"].browse(delivery["id"])
            self.assertEqual((record.state, record.replay_count), ("done", 2))
            applied = env["iota.script.event"].search([("type", "=", "applied.effect")])
            applied = applied.filtered(
                lambda e: json.loads(e.payload_json)["delivery"] == delivery["id"]
            )
            self.assertEqual(len(applied), 1, "the effect is applied once")
            runs = env["iota.script.execution"].search([("delivery_id", "=", delivery["id"])])
            self.assertEqual(len(runs), 3)
            self.assertEqual(set(runs.mapped("state")), {"succeeded"})
            self.assertEqual(runs.triggered_by_id.ids, [original_id], "never the replaying admin")
            self.assertNotEqual(original_id, admin_id)

    def test_loop_guard_stops_a_handler_that_emits_what_it_handles(self):
        sub, script_id = self._subscribe("loop.ping", PING_PONG)
        self._emit("loop.ping", {}, script_id)
        with patch.dict("os.environ", {"IOTA_SCRIPTS_EVENT_MAX_HOPS": "3"}):
            self._drain()
        deliveries = self._deliveries(sub)
        done = [d for d in deliveries if d["state"] == "done"]
        dead = [d for d in deliveries if d["state"] == "dead"]
        self.assertEqual(len(done), 1 + 2 + 4 + 8)  # hops 0..3
        self.assertEqual(len(dead), 16)  # hop 4: stopped
        self.assertTrue(all(d["last_error"].startswith("loop_guard") for d in dead))
        with self._env() as env:
            self.assertFalse(
                env["iota.script.event"].search_count([("type", "=", "loop.ping"), ("hop", ">", 4)])
            )

    def test_request_replayed_on_serialization_failure_sends_one_event(self):
        script_id = self._committed_script(ECHO, name="Outbox")
        tries = []
        with (
            self._env() as env,
            patch("odoo.service.model.time.sleep"),
            mute_logger("odoo.sql_db"),
        ):

            def request():
                tries.append(1)
                # the request reads the script (its snapshot starts here)...
                env.cr.execute("SELECT id FROM iota_script WHERE id = %s", [script_id])
                as_engine(env["iota.script.event"])._record(
                    "request.done",
                    {"try": len(tries)},
                    script=env["iota.script"].browse(script_id),
                    user=env.user,
                    origin="system",
                )
                env.flush_all()
                if len(tries) == 1:
                    # ...while another request changes it and commits
                    with self._env() as other:
                        other.cr.execute(
                            "UPDATE iota_script SET description = 'other' WHERE id = %s",
                            [script_id],
                        )
                env.cr.execute(
                    "UPDATE iota_script SET description = 'mine' WHERE id = %s", [script_id]
                )
                return True

            self.assertTrue(retrying(request, env))
        self.assertEqual(len(tries), 2, "Odoo replayed the request")
        with self._env() as env:
            events = env["iota.script.event"].search(
                [("type", "=", "request.done"), ("script_id", "=", script_id)]
            )
            self.assertEqual([json.loads(e.payload_json)["try"] for e in events], [2])


@tagged("post_install", "-at_install")
class TestEventBusAccess(IotaScriptsCase):
    def test_replay_refused_to_another_company(self):
        script_b = self._script(ECHO, company=self.company_b)
        event = as_engine(self.env["iota.script.event"])._record(
            "x.y", {}, script=script_b, user=self.dev_b, origin="script"
        )
        delivery = as_engine(self.env["iota.script.delivery"]).create(
            {
                "event_id": event.id,
                "script_id": script_b.id,
                "company_id": self.company_b.id,
                "user_id": self.dev_b.id,
                "state": "dead",
            }
        )
        with self.assertRaises(AccessError):
            delivery.with_user(self.dev_a).action_replay()
        self.assertFalse(
            self.env["iota.script.execution"].search([("delivery_id", "=", delivery.id)])
        )

    def _dead_delivery(self, script, event_type, user):
        event = as_engine(self.env["iota.script.event"])._record(
            event_type, {"t": event_type}, script=script, user=user, origin="script"
        )
        return as_engine(self.env["iota.script.delivery"]).create(
            {
                "event_id": event.id,
                "script_id": script.id,
                "company_id": script.company_id.id,
                "user_id": user.id,
                "state": "dead",
            }
        )

    def test_replay_range_by_type_as_the_original_user(self):
        script = self._script(ECHO)
        wanted = self._dead_delivery(script, "order.created", self.user_a)
        other = self._dead_delivery(script, "invoice.created", self.user_a)
        now = fields.Datetime.now()
        replayed = (
            self.env["iota.script.delivery"]
            .with_user(self.dev_a)
            ._replay_range("order.*", now - timedelta(hours=1), now + timedelta(hours=1))
        )
        self.assertEqual(replayed, wanted)
        self.assertEqual((wanted.state, wanted.replay_count), ("queued", 1))
        self.assertEqual(wanted.execution_id.state, "queued")
        self.assertEqual(wanted.execution_id.triggered_by_id, self.user_a)
        self.assertEqual(other.state, "dead")
        self.assertFalse(other.execution_id)
        # the same from the dialog
        wizard = (
            self.env["iota.script.replay.wizard"]
            .with_user(self.dev_a)
            .create({"event_type": "invoice.created", "date_from": now - timedelta(hours=1)})
        )
        wizard.action_replay()
        self.assertEqual((other.state, other.execution_id.triggered_by_id), ("queued", self.user_a))

    def test_subscription_patterns_and_filters(self):
        script = self._script(ECHO)
        Sub = self.env["iota.script.subscription"]
        star = Sub.create({"event_type": "partner.*", "script_id": script.id})
        filtered = Sub.create(
            {
                "event_type": "*",
                "script_id": script.id,
                "payload_filter": '{"country": "BE", "customer.vip": true}',
            }
        )
        self.assertTrue(star._matches("partner.created", {}))
        self.assertFalse(star._matches("partners.created", {}))
        self.assertTrue(filtered._matches("a", {"country": "BE", "customer": {"vip": True}}))
        self.assertFalse(filtered._matches("a", {"country": "BE", "customer": {"vip": False}}))
        self.assertFalse(filtered._matches("a", {"country": "BE"}))

    def test_record_filter_is_validated_at_save(self):
        script = self._script(ECHO)
        Sub = self.env["iota.script.subscription"]
        base = {"event_type": "partner.created", "script_id": script.id}
        cases = {
            "needs its model": (
                {"record_domain": "[('is_company', '=', True)]"},
                "needs the model",
            ),
            "unknown model": (
                {"record_model": "no.such.model", "record_domain": "[]"},
                "is not a model",
            ),
            "not python": ({"record_model": "res.partner", "record_domain": "[("}, "plain values"),
            "code": (
                {"record_model": "res.partner", "record_domain": "[('id', '=', uid)]"},
                "no code",
            ),
            "not a list": ({"record_model": "res.partner", "record_domain": "{'a': 1}"}, "a list"),
            "unknown field": (
                {"record_model": "res.partner", "record_domain": "[('no_such_field', '=', 1)]"},
                "not a valid domain on res.partner",
            ),
            "bad operator": (
                {"record_model": "res.partner", "record_domain": "[('name', 'is about', 'x')]"},
                "not a valid domain on res.partner",
            ),
        }
        for name, (values, message) in cases.items():
            with self.subTest(name), self.assertRaises(ValidationError) as caught:
                with self.env.cr.savepoint():
                    Sub.create({**base, **values})
            self.assertIn(message, str(caught.exception), name)
            self.assertNoLeak(str(caught.exception))
        ok = Sub.create(
            {**base, "record_model": "res.partner", "record_domain": "[('is_company', '=', True)]"}
        )
        with self.assertRaises(ValidationError):
            ok.record_domain = "[('nope', '=', 1)]"

    def test_record_filter_applies_to_the_event_record_as_the_handler_user(self):
        script = self._script(ECHO)
        sub = self.env["iota.script.subscription"].create(
            {
                "event_type": "partner.*",
                "script_id": script.id,
                "record_model": "res.partner",
                "record_domain": "[('is_company', '=', True)]",
            }
        )
        firm = self.env["res.partner"].create(
            {"name": "Firm of A", "is_company": True, "company_id": self.company_a.id}
        )
        person = self.env["res.partner"].create(
            {"name": "Person of A", "company_id": self.company_a.id}
        )
        firm_b = self.env["res.partner"].create(
            {"name": "Firm of B", "is_company": True, "company_id": self.company_b.id}
        )
        shared_firm = self.env["res.partner"].create({"name": "Shared firm", "is_company": True})

        def event(payload):
            return {"model": "res.partner", **payload}

        self.assertTrue(sub._matches("partner.created", event({"id": firm.id})))
        self.assertFalse(sub._matches("partner.created", event({"id": person.id})))
        # the runner of A may not read B's records: as if it did not exist
        self.assertFalse(sub._matches("partner.created", event({"id": firm_b.id})))
        self.assertTrue(sub._matches("partner.created", event({"id": shared_firm.id})))
        self.assertTrue(sub._matches("partner.created", event({"ids": [person.id, firm.id]})))
        self.assertFalse(sub._matches("partner.created", {"model": "res.users", "id": firm.id}))
        self.assertFalse(sub._matches("partner.created", {"id": firm.id}))
        self.assertFalse(sub._matches("partner.created", event({"id": "7"})))
        self.assertFalse(sub._matches("partner.created", None))
        # evaluated at dispatch time, on the record as it is then
        firm.is_company = False
        self.assertFalse(sub._matches("partner.created", event({"id": firm.id})))
        firm.is_company = True
        firm_id = firm.id
        firm.unlink()
        self.assertFalse(sub._matches("partner.created", event({"id": firm_id})))

        # through the dispatcher: one delivery, for the matching record only
        Event = as_engine(self.env["iota.script.event"])
        for partner in (person, shared_firm):
            Event._record(
                "partner.created",
                {"model": "res.partner", "id": partner.id},
                script=script,
                user=self.env.user,
                origin="system",
            )
        self.env["iota.script.delivery"]._dispatch_batch(500)
        deliveries = self.env["iota.script.delivery"].search([("subscription_id", "=", sub.id)])
        self.assertEqual(len(deliveries), 1)
        self.assertEqual(json.loads(deliveries.payload_json)["id"], shared_firm.id)

    def test_record_filter_never_escalates(self):
        # a handler running as a user who may not read the model matches nothing
        script = self._script(ECHO)
        sub = self.env["iota.script.subscription"].create(
            {
                "event_type": "x.*",
                "script_id": script.id,
                "record_model": "ir.config_parameter",
                "record_domain": "[]",
            }
        )
        param = self.env["ir.config_parameter"].search([], limit=1)
        self.assertTrue(param)
        self.assertFalse(sub._matches("x.y", {"model": "ir.config_parameter", "id": param.id}))

    def test_record_filter_failing_in_sql_does_not_block_the_bus(self):
        # Values that Python accepts and PostgreSQL refuses: refused at save...
        script = self._script(ECHO)
        Sub = self.env["iota.script.subscription"]
        base = {"event_type": "partner.*", "script_id": script.id, "record_model": "res.partner"}
        # (values refused when the query is planned; errors that depend on the
        # rows met, e.g. a LIKE pattern ending in an escape, are only caught
        # at dispatch, below)
        for domain in ("[('create_date', '>', 'not a date')]", "[('id', '=', 1099511627776)]"):
            with self.subTest(domain), self.assertRaises(ValidationError) as caught:
                with self.env.cr.savepoint():
                    Sub.create({**base, "record_domain": domain})
            self.assertIn("not a valid domain on res.partner", str(caught.exception))
            self.assertNoLeak(str(caught.exception))
        # ... and a row saved before that check matches nothing at dispatch,
        # instead of failing the dispatcher's batch round after round
        bad = Sub.create({**base, "record_domain": "[('is_company', '=', True)]"})
        self.env.cr.execute(
            "UPDATE iota_script_subscription SET record_domain = %s WHERE id = %s",
            ["[('create_date', '>', 'not a date')]", bad.id],
        )
        bad.invalidate_recordset()
        good = Sub.create({"event_type": "partner.*", "script_id": script.id})
        partner = self.env["res.partner"].create({"name": "P", "company_id": self.company_a.id})
        payload = {"model": "res.partner", "id": partner.id}
        with mute_logger("odoo.addons.iota_scripts.models.iota_script_subscription", "odoo.sql_db"):
            self.assertFalse(bad._matches("partner.created", payload))
            Event = as_engine(self.env["iota.script.event"])
            Event._record(
                "partner.created", payload, script=script, user=self.env.user, origin="system"
            )
            self.assertGreaterEqual(self.env["iota.script.delivery"]._dispatch_batch(500), 1)
        Delivery = self.env["iota.script.delivery"]
        self.assertEqual(Delivery.search_count([("subscription_id", "=", good.id)]), 1)
        self.assertEqual(Delivery.search_count([("subscription_id", "=", bad.id)]), 0)
        self.assertTrue(partner.exists().name)  # the transaction is still usable

    def test_rolled_back_event_leaves_nothing(self):
        script = self._script(ECHO)
        self.env["iota.script.subscription"].create(
            {"event_type": "*.event", "script_id": script.id}
        )
        Event = as_engine(self.env["iota.script.event"])
        cron = self.env.ref("iota_scripts.iota_script_delivery_cron_dispatch")
        # as in a new transaction: no dispatch trigger yet
        self.env.cr.postcommit.data.pop("iota_scripts.cron_wake", None)
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        with self.assertRaises(ZeroDivisionError), self.env.cr.savepoint():
            Event._record("gone.event", {}, script=script, user=self.env.user, origin="system")
            1 / 0  # noqa: B018
        self.assertFalse(Event.search([("type", "=", "gone.event")]))
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers
        )
        # the next event of the transaction still wakes the dispatcher
        Event._record("kept.event", {}, script=script, user=self.env.user, origin="system")
        Event._record("kept.event", {}, script=script, user=self.env.user, origin="system")
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers + 1
        )
        # nobody listens to this one: it waits for the dispatcher's round
        Event._record("unheard.thing", {}, script=script, user=self.env.user, origin="system")
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers + 1
        )


@tagged("post_install", "-at_install")
class TestRecordEvents(IotaScriptsCase):
    def test_partner_created_reaches_its_subscriber(self):
        handler = self._script(ECHO)
        sub = self.env["iota.script.subscription"].create(
            {"event_type": "partner.created", "script_id": handler.id}
        )
        emit_on_create(self.env, "partner.created")
        partner = self.env["res.partner"].create({"name": "New", "company_id": self.company_a.id})
        event = self.env["iota.script.event"].search([("type", "=", "partner.created")])
        self.assertEqual(len(event), 1)
        self.assertEqual(event.company_id, self.company_a)
        self.assertEqual(json.loads(event.payload_json)["id"], partner.id)
        self.env["iota.script.delivery"]._dispatch_batch(500)
        delivery = self.env["iota.script.delivery"].search([("subscription_id", "=", sub.id)])
        self.assertEqual(delivery.state, "queued")
        self.assertEqual(delivery.execution_id.state, "queued")
        self.assertEqual(delivery._ctx_event()["payload"]["id"], partner.id)
        self.assertEqual(event.state, "done")
        # a partner of another company does not reach company A's handler
        self.env["res.partner"].create({"name": "Other", "company_id": self.company_b.id})
        self.env["iota.script.delivery"]._dispatch_batch(500)
        self.assertEqual(
            self.env["iota.script.delivery"].search_count([("subscription_id", "=", sub.id)]), 1
        )
