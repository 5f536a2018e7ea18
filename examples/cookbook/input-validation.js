// Validate the input early, with errors a person can act on.
// A manual script ("Run" page) that prices a quote from its input. Give the
// script an input schema for the Run page's form; the checks below still hold
// for every other caller (sdk.scripts.enqueue, the command line, an endpoint).
// Input: { "items": [{ "sku": "DESK-01", "qty": 2, "unit_price": 120 }], "discount_pct": 10 }

class InputError extends Error {}

function need(condition, path, message) {
  if (!condition) throw new InputError(`input${path}: ${message}`);
}

function parse(input) {
  need(input && typeof input === "object" && !Array.isArray(input), "", "expected an object");
  const { items, discount_pct: discount = 0 } = input;
  need(Array.isArray(items) && items.length > 0, ".items", "a non-empty list");
  need(items.length <= 500, ".items", "at most 500 lines");
  need(Number.isFinite(discount) && discount >= 0 && discount <= 50, ".discount_pct", "a number from 0 to 50");
  const lines = items.map((item, i) => {
    const at = `.items[${i}]`;
    need(item && typeof item === "object", at, "expected an object");
    need(typeof item.sku === "string" && /^[A-Z0-9-]{2,32}$/.test(item.sku), `${at}.sku`, "2 to 32 of A-Z, 0-9 and -");
    need(Number.isInteger(item.qty) && item.qty > 0, `${at}.qty`, "a positive whole number");
    need(Number.isFinite(item.unit_price) && item.unit_price >= 0, `${at}.unit_price`, "a price, 0 or more");
    return { sku: item.sku, qty: item.qty, unitPrice: item.unit_price };
  });
  return { lines, discount };
}

const cents = (x) => Math.round(x * 100) / 100;

export default function (ctx) {
  let quote;
  try {
    quote = parse(ctx.input);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    sdk.log.warn("refused input", { reason: e.message });
    // An ordinary Error ends the run as script_error, message "Error: input...":
    // the Run page and the execution show it, with the line of this throw.
    throw new Error(e.message);
  }
  const subtotal = quote.lines.reduce((sum, l) => sum + l.qty * l.unitPrice, 0);
  const discount = cents((subtotal * quote.discount) / 100);
  return { lines: quote.lines.length, subtotal: cents(subtotal), discount, total: cents(subtotal - discount) };
}
