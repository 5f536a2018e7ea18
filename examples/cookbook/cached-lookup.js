// Cache-backed lookups.
// Looks up a company by VAT number in an external registry, and keeps each
// answer in sdk.cache for a day (misses for an hour), so a burst of records
// with the same VAT costs one HTTP call. Allowed hosts: registry.example.com.
// Use it from an automation rule, an endpoint or by hand: input { "vat": "BE0123456789" }.

const REGISTRY = "https://registry.example.com/v1/companies/";
const HIT_TTL = 86400;
const MISS_TTL = 3600;

function normalizeVat(vat) {
  return String(vat ?? "").replace(/[^A-Za-z0-9]/g, "").toUpperCase();
}

async function lookup(vat) {
  const key = "vat:" + vat;
  const cached = await sdk.cache.get(key);
  if (cached !== null) return { ...cached, cached: true };
  const res = await sdk.http.get(REGISTRY + encodeURIComponent(vat), { timeoutSec: 3 });
  let entry;
  if (res.status === 404) entry = { found: false };
  else if (res.ok) {
    const body = res.json();
    entry = { found: true, name: body.name, country: body.country, active: body.status === "active" };
  } else throw new Error(`registry answered ${res.status}`); // not cached: retried next time
  await sdk.cache.set(key, entry, entry.found ? HIT_TTL : MISS_TTL);
  return { ...entry, cached: false };
}

export default async function (ctx) {
  const vat = normalizeVat(ctx.input?.vat);
  if (!/^[A-Z]{2}[0-9A-Z]{2,13}$/.test(vat)) throw new Error("input.vat is not a VAT number");
  const company = await lookup(vat);
  sdk.log.info("vat lookup", { vat, found: company.found, cached: company.cached });
  return { vat, ...company };
}
