// Fan-out with events.
// Trigger: a subscription to "sale.order.confirmed" (emitted by the
// sale-order-confirmed recipe). Instead of one script that does everything,
// this handler emits one event per kind of follow-up; each has its own
// subscribers, retries and dead letters, and a slow one never delays the others.

const MAX_EVENTS = 100; // max_events_per_run (a setting) past which emit throws budget_exceeded

export default async function (ctx) {
  const { id } = ctx.event.payload;
  // searchRead, not read: an order deleted since the event is no match, not an error.
  const [order] = await sdk.db.searchRead("sale.order", [["id", "=", id]], ["name", "order_line", "partner_id", "amount_total"]);
  if (!order) return { skipped: "order gone" };
  const lines = await sdk.db.read("sale.order.line", order.order_line, ["product_id", "product_uom_qty", "display_type"]);
  const products = lines.filter((l) => !l.display_type && l.product_id);
  const events = [
    ["invoice.requested", { model: "sale.order", id, name: order.name }],
    ["customer.ordered", { model: "res.partner", id: order.partner_id[0], amount: order.amount_total }],
    ...products.map((l) => [
      "stock.reserve.requested",
      { model: "sale.order", id, product_id: l.product_id[0], qty: l.product_uom_qty },
    ]),
  ];
  if (events.length > MAX_EVENTS) throw new Error(`${events.length} events: split the order's fan-out`);
  // All or nothing: events are written with this run and leave after commit;
  // if this run fails, none of them is sent.
  for (const [type, payload] of events) await sdk.events.emit(type, payload);
  return { order: order.name, emitted: events.length };
}
