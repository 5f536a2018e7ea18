// A rate-limited public form endpoint.
// Trigger: an endpoint POST /contact-form, auth mode "Public", rate limit
// 30 per minute per client (the gateway answers 429 past it), request schema
// requiring name, email and message, CORS origin https://www.example.com.
// On top of the gateway's limit, the script allows 3 messages per email per hour.
// Public endpoints run as the company's scripts user ("IOTA Scripts (<company>)",
// archived): give it Contact Creation, which it needs to create the contact.

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PER_EMAIL_PER_HOUR = 3;

function problem(status, field, message) {
  return { status, json: { error: { field, message } } };
}

function validate(form) {
  if (typeof form !== "object" || form === null) return problem(400, null, "send a JSON object");
  if (form.website) return "spam"; // honeypot: a hidden field people leave empty
  const name = String(form.name ?? "").trim();
  const email = String(form.email ?? "").trim().toLowerCase();
  const message = String(form.message ?? "").trim();
  if (name.length < 2 || name.length > 100) return problem(422, "name", "2 to 100 characters");
  if (!EMAIL.test(email) || email.length > 254) return problem(422, "email", "not an email address");
  if (message.length < 10 || message.length > 5000) return problem(422, "message", "10 to 5000 characters");
  return { name, email, message };
}

export default async function (ctx) {
  const form = validate(ctx.request?.json);
  if (form === "spam") return { status: 202, json: { ok: true } }; // say nothing to bots
  if (form.status) return form;
  const count = await sdk.cache.incr("form:" + form.email, 1, 3600);
  if (count > PER_EMAIL_PER_HOUR) {
    return { status: 429, headers: { "X-App-Retry": "3600" }, json: { error: { message: "try again later" } } };
  }
  const [existing] = await sdk.db.search("res.partner", [["email", "=ilike", form.email]], { limit: 1 });
  const partnerId = existing ?? (await sdk.db.create("res.partner", { name: form.name, email: form.email }));
  // Written by the contact: a message needs an author with an email address,
  // and the company's scripts user has none.
  await sdk.db.call("res.partner", "message_post", [partnerId], [], {
    body: form.message,
    subject: "Contact form",
    author_id: partnerId,
  });
  sdk.log.info("contact form", { partnerId, known: Boolean(existing) });
  return { status: 201, json: { ok: true } };
}
