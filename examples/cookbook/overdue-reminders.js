// Overdue invoice reminders.
// Trigger: a schedule, "0 8 * * 1-5". For each customer with posted invoices
// past their due date, the salesperson (or the invoice's responsible) gets one
// "To Do" activity on the oldest invoice, listing them all. Runs again the next
// day without duplicating: invoices that already carry the activity are skipped.
// Run as: a user with Invoicing: Billing rights.

const SUMMARY = "Overdue invoices: call the customer";

function today() {
  return new Date().toISOString().slice(0, 10);
}

function groupByPartner(invoices) {
  const groups = new Map();
  for (const inv of invoices) {
    const key = inv.partner_id[0];
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(inv);
  }
  return groups;
}

export default async function () {
  const invoices = await sdk.db.searchRead(
    "account.move",
    [
      ["move_type", "=", "out_invoice"],
      ["state", "=", "posted"],
      ["payment_state", "in", ["not_paid", "partial"]],
      ["invoice_date_due", "<", today()],
    ],
    ["name", "partner_id", "invoice_date_due", "amount_residual", "invoice_user_id"],
    { order: "invoice_date_due asc", limit: 2000 },
  );
  if (invoices.length === 0) return { reminders: 0 };
  const already = await sdk.db.searchRead(
    "mail.activity",
    [["res_model", "=", "account.move"], ["res_id", "in", invoices.map((i) => i.id)], ["summary", "=", SUMMARY]],
    ["res_id"],
  );
  const reminded = new Set(already.map((a) => a.res_id));
  let reminders = 0;
  for (const [partnerId, list] of groupByPartner(invoices)) {
    if (list.some((inv) => reminded.has(inv.id))) continue;
    const oldest = list[0];
    const total = list.reduce((sum, inv) => sum + inv.amount_residual, 0);
    const lines = list.map((inv) => `<li>${inv.name}: due ${inv.invoice_date_due}, ${inv.amount_residual}</li>`);
    await sdk.db.call("account.move", "activity_schedule", [oldest.id], ["mail.mail_activity_data_todo"], {
      summary: SUMMARY,
      note: `<p>${list.length} overdue invoice(s), ${total.toFixed(2)} open:</p><ul>${lines.join("")}</ul>`,
      ...(oldest.invoice_user_id ? { user_id: oldest.invoice_user_id[0] } : {}),
    });
    sdk.log.info("reminder", { partnerId, invoices: list.length, total });
    reminders += 1;
  }
  return { overdue: invoices.length, reminders };
}
