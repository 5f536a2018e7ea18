// A webhook receiver with HMAC.
// Trigger: an endpoint POST /payments/webhook, auth mode "HMAC". The gateway
// checks X-Timestamp and X-Signature (HMAC-SHA256 with the endpoint's secret of
// timestamp, method, path, query and body), refuses stale timestamps and
// replayed signatures, and only then runs this script: no crypto here.
// The provider sends { id, type, data: { invoice, amount } } as JSON.
// HMAC endpoints run as the company's scripts user ("IOTA Scripts (<company>)",
// archived): give it Invoicing: Billing, to read invoices and post on them.

const HANDLED = new Set(["payment.succeeded", "payment.refunded"]);
// The sender of the note on the invoice: a message needs one with an email
// address, and the company's scripts user has none.
const SENDER = "Payment provider <noreply@payments.example.com>";

function reply(status, json) {
  return { status, json };
}

export default async function (ctx) {
  const event = ctx.request?.json;
  if (!event || typeof event.id !== "string" || typeof event.type !== "string") {
    return reply(422, { error: "expected {id, type, data}" });
  }
  if (!HANDLED.has(event.type)) {
    return reply(200, { ignored: event.type });
  }
  // Providers retry a delivery with a new signature when they miss our answer:
  // handle each event id once (kept 7 days).
  const seen = await sdk.cache.incr("webhook:" + event.id, 1, 7 * 86400);
  if (seen > 1) {
    sdk.log.info("duplicate webhook", { id: event.id });
    return reply(200, { duplicate: true });
  }
  const ref = String(event.data?.invoice ?? "");
  const [invoice] = await sdk.db.searchRead(
    "account.move",
    [["name", "=", ref], ["move_type", "=", "out_invoice"]],
    ["name", "amount_total"],
    { limit: 1 },
  );
  if (!invoice) {
    sdk.log.warn("webhook for an unknown invoice", { id: event.id, ref });
    return reply(200, { unknown_invoice: ref });
  }
  const verb = event.type === "payment.succeeded" ? "paid" : "refunded";
  await sdk.db.call("account.move", "message_post", [invoice.id], [], {
    body: `Payment provider: ${verb} ${event.data.amount} (event ${event.id}).`,
    email_from: SENDER,
  });
  return reply(200, { invoice: invoice.name, recorded: verb });
}
