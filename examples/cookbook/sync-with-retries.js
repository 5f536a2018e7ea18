// Syncing an external API with retries.
// Trigger: a schedule (every 15 minutes) or by hand. Allowed hosts: api.example.com.
// Pulls customers changed since the last sync and upserts them as contacts
// (matched on `ref`). Transient failures are retried at once a few times; if
// the API is still down, the run queues itself again later, with backoff.
// Run as: a user with Contact Creation.

const API = "https://api.example.com";
const QUICK_TRIES = 3;
const MAX_ATTEMPTS = 6;

function transient(res) {
  return res.status === 429 || res.status >= 500;
}

// No timers in the sandbox: quick retries are immediate, slow ones are queued runs.
async function getWithRetries(url) {
  let last = null;
  for (let i = 1; i <= QUICK_TRIES; i++) {
    try {
      const res = await sdk.http.get(url, { timeoutSec: 5 });
      if (!transient(res)) return { res, tries: i };
      last = `HTTP ${res.status}`;
    } catch (e) {
      if (e.code !== "http_error" && e.code !== "timeout") throw e; // not transient
      last = e.code;
    }
    sdk.log.warn("transient failure", { url, try: i, reason: last });
  }
  return { res: null, tries: QUICK_TRIES, reason: last };
}

async function upsert(customer) {
  const values = { name: customer.name, email: customer.email, ref: customer.ref };
  const [id] = await sdk.db.search("res.partner", [["ref", "=", customer.ref]], { limit: 1 });
  if (id) {
    await sdk.db.write("res.partner", [id], values);
    return "updated";
  }
  await sdk.db.create("res.partner", values);
  return "created";
}

export default async function (ctx) {
  const attempt = ctx.input?.attempt ?? 1;
  const since = (await sdk.cache.get("customers:since")) ?? "1970-01-01T00:00:00Z";
  const { res, tries, reason } = await getWithRetries(
    `${API}/customers?updated_since=${encodeURIComponent(since)}`,
  );
  if (res === null) {
    if (attempt >= MAX_ATTEMPTS) throw new Error(`API still failing after ${attempt} runs: ${reason}`);
    const delaySec = Math.min(3600, 60 * 2 ** (attempt - 1)); // 1, 2, 4, 8, 16 min
    await sdk.scripts.enqueue(ctx.script.key, { attempt: attempt + 1 }, { delaySec });
    return { retried: true, attempt, delaySec };
  }
  if (!res.ok) throw new Error(`API answered ${res.status}`);
  const body = res.json();
  const counts = { created: 0, updated: 0 };
  for (const customer of body.customers) counts[await upsert(customer)] += 1;
  await sdk.cache.set("customers:since", body.now);
  return { ...counts, tries };
}
