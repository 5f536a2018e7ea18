# Over 600 lines: one test per cookbook recipe (16), each through its own real trigger.
"""The cookbook's recipes (``examples/cookbook/*.js``) run against real Odoo.

Each test makes a script record from the recipe file's source, as a user who
copies the recipe would, and runs it through the trigger the recipe names: an
automation rule on save, a schedule slot and the queue, the endpoint gateway
over real HTTP, an event subscription, ``sdk.scripts.enqueue`` and the queue,
or by hand. It then checks what the run did in the database: records written,
events stored, mails and attachments created, the executions' states and
results. The outside APIs a recipe calls are HTTPS servers on loopback
(``loopback_https``), reached through the engine's real HTTP client with the
script's Allowed Hosts set as the recipe says. Redis is a private server.

The sales and invoicing recipes need the ``sale`` module (``scripts/test-addon``
installs it beside the addon when Odoo has it); without it they are skipped.
The queue is worked in this test's transaction (``common.work_queue``): the
worker's claim, run group, retries and the event dispatch, without their
commits (test_queue tests those).
"""

import base64
import hashlib
import hmac
import json
import os
import time
import unittest
from datetime import date, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from ..tools.settings import restart_engine
from .common import emit_on_create, work_queue
from .loopback_https import OutsideWorld
from .redis_server import PrivateRedis

#: examples/cookbook beside the addon (the repository's layout).
RECIPES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "examples",
    "cookbook",
)
NAMES = (
    sorted(n[:-3] for n in os.listdir(RECIPES) if n.endswith(".js"))
    if os.path.isdir(RECIPES)
    else []
)


def recipe(name):
    with open(os.path.join(RECIPES, f"{name}.js"), encoding="utf-8") as f:
        return f.read()


@tagged("post_install", "-at_install")
class TestCookbook(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not NAMES:
            raise unittest.SkipTest("examples/cookbook is not beside the addon")
        # the demo automation rule and schedule would run on our partners too
        demo = cls.env["ir.actions.server"].search([("state", "=", "iota_script")])
        demo.base_automation_id.active = False
        cls.env["ir.cron"].search([("ir_actions_server_id", "in", demo.ids)]).active = False
        cls.redis = PrivateRedis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        site = {
            "IOTA_SCRIPTS_REDIS_URL": cls.redis.url,
            "IOTA_SCRIPTS_QUEUE_RETRY_BASE_SEC": "0",
        }
        cls.startClassPatcher(patch.dict(os.environ, site))
        restart_engine()
        cls.addClassCleanup(restart_engine)
        cls.world = OutsideWorld()
        cls.addClassCleanup(cls.world.close)
        cls.enterClassContext(cls.world.routing())
        cls.company = cls.env.ref("base.main_company")
        cls.runner = cls.company._iota_scripts_runner_user()
        cls.contacts_bot = cls._user("cookbook_contacts", "base.group_partner_manager")

    def setUp(self):
        super().setUp()
        self.redis.client().flushall()
        self.addCleanup(self.world.close)

    # ---- helpers ---------------------------------------------------------------------
    @classmethod
    def _user(cls, login, groups):
        return new_test_user(
            cls.env,
            login,
            groups=f"base.group_user,{groups}",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )

    def _needs(self, *modules):
        installed = self.env["ir.module.module"].search(
            [("name", "in", modules), ("state", "=", "installed")]
        )
        if len(installed) < len(modules):
            self.skipTest(
                f"needs the {', '.join(modules)} module(s) (scripts/test-addon installs sale)"
            )

    def _script(self, name, **values):
        """A script made from the recipe file, as a user who copies it would."""
        return self.env["iota.script"].create(
            {
                "name": values.pop("title", name),
                "company_id": self.company.id,
                "state": "active",
                "source": recipe(name),
                **values,
            }
        )

    def _executions(self, script):
        return self.env["iota.script.execution"].search([("script_id", "=", script.id)], order="id")

    def _result(self, execution):
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        return json.loads(execution.result_json)

    def _work(self):
        work_queue(self)

    def _events(self, event_type):
        events = (
            self.env["iota.script.event"].sudo().search([("type", "=", event_type)], order="id")
        )
        return [json.loads(e.payload_json) for e in events]

    def _fire_schedule(self, script, cron, **values):
        schedule = self.env["iota.script.schedule"].create(
            {"script_id": script.id, "cron": cron, "tz": "UTC", **values}
        )
        schedule.sudo().next_run = fields.Datetime.now() - timedelta(seconds=30)
        self.assertEqual(self.env["iota.script.schedule"]._fire(schedule.id), 1)
        (execution,) = self.env["iota.script.execution"].search([("schedule_id", "=", schedule.id)])
        self.assertEqual((execution.state, execution.trigger), ("queued", "cron"))
        return schedule

    def _why(self, script):
        """What the last run of ``script`` says (for the message of a failed assertion)."""
        last = self._executions(script)[-1:]
        return f"{last.error_code}: {last.error_message}\n{last.log_text}" if last else "no run"

    def _call(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.opener.request(method, self.base_url() + path, **kw)

    def _endpoint(self, script, path, **values):
        return self.env["iota.script.endpoint"].create(
            {"script_id": script.id, "path": path, **values}
        )

    def _sale_order(self, partner, lines, confirm=True):
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "company_id": self.company.id,
                "order_line": [
                    (0, 0, {"product_id": product.id, "product_uom_qty": qty})
                    for product, qty in lines
                ],
            }
        )
        if confirm:
            order.action_confirm()
        return order

    def _product(self, name, price=10.0):
        return self.env["product.product"].create({"name": name, "list_price": price})

    def _invoice(self, partner, amount, due):
        if not self.env["account.journal"].search(
            [("type", "=", "sale"), ("company_id", "=", self.company.id)], limit=1
        ):
            self.skipTest("the company has no sales journal (no chart of accounts)")
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_date": due - timedelta(days=30),
                "invoice_date_due": due,
                "invoice_line_ids": [
                    (0, 0, {"name": "Service", "quantity": 1, "price_unit": amount})
                ],
            }
        )
        invoice.action_post()
        return invoice

    # ---- every recipe has a test below -----------------------------------------------
    def test_every_recipe_runs_here(self):
        with open(__file__, encoding="utf-8") as f:
            body = f.read().split("# ---- normalize-contact", 1)[1]
        self.assertGreaterEqual(len(NAMES), 15)
        self.assertEqual([n for n in NAMES if f'"{n}"' not in body], [])

    # ---- normalize-contact: an automation rule on save --------------------------------
    def test_normalize_contact_on_save(self):
        script = self._script("normalize-contact", run_as_user_id=self.contacts_bot.id)
        model = self.env["ir.model"]._get("res.partner")
        watched = [
            self.env["ir.model.fields"]._get("res.partner", f).id
            for f in ("name", "email", "phone", "zip")
        ]
        self.env["base.automation"].create(
            {
                "name": "Normalise contacts",
                "model_id": model.id,
                "trigger": "on_create_or_write",
                "trigger_field_ids": [(6, 0, watched)],
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Normalise",
                            "model_id": model.id,
                            "state": "iota_script",
                            "iota_script_id": script.id,
                        },
                    )
                ],
            }
        )
        partner = self.env["res.partner"].create(
            {
                "name": "  Ada   Lovelace ",
                "email": " Ada@Example.COM",
                "phone": "0032 (0)2 555 12 34",
                "zip": "1000 ab",
            }
        )
        self.assertEqual(
            partner.read(["name", "email", "phone", "zip"])[0],
            {
                "id": partner.id,
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "phone": "+32025551234",
                "zip": "1000AB",
            },
        )
        partner.write({"phone": "+1 (555) 123-4567"})
        self.assertEqual(partner.phone, "+15551234567")
        runs = self._executions(script)
        self.assertEqual(set(runs.mapped("state")), {"succeeded"})
        self.assertEqual(set(runs.mapped("trigger")), {"automation"})
        self.assertEqual(sum(self._result(r)["changed"] for r in runs), 2)
        self.assertEqual(set(runs.mapped("user_id")), {self.contacts_bot})
        # a save of values already clean runs the rule and writes nothing
        runs = len(self._executions(script))
        partner.write({"zip": "2000"})
        (last,) = self._executions(script)[runs:]
        self.assertEqual(self._result(last), {"changed": 0})
        self.assertEqual(partner.zip, "2000")

    # ---- nightly-csv-report: a schedule, the queue, a mail with a CSV ----------------
    def test_nightly_csv_report_from_a_schedule(self):
        self._needs("sale")
        # mail.mail is for Administration: Settings users; the recipe says to pick one
        reporter = self._user(
            "cookbook_reporter", "sales_team.group_sale_salesman_all_leads,base.group_system"
        )
        script = self._script("nightly-csv-report", run_as_user_id=reporter.id)
        # the demo orders are older than the report's day
        demo = self.env["sale.order"].search([("state", "=", "sale")])
        demo.date_order = fields.Datetime.now() - timedelta(days=30)
        customer = self.env["res.partner"].create({"name": 'Café "Le Zinc", Paris 😀'})
        desk = self._product("Desk", 120.0)
        confirmed = self._sale_order(customer, [(desk, 2)])
        self._sale_order(customer, [(desk, 1)], confirm=False)  # a quotation: not in the report
        schedule = self._fire_schedule(script, "0 6 * * *")
        self._work()
        execution = schedule.last_execution_id
        result = self._result(execution)
        self.assertEqual(result["orders"], 1)
        attachment = self.env["ir.attachment"].browse(result["attachmentId"])
        self.assertEqual(attachment.mimetype, "text/csv")
        self.assertEqual(attachment.name, f"orders-{date.today().isoformat()}.csv")
        lines = base64.b64decode(attachment.datas).decode("utf-8").split("\r\n")
        self.assertEqual(lines[0], "Order,Customer,Date,Total,Currency")
        self.assertTrue(
            lines[1].startswith(f'{confirmed.name},"Café ""Le Zinc"", Paris 😀",'), lines[1]
        )
        total = f"{confirmed.amount_total:g}"  # as JavaScript prints a number
        self.assertTrue(lines[1].endswith(f",{total},{confirmed.currency_id.name}"), lines[1])
        self.assertEqual(lines[2:], [""])
        mail = self.env["mail.mail"].browse(result["mailId"])
        self.assertEqual((mail.email_to, mail.state), ("sales-team@example.com", "outgoing"))
        self.assertEqual(mail.subject, "Orders of the last 1 day(s): 1")
        self.assertEqual(mail.attachment_ids, attachment)

    # ---- webhook-hmac: the gateway over HTTP, HMAC-signed -----------------------------
    def test_webhook_hmac_records_a_payment_once(self):
        self._needs("account")
        # HMAC endpoints run as the company's scripts user: it reads invoices
        self.runner.groups_id += self.env.ref("account.group_account_invoice")
        script = self._script("webhook-hmac")
        endpoint = self._endpoint(script, "/payments/webhook", auth_mode="hmac", methods="POST")
        customer = self.env["res.partner"].create({"name": "Paying customer"})
        invoice = self._invoice(customer, 120.5, date.today() + timedelta(days=10))
        secret = endpoint.hmac_secret.encode()

        def send(event, stamp_offset=0):
            body = json.dumps(event).encode()
            stamp = str(int(time.time()) + stamp_offset)
            message = f"{stamp}\nPOST\n/iota/api/v1/payments/webhook\n\n".encode() + body
            signature = hmac.new(secret, message, hashlib.sha256).hexdigest()
            headers = {
                "X-Timestamp": stamp,
                "X-Signature": f"sha256={signature}",
                "Content-Type": "application/json",
            }
            return self._call("POST", "/iota/api/v1/payments/webhook", data=body, headers=headers)

        paid = {
            "id": "evt_1",
            "type": "payment.succeeded",
            "data": {"invoice": invoice.name, "amount": 120.5},
        }
        response = send(paid)
        self.assertEqual(response.status_code, 200, self._why(script))
        self.assertEqual(response.json(), {"invoice": invoice.name, "recorded": "paid"})
        # the provider retries with a new signature: handled once
        response = send(paid, stamp_offset=1)
        self.assertEqual(response.json(), {"duplicate": True})
        notes = invoice.message_ids.filtered(lambda m: "evt_1" in (m.body or ""))
        self.assertEqual(len(notes), 1)
        self.assertIn("paid 120.5", notes.body)
        self.assertEqual(notes.email_from, "Payment provider <noreply@payments.example.com>")
        self.assertEqual(
            send({"id": "e2", "type": "customer.created"}).json(), {"ignored": "customer.created"}
        )
        self.assertEqual(send({"type": "payment.succeeded"}).status_code, 422)
        unknown = {"id": "e3", "type": "payment.refunded", "data": {"invoice": "NOPE"}}
        self.assertEqual(send(unknown).json(), {"unknown_invoice": "NOPE"})
        # unsigned: refused by the gateway, the script never runs
        runs = len(self._executions(script))
        response = self._call("POST", "/iota/api/v1/payments/webhook", json=paid)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(len(self._executions(script)), runs)
        self.assertEqual(set(self._executions(script).mapped("trigger")), {"endpoint"})

    # ---- sale-order-confirmed + fan-out-events: a rule in the background, events ------
    def test_sale_order_confirmed_then_fan_out(self):
        self._needs("sale")
        seller = self._user("cookbook_seller", "sales_team.group_sale_salesman_all_leads")
        fulfil = self.world.api(
            "fulfil.example.com", {"/v1/shipments": [(503, {}), (201, {"id": "SHIP-1"})]}
        )
        confirmed = self._script(
            "sale-order-confirmed", run_as_user_id=seller.id, allowed_hosts="fulfil.example.com"
        )
        fan_out = self._script("fan-out-events", run_as_user_id=seller.id)
        self.env["iota.script.subscription"].create(
            {"event_type": "sale.order.confirmed", "script_id": fan_out.id}
        )
        model = self.env["ir.model"]._get("sale.order")
        state = self.env["ir.model.fields"]._get("sale.order", "state")
        self.env["base.automation"].create(
            {
                "name": "Order confirmed",
                "model_id": model.id,
                "trigger": "on_state_set",
                "trg_selection_field_id": state.selection_ids.filtered(
                    lambda s: s.value == "sale"
                ).id,
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Fulfil",
                            "model_id": model.id,
                            "state": "iota_script",
                            "iota_script_id": confirmed.id,
                            "iota_script_background": True,
                        },
                    )
                ],
            }
        )
        # background runs retry when Settings allow more than one attempt (the
        # recipe says so): the first fulfilment answer is a 503
        self.startPatcher(patch.dict(os.environ, {"IOTA_SCRIPTS_QUEUE_MAX_ATTEMPTS": "3"}))
        customer = self.env["res.partner"].create({"name": "Ordering customer"})
        desk, chair = self._product("Desk"), self._product("Chair")
        order = self._sale_order(customer, [(desk, 1), (chair, 4)], confirm=False)
        self.env["sale.order.line"].create(
            {"order_id": order.id, "display_type": "line_section", "name": "Extras"}
        )
        self.assertFalse(fulfil.requests)
        order.action_confirm()
        # queued: the salesperson's click did not wait for the API
        (queued,) = self._executions(confirmed)
        self.assertEqual((queued.state, queued.trigger), ("queued", "automation"))
        self.assertFalse(fulfil.requests)
        self._work()
        runs = self._executions(confirmed)
        self.assertEqual(len(fulfil.requests), 2)
        self.assertEqual((runs.state, runs.attempt), ("succeeded", 2))
        self.assertEqual(
            self._result(runs), {"sent": [{"order": order.name, "shipment": "SHIP-1"}]}
        )
        first, second = fulfil.requests
        self.assertEqual(first.headers["idempotency-key"], f"sale.order-{order.id}")
        self.assertEqual(second.headers["idempotency-key"], first.headers["idempotency-key"])
        self.assertEqual(
            second.json(),
            {
                "order": order.name,
                "ship_to": order.partner_shipping_id.display_name,
                "items": [
                    {"sku": desk.display_name, "qty": 1},
                    {"sku": chair.display_name, "qty": 4},
                ],
            },
        )
        self.assertEqual(
            len(
                order.message_ids.filtered(
                    lambda m: "Shipment SHIP-1 requested (2 lines)." in (m.body or "")
                )
            ),
            1,
        )
        self.assertEqual(
            self._events("sale.order.confirmed"),
            [
                {
                    "model": "sale.order",
                    "id": order.id,
                    "name": order.name,
                    "amount": order.amount_total,
                }
            ],
        )
        # fan-out: one subscriber run, one event per follow-up
        (handled,) = self._executions(fan_out)
        self.assertEqual(handled.trigger, "event")
        self.assertEqual(self._result(handled), {"order": order.name, "emitted": 4})
        self.assertEqual(
            self._events("invoice.requested"),
            [{"model": "sale.order", "id": order.id, "name": order.name}],
        )
        self.assertEqual(
            self._events("customer.ordered"),
            [{"model": "res.partner", "id": customer.id, "amount": order.amount_total}],
        )
        reserve = self._events("stock.reserve.requested")
        self.assertEqual(
            [(r["product_id"], r["qty"]) for r in reserve], [(desk.id, 1), (chair.id, 4)]
        )

    # ---- order-status-endpoint: the gateway, API key, path parameters ----------------
    def test_order_status_endpoint(self):
        self._needs("sale")
        caller = self._user("cookbook_portal_api", "sales_team.group_sale_salesman_all_leads")
        key = (
            self.env["res.users.apikeys"]
            .with_user(caller)
            ._generate(None, "cookbook", fields.Datetime.now() + timedelta(days=1))
        )
        script = self._script("order-status-endpoint")
        self._endpoint(script, "/orders/{ref}", auth_mode="api_key", methods="GET")
        order = self._sale_order(
            self.env["res.partner"].create({"name": "Status customer"}),
            [(self._product("Lamp"), 3)],
        )
        auth = {"Authorization": f"Bearer {key}"}
        response = self._call("GET", f"/iota/api/v1/orders/{order.name}", headers=auth)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(
            response.json(),
            {
                "order": order.name,
                "state": "confirmed",
                "total": order.amount_total,
                "currency": order.currency_id.name,
                "ordered_at": order.date_order.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "invoiced": False,
            },
        )
        self.assertEqual(
            response.headers["ETag"],
            f'"{order.id}-{order.write_date.strftime("%Y-%m-%dT%H:%M:%SZ")}"',
        )
        self.assertTrue(response.headers["Last-Modified"].endswith(" GMT"))
        missing = self._call("GET", "/iota/api/v1/orders/S99999", headers=auth)
        self.assertEqual((missing.status_code, missing.json()["error"]["code"]), (404, "not_found"))
        bad = self._call("GET", "/iota/api/v1/orders/a%20b", headers=auth)
        self.assertEqual(bad.status_code, 400)
        self.assertEqual(self._call("GET", f"/iota/api/v1/orders/{order.name}").status_code, 401)
        runs = self._executions(script)
        self.assertEqual(set(runs.mapped("user_id")), {caller}, "the caller's rights apply")
        self.assertEqual(runs.mapped("http_status"), [200, 404, 400])

    # ---- public-form: a public endpoint, schema, rate limits -------------------------
    def test_public_form(self):
        # Public endpoints run as the company's scripts user: it may create contacts
        self.runner.groups_id += self.env.ref("base.group_partner_manager")
        script = self._script("public-form")
        schema = {"type": "object", "required": ["name", "email", "message"]}
        self._endpoint(
            script,
            "/contact-form",
            auth_mode="public",
            methods="POST",
            rate_limit_per_min=30,
            body_schema=json.dumps(schema),
            cors_origins="https://www.example.com",
        )
        url = "/iota/api/v1/contact-form"
        form = {
            "name": "Grace Hopper",
            "email": "Grace@Example.com",
            "message": "Please call me back.",
        }
        response = self._call("POST", url, json=form, headers={"Origin": "https://www.example.com"})
        self.assertEqual(response.status_code, 201, self._why(script))
        self.assertEqual(
            response.headers.get("Access-Control-Allow-Origin"), "https://www.example.com"
        )
        partner = self.env["res.partner"].search([("email", "=", "grace@example.com")])
        self.assertEqual(partner.name, "Grace Hopper")
        posted = partner.message_ids.filtered(lambda m: m.subject == "Contact form")
        self.assertEqual(len(posted), 1)
        self.assertIn("Please call me back.", posted.body)
        # the same person again: no second contact; past 3 per hour: 429
        for _i in range(2):
            self.assertEqual(self._call("POST", url, json=form).status_code, 201)
        self.assertEqual(
            self.env["res.partner"].search_count([("email", "=ilike", "grace@example.com")]), 1
        )
        refused = self._call("POST", url, json=form)
        self.assertEqual((refused.status_code, refused.headers.get("X-App-Retry")), (429, "3600"))
        self.assertEqual(
            len(partner.message_ids.filtered(lambda m: m.subject == "Contact form")), 3
        )
        # the gateway's schema, then the script's checks, then the honeypot
        self.assertEqual(self._call("POST", url, json={"name": "x"}).status_code, 400)
        bad = self._call("POST", url, json={**form, "email": "nope"})
        self.assertEqual((bad.status_code, bad.json()["error"]["field"]), (422, "email"))
        spam = self._call("POST", url, json={**form, "email": "bot@spam.example", "website": "x"})
        self.assertEqual(spam.status_code, 202)
        self.assertFalse(self.env["res.partner"].search([("email", "=", "bot@spam.example")]))
        self.assertEqual(set(self._executions(script).mapped("user_id")), {self.runner})
        self.assertEqual(posted.author_id, partner)

    # ---- idempotent-handler: a rule emits, a subscription handles, retries, replay ---
    def test_idempotent_handler_creates_the_contact_once(self):
        crm = self.world.api(
            "crm.example.com", {"/api/contacts": [(502, {}), (201, {"id": "crm-7"})]}
        )
        handler = self._script("idempotent-handler", allowed_hosts="crm.example.com")
        subscription = self.env["iota.script.subscription"].create(
            {"event_type": "partner.created", "script_id": handler.id, "max_attempts": 3}
        )
        emit_on_create(self.env, "partner.created")
        partner = self.env["res.partner"].create(
            {"name": "Linus Idempotent", "company_id": self.company.id}
        )
        self._work()
        delivery = self.env["iota.script.delivery"].search(
            [("subscription_id", "=", subscription.id)]
        )
        self.assertEqual((delivery.state, delivery.attempts), ("done", 2))
        # one run, claimed twice: the first attempt failed (the CRM answered 502)
        run = self._executions(handler)
        self.assertEqual((run.state, run.attempt), ("succeeded", 2))
        self.assertEqual(self._result(run), {"delivery": delivery.id, "crmId": "crm-7"})
        self.assertEqual(
            [r.json() for r in crm.requests],
            [{"odoo_id": partner.id, "name": partner.display_name}] * 2,
        )
        self.assertEqual(
            {r.headers["idempotency-key"] for r in crm.requests}, {f"odoo-delivery-{delivery.id}"}
        )
        # a replay (same delivery id) is skipped on our side
        delivery.action_replay()
        self._work()
        replayed = self._executions(handler)[-1]
        self.assertEqual(
            self._result(replayed), {"skipped": "already handled", "delivery": delivery.id}
        )
        self.assertEqual(len(crm.requests), 2)

    # ---- chained-workflow: by hand, then sdk.scripts.enqueue and the queue -----------
    def test_chained_workflow(self):
        self._needs("account")  # customer_rank
        self.env["res.partner"].search(
            [("customer_rank", ">", 0), ("vat", "=", False)]
        ).customer_rank = 0
        customers = self.env["res.partner"].create(
            [
                {"name": f"Customer {i}", "customer_rank": 1, "company_id": self.company.id}
                for i in range(23)
            ]
        )
        with_vat = self.env["res.partner"].create(
            {"name": "Has VAT", "customer_rank": 1, "vat": "BE0477472701"}
        )
        script = self._script("chained-workflow", run_as_user_id=self.contacts_bot.id)
        start = script.action_run(input={})
        self.assertEqual(self._result(start), {"step": "collect", "partners": 23, "batches": 8})
        self._work()
        runs = self._executions(script) - start
        self.assertEqual(set(runs.mapped("state")), {"succeeded"})
        steps = [self._result(r)["step"] for r in runs]
        self.assertEqual(steps.count("process"), 8)
        self.assertEqual(steps[-1], "report")
        self.assertEqual(self._result(runs[-1]), {"step": "report", "flagged": 23})
        self.assertEqual(set(runs.mapped("trigger")), {"script"})
        for comment in customers.mapped("comment"):
            self.assertIn("VAT number missing: please ask the customer.", comment)
        self.assertFalse(with_vat.comment)
        self.assertEqual(
            self._events("workflow.vat_check.done"), [{"runId": str(start.id), "flagged": 23}]
        )

    # ---- chat-notification: a subscription to script.failed --------------------------
    def test_chat_notification_on_failed_runs(self):
        chat = self.world.api(
            "hooks.slack.com", {"/services/T000/B000/XXXXXXXX": [(200, {"ok": True})]}
        )
        notifier = self._script("chat-notification", allowed_hosts="hooks.slack.com")
        self.env["iota.script.subscription"].create(
            {"event_type": "script.failed", "script_id": notifier.id}
        )
        failing = self._script("input-validation", title="Quote pricing")
        first = failing.action_run(input={"items": []})
        self.assertEqual((first.state, first.error_code), ("failed", "script_error"))
        failing.action_run(input={"items": "nope"})  # within the quiet period
        self._work()
        (sent,) = chat.requests
        text = sent.json()["text"]
        self.assertIn(f"Script *{failing.key}* failed (script_error) in {self.company.name}", text)
        self.assertIn(f"id={first.id}&view_type=form", text)
        results = [self._result(r) for r in self._executions(notifier)]
        self.assertEqual(
            results, [{"notified": failing.key}, {"skipped": "quiet period", "failures": 2}]
        )

    # ---- currency-rates: a schedule, an outside API, res.currency.rate --------------
    def test_currency_rates_from_a_schedule(self):
        self._needs("account")
        treasurer = self._user("cookbook_treasurer", "account.group_account_manager")
        base = self.company.currency_id.name
        others = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "in", ["EUR", "GBP", "CHF", "USD"]), ("name", "!=", base)])
        )
        others.active = True
        self.env["res.currency"].search(
            [("id", "not in", (others | self.company.currency_id).ids)]
        ).active = False
        quotes = {c.name: 1.5 + i for i, c in enumerate(others) if c.name != "CHF"}
        rates = self.world.api(
            "rates.example.com", {"/v1/latest": [(200, {"date": "2026-05-04", "rates": quotes})]}
        )
        script = self._script(
            "currency-rates", run_as_user_id=treasurer.id, allowed_hosts="rates.example.com"
        )
        schedule = self._fire_schedule(script, "30 7 * * 1-5")
        self._work()
        result = self._result(schedule.last_execution_id)
        self.assertEqual(rates.requests[0].path, f"/v1/latest?base={base}")
        self.assertEqual(sorted(result["updated"]), sorted(quotes))
        self.assertEqual(result["missing"], ["CHF"] if "CHF" in others.mapped("name") else [])
        Rate = self.env["res.currency.rate"]
        for name, rate in quotes.items():
            stored = Rate.search(
                [
                    ("currency_id.name", "=", name),
                    ("name", "=", "2026-05-04"),
                    ("company_id", "=", self.company.id),
                ]
            )
            self.assertEqual(stored.rate, rate, name)
        # the next run updates the same rows
        self._fire_schedule(script, "30 7 * * 1-5")
        self._work()
        self.assertEqual(
            Rate.search_count([("name", "=", "2026-05-04"), ("company_id", "=", self.company.id)]),
            len(quotes),
        )

    # ---- input-validation: by hand ---------------------------------------------------
    def test_input_validation(self):
        script = self._script("input-validation")
        good = script.action_run(
            input={"items": [{"sku": "DESK-01", "qty": 2, "unit_price": 120}], "discount_pct": 10}
        )
        self.assertEqual(
            self._result(good), {"lines": 1, "subtotal": 240, "discount": 24, "total": 216}
        )
        bad = script.action_run(input={"items": [{"sku": "desk", "qty": 2, "unit_price": 1}]})
        self.assertEqual((bad.state, bad.error_code), ("failed", "script_error"))
        self.assertIn("input.items[0].sku: 2 to 32 of A-Z, 0-9 and -", bad.error_message)
        self.assertIn("refused input", bad.log_text)

    # ---- cached-lookup: by hand, an outside API, sdk.cache ---------------------------
    def test_cached_lookup(self):
        registry = self.world.api(
            "registry.example.com",
            {
                "/v1/companies/BE0477472701": [
                    (200, {"name": "Odoo SA", "country": "BE", "status": "active"})
                ],
                "/v1/companies/FR00000000000": [(404, {})],
                "/v1/companies/DE123456789": [
                    (500, {}),
                    (200, {"name": "Later GmbH", "country": "DE", "status": "active"}),
                ],
            },
        )
        script = self._script("cached-lookup", allowed_hosts="registry.example.com")
        first = self._result(script.action_run(input={"vat": "be 0477.472.701"}))
        self.assertEqual(
            first,
            {
                "vat": "BE0477472701",
                "found": True,
                "name": "Odoo SA",
                "country": "BE",
                "active": True,
                "cached": False,
            },
        )
        again = self._result(script.action_run(input={"vat": "BE0477472701"}))
        self.assertEqual(again, {**first, "cached": True})
        self.assertEqual(
            self._result(script.action_run(input={"vat": "FR00000000000"}))["found"], False
        )
        self.assertTrue(self._result(script.action_run(input={"vat": "FR00000000000"}))["cached"])
        failed = script.action_run(input={"vat": "DE123456789"})  # not cached: retried next time
        self.assertIn("registry answered 500", failed.error_message)
        self.assertEqual(
            self._result(script.action_run(input={"vat": "DE123456789"}))["name"], "Later GmbH"
        )
        self.assertEqual(len(registry.requests), 4)
        # not declared in its capabilities: refused before any connection
        script.allowed_hosts = "other.example.com"
        blocked = script.action_run(input={"vat": "NL123456789B01"})
        self.assertEqual(blocked.error_code, "access_denied")
        self.assertIn("capability 'http.registry.example.com' not declared", blocked.error_message)
        self.assertEqual(len(registry.requests), 4)
        self.assertEqual(script.action_run(input={"vat": "?"}).state, "failed")

    # ---- paginated-import: a schedule, an outside API, a cursor in the cache ---------
    def test_paginated_import_resumes(self):
        self._needs("sale")
        catalog = self._user("cookbook_catalog", "sales_team.group_sale_manager")
        pages = {}
        for n in range(7):
            items = [
                {
                    "title": f"Product {n}-{i}",
                    "sku": f"PIM-{n}-{i}",
                    "price": 10 + i,
                    "active": True,
                }
                for i in range(2)
            ]
            pages[str(n)] = {"items": items, "next": str(n + 1) if n < 6 else None}

        def page(request):
            cursor = request.path.partition("cursor=")[2] or "0"
            return 200, pages[cursor]

        pim = self.world.api("pim.example.com", {"/v2/products": [page]})
        self.env["product.template"].create({"name": "Old name", "default_code": "PIM-0-0"})
        script = self._script(
            "paginated-import",
            run_as_user_id=catalog.id,
            allowed_hosts="pim.example.com",
            timeout_sec=60,  # as the recipe says: five pages and their writes
        )
        first = self._fire_schedule(script, "*/5 * * * *")
        self._work()
        self.assertEqual(
            self._result(first.last_execution_id),
            {"from": None, "pages": 5, "products": 10, "done": False},
        )
        second = self._fire_schedule(script, "*/5 * * * *")
        self._work()
        self.assertEqual(
            self._result(second.last_execution_id),
            {"from": "5", "pages": 2, "products": 4, "done": True},
        )
        self.assertEqual(len(pim.requests), 7)
        imported = self.env["product.template"].search([("default_code", "=like", "PIM-%")])
        self.assertEqual(len(imported), 14)
        self.assertEqual(
            imported.filtered(lambda p: p.default_code == "PIM-0-0").name, "Product 0-0"
        )

    # ---- overdue-reminders: a schedule, activities on invoices ------------------------
    def test_overdue_reminders(self):
        self._needs("account")
        accountant = self._user("cookbook_accountant", "account.group_account_invoice")
        late = self.env["res.partner"].create({"name": "Late payer"})
        punctual = self.env["res.partner"].create({"name": "Punctual payer"})
        today = date.today()
        old = self._invoice(late, 100.0, today - timedelta(days=20))
        older = self._invoice(late, 50.0, today - timedelta(days=40))
        self._invoice(punctual, 70.0, today + timedelta(days=5))
        script = self._script("overdue-reminders", run_as_user_id=accountant.id)
        schedule = self._fire_schedule(script, "0 8 * * 1-5")
        self._work()
        result = self._result(schedule.last_execution_id)
        self.assertGreaterEqual(result["reminders"], 1)  # the demo data has overdue invoices too
        ours = [
            ("res_model", "=", "account.move"),
            ("res_id", "in", (old | older).ids),
            ("summary", "=", "Overdue invoices: call the customer"),
        ]
        activity = self.env["mail.activity"].search(ours)
        self.assertEqual(activity.res_id, older.id, "on the oldest")
        self.assertIn("2 overdue invoice(s), 150.00 open", activity.note)
        self.assertIn(old.name, activity.note)
        # the next day: no duplicate
        again = self._fire_schedule(script, "0 8 * * 1-5")
        self._work()
        self.assertEqual(self._result(again.last_execution_id)["reminders"], 0)
        self.assertEqual(self.env["mail.activity"].search(ours), activity)

    # ---- sync-with-retries: quick retries, then a queued retry ------------------------
    def test_sync_with_retries(self):
        customers = {
            "customers": [
                {"ref": "C-1", "name": "Sync One", "email": "one@example.com"},
                {"ref": "C-2", "name": "Sync Two", "email": "two@example.com"},
            ],
            "now": "2026-05-04T10:00:00Z",
        }
        api = self.world.api(
            "api.example.com", {"/customers": [(503, {}), (503, {}), (429, {}), (200, customers)]}
        )
        self.env["res.partner"].create({"name": "Old One", "ref": "C-1"})
        script = self._script(
            "sync-with-retries",
            run_as_user_id=self.contacts_bot.id,
            allowed_hosts="api.example.com",
        )
        first = script.action_run()
        self.assertEqual(self._result(first), {"retried": True, "attempt": 1, "delaySec": 60})
        (queued,) = self._executions(script) - first
        self.assertEqual((queued.state, json.loads(queued.input_json)), ("queued", {"attempt": 2}))
        self.assertGreater(queued.eta, fields.Datetime.now() + timedelta(seconds=50))
        self._work()
        self.assertEqual(self._result(queued), {"created": 1, "updated": 1, "tries": 1})
        self.assertEqual(len(api.requests), 4)
        self.assertEqual(self.env["res.partner"].search([("ref", "=", "C-1")]).name, "Sync One")
        self.assertEqual(
            self.env["res.partner"].search([("ref", "=", "C-2")]).email, "two@example.com"
        )
        # the next run asks for what changed since
        api.plans["/customers"] = [(200, {"customers": [], "now": "2026-05-04T11:00:00Z"})]
        self.assertEqual(
            self._result(script.action_run()), {"created": 0, "updated": 0, "tries": 1}
        )
        self.assertIn("updated_since=2026-05-04T10%3A00%3A00Z", api.requests[-1].path)
