// Currency rates from an API.
// Trigger: a schedule, "30 7 * * 1-5" (weekdays after the rates are published).
// Allowed hosts: rates.example.com. Writes res.currency.rate, so the run-as user
// needs the rights to (an administrator-chosen user with Accounting settings rights).
// Odoo's rate is "units of the currency for 1 unit of the company's currency".

const RATES = "https://rates.example.com/v1/latest?base=";

export default async function (ctx) {
  const [company] = await sdk.db.read("res.company", [ctx.company.id], ["currency_id"]);
  const base = company.currency_id[1]; // e.g. "EUR"
  const currencies = await sdk.db.searchRead(
    "res.currency",
    [["active", "=", true], ["name", "!=", base]],
    ["name"],
  );
  if (currencies.length === 0) return { updated: 0 };
  const res = await sdk.http.get(RATES + encodeURIComponent(base), { timeoutSec: 10 });
  if (!res.ok) throw new Error(`rates answered ${res.status}`);
  const { date, rates } = res.json();
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || typeof rates !== "object") throw new Error("unexpected rates payload");
  const updated = [];
  const missing = [];
  for (const currency of currencies) {
    const rate = rates[currency.name];
    if (!(typeof rate === "number" && rate > 0)) {
      missing.push(currency.name);
      continue;
    }
    const values = { currency_id: currency.id, name: date, rate, company_id: ctx.company.id };
    const [existing] = await sdk.db.search("res.currency.rate", [
      ["currency_id", "=", currency.id], ["name", "=", date], ["company_id", "=", ctx.company.id],
    ]);
    if (existing) await sdk.db.write("res.currency.rate", [existing], { rate });
    else await sdk.db.create("res.currency.rate", values);
    updated.push(currency.name);
  }
  if (missing.length) sdk.log.warn("no rate for some active currencies", { missing });
  return { base, date, updated, missing };
}
