// Reacting to sale.order confirmation.
// Trigger: an automation rule on Sales Order, "State is set to" Sales Order,
// action "Run JavaScript script" with "Run in Background" ticked (the HTTP call
// then never slows down the salesperson's click). Allowed hosts: fulfil.example.com.
// Run as: a user with Sales rights. A failed run is retried when Settings allow
// more than one attempt per background run (queue_max_attempts).

const FULFILMENT = "https://fulfil.example.com/v1/shipments";

export default async function (ctx) {
  const orders = await sdk.db.read("sale.order", ctx.records?.ids ?? [], [
    "name", "partner_id", "partner_shipping_id", "amount_total", "order_line", "state",
  ]);
  const sent = [];
  for (const order of orders) {
    if (order.state !== "sale") continue; // confirmed, then cancelled before we ran
    const lines = await sdk.db.read("sale.order.line", order.order_line, [
      "product_id", "product_uom_qty", "display_type",
    ]);
    const items = lines
      .filter((l) => !l.display_type && l.product_id) // skip sections and notes
      .map((l) => ({ sku: l.product_id[1], qty: l.product_uom_qty }));
    // The same key on every retry: the fulfilment API creates one shipment.
    const res = await sdk.http.post(
      FULFILMENT,
      { order: order.name, ship_to: order.partner_shipping_id[1], items },
      { idempotencyKey: `sale.order-${order.id}` },
    );
    if (!res.ok) throw new Error(`fulfilment answered ${res.status} for ${order.name}`);
    const shipment = res.json();
    await sdk.db.call("sale.order", "message_post", [order.id], [], {
      body: `Shipment ${shipment.id} requested (${items.length} lines).`,
    });
    // Other scripts subscribe to this instead of adding rules on sale.order.
    await sdk.events.emit("sale.order.confirmed", {
      model: "sale.order", id: order.id, name: order.name, amount: order.amount_total,
    });
    sent.push({ order: order.name, shipment: shipment.id });
  }
  return { sent };
}
