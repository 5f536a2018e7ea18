// An idempotent event handler.
// Trigger: a subscription to "partner.created" (an automation rule on Contacts,
// "On creation", with the action "Emit script event" and type partner.created).
// Delivery is at least once: a retry, a replay or a worker that died can run
// this handler again for the same event. ctx.event.id (the delivery id) is the
// same every time, so it guards both sides. Allowed hosts: crm.example.com.

const CRM = "https://crm.example.com/api/contacts";

export default async function (ctx) {
  const event = ctx.event;
  if (!event) throw new Error("run me from an event subscription");
  // Our side: the first run to get here wins; a later one returns at once.
  const seen = await sdk.cache.incr("partner.created:" + event.id, 1, 7 * 86400);
  if (seen > 1) return { skipped: "already handled", delivery: event.id };
  // Their side: the cache can be lost (a new Redis), so the API gets the same
  // Idempotency-Key on every try and creates the contact once.
  const res = await sdk.http.post(
    CRM,
    { odoo_id: event.payload.id, name: event.payload.display_name },
    { idempotencyKey: `odoo-delivery-${event.id}` },
  );
  if (!res.ok) {
    // Let the run fail: the subscription retries it with backoff. Forget the
    // guard first, or the retry would skip the call.
    await sdk.cache.delete("partner.created:" + event.id);
    throw new Error(`CRM answered ${res.status}`);
  }
  return { delivery: event.id, crmId: res.json().id };
}
