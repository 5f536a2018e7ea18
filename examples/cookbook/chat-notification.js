// A chat notification when a script fails.
// Trigger: a subscription to "script.failed" (a lifecycle event IOTA Scripts
// emits for every failed run; payload { script_id, key, execution_id, state,
// error_code }). Allowed hosts: hooks.slack.com (or your chat's webhook host).
// At most one message per failing script per 10 minutes.

const WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX";
const QUIET_SEC = 600;

export default async function (ctx) {
  const failure = ctx.event?.payload ?? {};
  // Never report on ourselves: a failing notifier would notify about itself.
  if (failure.key === ctx.script?.key) return { skipped: "self" };
  const burst = await sdk.cache.incr("notified:" + failure.key, 1, QUIET_SEC);
  if (burst > 1) return { skipped: "quiet period", failures: burst };
  const link = `/web#model=iota.script.execution&id=${failure.execution_id}&view_type=form`;
  const text =
    `:rotating_light: Script *${failure.key}* ${failure.state === "timed_out" ? "timed out" : "failed"}` +
    ` (${failure.error_code ?? "unknown error"}) in ${ctx.company?.name ?? "Odoo"}: ${link}`;
  const res = await sdk.http.post(WEBHOOK, { text }, { timeoutSec: 5 });
  if (!res.ok) throw new Error(`chat webhook answered ${res.status}`);
  return { notified: failure.key };
}
