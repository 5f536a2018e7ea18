// Normalise contact data on save.
// Trigger: an automation rule on Contacts (res.partner), "On create and edit",
// watching email, phone, name and zip, with the action "Run JavaScript script".
// ctx.records = { model: "res.partner", ids: [...] }: the saved contacts.
// Run as: a user with Contact Creation (the company's scripts user has only
// Internal User, which may read contacts but not write them).

const FIELDS = ["name", "email", "phone", "zip", "country_id"];

function normalizeEmail(email) {
  return email ? email.trim().toLowerCase() : email;
}

// Keeps a leading "+" and the digits: "+32 (0)2 555 12 34" -> "+32025551234".
function normalizePhone(phone) {
  if (!phone) return phone;
  const digits = phone.replace(/[^\d+]/g, "");
  return digits.startsWith("00") ? "+" + digits.slice(2) : digits;
}

// Collapses runs of spaces; never changes the case a person chose.
function normalizeName(name) {
  return name ? name.replace(/\s+/g, " ").trim() : name;
}

function normalizeZip(zip) {
  return zip ? zip.replace(/\s+/g, "").toUpperCase() : zip;
}

export default async function (ctx) {
  const ids = ctx.records?.ids ?? [];
  if (ids.length === 0) return { changed: 0 };
  const partners = await sdk.db.read("res.partner", ids, FIELDS);
  let changed = 0;
  for (const p of partners) {
    const wanted = {
      name: normalizeName(p.name),
      email: normalizeEmail(p.email),
      phone: normalizePhone(p.phone),
      zip: normalizeZip(p.zip),
    };
    // Write only what differs: an unchanged write would fire the rule again
    // for nothing (the run chain's guard stops the loop, but not the cost).
    const values = {};
    for (const [field, value] of Object.entries(wanted)) {
      if (value !== p[field]) values[field] = value;
    }
    if (Object.keys(values).length > 0) {
      await sdk.db.write("res.partner", [p.id], values);
      sdk.log.info("normalised contact", { id: p.id, fields: Object.keys(values) });
      changed += 1;
    }
  }
  return { changed };
}
