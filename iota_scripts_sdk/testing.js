// Over 600 lines: the whole test framework (runner, matchers, diff, mocked sdk) is one unit that
// testing.py appends to one generated module; splitting it would need a loader the sandbox lacks.
//
// The script test framework: describe/it/expect with Jest-like matchers and a
// mocked `sdk`. testing.py builds one module from the script, its tests and
// this file; the engine runs that module like any script, in the sandbox.
// This file is the body of `function __iota_harness(mode, testsFirstLine,
// testsLastLine, scriptLastLine)`: it returns {mocked, api, runAll}.
//
//   mocked  the mocked sdk (the script and its tests see it as `sdk`)
//   api     what the tests see: describe, it, test, expect, beforeEach,
//           afterEach, fixtures, run
//   runAll  runs the registered cases, returns the report (plain JSON)
//
// `mode` is "local" (no database: `it.db` cases are skipped) or "database"
// (the run is a dry-run in Odoo: `it.db` cases see the real sdk, and every
// write is rolled back).
"use strict";
const realSdk = globalThis.sdk;
const MAX_FORMAT_CHARS = 4000;
const MAX_DIFF_LINES = 80;

// ---- formatting -------------------------------------------------------------
function format(value, indent, seen, depth) {
  indent = indent || "";
  seen = seen || [];
  depth = depth || 0;
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  const t = typeof value;
  if (t === "string") return JSON.stringify(value);
  if (t === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (t === "bigint") return String(value) + "n";
  if (t === "boolean" || t === "symbol") return String(value);
  if (t === "function") return "[Function " + (value.name || "anonymous") + "]";
  if (seen.indexOf(value) !== -1) return "[Circular]";
  if (depth > 12) return "[...]";
  if (value instanceof Error) {
    return value.name + (value.code ? "[" + value.code + "]" : "") + ": " + value.message;
  }
  if (value instanceof Date) return "Date(" + (isNaN(value) ? "Invalid" : value.toISOString()) + ")";
  if (value instanceof RegExp) return String(value);
  const inner = indent + "  ";
  const next = seen.concat([value]);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const items = value.map((v) => inner + format(v, inner, next, depth + 1));
    return "[\n" + items.join(",\n") + "\n" + indent + "]";
  }
  if (value instanceof Map) return "Map " + format(Object.fromEntries(value), indent, next, depth + 1);
  if (value instanceof Set) return "Set " + format(Array.from(value), indent, next, depth + 1);
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return "{}";
  const items = keys.map((k) => inner + JSON.stringify(k) + ": " + format(value[k], inner, next, depth + 1));
  return "{\n" + items.join(",\n") + "\n" + indent + "}";
}

function short(value) {
  const text = format(value);
  return text.length > MAX_FORMAT_CHARS ? text.slice(0, MAX_FORMAT_CHARS) + "…" : text;
}

// A line diff of two formatted values: "- " expected, "+ " received, "  " both.
function diff(expected, received) {
  const a = short(expected).split("\n");
  const b = short(received).split("\n");
  if (a.length * b.length > 250000) return "- " + a.join("\n- ") + "\n+ " + b.join("\n+ ");
  const n = a.length;
  const m = b.length;
  const lcs = [];
  for (let i = 0; i <= n; i++) lcs.push(new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push("  " + a[i]); i++; j++; }
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) { out.push("- " + a[i]); i++; }
    else { out.push("+ " + b[j]); j++; }
  }
  if (out.length > MAX_DIFF_LINES) {
    return out.slice(0, MAX_DIFF_LINES).join("\n") + "\n… " + (out.length - MAX_DIFF_LINES) + " more lines";
  }
  return out.join("\n");
}

// ---- where: the line in the tests (and in the script) ------------------------
const FRAME = /script\.js:(\d+):(\d+)/g;
function where(stack) {
  const found = {};
  const text = typeof stack === "string" ? stack : "";
  let m;
  FRAME.lastIndex = 0;
  while ((m = FRAME.exec(text)) !== null) {
    const line = Number(m[1]);
    if (found.line === undefined && line >= testsFirstLine && line <= testsLastLine) {
      found.line = line - testsFirstLine + 1;
    }
    if (found.scriptLine === undefined && line >= 1 && line <= scriptLastLine) {
      found.scriptLine = line;
    }
  }
  return found;
}

// ---- equality ------------------------------------------------------------------
function equals(a, b, strictUndefined, partial) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    return equals(Array.from(a.entries()), Array.from(b.entries()), strictUndefined, false);
  }
  if (a instanceof Set && b instanceof Set) {
    return equals(Array.from(a).sort(), Array.from(b).sort(), strictUndefined, false);
  }
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equals(a[i], b[i], strictUndefined, partial)) return false;
    return true;
  }
  // partial: every key of b (the expected subset) matches in a
  const keys = partial ? Object.keys(b) : Array.from(new Set(Object.keys(a).concat(Object.keys(b))));
  for (const k of keys) {
    const inA = Object.prototype.hasOwnProperty.call(a, k);
    const inB = Object.prototype.hasOwnProperty.call(b, k);
    if (!strictUndefined && !partial && a[k] === undefined && b[k] === undefined) continue;
    if (strictUndefined && inA !== inB) return false;
    if (partial && !inA) return false;
    if (!equals(a[k], b[k], strictUndefined, partial)) return false;
  }
  return true;
}

// ---- expect --------------------------------------------------------------------
class AssertionError extends Error {
  constructor(matcher, message, details) {
    super(message);
    this.name = "AssertionError";
    this.matcher = matcher;
    this.details = details || {};
  }
}

function errorMatches(error, expected) {
  if (expected === undefined) return true;
  const message = error && typeof error === "object" ? String(error.message) : String(error);
  if (typeof expected === "string") return message.indexOf(expected) !== -1;
  if (expected instanceof RegExp) return expected.test(message);
  if (typeof expected === "function") return error instanceof expected;
  if (expected instanceof Error) return message === expected.message;
  if (expected && typeof expected === "object") {
    return error !== null && typeof error === "object" && equals(error, expected, false, true);
  }
  return false;
}

const MATCHERS = {
  toBe: (r, e) => ({ pass: Object.is(r, e), diff: true }),
  toEqual: (r, e) => ({ pass: equals(r, e, false, false), diff: true }),
  toStrictEqual: (r, e) => ({ pass: equals(r, e, true, false), diff: true }),
  toMatchObject: (r, e) => ({
    pass: r !== null && typeof r === "object" && equals(r, e, false, true), diff: true,
  }),
  toBeNull: (r) => ({ pass: r === null, expected: null }),
  toBeUndefined: (r) => ({ pass: r === undefined, expected: undefined }),
  toBeDefined: (r) => ({ pass: r !== undefined, expected: "a defined value" }),
  toBeTruthy: (r) => ({ pass: !!r, expected: "a truthy value" }),
  toBeFalsy: (r) => ({ pass: !r, expected: "a falsy value" }),
  toBeNaN: (r) => ({ pass: Number.isNaN(r), expected: NaN }),
  toBeGreaterThan: (r, e) => ({ pass: r > e }),
  toBeGreaterThanOrEqual: (r, e) => ({ pass: r >= e }),
  toBeLessThan: (r, e) => ({ pass: r < e }),
  toBeLessThanOrEqual: (r, e) => ({ pass: r <= e }),
  toBeCloseTo: (r, e, digits) => ({
    pass: Math.abs(r - e) < Math.pow(10, -(digits === undefined ? 2 : digits)) / 2,
  }),
  toBeInstanceOf: (r, e) => ({ pass: r instanceof e, expected: e && e.name }),
  toContain: (r, e) => ({
    pass: (typeof r === "string" || Array.isArray(r)) && r.indexOf(e) !== -1,
  }),
  toContainEqual: (r, e) => ({
    pass: Array.isArray(r) && r.some((item) => equals(item, e, false, false)),
  }),
  toHaveLength: (r, e) => ({
    pass: r !== null && r !== undefined && r.length === e,
    received: r !== null && r !== undefined ? r.length : r,
  }),
  toHaveProperty: (r, path, value) => {
    const parts = Array.isArray(path) ? path : String(path).split(".");
    let cur = r;
    for (const p of parts) {
      if (cur === null || cur === undefined || !(p in Object(cur))) return { pass: false };
      cur = cur[p];
    }
    return { pass: value === undefined || equals(cur, value, false, false) };
  },
  toMatch: (r, e) => ({
    pass: typeof r === "string" && (e instanceof RegExp ? e.test(r) : r.indexOf(e) !== -1),
  }),
  toThrow: (r, e, _unused, state) => {
    let thrown;
    let threw = false;
    if (state.promise) {
      threw = state.promise === "rejects";
      thrown = r;
    } else if (typeof r === "function") {
      try { r(); } catch (err) { threw = true; thrown = err; }
    } else {
      throw new AssertionError("toThrow", "toThrow needs a function (or .rejects)");
    }
    return {
      pass: threw && errorMatches(thrown, e),
      received: threw ? thrown : "no exception",
      expected: e === undefined ? "an exception" : e,
    };
  },
};

function makeExpect(received, state) {
  const matchers = {};
  for (const name of Object.keys(MATCHERS)) {
    matchers[name] = function (expected, extra) {
      const out = MATCHERS[name](received, expected, extra, state);
      const pass = state.not ? !out.pass : out.pass;
      if (pass) return;
      const shownExpected = "expected" in out ? out.expected : expected;
      const shownReceived = "received" in out ? out.received : received;
      const head = "expect(received)." + (state.promise ? state.promise + "." : "")
        + (state.not ? "not." : "") + name + "(expected)";
      const details = { expected: short(shownExpected), received: short(shownReceived) };
      if (out.diff && !state.not) details.diff = diff(shownExpected, shownReceived);
      throw new AssertionError(name, head, details);
    };
  }
  return matchers;
}

function expect(received) {
  const build = (state) => {
    const m = makeExpect(received, state);
    if (!state.not) m.not = build({ ...state, not: true });
    return m;
  };
  const base = build({ not: false, promise: null });
  const settle = (which) => {
    const wrapped = {};
    const wrap = (negated) => {
      const out = {};
      for (const name of Object.keys(MATCHERS)) {
        out[name] = async (expected, extra) => {
          let value;
          let how;
          try { value = await received; how = "resolves"; } catch (err) { value = err; how = "rejects"; }
          if (how !== which && name !== "toThrow") {
            throw new AssertionError(name, "expect(received)." + which + "." + name
              + ": the promise " + (how === "rejects" ? "rejected" : "resolved"), {
              received: short(value),
            });
          }
          const state = { not: negated, promise: how };
          if (name === "toThrow" && how !== which) {
            throw new AssertionError(name, "expect(received)." + which + ".toThrow: the promise resolved",
              { received: short(value) });
          }
          makeExpect(value, state)[name](expected, extra);
        };
      }
      return out;
    };
    Object.assign(wrapped, wrap(false));
    wrapped.not = wrap(true);
    return wrapped;
  };
  Object.defineProperty(base, "resolves", { get: () => settle("resolves") });
  Object.defineProperty(base, "rejects", { get: () => settle("rejects") });
  return base;
}

// ---- the mocked sdk ---------------------------------------------------------------
class SdkError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SdkError";
    this.code = code;
  }
}
const fail = (code, message) => { throw new SdkError(code, message); };

function fieldValue(record, field) {
  const v = record[field];
  return Array.isArray(v) && v.length === 2 && typeof v[0] === "number" ? v[0] : v;
}

function like(value, pattern, insensitive, anchored) {
  if (value === undefined || value === null || value === false) return false;
  let text = String(value);
  let pat = String(pattern);
  if (insensitive) { text = text.toLowerCase(); pat = pat.toLowerCase(); }
  if (!anchored) return text.indexOf(pat) !== -1;
  const re = new RegExp("^" + pat.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%/g, ".*").replace(/_/g, ".") + "$");
  return re.test(text);
}

function term(record, leaf) {
  if (!Array.isArray(leaf) || leaf.length !== 3) fail("invalid_argument", "bad domain term " + short(leaf));
  const [field, op, value] = leaf;
  const v = fieldValue(record, field);
  const many = Array.isArray(v) ? v : null;
  const eq = (x) => (many ? many.indexOf(x) !== -1 : v === x || (x === false && (v === undefined || v === null)));
  switch (op) {
    case "=": return eq(value);
    case "!=": return !eq(value);
    case "in": return Array.isArray(value) && value.some(eq);
    case "not in": return !(Array.isArray(value) && value.some(eq));
    case "<": return v < value;
    case "<=": return v <= value;
    case ">": return v > value;
    case ">=": return v >= value;
    case "like": return like(v, value, false, false);
    case "ilike": return like(v, value, true, false);
    case "not like": return !like(v, value, false, false);
    case "not ilike": return !like(v, value, true, false);
    case "=like": return like(v, value, false, true);
    case "=ilike": return like(v, value, true, true);
    default: return fail("invalid_argument", "the mocked sdk.db does not know the operator " + JSON.stringify(op));
  }
}

const OPERATORS = ["=", "!=", "in", "not in", "<", "<=", ">", ">=", "like", "ilike", "not like",
  "not ilike", "=like", "=ilike"];
function checkDomain(domain) {
  if (domain === undefined || domain === null) return;
  if (!Array.isArray(domain)) fail("invalid_argument", "domain must be a list");
  for (const item of domain) {
    if (item === "&" || item === "|" || item === "!") continue;
    if (!Array.isArray(item) || item.length !== 3 || typeof item[0] !== "string") {
      fail("invalid_argument", "bad domain term " + short(item));
    }
    if (OPERATORS.indexOf(item[1]) === -1) {
      fail("invalid_argument", "the mocked sdk.db does not know the operator " + JSON.stringify(item[1]));
    }
  }
}

function matches(record, domain) {
  if (domain === undefined || domain === null) return true;
  let pos = 0;
  function one() {
    const item = domain[pos++];
    if (item === "&") return one() & one() ? true : false;
    if (item === "|") { const a = one(); const b = one(); return a || b; }
    if (item === "!") return !one();
    return term(record, item);
  }
  let ok = true;
  while (pos < domain.length) ok = one() && ok;
  return ok;
}

function sortRecords(records, order) {
  if (!order) return records.sort((a, b) => a.id - b.id);
  const keys = String(order).split(",").map((part) => {
    const [field, dir] = part.trim().split(/\s+/);
    return { field, desc: (dir || "").toLowerCase() === "desc" };
  });
  return records.sort((a, b) => {
    for (const k of keys) {
      const x = fieldValue(a, k.field);
      const y = fieldValue(b, k.field);
      if (x === y) continue;
      const c = x < y ? -1 : 1;
      return k.desc ? -c : c;
    }
    return 0;
  });
}

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function mockDb() {
  let tables = {};
  const calls = {};
  const db = {
    created: [], written: [], unlinked: [], called: [],
    fixtures(data) {
      for (const model of Object.keys(data || {})) {
        tables[model] = (data[model] || []).map((r, i) => ({ id: r.id || i + 1, ...clone(r) }));
      }
    },
    records(model) { return clone(tables[model] || []); },
    onCall(model, method, fn) { calls[model + "." + method] = fn; },
    _reset() {
      tables = {};
      for (const k of Object.keys(calls)) delete calls[k];
      db.created = []; db.written = []; db.unlinked = []; db.called = [];
    },
    async search(model, domain, options) {
      const o = options || {};
      checkDomain(domain);
      let rows = sortRecords((tables[model] || []).filter((r) => matches(r, domain)), o.order);
      rows = rows.slice(o.offset || 0, o.limit ? (o.offset || 0) + o.limit : undefined);
      return rows.map((r) => r.id);
    },
    async read(model, ids, fields) {
      const rows = tables[model] || [];
      return (ids || []).map((id) => {
        const r = rows.find((x) => x.id === id);
        if (!r) fail("not_found", model + " " + id + " is not in the fixtures");
        if (!fields || !fields.length) return clone(r);
        const out = { id: r.id };
        for (const f of fields) out[f] = r[f] === undefined ? false : clone(r[f]);
        return out;
      });
    },
    async searchRead(model, domain, fields, options) {
      return db.read(model, await db.search(model, domain, options), fields);
    },
    async searchCount(model, domain) { return (await db.search(model, domain)).length; },
    async create(model, values) {
      const rows = tables[model] || (tables[model] = []);
      const id = rows.reduce((m, r) => Math.max(m, r.id), 0) + 1;
      rows.push({ id, ...clone(values) });
      db.created.push({ model, id, values: clone(values) });
      return id;
    },
    async write(model, ids, values) {
      for (const id of ids || []) {
        const r = (tables[model] || []).find((x) => x.id === id);
        if (!r) fail("not_found", model + " " + id + " is not in the fixtures");
        Object.assign(r, clone(values));
      }
      db.written.push({ model, ids: clone(ids), values: clone(values) });
      return true;
    },
    async unlink(model, ids) {
      tables[model] = (tables[model] || []).filter((r) => (ids || []).indexOf(r.id) === -1);
      db.unlinked.push({ model, ids: clone(ids) });
      return true;
    },
    async call(model, method, ids, args, kwargs) {
      db.called.push({ model, method, ids: clone(ids), args: clone(args), kwargs: clone(kwargs) });
      const fn = calls[model + "." + method];
      if (!fn) fail("not_available", "no sdk.db.onCall(" + JSON.stringify(model) + ", " + JSON.stringify(method) + ") in the tests");
      return fn(ids, args, kwargs);
    },
  };
  return db;
}

function mockHttp() {
  let routes = [];
  const http = {
    requests: [],
    respond(match, response) { routes.push({ match, response: response || {} }); },
    _reset() { routes = []; http.requests = []; },
    async fetch(url, init) {
      const o = init || {};
      const method = String(o.method || "GET").toUpperCase();
      http.requests.push({ method, url, headers: clone(o.headers) || {}, body: o.body });
      // the latest declaration wins (a case overrides its beforeEach)
      const route = routes.slice().reverse().find((r) => {
        const m = r.match;
        if (typeof m === "string") return m === url || m === method + " " + url;
        if (m instanceof RegExp) return m.test(url);
        if (typeof m === "function") return m({ method, url, body: o.body });
        return m && (m.url === undefined || m.url === url || (m.url instanceof RegExp && m.url.test(url)))
          && (m.method === undefined || String(m.method).toUpperCase() === method);
      });
      if (!route) return fail("destination_blocked", "no sdk.http.respond() matches " + method + " " + url);
      let res = route.response;
      if (typeof res === "function") res = await res({ method, url, headers: o.headers || {}, body: o.body });
      if (res instanceof Error) throw res;
      const status = res.status === undefined ? 200 : res.status;
      const body = res.json !== undefined ? JSON.stringify(res.json)
        : typeof res.body === "string" ? res.body : res.body === undefined ? "" : JSON.stringify(res.body);
      return Object.freeze({
        status, ok: status >= 200 && status < 300, headers: Object.freeze({ ...(res.headers || {}) }),
        body, url, redirected: false,
        json() { try { return JSON.parse(body); } catch (e) { return fail("invalid_argument", "response body is not JSON"); } },
        text() { return body; },
      });
    },
    get(url, init) { return http.fetch(url, { ...(init || {}), method: "GET" }); },
    post(url, body, init) {
      const text = typeof body === "string" || body === undefined ? body : JSON.stringify(body);
      return http.fetch(url, { ...(init || {}), method: "POST", body: text });
    },
  };
  return http;
}

function mockSdk() {
  const db = mockDb();
  const http = mockHttp();
  const sdk = {
    SdkError, db, http,
    log: { lines: [] },
    cache: {
      store: {},
      async get(key) { return key in sdk.cache.store ? clone(sdk.cache.store[key]) : null; },
      async set(key, value) { sdk.cache.store[key] = clone(value); },
      async delete(key) { const had = key in sdk.cache.store; delete sdk.cache.store[key]; return had; },
      async incr(key, by) {
        const v = (sdk.cache.store[key] || 0) + (by === undefined ? 1 : by);
        sdk.cache.store[key] = v;
        return v;
      },
    },
    events: {
      emitted: [],
      async emit(type, payload) {
        if (typeof type !== "string" || !type) fail("invalid_argument", "type is required");
        sdk.events.emitted.push({ type, payload: clone(payload) });
        return "00000000-0000-4000-8000-" + String(sdk.events.emitted.length).padStart(12, "0");
      },
    },
    scripts: {
      enqueued: [],
      async enqueue(key, input, options) {
        sdk.scripts.enqueued.push({ key, input: clone(input), options: clone(options) || {} });
        return { id: sdk.scripts.enqueued.length };
      },
    },
    flags: {
      values: {},
      set(name, on) { sdk.flags.values[name] = !!on; },
      async enabled(name) { return !!sdk.flags.values[name]; },
    },
    _reset() {
      db._reset(); http._reset();
      sdk.log.lines = []; sdk.cache.store = {}; sdk.events.emitted = [];
      sdk.scripts.enqueued = []; sdk.flags.values = {};
    },
  };
  for (const level of ["debug", "info", "warn", "error"]) {
    sdk.log[level] = (message, fields) => {
      sdk.log.lines.push({ level, message: String(message), fields: clone(fields) });
      if (mode === "database" && realSdk) realSdk.log[level]("[test] " + String(message), fields);
    };
  }
  return sdk;
}

// ---- registration and the run ------------------------------------------------------
const mocked = mockSdk();
const root = { name: "", cases: [], children: [], before: [], after: [], db: false, skip: false };
let current = root;
let fixtureData = null;
let mainFn = null;
let mainCtx = {};

function describe(name, fn) { group(name, fn, {}); }
describe.skip = (name, fn) => group(name, fn, { skip: true });
describe.db = (name, fn) => group(name, fn, { db: true });
function group(name, fn, flags) {
  const g = { name: String(name), cases: [], children: [], before: [], after: [],
    db: current.db || !!flags.db, skip: current.skip || !!flags.skip, parent: current };
  current.children.push(g);
  const saved = current;
  current = g;
  try { fn(); } finally { current = saved; }
}
function addCase(name, fn, flags) {
  const line = where(new Error().stack).line;
  current.cases.push({ name: String(name), fn, line, db: current.db || !!flags.db,
    skip: current.skip || !!flags.skip || typeof fn !== "function" });
}
function it(name, fn) { addCase(name, fn, {}); }
it.skip = (name, fn) => addCase(name, fn, { skip: true });
it.db = (name, fn) => addCase(name, fn, { db: true });
it.todo = (name) => addCase(name, undefined, { skip: true });

function fullName(g, name) {
  const parts = [name];
  for (let p = g; p && p !== root; p = p.parent) parts.unshift(p.name);
  return parts.join(" > ");
}
function hooks(g, kind) {
  const list = [];
  for (let p = g; p; p = p.parent) list.unshift(...p[kind]);
  return kind === "after" ? list.reverse() : list;
}

function describeFailure(err) {
  const out = {};
  if (err instanceof AssertionError) {
    out.message = err.message;
    out.matcher = err.matcher;
    Object.assign(out, err.details);
  } else if (err && typeof err === "object") {
    out.message = (err.name || "Error") + (err.code ? "[" + err.code + "]" : "") + ": " + err.message;
    if (err.code) out.code = String(err.code);
  } else {
    out.message = "thrown: " + short(err);
  }
  const at = where(err && err.stack);
  if (at.line !== undefined) out.line = at.line;
  if (at.scriptLine !== undefined) out.script_line = at.scriptLine;
  return out;
}

async function runCase(g, c, report, ctx) {
  const name = fullName(g, c.name);
  const row = { name, line: c.line === undefined ? null : c.line, db: c.db };
  if (c.skip || (c.db && mode !== "database")) {
    row.status = "skipped";
    if (c.db && mode !== "database" && !c.skip) row.reason = "needs the database: run the tests in Odoo";
    report.cases.push(row);
    return;
  }
  mocked._reset();
  if (fixtureData) mocked.db.fixtures(fixtureData);
  // `sdk` is the generated module's top-level binding that the script and the tests read
  sdk = c.db ? realSdk : mocked;
  const started = Date.now();
  try {
    for (const h of hooks(g, "before")) await h();
    await c.fn();
    for (const h of hooks(g, "after")) await h();
    row.status = "passed";
  } catch (err) {
    row.status = "failed";
    row.error = describeFailure(err);
    if (row.error.line === undefined && c.line !== undefined) row.error.line = c.line;
  } finally {
    sdk = mocked;
  }
  row.duration_ms = Date.now() - started;
  report.cases.push(row);
}

async function walk(g, report, ctx) {
  for (const c of g.cases) await runCase(g, c, report, ctx);
  for (const child of g.children) await walk(child, report, ctx);
}

const api = {
  describe, it, test: it, expect,
  beforeEach: (fn) => { current.before.push(fn); },
  afterEach: (fn) => { current.after.push(fn); },
  fixtures: (data) => { fixtureData = clone(data); },
  // runs the script's default export with ctx.input = input (a copy)
  run: async (input, options) => {
    if (typeof mainFn !== "function") fail("invalid_argument", "the script has no default export to run");
    const o = options || {};
    const runCtx = {
      trigger: o.trigger || { type: "test" },
      script: mainCtx.script || { id: 0, key: "test", version: 0 },
      company: mainCtx.company || { id: 0, name: "test" },
      execution: { id: 0 },
      input: clone(input === undefined ? null : input),
    };
    if (o.records) runCtx.records = o.records;
    if (o.request) runCtx.request = o.request;
    if (o.event) runCtx.event = o.event;
    return mainFn(runCtx);
  },
};

async function runAll(main, ctx) {
  const report = { mode, cases: [] };
  mainFn = main;
  mainCtx = ctx || {};
  await walk(root, report, ctx);
  const count = (s) => report.cases.filter((c) => c.status === s).length;
  report.passed = count("passed");
  report.failed = count("failed");
  report.skipped = count("skipped");
  return report;
}

return { mocked, api, runAll };
