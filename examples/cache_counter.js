// sdk.cache is shared by the runs of one tenant (Redis with --redis-url, else in-process).
export default async function () {
  const runs = await sdk.cache.incr("example:runs", 1, 3600);
  await sdk.cache.set("example:last", { at: new Date().toISOString() }, 60);
  return { runs, last: await sdk.cache.get("example:last") };
}
