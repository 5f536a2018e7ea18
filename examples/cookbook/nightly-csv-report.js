// A nightly report mailed as CSV.
// Trigger: a schedule, cron "0 6 * * *" in the company's timezone.
// Input (optional): { "to": "sales-team@example.com", "days": 1 }.
// The run-as user must be allowed to create mail.mail and ir.attachment records
// (if the runner user may not, an administrator picks a user that may).

function csvCell(value) {
  if (value === null || value === undefined || value === false) return "";
  const text = Array.isArray(value) ? String(value[1]) : String(value); // many2one: [id, name]
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

function toCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

// The sandbox has no btoa/TextEncoder: UTF-8 then base64, by hand.
function base64Utf8(text) {
  const bytes = [];
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const [a, b = 0, c = 0] = bytes.slice(i, i + 3);
    const n = (a << 16) | (b << 8) | c;
    out += abc[n >> 18] + abc[(n >> 12) & 63];
    out += i + 1 < bytes.length ? abc[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? abc[n & 63] : "=";
  }
  return out;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export default async function (ctx) {
  const days = ctx.input?.days ?? 1;
  const to = ctx.input?.to ?? "sales-team@example.com";
  const since = new Date(Date.now() - days * 86400 * 1000);
  const orders = await sdk.db.searchRead(
    "sale.order",
    [["state", "=", "sale"], ["date_order", ">=", isoDay(since) + " 00:00:00"]],
    ["name", "partner_id", "date_order", "amount_total", "currency_id"],
    { order: "date_order asc", limit: 5000 },
  );
  const csv = toCsv(
    ["Order", "Customer", "Date", "Total", "Currency"],
    orders.map((o) => [o.name, o.partner_id, o.date_order, o.amount_total, o.currency_id]),
  );
  const name = `orders-${isoDay(new Date())}.csv`;
  const attachmentId = await sdk.db.create("ir.attachment", {
    name,
    datas: base64Utf8(csv),
    mimetype: "text/csv",
  });
  const mailId = await sdk.db.create("mail.mail", {
    subject: `Orders of the last ${days} day(s): ${orders.length}`,
    email_to: to,
    body_html: `<p>${orders.length} confirmed orders, attached as ${name}.</p>`,
    attachment_ids: [[6, 0, [attachmentId]]],
  });
  // Queued by Odoo's mail queue; call "send" to send it now instead.
  sdk.log.info("report queued", { orders: orders.length, mailId });
  return { orders: orders.length, attachmentId, mailId };
}
