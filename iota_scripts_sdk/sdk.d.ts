// Generated from iota_scripts_sdk/api.py: do not edit by hand.
// IOTA Scripts sdk API 1.4

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

declare const sdk: {
  readonly version: "1.4";
  readonly SdkError: typeof SdkError;
  /** Structured, size-capped log lines, stored on the run. `console.*` writes here too. */
  readonly log: {
    /** Records a `debug` line on the run. Messages longer than the log cap throw `argument_too_large`; lines past the per-run count are dropped and counted.
     * @param fields structured fields */
    debug(message: string, fields?: Record<string, unknown>): void;
    /** Records a `info` line on the run. Messages longer than the log cap throw `argument_too_large`; lines past the per-run count are dropped and counted.
     * @param fields structured fields */
    info(message: string, fields?: Record<string, unknown>): void;
    /** Records a `warn` line on the run. Messages longer than the log cap throw `argument_too_large`; lines past the per-run count are dropped and counted.
     * @param fields structured fields */
    warn(message: string, fields?: Record<string, unknown>): void;
    /** Records a `error` line on the run. Messages longer than the log cap throw `argument_too_large`; lines past the per-run count are dropped and counted.
     * @param fields structured fields */
    error(message: string, fields?: Record<string, unknown>): void;
  };
  /** Outbound HTTP through the host's SSRF-safe client. Only hosts on the run's allow-list (in Odoo: the script's capabilities) are reachable, only on global addresses. */
  readonly http: {
    /** Sends a request. Rejects with `destination_blocked`, `scheme_not_allowed`, `too_many_redirects`, `response_too_large`, `timeout` or `http_error`. */
    fetch(url: string, init?: HttpInit): Promise<HttpResponse>;
    /** `fetch` with method GET. */
    get(url: string, init?: HttpInit): Promise<HttpResponse>;
    /** `fetch` with method POST. A non-string body is sent as JSON. */
    post(url: string, body: unknown, init?: HttpInit): Promise<HttpResponse>;
  };
  /** A key-value cache shared by the runs of one company and run-as user, and of one namespace when the script declares capabilities (Redis when configured, else in-process). Values are JSON. A company's keys share one quota: past it writes throw `quota_exceeded`; `cache_full` when the cache server is nearly full. */
  readonly cache: {
    /** The value, or null. */
    get(key: string): Promise<JsonValue | null>;
    /** Stores a value (`quota_exceeded`, `cache_full`).
     * @param ttlSec time to live in seconds */
    set(key: string, value: JsonValue, ttlSec?: number): Promise<void>;
    /** Removes a key; true when it existed. */
    delete(key: string): Promise<boolean>;
    /** Atomically adds `by` (default 1) and returns the new value.
     * @param ttlSec applied when the key is created */
    incr(key: string, by?: number, ttlSec?: number): Promise<number>;
  };
  /** The Odoo ORM, as the run's user, pinned to the run's company. Provided by the Odoo addon; elsewhere every call rejects with `not_available`. */
  readonly db: {
    /** Ids of matching records.
     * @param domain an Odoo domain, e.g. `[['is_company', '=', true]]` */
    search<M extends ModelName>(model: M, domain?: Domain, options?: SearchOptions): Promise<number[]>;
    /** Field values of records; many2one as `[id, name]`, dates as ISO strings. */
    read<M extends ModelName, F extends FieldOf<M> = FieldOf<M>>(model: M, ids: number[], fields?: F[]): Promise<RecordOf<M, F>[]>;
    /** `search` then `read`.
     * @param domain an Odoo domain, e.g. `[['is_company', '=', true]]` */
    searchRead<M extends ModelName, F extends FieldOf<M> = FieldOf<M>>(model: M, domain?: Domain, fields?: F[], options?: SearchOptions): Promise<RecordOf<M, F>[]>;
    /** How many records match.
     * @param domain an Odoo domain, e.g. `[['is_company', '=', true]]` */
    searchCount<M extends ModelName>(model: M, domain?: Domain): Promise<number>;
    /** Creates a record and returns its id. */
    create<M extends ModelName>(model: M, values: ValuesOf<M>): Promise<number>;
    /** Updates records. */
    write<M extends ModelName>(model: M, ids: number[], values: ValuesOf<M>): Promise<boolean>;
    /** Deletes records. */
    unlink(model: ModelName, ids: number[]): Promise<boolean>;
    /** Calls a public model method. Private (`_…`) and escalating methods are refused with `access_denied`.
     * @param ids the records of a record method; left out (or `[]`) for a model method */
    call(model: ModelName, method: string, ids?: number[], args?: unknown[], kwargs?: Record<string, unknown>): Promise<JsonValue>;
  };
  /** Domain events. Provided by the Odoo addon; elsewhere rejects with `not_available`. */
  readonly events: {
    /** Writes an event to the outbox, dispatched after commit. Returns its id. */
    emit(type: string, payload?: JsonValue): Promise<string>;
  };
  /** Other scripts of the run's company. Provided by the Odoo addon; elsewhere rejects with `not_available`. */
  readonly scripts: {
    /** Queues a background run of another script (or this one), committed with this run: a run that fails queues nothing. Returns the queued execution. Rejects with `not_found`, `not_active`, `access_denied` (the script runs as another user), `budget_exceeded` (scripts queueing scripts past `max_depth` generations), `priority_reserved` (a priority from 0 to 9 when the run's user is not an IOTA Scripts administrator) or `invalid_argument`.
     * @param key the key of a script of the run's company
     * @param input its `ctx.input` */
    enqueue(key: string, input?: JsonValue, options?: EnqueueOptions): Promise<{ id: number }>;
  };
  /** Secrets of the run's company (API keys, passwords), encrypted at rest and write-only in Odoo. Provided by the Odoo addon; elsewhere rejects with `not_available`. */
  readonly secrets: {
    /** The value of the secret `name`. The script's capabilities must name it (else `access_denied`); every read is recorded. The value is masked as `[secret:name]` wherever the run shows it: logs, result, error, live output. Rejects with `not_found` (no such secret in the company) or `secret_unreadable` (the server's key cannot decrypt it). Introduced in API 1.4.
     * @param name the secret's name in the run's company */
    get(name: string): Promise<string>;
  };
  /** Feature flags of the run's company (managed in Odoo). Provided by the Odoo addon; elsewhere rejects with `not_available`. */
  readonly flags: {
    /** Whether the feature flag `name` is on for this run: `true` for the users of its allow-list, else for its percentage of keys (sticky: the same key gets the same answer every time). A name the company has no flag for, or an archived flag, is `false`, not an error. Introduced in API 1.3.
     * @param name the flag's name in the run's company
     * @param key what the flag's percentage is drawn for (e.g. a customer id); default: the user who triggered the run */
    enabled(name: string, key?: string | number): Promise<boolean>;
  };
};

declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
