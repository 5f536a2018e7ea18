# Over 600 lines: one test group per cookbook recipe (16), each against its own servers and data.
"""The cookbook's recipes (``examples/cookbook/*.js``) are real, checked scripts.

- Every recipe passes ``iota-scripts check`` (the command line, as a user runs it).
- Every recipe has a page that includes it with ``--8<--`` and is in the site's nav.
- Every recipe runs in the real engine: ``sdk.log``, ``sdk.cache`` and ``sdk.http``
  are the engine's own (HTTP goes to loopback servers through the SSRF-safe client);
  ``sdk.db``, ``sdk.events`` and ``sdk.scripts`` are ``fake_odoo.FakeOdoo``, an
  in-memory stand-in. These runs check the scripts' logic, not Odoo's behaviour:
  running them against a real Odoo database is not part of this suite.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_odoo import FakeOdoo, loopback_http, rfc_date
from http_servers import LoopbackServer, RequestHandler

from iota_scripts_sdk import Limits, RunResult

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "examples" / "cookbook"
PAGES = ROOT / "docs" / "cookbook"
NAMES = sorted(p.stem for p in RECIPES.glob("*.js"))
_tenants = itertools.count(1)


def source(name: str) -> str:
    return (RECIPES / f"{name}.js").read_text(encoding="utf-8")


def run(
    engine: Any,
    name: str,
    *,
    input: Any = None,
    ctx: dict[str, Any] | None = None,
    odoo: FakeOdoo | None = None,
    http: dict[str, LoopbackServer] | None = None,
    tenant: str | None = None,
) -> RunResult:
    host: dict[str, Any] = dict(odoo.host()) if odoo else {}
    if http is not None:
        host["http.fetch"] = loopback_http(http)
    base = {
        "trigger": {"type": "manual"},
        "script": {"id": 1, "key": name, "version": 1},
        "company": {"id": 1, "name": "My Company"},
        "execution": {"id": 501},
    }
    return engine.run(
        source(name),
        input=input,
        ctx={**base, **(ctx or {})},
        limits=Limits(timeout_sec=15),
        tenant=tenant or f"cookbook-{next(_tenants)}",
        host=host,
    )


def ok(result: RunResult) -> Any:
    assert result.ok, result.error
    return result.result


def failed(result: RunResult, code: str) -> str:
    assert not result.ok and result.error is not None
    assert result.error.code == code, result.error
    return result.error.message


class Api:
    """A loopback server whose routes answer from a list of (status, JSON) per path."""

    def __init__(self, routes: dict[str, list[tuple[int, Any]]]) -> None:
        self.plans = routes
        self.server = LoopbackServer({path: self._route(path) for path in routes}).start()

    def _route(self, path: str):
        def route(handler: RequestHandler) -> None:
            plan = self.plans[path]
            status, body = plan.pop(0) if len(plan) > 1 else plan[0]
            handler.respond(status, json.dumps(body).encode(), content_type="application/json")

        return route

    @property
    def requests(self):
        return self.server.requests

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def apis():
    made: list[Api] = []

    def make(routes: dict[str, list[tuple[int, Any]]]) -> Api:
        api = Api(routes)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


# ---- every recipe: it parses, it has a page, the page includes it, the nav lists it ---


def test_there_are_at_least_15_recipes():
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_recipe_passes_iota_scripts_check(name):
    out = subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", "check", str(RECIPES / f"{name}.js")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_recipe_has_a_page_that_includes_it_and_nothing_else():
    pages = sorted(p.stem for p in PAGES.glob("*.md") if p.stem != "index")
    assert pages == NAMES
    for name in NAMES:
        page = (PAGES / f"{name}.md").read_text(encoding="utf-8")
        assert page.count("--8<--") == 1, name
        assert f'--8<-- "examples/cookbook/{name}.js"' in page, name


def test_every_page_is_in_the_nav_and_the_index():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    nav = set(pages(config["nav"]))
    index = (PAGES / "index.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"cookbook/{name}.md" in nav, name
        assert f"]({name}.md)" in index, name


def test_every_recipe_runs_in_a_test_below():
    # a new recipe needs a run in the engine, not only a syntax check
    here = Path(__file__).read_text(encoding="utf-8")
    body = here.split("# ---- normalize-contact", 1)[1]
    missing = [n for n in NAMES if f'"{n}"' not in body]
    assert missing == []


# ---- normalize-contact --------------------------------------------------------------


def test_normalize_contact_writes_only_what_changes(engine):
    odoo = FakeOdoo(
        {
            "res.partner": {
                1: {
                    "name": "  Ada   Lovelace ",
                    "email": " Ada@Example.COM",
                    "phone": "0032 (0)2 555 12 34",
                    "zip": "1000 ab",
                },
                2: {
                    "name": "Grace Hopper",
                    "email": "grace@example.com",
                    "phone": "+15551234",
                    "zip": "10001",
                },
            }
        }
    )
    result = ok(
        run(
            engine,
            "normalize-contact",
            ctx={"records": {"model": "res.partner", "ids": [1, 2]}},
            odoo=odoo,
        )
    )
    assert result == {"changed": 1}
    assert odoo.writes == [
        (
            "res.partner",
            [1],
            {
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "phone": "+32025551234",
                "zip": "1000AB",
            },
        )
    ]


def test_normalize_contact_without_records_does_nothing(engine):
    odoo = FakeOdoo()
    assert ok(run(engine, "normalize-contact", odoo=odoo)) == {"changed": 0}
    assert odoo.writes == []


# ---- nightly-csv-report -------------------------------------------------------------


def test_nightly_report_attaches_a_quoted_utf8_csv_and_queues_a_mail(engine):
    odoo = FakeOdoo(
        {
            "res.partner": {7: {"name": 'Café "Le Zinc", Paris'}},
            "res.currency": {1: {"name": "EUR"}},
            "sale.order": {
                1: {
                    "name": "S001",
                    "state": "sale",
                    "partner_id": 7,
                    "date_order": "2099-01-02T09:00:00Z",
                    "amount_total": 12.5,
                    "currency_id": 1,
                },
                2: {
                    "name": "S002",
                    "state": "draft",
                    "partner_id": 7,
                    "date_order": "2099-01-02T09:00:00Z",
                    "amount_total": 99,
                    "currency_id": 1,
                },
            },
        },
        m2o={"sale.order": {"partner_id": "res.partner", "currency_id": "res.currency"}},
    )
    result = ok(run(engine, "nightly-csv-report", input={"to": "boss@example.com"}, odoo=odoo))
    assert result["orders"] == 1
    attachment = odoo.data["ir.attachment"][result["attachmentId"]]
    assert attachment["mimetype"] == "text/csv"
    assert base64.b64decode(attachment["datas"]).decode("utf-8") == (
        "Order,Customer,Date,Total,Currency\r\n"
        'S001,"Café ""Le Zinc"", Paris",2099-01-02T09:00:00Z,12.5,EUR\r\n'
    )
    mail = odoo.data["mail.mail"][result["mailId"]]
    assert mail["email_to"] == "boss@example.com"
    assert mail["attachment_ids"] == [[6, 0, [result["attachmentId"]]]]


def test_nightly_report_base64_handles_every_utf8_length(engine):
    # 1-, 2-, 3- and 4-byte characters, and the three padding cases of base64
    for name in ("a", "ab", "abc", "é€😀"):
        odoo = FakeOdoo(
            {
                "sale.order": {
                    1: {"name": name, "state": "sale", "date_order": "2099-01-01T00:00:00Z"}
                }
            }
        )
        result = ok(run(engine, "nightly-csv-report", odoo=odoo))
        csv = base64.b64decode(odoo.data["ir.attachment"][result["attachmentId"]]["datas"]).decode()
        assert csv.splitlines()[1] == f"{name},,2099-01-01T00:00:00Z,,"


# ---- webhook-hmac -------------------------------------------------------------------


def _webhook(json_body: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "endpoint"},
        "request": {"method": "POST", "path": "/payments/webhook", "json": json_body},
    }


def test_webhook_records_a_payment_once(engine):
    odoo = FakeOdoo(
        {"account.move": {5: {"name": "INV/1", "move_type": "out_invoice", "amount_total": 120.5}}}
    )
    event = {
        "id": "evt_1",
        "type": "payment.succeeded",
        "data": {"invoice": "INV/1", "amount": 120.5},
    }
    tenant = "cookbook-webhook"
    first = ok(run(engine, "webhook-hmac", ctx=_webhook(event), odoo=odoo, tenant=tenant))
    assert first == {"status": 200, "json": {"invoice": "INV/1", "recorded": "paid"}}
    again = ok(run(engine, "webhook-hmac", ctx=_webhook(event), odoo=odoo, tenant=tenant))
    assert again == {"status": 200, "json": {"duplicate": True}}
    assert [(c[0], c[1], c[2]) for c in odoo.calls] == [("account.move", "message_post", [5])]
    assert "evt_1" in odoo.calls[0][4]["body"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"id": "e2", "type": "customer.created"},
            {"status": 200, "json": {"ignored": "customer.created"}},
        ),
        (
            {"type": "payment.succeeded"},
            {"status": 422, "json": {"error": "expected {id, type, data}"}},
        ),
        (
            {"id": "e3", "type": "payment.refunded", "data": {"invoice": "NOPE"}},
            {"status": 200, "json": {"unknown_invoice": "NOPE"}},
        ),
    ],
)
def test_webhook_answers_without_touching_invoices(engine, body, expected):
    odoo = FakeOdoo({"account.move": {}})
    assert ok(run(engine, "webhook-hmac", ctx=_webhook(body), odoo=odoo)) == expected
    assert odoo.calls == []


# ---- sync-with-retries --------------------------------------------------------------


def test_sync_retries_transient_failures_then_upserts(engine, apis):
    api = apis(
        {
            "/customers": [
                (503, {"error": "busy"}),
                (503, {"error": "busy"}),
                (
                    200,
                    {
                        "now": "2099-01-01T00:00:00Z",
                        "customers": [
                            {"ref": "C1", "name": "Ada", "email": "ada@example.com"},
                            {"ref": "C2", "name": "Grace", "email": "grace@example.com"},
                        ],
                    },
                ),
            ]
        }
    )
    odoo = FakeOdoo({"res.partner": {1: {"name": "Old Ada", "ref": "C1"}}})
    tenant = "cookbook-sync"
    result = ok(
        run(
            engine,
            "sync-with-retries",
            odoo=odoo,
            http={"api.example.com": api.server},
            tenant=tenant,
        )
    )
    assert result == {"created": 1, "updated": 1, "tries": 3}
    assert odoo.data["res.partner"][1]["name"] == "Ada"
    assert odoo.enqueued == []
    assert [r.target for r in api.requests] == [
        "/customers?updated_since=1970-01-01T00%3A00%3A00Z"
    ] * 3
    # the cursor moved: the next run asks for changes since the API's "now"
    ok(
        run(
            engine,
            "sync-with-retries",
            odoo=odoo,
            http={"api.example.com": api.server},
            tenant=tenant,
        )
    )
    assert api.requests[-1].target == "/customers?updated_since=2099-01-01T00%3A00%3A00Z"


def test_sync_queues_itself_with_backoff_when_the_api_stays_down(engine, apis):
    api = apis({"/customers": [(503, {"error": "down"})]})
    odoo = FakeOdoo()
    result = ok(
        run(
            engine,
            "sync-with-retries",
            input={"attempt": 2},
            odoo=odoo,
            http={"api.example.com": api.server},
        )
    )
    assert result == {"retried": True, "attempt": 2, "delaySec": 120}
    assert odoo.enqueued == [("sync-with-retries", {"attempt": 3}, {"delaySec": 120})]
    assert len(api.requests) == 3
    last = run(
        engine,
        "sync-with-retries",
        input={"attempt": 6},
        odoo=odoo,
        http={"api.example.com": api.server},
    )
    assert "still failing after 6 runs" in failed(last, "script_error")


# ---- sale-order-confirmed -----------------------------------------------------------


def test_sale_order_confirmed_requests_one_shipment_per_order(engine, apis):
    api = apis({"/v1/shipments": [(201, {"id": "SH-9"})]})
    odoo = FakeOdoo(
        {
            "res.partner": {3: {"name": "Deco Addict, Warehouse"}},
            "product.product": {11: {"name": "[DESK] Desk"}},
            "sale.order": {
                1: {
                    "name": "S001",
                    "state": "sale",
                    "partner_id": 3,
                    "partner_shipping_id": 3,
                    "amount_total": 240,
                    "order_line": [21, 22, 23],
                },
                2: {"name": "S002", "state": "cancel", "partner_shipping_id": 3, "order_line": []},
            },
            "sale.order.line": {
                21: {"product_id": 11, "product_uom_qty": 2, "display_type": False},
                22: {"product_id": False, "product_uom_qty": 0, "display_type": "line_section"},
                23: {"product_id": False, "product_uom_qty": 0, "display_type": "line_note"},
            },
        },
        m2o={
            "sale.order": {"partner_id": "res.partner", "partner_shipping_id": "res.partner"},
            "sale.order.line": {"product_id": "product.product"},
        },
    )
    ctx = {"trigger": {"type": "automation"}, "records": {"model": "sale.order", "ids": [1, 2]}}
    result = ok(
        run(
            engine,
            "sale-order-confirmed",
            ctx=ctx,
            odoo=odoo,
            http={"fulfil.example.com": api.server},
        )
    )
    assert result == {"sent": [{"order": "S001", "shipment": "SH-9"}]}
    (request,) = api.requests
    assert request.method == "POST"
    assert request.headers["idempotency-key"] == "sale.order-1"
    assert json.loads(request.body) == {
        "order": "S001",
        "ship_to": "Deco Addict, Warehouse",
        "items": [{"sku": "[DESK] Desk", "qty": 2}],
    }
    assert odoo.calls[0][:3] == ("sale.order", "message_post", [1])
    assert odoo.events == [
        ("sale.order.confirmed", {"model": "sale.order", "id": 1, "name": "S001", "amount": 240})
    ]


def test_sale_order_confirmed_fails_when_fulfilment_refuses(engine, apis):
    api = apis({"/v1/shipments": [(400, {"error": "bad"})]})
    odoo = FakeOdoo(
        {
            "res.partner": {3: {"name": "Ada"}},
            "sale.order": {
                1: {"name": "S001", "state": "sale", "partner_shipping_id": 3, "order_line": []}
            },
        },
        m2o={"sale.order": {"partner_shipping_id": "res.partner"}},
    )
    ctx = {"records": {"model": "sale.order", "ids": [1]}}
    res = run(
        engine, "sale-order-confirmed", ctx=ctx, odoo=odoo, http={"fulfil.example.com": api.server}
    )
    assert failed(res, "script_error") == "Error: fulfilment answered 400 for S001"
    assert len(api.requests) == 1
    assert odoo.calls == [] and odoo.events == []


# ---- public-form --------------------------------------------------------------------


def _form(body: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "endpoint"},
        "request": {"method": "POST", "path": "/contact-form", "json": body},
    }


def test_public_form_posts_on_the_contact_and_throttles_per_email(engine):
    odoo = FakeOdoo({"res.partner": {4: {"name": "Ada", "email": "Ada@Example.com"}}})
    tenant = "cookbook-form"
    body = {"name": "Ada", "email": " ADA@example.com ", "message": "Please call me back."}
    for _ in range(3):
        assert ok(run(engine, "public-form", ctx=_form(body), odoo=odoo, tenant=tenant)) == {
            "status": 201,
            "json": {"ok": True},
        }
    assert [c[:3] for c in odoo.calls] == [("res.partner", "message_post", [4])] * 3
    fourth = ok(run(engine, "public-form", ctx=_form(body), odoo=odoo, tenant=tenant))
    assert fourth["status"] == 429 and fourth["headers"] == {"X-App-Retry": "3600"}
    assert len(odoo.calls) == 3
    new = ok(
        run(
            engine,
            "public-form",
            ctx=_form({"name": "Bob", "email": "bob@example.com", "message": "Hello there!"}),
            odoo=odoo,
            tenant=tenant,
        )
    )
    assert new["status"] == 201
    assert odoo.created == [("res.partner", 5, {"name": "Bob", "email": "bob@example.com"})]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "A", "email": "a@example.com", "message": "long enough text"}, 422, "name"),
        ({"name": "Ann", "email": "not-an-email", "message": "long enough text"}, 422, "email"),
        ({"name": "Ann", "email": "a@example.com", "message": "short"}, 422, "message"),
        ([1, 2], 422, "name"),
        (None, 400, None),
    ],
)
def test_public_form_refuses_bad_fields(engine, body, status, field):
    odoo = FakeOdoo()
    result = ok(run(engine, "public-form", ctx=_form(body), odoo=odoo))
    assert result["status"] == status and result["json"]["error"]["field"] == field
    assert odoo.created == [] and odoo.calls == []


def test_public_form_honeypot_stores_nothing(engine):
    odoo = FakeOdoo()
    body = {
        "name": "Bot",
        "email": "bot@example.com",
        "message": "buy cheap things",
        "website": "x",
    }
    assert ok(run(engine, "public-form", ctx=_form(body), odoo=odoo)) == {
        "status": 202,
        "json": {"ok": True},
    }
    assert odoo.created == [] and odoo.calls == []


# ---- chained-workflow ---------------------------------------------------------------


def test_chained_workflow_collects_processes_and_reports_once(engine):
    partners = {i: {"name": f"P{i}", "customer_rank": 1, "vat": False} for i in range(1, 24)}
    partners[24] = {"name": "Has VAT", "customer_rank": 1, "vat": "BE1"}
    odoo = FakeOdoo({"res.partner": partners})
    tenant = "cookbook-chain"
    collected = ok(run(engine, "chained-workflow", input={}, odoo=odoo, tenant=tenant))
    assert collected == {"step": "collect", "partners": 23, "batches": 8}
    queued = list(odoo.enqueued)
    assert len(queued) == 8 and all(q[0] == "chained-workflow" for q in queued)
    assert sorted(i for q in queued for i in q[1]["ids"]) == list(range(1, 24))
    odoo.enqueued.clear()
    lefts = []
    for n, (_, step_input, _) in enumerate(queued):
        lefts.append(
            ok(run(engine, "chained-workflow", input=step_input, odoo=odoo, tenant=tenant))["left"]
        )
        if n == 3:  # the queue retries one batch: it is counted once
            again = ok(run(engine, "chained-workflow", input=step_input, odoo=odoo, tenant=tenant))
            assert again["left"] == lefts[-1]
    assert lefts == [7, 6, 5, 4, 3, 2, 1, 0]
    assert odoo.enqueued == [
        ("chained-workflow", {"step": "report", "runId": "501"}, {"delaySec": 5})
    ]
    report = ok(
        run(engine, "chained-workflow", input=odoo.enqueued[0][1], odoo=odoo, tenant=tenant)
    )
    assert report == {"step": "report", "flagged": 23}
    assert odoo.events == [("workflow.vat_check.done", {"runId": "501", "flagged": 23})]


def test_chained_workflow_with_nothing_to_do_queues_nothing(engine):
    odoo = FakeOdoo({"res.partner": {}})
    assert ok(run(engine, "chained-workflow", odoo=odoo)) == {
        "step": "collect",
        "partners": 0,
        "batches": 0,
    }
    assert odoo.enqueued == []


# ---- cached-lookup (sdk.http and sdk.cache only) ------------------------------------


def test_cached_lookup_calls_the_registry_once_per_vat(engine, apis):
    api = apis(
        {
            "/v1/companies/BE0123456789": [
                (200, {"name": "Acme", "country": "BE", "status": "active"})
            ],
            "/v1/companies/FR0000000000": [(404, {"error": "no such company"})],
            "/v1/companies/DE111111111": [(500, {"error": "oops"})],
        }
    )
    http = {"registry.example.com": api.server}
    tenant = "cookbook-vat"
    first = ok(
        run(engine, "cached-lookup", input={"vat": "be 0123.456.789"}, http=http, tenant=tenant)
    )
    assert first == {
        "vat": "BE0123456789",
        "found": True,
        "name": "Acme",
        "country": "BE",
        "active": True,
        "cached": False,
    }
    second = ok(
        run(engine, "cached-lookup", input={"vat": "BE0123456789"}, http=http, tenant=tenant)
    )
    assert second == {**first, "cached": True}
    miss = [
        ok(run(engine, "cached-lookup", input={"vat": "FR0000000000"}, http=http, tenant=tenant))
        for _ in range(2)
    ]
    assert [m["cached"] for m in miss] == [False, True] and miss[1]["found"] is False
    for _ in range(2):
        failed(
            run(engine, "cached-lookup", input={"vat": "DE111111111"}, http=http, tenant=tenant),
            "script_error",
        )
    assert [r.path for r in api.requests] == [
        "/v1/companies/BE0123456789",
        "/v1/companies/FR0000000000",
        "/v1/companies/DE111111111",
        "/v1/companies/DE111111111",
    ]


def test_cached_lookup_refuses_a_bad_vat_before_any_call(engine, apis):
    api = apis({"/": [(200, {})]})
    message = failed(
        run(
            engine, "cached-lookup", input={"vat": "??"}, http={"registry.example.com": api.server}
        ),
        "script_error",
    )
    assert "not a VAT number" in message
    assert api.requests == []


def test_cached_lookup_needs_its_host_allowed(engine):
    # no server for registry.example.com: as a script without it in its allowed hosts
    failed(
        run(engine, "cached-lookup", input={"vat": "BE0123456789"}, http={}), "destination_blocked"
    )


# ---- idempotent-handler (sdk.http and sdk.cache only) -------------------------------


def _event(delivery: int) -> dict[str, Any]:
    return {
        "trigger": {"type": "event"},
        "event": {
            "id": delivery,
            "type": "partner.created",
            "payload": {"model": "res.partner", "id": 7, "display_name": "Ada"},
        },
    }


def test_idempotent_handler_calls_once_per_delivery_and_retries_after_a_failure(engine, apis):
    api = apis({"/api/contacts": [(503, {}), (201, {"id": "crm-1"})]})
    http = {"crm.example.com": api.server}
    tenant = "cookbook-idem"
    failed(
        run(engine, "idempotent-handler", ctx=_event(41), http=http, tenant=tenant), "script_error"
    )
    assert ok(run(engine, "idempotent-handler", ctx=_event(41), http=http, tenant=tenant)) == {
        "delivery": 41,
        "crmId": "crm-1",
    }
    assert ok(run(engine, "idempotent-handler", ctx=_event(41), http=http, tenant=tenant)) == {
        "skipped": "already handled",
        "delivery": 41,
    }
    assert [r.headers["idempotency-key"] for r in api.requests] == ["odoo-delivery-41"] * 2
    assert json.loads(api.requests[0].body) == {"odoo_id": 7, "name": "Ada"}


def test_idempotent_handler_needs_an_event(engine):
    assert "event subscription" in failed(
        run(engine, "idempotent-handler", http={}), "script_error"
    )


# ---- currency-rates -----------------------------------------------------------------


def test_currency_rates_create_then_update(engine, apis):
    api = apis({"/v1/latest": [(200, {"date": "2099-03-04", "rates": {"USD": 1.08, "GBP": 0.85}})]})
    odoo = FakeOdoo(
        {
            "res.company": {1: {"currency_id": 1}},
            "res.currency": {
                1: {"name": "EUR", "active": True},
                2: {"name": "USD", "active": True},
                3: {"name": "GBP", "active": True},
                4: {"name": "JPY", "active": True},
                5: {"name": "CHF", "active": False},
            },
        },
        m2o={"res.company": {"currency_id": "res.currency"}},
    )
    http = {"rates.example.com": api.server}
    result = ok(run(engine, "currency-rates", odoo=odoo, http=http))
    assert result == {
        "base": "EUR",
        "date": "2099-03-04",
        "updated": ["USD", "GBP"],
        "missing": ["JPY"],
    }
    assert api.requests[0].target == "/v1/latest?base=EUR"
    rates = odoo.data["res.currency.rate"]
    assert sorted((r["currency_id"], r["rate"]) for r in rates.values()) == [(2, 1.08), (3, 0.85)]
    ok(run(engine, "currency-rates", odoo=odoo, http=http))
    assert len(odoo.data["res.currency.rate"]) == 2  # updated, not duplicated
    assert [w[0] for w in odoo.writes] == ["res.currency.rate"] * 2


# ---- chat-notification (sdk.http and sdk.cache only) --------------------------------


def _failure(key: str, state: str = "failed", code: str | None = "timeout") -> dict[str, Any]:
    payload = {"script_id": 3, "key": key, "execution_id": 77, "state": state, "error_code": code}
    return {
        "trigger": {"type": "event"},
        "event": {"id": 1, "type": "script.failed", "payload": payload},
    }


def test_chat_notification_posts_once_per_quiet_period(engine, apis):
    api = apis({"/services/T000/B000/XXXXXXXX": [(200, {"ok": True})]})
    http = {"hooks.slack.com": api.server}
    tenant = "cookbook-chat"
    assert ok(
        run(
            engine,
            "chat-notification",
            ctx=_failure("nightly", "timed_out"),
            http=http,
            tenant=tenant,
        )
    ) == {"notified": "nightly"}
    assert ok(
        run(engine, "chat-notification", ctx=_failure("nightly"), http=http, tenant=tenant)
    ) == {"skipped": "quiet period", "failures": 2}
    assert ok(
        run(
            engine, "chat-notification", ctx=_failure("chat-notification"), http=http, tenant=tenant
        )
    ) == {"skipped": "self"}
    (request,) = api.requests
    text = json.loads(request.body)["text"]
    assert text.startswith(":rotating_light: Script *nightly* timed out (timeout) in My Company: ")
    assert "id=77" in text


# ---- paginated-import ---------------------------------------------------------------


def _pim(handler: RequestHandler) -> None:
    cursor = handler.recorded.target.partition("cursor=")[2]
    pages = {
        "": (
            {"items": [{"sku": "A", "title": "Desk", "price": 100, "active": True}], "next": "p2"}
        ),
        "p2": (
            {"items": [{"sku": "B", "title": "Chair", "price": 50, "active": True}], "next": "p3"}
        ),
        "p3": (
            {
                "items": [{"sku": "A", "title": "Desk XL", "price": 120, "active": False}],
                "next": None,
            }
        ),
    }
    if cursor == "p3" and getattr(handler.server.owner, "fail_p3", False):
        handler.respond(502, b"{}", content_type="application/json")
        return
    handler.respond(200, json.dumps(pages[cursor]).encode(), content_type="application/json")


def test_paginated_import_resumes_from_the_saved_cursor(engine):
    source_text = source("paginated-import").replace("const MAX_PAGES = 5;", "const MAX_PAGES = 2;")
    assert "MAX_PAGES = 2;" in source_text
    odoo = FakeOdoo({"product.template": {}})
    server = LoopbackServer({"/v2/products": _pim}).start()
    try:
        host = {**odoo.host(), "http.fetch": loopback_http({"pim.example.com": server})}

        def go():
            return engine.run(
                source_text,
                ctx={"trigger": {"type": "cron"}},
                tenant="cookbook-pim",
                host=host,
                limits=Limits(timeout_sec=15),
            )

        assert ok(go()) == {"from": None, "pages": 2, "products": 2, "done": False}
        server.fail_p3 = True
        failed(go(), "script_error")  # page 3 fails: the cursor stays at p3
        server.fail_p3 = False
        assert ok(go()) == {"from": "p3", "pages": 1, "products": 1, "done": True}
        products = {
            p["default_code"]: (p["name"], p["sale_ok"])
            for p in odoo.data["product.template"].values()
        }
        assert products == {"A": ("Desk XL", False), "B": ("Chair", True)}
        assert ok(go())["from"] is None  # finished: the next run starts over
    finally:
        server.close()
    assert [r.target for r in server.requests] == [
        "/v2/products",
        "/v2/products?cursor=p2",
        "/v2/products?cursor=p3",
        "/v2/products?cursor=p3",
        "/v2/products",
        "/v2/products?cursor=p2",
    ]


# ---- overdue-reminders --------------------------------------------------------------


def test_overdue_reminders_one_activity_per_customer_and_no_repeat(engine):
    def schedule(
        odoo: FakeOdoo, ids: list[int], args: list[Any], kwargs: dict[str, Any]
    ) -> list[int]:
        return [
            odoo.create(
                "mail.activity",
                {"res_model": "account.move", "res_id": i, "summary": kwargs["summary"]},
            )
            for i in ids
        ]

    base = {"move_type": "out_invoice", "state": "posted", "payment_state": "not_paid"}
    odoo = FakeOdoo(
        {
            "res.partner": {1: {"name": "Ada"}, 2: {"name": "Bob"}},
            "res.users": {9: {"name": "Sales Rep"}},
            "account.move": {
                10: {
                    **base,
                    "name": "INV/10",
                    "partner_id": 1,
                    "invoice_date_due": "2000-02-01",
                    "amount_residual": 100.0,
                    "invoice_user_id": 9,
                },
                11: {
                    **base,
                    "name": "INV/11",
                    "partner_id": 1,
                    "invoice_date_due": "2000-01-01",
                    "amount_residual": 50.5,
                    "invoice_user_id": 9,
                },
                12: {
                    **base,
                    "name": "INV/12",
                    "partner_id": 2,
                    "invoice_date_due": "2000-03-01",
                    "amount_residual": 10.0,
                    "invoice_user_id": False,
                    "payment_state": "partial",
                },
                13: {
                    **base,
                    "name": "INV/13",
                    "partner_id": 2,
                    "invoice_date_due": "2999-01-01",
                    "amount_residual": 10.0,
                },
                14: {
                    **base,
                    "name": "INV/14",
                    "partner_id": 2,
                    "invoice_date_due": "2000-01-01",
                    "amount_residual": 0.0,
                    "payment_state": "paid",
                },
            },
        },
        m2o={"account.move": {"partner_id": "res.partner", "invoice_user_id": "res.users"}},
        methods={("account.move", "activity_schedule"): schedule},
    )
    assert ok(run(engine, "overdue-reminders", odoo=odoo)) == {"overdue": 3, "reminders": 2}
    calls = {c[2][0]: c for c in odoo.calls}
    assert set(calls) == {11, 12}  # the oldest overdue invoice of each customer
    ada = calls[11]
    assert ada[3] == ["mail.mail_activity_data_todo"] and ada[4]["user_id"] == 9
    assert "2 overdue invoice(s), 150.50 open" in ada[4]["note"]
    assert "user_id" not in calls[12][4]
    assert ok(run(engine, "overdue-reminders", odoo=odoo)) == {"overdue": 3, "reminders": 0}


# ---- order-status-endpoint ----------------------------------------------------------


def _order_request(ref: str) -> dict[str, Any]:
    return {
        "trigger": {"type": "endpoint"},
        "request": {"method": "GET", "path": f"/orders/{ref}", "params": {"ref": ref}},
    }


def test_order_status_endpoint(engine):
    odoo = FakeOdoo(
        {
            "res.currency": {1: {"name": "EUR"}},
            "sale.order": {
                3: {
                    "name": "S00042",
                    "state": "sale",
                    "amount_total": 99.5,
                    "currency_id": 1,
                    "date_order": "2099-01-02T10:00:00Z",
                    "invoice_status": "invoiced",
                    "write_date": "2099-01-03T08:30:00Z",
                }
            },
        },
        m2o={"sale.order": {"currency_id": "res.currency"}},
    )
    found = ok(run(engine, "order-status-endpoint", ctx=_order_request("S00042"), odoo=odoo))
    assert found["status"] == 200
    assert found["json"] == {
        "order": "S00042",
        "state": "confirmed",
        "total": 99.5,
        "currency": "EUR",
        "ordered_at": "2099-01-02T10:00:00Z",
        "invoiced": True,
    }
    assert found["headers"]["ETag"] == '"3-2099-01-03T08:30:00Z"'
    assert found["headers"]["Last-Modified"] == "Sat, 03 Jan 2099 08:30:00 GMT"
    assert rfc_date(found["headers"]["Last-Modified"])
    missing = ok(run(engine, "order-status-endpoint", ctx=_order_request("S99999"), odoo=odoo))
    assert missing["status"] == 404 and missing["json"]["error"]["code"] == "not_found"
    bad = ok(run(engine, "order-status-endpoint", ctx=_order_request("x' OR 1=1"), odoo=odoo))
    assert bad["status"] == 400


# ---- input-validation (sdk.log only) ------------------------------------------------


def test_input_validation_prices_a_quote(engine):
    quote = {
        "items": [
            {"sku": "DESK-01", "qty": 2, "unit_price": 120},
            {"sku": "LAMP", "qty": 3, "unit_price": 19.99},
        ],
        "discount_pct": 10,
    }
    assert ok(run(engine, "input-validation", input=quote)) == {
        "lines": 2,
        "subtotal": 299.97,
        "discount": 30,
        "total": 269.97,
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (None, "input: expected an object"),
        ({"items": []}, "input.items: a non-empty list"),
        (
            {"items": [{"sku": "OK", "qty": 1, "unit_price": 1}], "discount_pct": 60},
            "input.discount_pct: a number from 0 to 50",
        ),
        (
            {
                "items": [
                    {"sku": "OK", "qty": 1, "unit_price": 1},
                    {"sku": "bad sku", "qty": 1, "unit_price": 1},
                ]
            },
            "input.items[1].sku: 2 to 32 of A-Z, 0-9 and -",
        ),
        (
            {"items": [{"sku": "OK", "qty": 1.5, "unit_price": 1}]},
            "input.items[0].qty: a positive whole number",
        ),
        (
            {"items": [{"sku": "OK", "qty": 1, "unit_price": -1}]},
            "input.items[0].unit_price: a price, 0 or more",
        ),
    ],
)
def test_input_validation_says_what_to_change(engine, given, message):
    result = run(engine, "input-validation", input=given)
    assert failed(result, "script_error") == "Error: " + message
    assert [(line["level"], line["message"]) for line in result.logs] == [("warn", "refused input")]


# ---- fan-out-events -----------------------------------------------------------------


def test_fan_out_emits_one_event_per_follow_up(engine):
    odoo = FakeOdoo(
        {
            "res.partner": {3: {"name": "Ada"}},
            "product.product": {11: {"name": "Desk"}, 12: {"name": "Lamp"}},
            "sale.order": {
                1: {
                    "name": "S001",
                    "partner_id": 3,
                    "amount_total": 300,
                    "order_line": [21, 22, 23],
                }
            },
            "sale.order.line": {
                21: {"product_id": 11, "product_uom_qty": 2, "display_type": False},
                22: {"product_id": False, "display_type": "line_section"},
                23: {"product_id": 12, "product_uom_qty": 1, "display_type": False},
            },
        },
        m2o={
            "sale.order": {"partner_id": "res.partner"},
            "sale.order.line": {"product_id": "product.product"},
        },
    )
    ctx = {
        "trigger": {"type": "event"},
        "event": {
            "id": 5,
            "type": "sale.order.confirmed",
            "payload": {"model": "sale.order", "id": 1},
        },
    }
    assert ok(run(engine, "fan-out-events", ctx=ctx, odoo=odoo)) == {"order": "S001", "emitted": 4}
    assert odoo.events == [
        ("invoice.requested", {"model": "sale.order", "id": 1, "name": "S001"}),
        ("customer.ordered", {"model": "res.partner", "id": 3, "amount": 300}),
        ("stock.reserve.requested", {"model": "sale.order", "id": 1, "product_id": 11, "qty": 2}),
        ("stock.reserve.requested", {"model": "sale.order", "id": 1, "product_id": 12, "qty": 1}),
    ]
    ctx["event"]["payload"]["id"] = 999  # deleted since the event
    odoo.events.clear()
    assert ok(run(engine, "fan-out-events", ctx=ctx, odoo=odoo)) == {"skipped": "order gone"}
    assert odoo.events == []
