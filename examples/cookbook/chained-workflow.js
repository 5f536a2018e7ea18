// A chained workflow with sdk.scripts.enqueue.
// One script, three steps, each its own queued run (and transaction):
//   collect -> process (up to 10 runs, one per batch) -> report (after the last batch).
// Start it by hand or from a schedule with input {} (step "collect").
// Needs Invoicing (customer_rank) and a run-as user with Contact Creation.
// Each enqueue is committed with the run that makes it: a failed step queues nothing,
// and the queue retries it with backoff. The defaults bound the shape: a run may
// queue 10 runs (max_enqueues_per_run) and chains are 3 runs deep (max_depth).

const MAX_BATCHES = 10;

async function collect(ctx) {
  const ids = await sdk.db.search("res.partner", [["customer_rank", ">", 0], ["vat", "=", false]], {
    order: "id",
    limit: 5000,
  });
  const size = Math.max(1, Math.ceil(ids.length / MAX_BATCHES));
  const batches = [];
  for (let i = 0; i < ids.length; i += size) batches.push(ids.slice(i, i + size));
  if (batches.length === 0) return { step: "collect", partners: 0, batches: 0 };
  const runId = String(ctx.execution.id);
  await sdk.cache.set(`wf:${runId}:left`, batches.length, 86400);
  for (const [n, batch] of batches.entries()) {
    await sdk.scripts.enqueue(ctx.script.key, { step: "process", runId, n, ids: batch });
  }
  return { step: "collect", partners: ids.length, batches: batches.length };
}

async function process(ctx) {
  const { runId, n, ids } = ctx.input;
  await sdk.db.write("res.partner", ids, { comment: "VAT number missing: please ask the customer." });
  // Count each batch once, even when the queue retries this run (the cache is
  // not rolled back with a failed run); incr is atomic, so exactly one batch sees 0.
  const first = (await sdk.cache.incr(`wf:${runId}:done:${n}`, 1, 86400)) === 1;
  const left = first ? await sdk.cache.incr(`wf:${runId}:left`, -1) : await sdk.cache.get(`wf:${runId}:left`);
  if (left === 0) await sdk.scripts.enqueue(ctx.script.key, { step: "report", runId }, { delaySec: 5 });
  return { step: "process", batch: n, partners: ids.length, left };
}

async function report(ctx) {
  const flagged = await sdk.db.searchCount("res.partner", [["customer_rank", ">", 0], ["vat", "=", false]]);
  sdk.log.info("workflow done", { runId: ctx.input.runId, flagged });
  await sdk.events.emit("workflow.vat_check.done", { runId: ctx.input.runId, flagged });
  return { step: "report", flagged };
}

const STEPS = { collect, process, report };

export default async function (ctx) {
  const step = STEPS[ctx.input?.step ?? "collect"];
  if (!step) throw new Error(`unknown step ${ctx.input.step}`);
  return step(ctx);
}
