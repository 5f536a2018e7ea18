"""The one declaration of the JS API that scripts see.

Everything about the ``sdk`` global comes from :data:`API`: the runner builds
the object from it (see ``prelude.js``), :func:`typescript` renders
``sdk.d.ts`` from it, and the host checks incoming calls against it. Adding a
function here is the whole of adding it to the JS surface; a host then serves
its ``host`` name (see :class:`iota_scripts_sdk.engine.HostFunctions`).

``API_VERSION`` changes whenever the surface changes in a way scripts can see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["API", "API_VERSION", "Function", "Namespace", "Param", "typescript"]

API_VERSION = "1.2"


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


@dataclass(frozen=True)
class Namespace:
    name: str
    doc: str
    functions: tuple[Function, ...] = field(default_factory=tuple)


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
        "allow-list are reachable, only on global addresses.",
        (
            Function(
                "fetch",
                (Param("url", "string"), Param("init", "HttpInit", True)),
                "Promise<HttpResponse>",
                "Sends a request. Rejects with `destination_blocked`, `scheme_not_allowed`, "
                "`too_many_redirects`, `response_too_large`, `timeout` or `http_error`.",
                kind="http",
            ),
            Function(
                "get",
                (Param("url", "string"), Param("init", "HttpInit", True)),
                "Promise<HttpResponse>",
                "`fetch` with method GET.",
                kind="http",
                method="GET",
            ),
            Function(
                "post",
                (Param("url", "string"), Param("body", "unknown"), Param("init", "HttpInit", True)),
                "Promise<HttpResponse>",
                "`fetch` with method POST. A non-string body is sent as JSON.",
                kind="http",
                method="POST",
            ),
        ),
    ),
    Namespace(
        "cache",
        "A key-value cache shared by the runs of one company and run-as user (Redis when "
        "configured, else in-process). Values are JSON. A company's keys share one quota: "
        "past it writes throw `quota_exceeded`; `cache_full` when the cache server is "
        "nearly full.",
        (
            Function(
                "get",
                (Param("key", "string"),),
                "Promise<JsonValue | null>",
                "The value, or null.",
                host="cache.get",
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
            ),
            Function(
                "delete",
                (Param("key", "string"),),
                "Promise<boolean>",
                "Removes a key; true when it existed.",
                host="cache.delete",
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
                type_params=_ON_FIELDS,
            ),
            Function(
                "searchCount",
                (_MODEL, _DOMAIN),
                "Promise<number>",
                "How many records match.",
                host="db.searchCount",
                type_params=_ON_MODEL,
            ),
            Function(
                "create",
                (_MODEL, Param("values", "ValuesOf<M>")),
                "Promise<number>",
                "Creates a record and returns its id.",
                host="db.create",
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
                type_params=_ON_MODEL,
            ),
            Function(
                "unlink",
                (Param("model", "ModelName"), Param("ids", "number[]")),
                "Promise<boolean>",
                "Deletes records.",
                host="db.unlink",
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
    | "priority_reserved" | "internal_error";
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


def host_names() -> frozenset[str]:
    """Every host call name scripts can produce."""
    names = {fn.host for ns in API for fn in ns.functions if fn.kind == "host" and fn.host}
    names.add("http.fetch")
    return frozenset(names)
