// A paginated API import that resumes where it stopped.
// Trigger: a schedule every 5 minutes. Allowed hosts: pim.example.com.
// Each run imports at most MAX_PAGES pages of products (upserted on the
// internal reference) and keeps the API's cursor in the cache; the next run
// goes on from there. A run stays short, and a failure costs one page.
// Run as: a user who may create products (Sales: Administrator, for example).
// Timeout: 60 s (the script's Limits): up to MAX_PAGES HTTP calls and their writes.

const PIM = "https://pim.example.com/v2/products";
const MAX_PAGES = 5;
const CURSOR_KEY = "pim:cursor";

async function upsertProduct(p) {
  const values = { name: p.title, default_code: p.sku, list_price: p.price, sale_ok: p.active };
  const [id] = await sdk.db.search("product.template", [["default_code", "=", p.sku]], { limit: 1 });
  if (id) await sdk.db.write("product.template", [id], values);
  else await sdk.db.create("product.template", values);
}

export default async function () {
  const start = await sdk.cache.get(CURSOR_KEY); // null when the key is missing
  let cursor = start;
  let pages = 0;
  let products = 0;
  while (pages < MAX_PAGES) {
    const url = cursor ? `${PIM}?cursor=${encodeURIComponent(cursor)}` : PIM;
    const res = await sdk.http.get(url, { timeoutSec: 10 });
    if (!res.ok) throw new Error(`PIM answered ${res.status} for page ${pages + 1}`);
    const page = res.json();
    for (const p of page.items) await upsertProduct(p);
    products += page.items.length;
    pages += 1;
    cursor = page.next ?? null;
    if (cursor === null) break;
  }
  // Saved last, once every page is written: a run that fails rolls its sdk.db
  // writes back but not the cache, so the next run must start where this one did.
  if (cursor === null) await sdk.cache.delete(CURSOR_KEY); // done: next run starts over
  else await sdk.cache.set(CURSOR_KEY, cursor, 7 * 86400);
  return { from: start, pages, products, done: cursor === null };
}
