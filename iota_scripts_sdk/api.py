# Over 600 lines: the one declaration of the JS API (every sdk function with its docs,
# errors, limits and example); split, it would no longer be one.
"""The one declaration of the JS API that scripts see.

Everything about the ``sdk`` global comes from :data:`API`: the runner builds
the object from it (see ``prelude.js``), :func:`typescript` renders
``sdk.d.ts`` from it, and the host checks incoming calls against it. Adding a
function here is the whole of adding it to the JS surface; a host then serves
its ``host`` name (see :class:`iota_scripts_sdk.engine.HostFunctions`).

``API_VERSION`` changes whenever the surface changes in a way scripts can see.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "API",
    "API_VERSION",
    "COMMON_ERRORS",
    "COMMON_LIMITS",
    "Function",
    "Namespace",
    "Param",
    "deprecated_host_names",
    "typescript",
    "void_host_names",
]

API_VERSION = "1.4"


@dataclass(frozen=True)
class Param:
    name: str
    ts_type: str
    optional: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Function:
    """One ``sdk.<namespace>.<name>`` function.

    ``kind`` is ``host`` (a host call named ``host``), ``log`` (a log record,
    no round trip) or ``http`` (a host call to ``http.fetch`` with ``method``).
    """

    name: str
    params: tuple[Param, ...]
    returns: str
    doc: str
    kind: str = "host"
    host: str | None = None
    method: str | None = None
    #: TypeScript type parameters, e.g. ``<M extends ModelName>`` (typing only).
    type_params: str = ""
    #: Error codes (``errors.CODES``) this function raises itself, beyond the
    #: ones every call of its kind may raise (:data:`COMMON_ERRORS`).
    errors: tuple[str, ...] = ()
    #: ``Limits`` fields that bound this function, beyond :data:`COMMON_LIMITS`.
    limits: tuple[str, ...] = ()
    #: A few lines of JavaScript using it, as they would sit in a script's
    #: async default export (the reference shows them; a test parses them).
    example: str = ""
    #: Deprecated: what to use instead, and since which API version (e.g.
    #: "since 1.3: use sdk.x.y"). It keeps working for at least one major
    #: version (docs/guide/versions.md); the editor strikes it through
    #: (``@deprecated`` in sdk.d.ts) and each run that calls it gets one
    #: ``warn`` log line per function.
    deprecated: str = ""


@dataclass(frozen=True)
class Namespace:
    name: str
    doc: str
    functions: tuple[Function, ...] = field(default_factory=tuple)


#: Errors any call of a kind may raise: ``host`` and ``http`` calls go through
#: the bridge (counted, serialised, answered by the host); ``log`` lines do not.
COMMON_ERRORS: dict[str, tuple[str, ...]] = {
    "host": (
        "budget_exceeded",
        "argument_too_large",
        "invalid_argument",
        "response_too_large",
        "timeout",
        "not_available",
        "internal_error",
    ),
    "http": (
        "budget_exceeded",
        "argument_too_large",
        "invalid_argument",
        "timeout",
        "internal_error",
    ),
    "log": ("argument_too_large",),
}

#: ``Limits`` fields that bound every call of a kind.
COMMON_LIMITS: dict[str, tuple[str, ...]] = {
    "host": ("max_host_calls", "max_inflight_calls", "max_arg_bytes", "max_reply_bytes"),
    "http": ("max_host_calls", "max_inflight_calls", "max_arg_bytes"),
    "log": ("max_log_lines", "max_log_line_bytes", "max_log_bytes"),
}


def _log(level: str) -> Function:
    return Function(
        level,
        (
            Param("message", "string"),
            Param("fields", "Record<string, unknown>", True, "structured fields"),
        ),
        "void",
        f"Records a `{level}` line on the run. Messages longer than the log cap throw "
        "`argument_too_large`; lines past the per-run count are dropped and counted.",
        kind="log",
        example=f'sdk.log.{level}("order synced", {{ orderId: 42, ms: 118 }});',
    )


_DOMAIN = Param("domain", "Domain", True, "an Odoo domain, e.g. `[['is_company', '=', true]]`")
_OPTS = Param("options", "SearchOptions", True)
# Typing only: `M` is the model name literal, so editors complete model names
# and the field names of `IotaModels[M]` (see the `IotaModels` doc below).
_MODEL = Param("model", "M")
_ON_MODEL = "<M extends ModelName>"
_ON_FIELDS = "<M extends ModelName, F extends FieldOf<M> = FieldOf<M>>"

API: tuple[Namespace, ...] = (
    Namespace(
        "log",
        "Structured, size-capped log lines, stored on the run. `console.*` writes here too.",
        (_log("debug"), _log("info"), _log("warn"), _log("error")),
    ),
    Namespace(
        "http",
        "Outbound HTTP through the host's SSRF-safe client. Only hosts on the run's "
        "allow-list (in Odoo: the script's capabilities) are reachable, only on global "
        "addresses.",
        (
            Function(
                "fetch",
                (Param("url", "string"), Param("init", "HttpInit", True)),
                "Promise<HttpResponse>",
                "Sends a request. Rejects with `destination_blocked`, `scheme_not_allowed`, "
                "`too_many_redirects`, `response_too_large`, `timeout` or `http_error`.",
                kind="http",
                errors=(
                    "destination_blocked",
                    "scheme_not_allowed",
                    "too_many_redirects",
                    "response_too_large",
                    "http_error",
                ),
                limits=("allow_hosts", "http_timeout_sec", "max_response_bytes"),
                example=(
                    'const res = await sdk.http.fetch("https://api.example.com/orders", {\n'
                    '  method: "PUT",\n'
                    '  headers: { Authorization: "Bearer " + ctx.input.token },\n'
                    '  body: { state: "paid" },\n'
                    "  idempotencyKey: String(ctx.execution.id),\n"
                    "});\n"
                    'if (!res.ok) throw new Error("PUT failed: " + res.status);'
                ),
            ),
            Function(
                "get",
                (Param("url", "string"), Param("init", "HttpInit", True)),
                "Promise<HttpResponse>",
                "`fetch` with method GET.",
                kind="http",
                method="GET",
                errors=(
                    "destination_blocked",
                    "scheme_not_allowed",
                    "too_many_redirects",
                    "response_too_large",
                    "http_error",
                ),
                limits=("allow_hosts", "http_timeout_sec", "max_response_bytes"),
                example=(
                    'const res = await sdk.http.get("https://api.example.com/rates?base=EUR", '
                    "{ timeoutSec: 3 });\n"
                    "const rates = res.json();"
                ),
            ),
            Function(
                "post",
                (Param("url", "string"), Param("body", "unknown"), Param("init", "HttpInit", True)),
                "Promise<HttpResponse>",
                "`fetch` with method POST. A non-string body is sent as JSON.",
                kind="http",
                method="POST",
                errors=(
                    "destination_blocked",
                    "scheme_not_allowed",
                    "too_many_redirects",
                    "response_too_large",
                    "http_error",
                ),
                limits=("allow_hosts", "http_timeout_sec", "max_response_bytes"),
                example=(
                    'const res = await sdk.http.post("https://hooks.example.com/notify", '
                    '{ text: "Order confirmed" });\n'
                    'sdk.log.info("notified", { status: res.status });'
                ),
            ),
        ),
    ),
    Namespace(
        "cache",
        "A key-value cache shared by the runs of one company and run-as user, and of one "
        "namespace when the script declares capabilities (Redis when configured, else "
        "in-process). Values are JSON. A company's keys share one quota: "
        "past it writes throw `quota_exceeded`; `cache_full` when the cache server is "
        "nearly full.",
        (
            Function(
                "get",
                (Param("key", "string"),),
                "Promise<JsonValue | null>",
                "The value, or null.",
                host="cache.get",
                errors=("cache_unavailable",),
                example=(
                    'const hit = await sdk.cache.get("vat:" + vat);\nif (hit !== null) return hit;'
                ),
            ),
            Function(
                "set",
                (
                    Param("key", "string"),
                    Param("value", "JsonValue"),
                    Param("ttlSec", "number", True, "time to live in seconds"),
                ),
                "Promise<void>",
                "Stores a value (`quota_exceeded`, `cache_full`).",
                host="cache.set",
                errors=("cache_unavailable", "quota_exceeded", "cache_full"),
                example='await sdk.cache.set("vat:" + vat, { valid: true }, 3600);',
            ),
            Function(
                "delete",
                (Param("key", "string"),),
                "Promise<boolean>",
                "Removes a key; true when it existed.",
                host="cache.delete",
                errors=("cache_unavailable",),
                example='const existed = await sdk.cache.delete("vat:" + vat);',
            ),
            Function(
                "incr",
                (
                    Param("key", "string"),
                    Param("by", "number", True),
                    Param("ttlSec", "number", True, "applied when the key is created"),
                ),
                "Promise<number>",
                "Atomically adds `by` (default 1) and returns the new value.",
                host="cache.incr",
                errors=("cache_unavailable", "quota_exceeded", "cache_full"),
                example=(
                    "// run an effect once per event, even when the delivery is retried\n"
                    'if ((await sdk.cache.incr("done:" + ctx.event.id, 1, 86400)) > 1) return;'
                ),
            ),
        ),
    ),
    Namespace(
        "db",
        "The Odoo ORM, as the run's user, pinned to the run's company. Provided by the "
        "Odoo addon; elsewhere every call rejects with `not_available`.",
        (
            Function(
                "search",
                (_MODEL, _DOMAIN, _OPTS),
                "Promise<number[]>",
                "Ids of matching records.",
                host="db.search",
                errors=("access_denied",),
                example=(
                    'const ids = await sdk.db.search("res.partner", [["is_company", "=", true]], '
                    '{ limit: 10, order: "name" });'
                ),
                type_params=_ON_MODEL,
            ),
            Function(
                "read",
                (
                    _MODEL,
                    Param("ids", "number[]"),
                    Param("fields", "F[]", True),
                ),
                "Promise<RecordOf<M, F>[]>",
                "Field values of records; many2one as `[id, name]`, dates as ISO strings.",
                host="db.read",
                errors=("access_denied",),
                example=(
                    'const [p] = await sdk.db.read("res.partner", [ctx.records.ids[0]], '
                    '["name", "email", "country_id"]);\n'
                    "const countryName = p.country_id ? p.country_id[1] : null;"
                ),
                type_params=_ON_FIELDS,
            ),
            Function(
                "searchRead",
                (
                    _MODEL,
                    _DOMAIN,
                    Param("fields", "F[]", True),
                    _OPTS,
                ),
                "Promise<RecordOf<M, F>[]>",
                "`search` then `read`.",
                host="db.searchRead",
                errors=("access_denied",),
                example=(
                    "const orders = await sdk.db.searchRead(\n"
                    '  "sale.order", [["state", "=", "sale"]], ["name", "amount_total"], '
                    "{ limit: 50 });"
                ),
                type_params=_ON_FIELDS,
            ),
            Function(
                "searchCount",
                (_MODEL, _DOMAIN),
                "Promise<number>",
                "How many records match.",
                host="db.searchCount",
                errors=("access_denied",),
                example=(
                    'const open = await sdk.db.searchCount("crm.lead", [["stage_id.is_won", "=", '
                    "false]]);"
                ),
                type_params=_ON_MODEL,
            ),
            Function(
                "create",
                (_MODEL, Param("values", "ValuesOf<M>")),
                "Promise<number>",
                "Creates a record and returns its id.",
                host="db.create",
                errors=("access_denied",),
                example=(
                    'const id = await sdk.db.create("res.partner", '
                    '{ name: "Ada Lovelace", email: "ada@example.com" });'
                ),
                type_params=_ON_MODEL,
            ),
            Function(
                "write",
                (
                    _MODEL,
                    Param("ids", "number[]"),
                    Param("values", "ValuesOf<M>"),
                ),
                "Promise<boolean>",
                "Updates records.",
                host="db.write",
                errors=("access_denied",),
                example='await sdk.db.write("res.partner", ctx.records.ids, { comment: "checked" });',
                type_params=_ON_MODEL,
            ),
            Function(
                "unlink",
                (Param("model", "ModelName"), Param("ids", "number[]")),
                "Promise<boolean>",
                "Deletes records.",
                host="db.unlink",
                errors=("access_denied",),
                example='await sdk.db.unlink("mail.activity", [activityId]);',
            ),
            Function(
                "call",
                (
                    Param("model", "ModelName"),
                    Param("method", "string"),
                    Param(
                        "ids",
                        "number[]",
                        True,
                        "the records of a record method; left out (or `[]`) for a model method",
                    ),
                    Param("args", "unknown[]", True),
                    Param("kwargs", "Record<string, unknown>", True),
                ),
                "Promise<JsonValue>",
                "Calls a public model method. Private (`_…`) and escalating methods are "
                "refused with `access_denied`.",
                host="db.call",
                errors=("access_denied",),
                example=(
                    'await sdk.db.call("sale.order", "action_confirm", [orderId]);\n'
                    'await sdk.db.call("res.partner", "message_post", [partnerId], [], '
                    '{ body: "Synced" });'
                ),
            ),
        ),
    ),
    Namespace(
        "events",
        "Domain events. Provided by the Odoo addon; elsewhere rejects with `not_available`.",
        (
            Function(
                "emit",
                (Param("type", "string"), Param("payload", "JsonValue", True)),
                "Promise<string>",
                "Writes an event to the outbox, dispatched after commit. Returns its id.",
                host="events.emit",
                errors=("budget_exceeded", "argument_too_large"),
                example=(
                    'const eventId = await sdk.events.emit("order.exported", '
                    '{ model: "sale.order", id: orderId });'
                ),
            ),
        ),
    ),
    Namespace(
        "scripts",
        "Other scripts of the run's company. Provided by the Odoo addon; elsewhere rejects "
        "with `not_available`.",
        (
            Function(
                "enqueue",
                (
                    Param("key", "string", doc="the key of a script of the run's company"),
                    Param("input", "JsonValue", True, "its `ctx.input`"),
                    Param("options", "EnqueueOptions", True),
                ),
                "Promise<{ id: number }>",
                "Queues a background run of another script (or this one), committed with "
                "this run: a run that fails queues nothing. Returns the queued execution. "
                "Rejects with `not_found`, `not_active`, `access_denied` (the script runs as "
                "another user), `budget_exceeded` (scripts queueing scripts past `max_depth` "
                "generations), `priority_reserved` (a priority from 0 to 9 when the run's user "
                "is not an IOTA Scripts administrator) or `invalid_argument`.",
                host="scripts.enqueue",
                errors=(
                    "not_found",
                    "not_active",
                    "access_denied",
                    "budget_exceeded",
                    "priority_reserved",
                    "argument_too_large",
                ),
                example=(
                    'const { id } = await sdk.scripts.enqueue("invoice-step-2", '
                    "{ orderId }, { delaySec: 60 });"
                ),
            ),
        ),
    ),
    Namespace(
        "secrets",
        "Secrets of the run's company (API keys, passwords), encrypted at rest and "
        "write-only in Odoo. Provided by the Odoo addon; elsewhere rejects with "
        "`not_available`.",
        (
            Function(
                "get",
                (Param("name", "string", doc="the secret's name in the run's company"),),
                "Promise<string>",
                "The value of the secret `name`. The script's capabilities must name it "
                "(else `access_denied`); every read is recorded. The value is masked as "
                "`[secret:name]` wherever the run shows it: logs, result, error, live "
                "output. Rejects with `not_found` (no such secret in the company) or "
                "`secret_unreadable` (the server's key cannot decrypt it). Introduced in "
                "API 1.4.",
                host="secrets.get",
                errors=("access_denied", "not_found", "secret_unreadable"),
                example=(
                    'const key = await sdk.secrets.get("stripe_key");\n'
                    'await sdk.http.post("https://api.stripe.com/v1/refunds", body, '
                    '{ headers: { Authorization: "Bearer " + key } });'
                ),
            ),
        ),
    ),
    Namespace(
        "flags",
        "Feature flags of the run's company (managed in Odoo). Provided by the Odoo addon; "
        "elsewhere rejects with `not_available`.",
        (
            Function(
                "enabled",
                (
                    Param("name", "string", doc="the flag's name in the run's company"),
                    Param(
                        "key",
                        "string | number",
                        True,
                        "what the flag's percentage is drawn for (e.g. a customer id); "
                        "default: the user who triggered the run",
                    ),
                ),
                "Promise<boolean>",
                "Whether the feature flag `name` is on for this run: `true` for the users of "
                "its allow-list, else for its percentage of keys (sticky: the same key gets "
                "the same answer every time). A name the company has no flag for, or an "
                "archived flag, is `false`, not an error. Introduced in API 1.3.",
                host="flags.enabled",
                example=(
                    'if (await sdk.flags.enabled("new-pricing", ctx.records?.ids[0])) {\n'
                    '  sdk.log.info("new pricing");\n'
                    "}"
                ),
            ),
        ),
    ),
)

_TYPES = """\
type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
type Domain = Array<string | [string, string, unknown]>;
type OdooRecord = { id: number; [field: string]: unknown };

/**
 * Field types per model name. Empty here; an editor adds the models of its
 * database by declaration merging (`interface IotaModels { "res.partner": {...} }`),
 * which types model names, field lists and results of `sdk.db`.
 */
interface IotaModels {}
/** A model name: the known ones complete, any other string is accepted. */
type ModelName = keyof IotaModels | (string & {});
type FieldOf<M> = M extends keyof IotaModels ? keyof IotaModels[M] & string : string;
type RecordOf<M, F = FieldOf<M>> = M extends keyof IotaModels
  ? { id: number } & { [K in F & keyof IotaModels[M]]: IotaModels[M][K] }
  : OdooRecord;
type ValuesOf<M> = M extends keyof IotaModels
  ? { [K in keyof IotaModels[M]]?: unknown }
  : Record<string, unknown>;

interface SearchOptions {
  limit?: number;
  offset?: number;
  order?: string;
}

interface EnqueueOptions {
  /** Start no sooner than this many seconds from now (0 to 2592000). */
  delaySec?: number;
  /**
   * Lower runs first; 0 to 100, default 10. 0 to 9 are reserved to runs whose
   * user is an IOTA Scripts administrator (else `priority_reserved`); from 10
   * on, a priority orders the runs of the run's company only: companies take
   * turns in the queue.
   */
  priority?: number;
}

interface HttpInit {
  method?: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Lowers the run's HTTP deadline for this call. */
  timeoutSec?: number;
  /** Sent as the `Idempotency-Key` header. */
  idempotencyKey?: string;
}

interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly url: string;
  readonly redirected: boolean;
  json(): JsonValue;
  text(): string;
}

/** Every error the sdk throws. `code` is stable. */
declare class SdkError extends Error {
  readonly code:
    | "timeout" | "cpu_limit" | "memory_limit" | "budget_exceeded" | "argument_too_large"
    | "invalid_argument" | "destination_blocked" | "scheme_not_allowed" | "too_many_redirects"
    | "response_too_large" | "http_error" | "not_available" | "cache_unavailable"
    | "quota_exceeded" | "cache_full" | "access_denied" | "not_found" | "not_active"
    | "priority_reserved" | "secret_unreadable" | "capabilities_required" | "internal_error";
}

/** Who emitted an event: a script, a record change, or IOTA Scripts itself. */
type EventOrigin = "script" | "record" | "system";

/** `ctx.event`: the event a subscription delivers to its handler. */
interface EventContext {
  /** The delivery's id: the same for every retry and replay (an idempotency key). */
  readonly id: number;
  readonly type: string;
  readonly payload: JsonValue;
  readonly uuid: string;
  /** 0 for an event from outside; n+1 for one emitted by a handler of a hop-n event. */
  readonly hop: number;
  /**
   * `script`: `sdk.events.emit`; `record`: an "Emit script event" action on a
   * record change; `system`: a lifecycle event (`script.executed`, ...).
   */
  readonly origin: EventOrigin;
  /** The emitting script, for `origin: "script"` only; else null. */
  readonly script: { id: number; key: string } | null;
  readonly user_id: number | false;
  /** When the event was written (UTC, "YYYY-MM-DD HH:MM:SS"). */
  readonly created: string;
}

/** What triggered the run. */
interface Trigger {
  type: "manual" | "automation" | "cron" | "endpoint" | "event" | "cli" | string;
  [key: string]: unknown;
}

/** The argument of the script's default export. */
interface ScriptContext<Input = JsonValue> {
  readonly input: Input;
  readonly trigger: Trigger;
  readonly records?: { model: string; ids: number[] };
  readonly event?: EventContext;
  readonly request?: {
    method: string; path: string; params: Record<string, string>;
    query: Record<string, string>; headers: Record<string, string>; body: string; json: JsonValue;
  };
  readonly [key: string]: unknown;
}
"""


def _sig(fn: Function) -> str:
    params = ", ".join(f"{p.name}{'?' if p.optional else ''}: {p.ts_type}" for p in fn.params)
    return f"{fn.name}{fn.type_params}({params}): {fn.returns};"


def typescript() -> str:
    """Renders ``sdk.d.ts``: the ambient declarations of ``sdk`` and ``console``."""
    out = [
        "// Generated from iota_scripts_sdk/api.py: do not edit by hand.",
        f"// IOTA Scripts sdk API {API_VERSION}",
        "",
        _TYPES,
        "declare const sdk: {",
        f'  readonly version: "{API_VERSION}";',
        "  readonly SdkError: typeof SdkError;",
    ]
    for ns in API:
        out.append(f"  /** {ns.doc} */")
        out.append(f"  readonly {ns.name}: {{")
        for fn in ns.functions:
            doc = fn.doc
            pdocs = [f"@param {p.name} {p.doc}" for p in fn.params if p.doc]
            if fn.deprecated:
                pdocs.append(f"@deprecated {fn.deprecated}")
            if pdocs:
                doc = doc + "\n     * " + "\n     * ".join(pdocs)
            out.append(f"    /** {doc} */")
            out.append(f"    {_sig(fn)}")
        out.append("  };")
    out.append("};")
    out.append("")
    out.append("declare const console: {")
    for level in ("log", "info", "debug", "warn", "error"):
        out.append(f"  {level}(...args: unknown[]): void;")
    out.append("};")
    out.append("")
    return "\n".join(out)


def prelude_config() -> list[dict[str, object]]:
    """The declaration in the shape ``prelude.js`` builds the ``sdk`` object from."""
    return [
        {
            "name": ns.name,
            "functions": [
                {
                    "name": fn.name,
                    "kind": fn.kind,
                    "host": fn.host,
                    "method": fn.method,
                    "params": [p.name for p in fn.params],
                }
                for fn in ns.functions
            ],
        }
        for ns in API
    ]


@functools.cache
def deprecated_host_names() -> Mapping[str, str]:
    """Host call name -> its deprecation note, for the functions declared deprecated."""
    return MappingProxyType(
        {fn.host: fn.deprecated for ns in API for fn in ns.functions if fn.host and fn.deprecated}
    )


@functools.cache
def void_host_names() -> frozenset[str]:
    """Host calls declared ``Promise<void>``: a ``None`` from the host resolves
    ``undefined``. Every other host call answers ``None`` as JSON ``null``."""
    return frozenset(
        fn.host for ns in API for fn in ns.functions if fn.host and fn.returns == "Promise<void>"
    )


def host_names() -> frozenset[str]:
    """Every host call name scripts can produce."""
    names = {fn.host for ns in API for fn in ns.functions if fn.kind == "host" and fn.host}
    names.add("http.fetch")
    return frozenset(names)
