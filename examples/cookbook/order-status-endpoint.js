// An endpoint with path parameters: order status for a customer portal or a partner.
// Trigger: an endpoint GET /orders/{ref}, auth mode "API key" (the caller's own
// rights apply: an administrator creates it, and approves each new version).
// GET /iota/api/v1/orders/S00042 -> 200 {order, state, ...}, 404 when unknown.

const STATES = { draft: "quotation", sent: "quotation sent", sale: "confirmed", cancel: "cancelled" };

export default async function (ctx) {
  const ref = ctx.request.params.ref;
  if (!/^[A-Za-z0-9/_-]{1,64}$/.test(ref)) {
    return { status: 400, json: { error: { code: "invalid_ref", message: "not an order reference" } } };
  }
  const [order] = await sdk.db.searchRead(
    "sale.order",
    [["name", "=", ref]],
    ["name", "state", "amount_total", "currency_id", "date_order", "invoice_status", "write_date"],
    { limit: 1 },
  );
  if (!order) {
    // The same answer for "no such order" and "not yours": record rules hide the second.
    return { status: 404, json: { error: { code: "not_found", message: `no order ${ref}` } } };
  }
  return {
    status: 200,
    headers: { ETag: `"${order.id}-${order.write_date}"`, "Last-Modified": new Date(order.write_date).toUTCString() },
    json: {
      order: order.name,
      state: STATES[order.state] ?? order.state,
      total: order.amount_total,
      currency: order.currency_id[1],
      ordered_at: order.date_order,
      invoiced: order.invoice_status === "invoiced",
    },
  };
}
