// Summarise records passed as input (the Odoo addon passes them through sdk.db).
export default function (ctx) {
  const rows = ctx.input?.rows ?? [
    { customer: "Azure Interior", amount: 1200 },
    { customer: "Deco Addict", amount: 830.5 },
    { customer: "Azure Interior", amount: 99.5 },
  ];
  const byCustomer = {};
  for (const r of rows) byCustomer[r.customer] = (byCustomer[r.customer] ?? 0) + r.amount;
  const top = Object.entries(byCustomer).sort((a, b) => b[1] - a[1]);
  console.log(`${rows.length} rows, ${top.length} customers`);
  return { total: rows.reduce((s, r) => s + r.amount, 0), top };
}
