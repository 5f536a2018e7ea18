// The smallest script: read the input, log, return JSON.
export default async function (ctx) {
  sdk.log.info("hello from IOTA Scripts", { trigger: ctx.trigger.type });
  return { greeting: `hello ${ctx.input?.name ?? "world"}` };
}
