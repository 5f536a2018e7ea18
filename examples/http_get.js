// Outbound HTTP is refused unless the host is allowed:
//   iota-scripts run examples/http_get.js --allow-host api.github.com
export default async function (ctx) {
  try {
    const res = await sdk.http.get(ctx.input?.url ?? "https://api.github.com/zen", { timeoutSec: 5 });
    return { status: res.status, body: res.text().slice(0, 200) };
  } catch (e) {
    return { refused: e.code, message: e.message };
  }
}
