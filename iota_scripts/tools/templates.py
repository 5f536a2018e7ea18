"""Starting points offered by "New script" (the ``template`` choice on the form).

Each template is a complete script for one kind of trigger; the tests check
that every one passes ``Engine.check``. The JSDoc ``@param {ScriptContext}``
types ``ctx`` in the editor (``ScriptContext`` is declared in ``sdk.d.ts``). Keys are stable (they are selection
values); labels are translated where they are shown.
"""

from __future__ import annotations

MANUAL_REPORT = """\
// Manual report: run it from the Run button; the result is the report.
// ctx.input (optional): {"limit": 10}
/** @param {ScriptContext<{ limit?: number } | null>} ctx */
export default async function (ctx) {
  const limit = Number(ctx.input?.limit ?? 10);
  const companies = await sdk.db.searchRead(
    "res.partner",
    [["is_company", "=", true]],
    ["name", "country_id"],
    { limit, order: "name" },
  );
  sdk.log.info(`report of ${companies.length} companies`);
  return {
    companies: companies.map((c) => ({
      name: c.name,
      country: c.country_id ? c.country_id[1] : null,
    })),
  };
}
"""

RECORD_CHANGE = """\
// Automation on record change: Activate the script, then press
// "Add Automation Rule" on its form (model, trigger; the rule runs this script).
// ctx.records = {model, ids}: the records that changed.
/** @param {ScriptContext} ctx */
export default async function (ctx) {
  if (!ctx.records) throw new Error("run me from an automation rule");
  const { model, ids } = ctx.records;
  const rows = await sdk.db.read(model, ids, ["display_name"]);
  for (const row of rows) {
    sdk.log.info(`changed: ${row.display_name}`, { model, id: row.id });
  }
  return { seen: rows.length };
}
"""

SCHEDULED_JOB = """\
// Scheduled job: Activate the script, then add a line in its Schedules tab
// (cron, timezone, missed-slot policy). Slots of a Draft script are missed.
// Keep each run short and idempotent: a missed run is not replayed twice.
/** @param {ScriptContext} ctx */
export default async function (ctx) {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString().slice(0, 19).replace("T", " ");
  const count = await sdk.db.searchCount("res.partner", [["create_date", ">=", since]]);
  await sdk.cache.set("contacts.last24h", count, 3600);
  sdk.log.info(`contacts created in the last 24 hours: ${count}`);
  return { count, trigger: ctx.trigger.type };
}
"""

HTTP_ENDPOINT = """\
// HTTP endpoint: Activate the script, then publish it with "Publish Endpoint"
// on its form (or IOTA Scripts > Scripts > Endpoints): /iota/api/v1/...
// ctx.request = {method, path, params, query, headers, body, json}.
// Return a value (sent as JSON) or {status, headers, body|json}.
/** @param {ScriptContext} ctx */
export default async function (ctx) {
  const name = String(ctx.request?.query?.name ?? "world").slice(0, 64);
  if (!/^[\\w .-]*$/.test(name)) {
    return { status: 400, json: { error: { code: "invalid_argument", message: "bad name" } } };
  }
  return { status: 200, json: { hello: name } };
}
"""

EVENT_HANDLER = """\
// Event handler: Activate the script, then subscribe it to an event type
// (IOTA Scripts > Scripts > Subscriptions).
// ctx.event = {id, type, payload, ...}; a throw retries, then dead-letters.
/** @param {ScriptContext} ctx */
export default async function (ctx) {
  const { id, type, payload } = ctx.event ?? {};
  sdk.log.info(`event ${type}`, { id });
  const seen = await sdk.cache.incr(`events.${type}`, 1, 86400);
  if (type === "script.updated") {
    await sdk.events.emit("audit.script_changed", { source_event: id, payload });
  }
  return { handled: id, seen };
}
"""

#: key -> (label, source), in the order the form shows them.
TEMPLATES: dict[str, tuple[str, str]] = {
    "manual_report": ("Manual report", MANUAL_REPORT),
    "record_change": ("Automation on record change", RECORD_CHANGE),
    "scheduled_job": ("Scheduled job", SCHEDULED_JOB),
    "http_endpoint": ("HTTP endpoint", HTTP_ENDPOINT),
    "event_handler": ("Event handler", EVENT_HANDLER),
}
