// Over 600 lines: one script evaluated before any user code; it captures the intrinsics it uses first.
// The JS side of the bridge. Evaluated once per V8 context, before any user code.
//
// Security goals (see docs/architecture.md):
// - every intrinsic the bridge uses is captured here, before user code runs;
// - every value that leaves V8 is serialised once, here, into a string, inside
//   the run's deadline; Python never receives a live JS object;
// - the intrinsics are frozen (three prototypes are sealed or checked instead,
//   see "hardening"), so nothing a run does to them is seen by the next run;
//   globals a run adds are deleted when it ends;
// - the `sdk` object is frozen; the host's policy lives in Python, not here.
//
// The script evaluates to a function `install(configJson)`. Nothing here calls
// into Python: messages wait in an outbox until the host takes them with
// `__iota_take`, which it evaluates after every `eval` that resumed the
// script (V8 runs that eval after the microtasks of the previous one). So no
// JS object, getter or callback is ever in reach of the host's thread.
(function install(configJson) {
  "use strict";

  // ---- captured intrinsics -------------------------------------------------
  const G = globalThis;
  const { freeze, seal, isExtensible, getPrototypeOf, defineProperty, getOwnPropertyDescriptor,
    keys: objectKeys, create } = Object;
  const { apply, ownKeys, deleteProperty } = Reflect;
  const { isArray } = Array;
  const JSONStringify = JSON.stringify;
  const JSONParse = JSON.parse;
  const PromiseC = Promise;
  const ErrorC = Error;
  const RangeErrorC = RangeError;
  const TypeErrorC = TypeError;
  const StringC = String;
  const NumberIsFinite = Number.isFinite;
  const MapC = Map;
  const SetC = Set;
  const WeakSetC = WeakSet;
  const WeakMapC = WeakMap;
  const ProxyC = G.Proxy;
  const DateProto = Date.prototype;
  const ArrayProto = Array.prototype;
  const ErrorProto = Error.prototype;
  const ObjectProto = Object.prototype;
  const RegExpProto = RegExp.prototype;
  // uncurry(fn)(self, a, b) is fn.call(self, a, b): a bound
  // Function.prototype.call, which V8 calls directly (a rest array and
  // Reflect.apply on every call cost a third of the result copy's time).
  const FunctionCall = Function.prototype.call;
  const FunctionBind = Function.prototype.bind;
  const uncurry = (fn) => apply(FunctionBind, FunctionCall, [fn]);
  const mapGet = uncurry(Map.prototype.get);
  const mapSet = uncurry(Map.prototype.set);
  const mapDelete = uncurry(Map.prototype.delete);
  const setAdd = uncurry(Set.prototype.add);
  const setHas = uncurry(Set.prototype.has);
  const setDelete = uncurry(Set.prototype.delete);
  const weakSetAdd = uncurry(WeakSet.prototype.add);
  const weakSetHas = uncurry(WeakSet.prototype.has);
  const weakMapGet = uncurry(WeakMap.prototype.get);
  const weakMapSet = uncurry(WeakMap.prototype.set);
  const arrayPush = uncurry(Array.prototype.push);
  const arrayShift = uncurry(Array.prototype.shift);
  const arrayJoin = uncurry(Array.prototype.join);
  const stringSlice = uncurry(String.prototype.slice);
  const stringSplit = uncurry(String.prototype.split);
  const stringIncludes = uncurry(String.prototype.includes);
  const stringIndexOf = uncurry(String.prototype.indexOf);
  const stringCharCodeAt = uncurry(String.prototype.charCodeAt);
  const stringToWellFormed = uncurry(String.prototype.toWellFormed);
  const regexpExec = uncurry(RegExp.prototype.exec);
  const dateGetTime = uncurry(DateProto.getTime);
  const dateToISOString = uncurry(DateProto.toISOString);
  const promiseThen = uncurry(Promise.prototype.then);
  const isPrototypeOf = uncurry(ObjectProto.isPrototypeOf);
  const objectToString = uncurry(ObjectProto.toString);
  const hasOwn = Object.hasOwn;
  const FRAME_RE = /script\.js:(\d+):(\d+)/;

  const config = JSONParse(configJson);
  const TOKEN = config.token;
  const WRAP_COLUMN_SHIFT = config.wrapColumnShift;

  // ---- proxies are tracked so the serialiser can refuse them ---------------
  // There is no JS test for "is a Proxy"; every Proxy a script can make is made
  // through this wrapper, so membership in this set is that test.
  const proxies = new WeakSetC();
  // Set for good once this context made a Proxy (module state may keep one
  // across runs): from then on every value takes the serialiser that checks
  // each value for a Proxy (see serializeStrict).
  let proxyMade = false;
  function TrackedProxy(target, handler) {
    if (new.target === undefined) throw new TypeErrorC("Constructor Proxy requires 'new'");
    const p = new ProxyC(target, handler);
    weakSetAdd(proxies, p);
    proxyMade = true;
    return p;
  }
  defineProperty(TrackedProxy, "name", { value: "Proxy" });
  defineProperty(TrackedProxy, "revocable", {
    value: function revocable(target, handler) {
      const r = apply(ProxyC.revocable, ProxyC, [target, handler]);
      weakSetAdd(proxies, r.proxy);
      proxyMade = true;
      return r;
    },
    writable: true, configurable: true,
  });
  deleteProperty(TrackedProxy, "prototype");

  // ---- run state -----------------------------------------------------------
  let run = null; // the current run's state, null when idle
  let mainModule = null; // the loaded script's module function
  // Imported modules (npm bundles, library scripts): specifier -> frozen
  // namespace, evaluated once per context by __iota_module, before the script.
  const modules = new MapC();
  const SyntaxErrorC = SyntaxError;
  function namespace(exportsMap) {
    const ns = create(null);
    const ks = objectKeys(exportsMap);
    const put = (k, v) => defineProperty(ns, k, { value: v, enumerable: true, writable: false, configurable: false });
    for (let i = 0; i < ks.length; i++) put(ks[i], exportsMap[ks[i]]);
    // A CommonJS package bundles to a lone default export (module.exports):
    // its own keys become named exports too, as Node's interop does.
    const d = exportsMap.default;
    if (ks.length === 1 && ks[0] === "default" && d !== null && (typeof d === "object" || typeof d === "function")) {
      const dk = objectKeys(d);
      for (let i = 0; i < dk.length; i++) if (dk[i] !== "default") put(dk[i], d[dk[i]]);
    }
    return freeze(ns);
  }
  function importModule(spec, names) {
    const ns = mapGet(modules, spec);
    if (ns === undefined) throw new SyntaxErrorC("the module '" + spec + "' is not loaded");
    for (let i = 0; i < names.length; i++) {
      if (!hasOwn(ns, names[i])) {
        throw new SyntaxErrorC("the module '" + spec + "' does not provide an export named '" + names[i] + "'");
      }
    }
    return ns;
  }

  // Only errors the bridge makes carry their code out of the run: a script
  // may construct sdk.SdkError (for instanceof), but not forge a code.
  const sdkErrors = new WeakSetC();
  let minting = false;
  function SdkFail(code, message) {
    minting = true;
    try {
      return new SdkError(code, message);
    } finally {
      minting = false;
    }
  }
  class SdkError extends ErrorC {
    constructor(code, message) {
      super(message);
      defineProperty(this, "code", { value: code, enumerable: true });
      if (minting) weakSetAdd(sdkErrors, this);
    }
  }
  defineProperty(SdkError.prototype, "name", { value: "SdkError" });

  // ---- serialisers ---------------------------------------------------------
  // Strict (sdk arguments and results): V8's own JSON.stringify, captured
  // before any script ran, with a replacer that refuses what JSON cannot carry
  // (functions, symbols, BigInt, Proxies, Maps and Sets, invalid Dates) and
  // counts depth and size as it goes. Each property is read once, by V8, so a
  // getter cannot show the check one value and the copy another.
  let strictDates = false;
  const nativeToJSON = DateProto.toJSON;
  function toJSON(key) {
    let time;
    try { time = dateGetTime(this); } catch (_) { return apply(nativeToJSON, this, [key]); }
    if (NumberIsFinite(time)) return dateToISOString(this);
    if (strictDates) throw SdkFail("invalid_argument", "an invalid Date is not JSON-serialisable");
    return null;
  }
  defineProperty(DateProto, "toJSON", { value: toJSON, writable: true, enumerable: false, configurable: true });

  // The fast path (no Proxy in this context; plain objects, arrays, Dates and
  // primitives): one walk reads every property once and builds a copy of
  // plain data, refusing what JSON cannot carry as it goes; V8's
  // JSON.stringify without a replacer then writes the copy, where no script
  // code can run. A replacer costs a call into JS for every value: ~6x
  // slower on 1,000 records. Anything else (class instances, Maps, an own
  // toJSON, a "__proto__" key, nesting past maxDepth, which may be a cycle)
  // goes to the replacer serialiser below, which names the problem; a getter
  // the walk already read before such a value then runs once more.
  const BAIL = freeze(create(null));
  function copyPlain(value, maxChars, maxDepth, tooLargeCode) {
    let size = 0;
    function walk(v, depth, key) {
      const t = typeof v;
      if (t === "string") {
        size += v.length;
        if (size > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        return v;
      }
      if (t === "number" || t === "boolean" || t === "undefined") {
        size += 4;
        return v;
      }
      if (t !== "object") {
        throw SdkFail("invalid_argument", "a " + (t === "bigint" ? "BigInt" : t === "symbol" ? "Symbol" : t)
          + " is not JSON-serialisable" + (key === "" ? "" : " (at key " + JSONStringify(StringC(key)) + ")"));
      }
      if (v === null) return v;
      if (depth >= maxDepth || hasOwn(v, "toJSON")) throw BAIL;
      size += 2;
      if (size > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
      const proto = getPrototypeOf(v);
      if (proto === ArrayProto) {
        const n = v.length;
        if (n > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        // Indexes are stored, not pushed: Array.prototype and
        // Object.prototype are sealed (no setter can sit on an index).
        const out = [];
        for (let i = 0; i < n; i++) out[i] = walk(v[i], depth + 1, i);
        return out;
      }
      if (proto === DateProto) {
        const time = dateGetTime(v);
        if (!NumberIsFinite(time)) throw SdkFail("invalid_argument", "an invalid Date is not JSON-serialisable");
        return dateToISOString(v);
      }
      if (proto !== ObjectProto && proto !== null) throw BAIL;
      // The spread reads each own enumerable property once (a getter runs
      // once) into a new object of data properties, natively: a third
      // cheaper than storing key by key. Only objects inside are replaced by
      // their copies; the walk checks and counts the rest as they are.
      // Its keys come from for-in: the same keys in objectKeys' order (the
      // copy's prototype is the sealed Object.prototype, where nothing is
      // enumerable), without an array of keys per object (a quarter off the
      // copy).
      const out = { ...v };
      for (const k in out) {
        if (k === "__proto__") throw BAIL;
        size += k.length;
        const x = out[k];
        const t = typeof x;
        // strings, numbers and booleans counted here (the size is checked
        // once the object is done); the rest through walk
        if (t === "string") size += x.length;
        else if (t === "number" || t === "boolean") size += 4;
        else if (t === "object" && x !== null) out[k] = walk(x, depth + 1, k);
        else walk(x, depth + 1, k);
      }
      if (size > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
      return out;
    }
    return walk(value, 0, "");
  }

  function serializeStrict(value, maxChars, maxDepth, tooLargeCode, tooDeepCode) {
    if (!proxyMade) {
      let copy = BAIL;
      try {
        copy = copyPlain(value, maxChars, maxDepth, tooLargeCode);
      } catch (e) {
        if (e !== BAIL) throw e;
      }
      if (copy !== BAIL) {
        let text;
        try {
          text = JSONStringify(copy);
        } catch (e) {
          // Only the string length can fail on a copy of plain data.
          throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        }
        if (text === undefined) return "null";
        if (text.length > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        return text;
      }
    }
    return serializeReplacer(value, maxChars, maxDepth, tooLargeCode, tooDeepCode);
  }

  function serializeReplacer(value, maxChars, maxDepth, tooLargeCode, tooDeepCode) {
    let size = 0;
    const depths = new WeakMapC();
    function replacer(key, v) {
      size += key.length;
      const t = typeof v;
      if (t === "string") {
        size += v.length;
        if (size > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        return v;
      }
      if (t === "object") {
        if (v === null) return v;
        if (weakSetHas(proxies, v)) throw SdkFail("invalid_argument", "a Proxy is not JSON-serialisable");
        const hd = weakMapGet(depths, this);
        const d = hd === undefined ? 1 : hd + 1;
        if (d > maxDepth) throw SdkFail(tooDeepCode, "value is nested deeper than " + maxDepth + " levels");
        weakMapSet(depths, v, d);
        if (v instanceof MapC || v instanceof SetC || v instanceof PromiseC) {
          throw SdkFail("invalid_argument", "a " + stringSlice(objectToString(v), 8, -1) + " is not JSON-serialisable");
        }
        size += 2;
        if (size > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        return v;
      }
      if (t === "number" || t === "boolean" || t === "undefined") {
        size += 4;
        return v;
      }
      throw SdkFail("invalid_argument", "a " + (t === "bigint" ? "BigInt" : t === "symbol" ? "Symbol" : t)
        + " is not JSON-serialisable" + (key === "" ? "" : " (at key " + JSONStringify(key) + ")"));
    }
    let text;
    strictDates = true;
    try {
      text = JSONStringify(value, replacer);
    } catch (e) {
      if (weakSetHas(sdkErrors, e)) throw e;
      if (e instanceof RangeErrorC) {
        if (stringIncludes(StringC(e.message), "string length")) {
          throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        }
        throw SdkFail(tooDeepCode, "value is nested deeper than " + maxDepth + " levels");
      }
      if (e instanceof TypeErrorC && stringIncludes(StringC(e.message), "circular")) {
        throw SdkFail("invalid_argument", "a cyclic structure is not JSON-serialisable");
      }
      throw e; // thrown by a script getter or toJSON
    } finally {
      strictDates = false;
    }
    if (text === undefined) return "null";
    if (text.length > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
    return text;
  }

  // Lenient (log fields and console arguments): describes what JSON cannot
  // carry instead of refusing it. One pass, each property read once. Refuses what JSON cannot carry, so a
  // value cannot look different to the check and to the copy. `mode` is
  // "strict" (sdk arguments and results: refuse) or "lenient" (log fields:
  // describe). Limits count UTF-16 code units of output.
  function serialize(value, maxChars, maxDepth, mode, tooLargeCode, tooDeepCode) {
    const parts = [];
    let size = 0;
    const stack = new SetC();
    const strict = mode === "strict";
    function emit(s) {
      size += s.length;
      if (size > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
      arrayPush(parts, s);
    }
    function bad(what, path) {
      if (strict) throw SdkFail("invalid_argument", what + " is not JSON-serialisable (at " + path + ")");
      emit(JSONStringify("[" + what + "]"));
    }
    function walk(v, depth, path) {
      const t = typeof v;
      if (t === "string") {
        if (v.length > maxChars) throw SdkFail(tooLargeCode, "value is larger than " + maxChars + " characters");
        return emit(JSONStringify(v));
      }
      if (t === "number") return emit(NumberIsFinite(v) ? JSONStringify(v) : "null");
      if (t === "boolean") return emit(v ? "true" : "false");
      if (v === null || t === "undefined") return emit("null");
      if (t === "bigint") return strict ? bad("a BigInt", path) : emit(JSONStringify(StringC(v)));
      if (t === "symbol") return bad("a Symbol", path);
      if (t === "function") return bad("a function", path);
      // objects
      if (weakSetHas(proxies, v)) return bad("a Proxy", path);
      if (depth >= maxDepth) throw SdkFail(tooDeepCode, "value is nested deeper than " + maxDepth + " levels");
      if (setHas(stack, v)) return bad("a cyclic reference", path);
      let isDate = false;
      try { dateGetTime(v); isDate = true; } catch (_) { /* not a Date */ }
      if (isDate) {
        const ms = dateGetTime(v);
        if (!NumberIsFinite(ms)) return bad("an invalid Date", path);
        return emit(JSONStringify(dateToISOString(v)));
      }
      if (!strict && isPrototypeOf(ErrorProto, v)) {
        return emit(JSONStringify(StringC(v.name) + ": " + StringC(v.message)));
      }
      setAdd(stack, v);
      if (isArray(v)) {
        const n = v.length;
        if (n > maxChars) throw SdkFail(tooLargeCode, "array is longer than allowed");
        emit("[");
        for (let i = 0; i < n; i++) {
          if (i) emit(",");
          const item = v[i];
          const it = typeof item;
          if (it === "undefined" || (!strict && (it === "function" || it === "symbol"))) emit("null");
          else walk(item, depth + 1, path + "[" + i + "]");
        }
        emit("]");
      } else {
        const tag = objectToString(v);
        if (strict && (tag === "[object Map]" || tag === "[object Set]" || tag === "[object WeakMap]"
            || tag === "[object WeakSet]" || tag === "[object Promise]")) {
          return bad("a " + stringSlice(tag, 8, -1), path);
        }
        const ks = objectKeys(v);
        emit("{");
        let first = true;
        for (let i = 0; i < ks.length; i++) {
          const k = ks[i];
          const item = v[k];
          const it = typeof item;
          if (it === "undefined" || (!strict && (it === "function" || it === "symbol"))) continue;
          if (!first) emit(",");
          first = false;
          emit(JSONStringify(k));
          emit(":");
          walk(item, depth + 1, path + "." + k);
        }
        emit("}");
      }
      setDelete(stack, v);
    }
    walk(value, 0, "$");
    // Its text may become a log message (console.log of an object): no
    // "\udXXX" escape of a lone surrogate survives in it either.
    return wellFormed(arrayJoin(parts, ""));
  }

  // ---- talking to the host ---------------------------------------------------
  // Messages are strings: a one-letter kind, then JSON text (which never holds
  // a raw newline, so the outbox is joined with "\n").
  //   C{"id","name","args"}  host call        L{...}  log record
  //   R<JSON>                the result         D{...}  run finished
  let outbox = [];
  function send(kind, text) { arrayPush(outbox, kind + wellFormed(text)); }

  // Every message is JSON text made by JSONStringify, which writes a lone
  // surrogate (a string cut inside an emoji: "😀".slice(0, 1)) as a "\udXXX"
  // escape. Such text is not Unicode: Python, PostgreSQL and browsers refuse
  // it, far from the script that made it. Here, once, every lone surrogate
  // in strings and keys becomes U+FFFD. The check is one substring search;
  // the rare text that has the escape (or a literal backslash before "ud") is
  // our own JSON, plain data, parsed and written again.
  function wellFormed(text) {
    if (!stringIncludes(text, "\\ud")) return text;
    return JSONStringify(wellFormedValue(JSONParse(text)));
  }
  function wellFormedValue(v) {
    if (typeof v === "string") return stringToWellFormed(v);
    if (v === null || typeof v !== "object") return v;
    if (isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = wellFormedValue(v[i]);
      return v;
    }
    // A null prototype: "__proto__" and names of frozen inherited accessors
    // stay plain own keys.
    const o = create(null);
    const ks = objectKeys(v);
    for (let i = 0; i < ks.length; i++) o[stringToWellFormed(ks[i])] = wellFormedValue(v[ks[i]]);
    return o;
  }
  // When the run has finished, take also ends it (see `end`) and appends
  // "E1" (the context is clean again) or "E0" (it must be dropped). V8 runs a
  // take only once the microtask queue is empty, so nothing of the run can
  // follow it.
  function take(token) {
    if (token !== TOKEN) throw new TypeErrorC("not allowed");
    if (outbox.length === 0) return "";
    const finished = run !== null && run.done;
    let out = arrayJoin(outbox, "\n");
    outbox = [];
    if (finished) out += end() ? "\nE1" : "\nE0";
    return out;
  }

  // The host calls the entry points below with mr_call_function and its
  // data in `this` (a string: lines of the token, the run id, then JSON
  // texts, which never hold a raw newline), so no source is compiled per
  // step. Each refuses a caller without the token: a script may call them
  // (they are globals), but cannot know it.
  function lines(data, count) {
    // The first `count` lines, and the rest of the string (which may hold
    // further newlines) as one last item.
    const out = [];
    let at = 0;
    for (let i = 0; i < count; i++) {
      const nl = stringIndexOf(data, "\n", at);
      if (nl === -1) throw new TypeErrorC("not allowed");
      arrayPush(out, stringSlice(data, at, nl));
      at = nl + 1;
    }
    arrayPush(out, stringSlice(data, at));
    return out;
  }
  function checked(data, count) {
    if (typeof data !== "string") throw new TypeErrorC("not allowed");
    const parts = lines(data, count);
    if (parts[0] !== TOKEN) throw new TypeErrorC("not allowed");
    return parts;
  }
  // this: token, run id, limits JSON, ctx JSON, input JSON.
  function begin() {
    const p = checked(this, 4);
    return start(TOKEN, +p[1], p[4], p[3], p[2]);
  }
  // this: token, run id, then one line per reply: "id ok payload".
  function resume() {
    const p = checked(this, 1);
    const rest = p[1];
    const nl = stringIndexOf(rest, "\n");
    const runId = +(nl === -1 ? rest : stringSlice(rest, 0, nl));
    let at = nl;
    while (at !== -1) {
      const next = stringIndexOf(rest, "\n", at + 1);
      const line = next === -1 ? stringSlice(rest, at + 1) : stringSlice(rest, at + 1, next);
      const sp = stringIndexOf(line, " ");
      reply(TOKEN, runId, +stringSlice(line, 0, sp), stringCharCodeAt(line, sp + 1) === 49,
        stringSlice(line, sp + 3));
      at = next;
    }
  }
  // this: the token.
  function takeEntry() {
    return take(this);
  }

  function hostCall(name, args) {
    const r = run;
    if (r === null) return PromiseC.reject(SdkFail("not_available", "no run is active"));
    if (r.fatal !== null) return PromiseC.reject(r.fatal);
    if (r.inBreakpoint) {
      return PromiseC.reject(SdkFail("access_denied", "a breakpoint's condition or log message may not call the sdk"));
    }
    r.calls += 1;
    if (r.calls > r.limits.maxHostCalls) {
      r.fatal = SdkFail("budget_exceeded", "more than " + r.limits.maxHostCalls + " sdk calls in one run");
      return PromiseC.reject(r.fatal);
    }
    let text;
    try {
      text = serializeStrict(args, r.limits.maxArgChars, r.limits.maxDepth,
        "argument_too_large", "invalid_argument");
    } catch (e) {
      return PromiseC.reject(e);
    }
    return new PromiseC((resolve, reject) => {
      const id = r.nextId++;
      mapSet(r.pending, id, { resolve, reject });
      const msg = "{\"id\":" + id + ",\"name\":" + JSONStringify(name) + ",\"args\":" + text + "}";
      if (r.inflight < r.limits.maxInflight) {
        r.inflight += 1;
        send("C", msg);
      } else {
        arrayPush(r.queue, msg);
      }
    });
  }

  // Entry point for host replies. `payload` is JSON text.
  function reply(token, runId, id, ok, payload) {
    if (token !== TOKEN) throw new TypeErrorC("not allowed");
    const r = run;
    if (r === null || r.id !== runId) return;
    const p = mapGet(r.pending, id);
    if (p === undefined) return;
    mapDelete(r.pending, id);
    r.inflight -= 1;
    if (r.queue.length > 0 && r.inflight < r.limits.maxInflight) {
      r.inflight += 1;
      send("C", arrayShift(r.queue));
    }
    if (ok) {
      p.resolve(payload === "" ? undefined : JSONParse(payload));
    } else {
      const e = JSONParse(payload);
      const err = SdkFail(StringC(e.code), StringC(e.message));
      // a budget that ran out (units.py): the run ends with it, caught or not
      if (e.fatal === true && r.fatal === null) r.fatal = err;
      p.reject(err);
    }
  }

  // ---- logging ---------------------------------------------------------------
  const LEVELS = ["debug", "info", "warn", "error"];
  function log(level, message, fields) {
    const r = run;
    if (r === null) return;
    let msg = typeof message === "string" ? message : serialize(message, r.limits.maxLogChars,
      r.limits.maxDepth, "lenient", "argument_too_large", "argument_too_large");
    if (msg.length > r.limits.maxLogChars) {
      throw SdkFail("argument_too_large", "log message is longer than " + r.limits.maxLogChars + " characters");
    }
    let f = "null";
    if (fields !== undefined) {
      f = serialize(fields, r.limits.maxLogChars, r.limits.maxDepth, "lenient",
        "argument_too_large", "argument_too_large");
    }
    r.logLines += 1;
    r.logChars += msg.length + f.length;
    if (r.logLines > r.limits.maxLogLines || r.logChars > r.limits.maxLogTotalChars) {
      r.logsDropped += 1;
      return;
    }
    send("L", "{\"level\":\"" + level + "\",\"message\":" + JSONStringify(msg) + ",\"fields\":" + f + "}");
  }
  function consoleArgs(args) {
    const r = run;
    const max = r === null ? 1024 : r.limits.maxLogChars;
    const out = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      arrayPush(out, typeof a === "string" ? a : serialize(a, max, 32, "lenient",
        "argument_too_large", "argument_too_large"));
    }
    return arrayJoin(out, " ");
  }

  // ---- snapshot breakpoints (see breakpoints.js, breakpoints.py) ------------
  // Called by the code breakpoints.js inserts; given to a run as `$$iota.b`
  // only when it was instrumented. A hit is a "B" message. Nothing here
  // fails the run: a condition's error becomes a hit's note.
  const BP_SECRET = /pass(word|wd|phrase)?|secret|token|api[-_]?key|auth|credential|private[-_]?key|cookie|session/i;
  const BP_SECRET_VALUE = /^(bearer|basic|token)\s+\S/i;
  const BP_FRAME = /at (?:async )?(?:(.*?) \()?script\.js:(\d+):(\d+)/;
  const mapSize = uncurry(getOwnPropertyDescriptor(Map.prototype, "size").get);
  const setSize = uncurry(getOwnPropertyDescriptor(Set.prototype, "size").get);
  function bpSnap(v, depth, budget, seenObjs) {
    if (--budget.nodes < 0) return "…";
    const t = typeof v;
    if (t === "string") {
      if (regexpExec(BP_SECRET_VALUE, v) !== null) return "[masked]";
      return v.length > budget.string ? stringSlice(v, 0, budget.string) + "…" : v;
    }
    if (t === "number") return NumberIsFinite(v) ? v : StringC(v);
    if (t === "boolean" || v === null) return v;
    if (t === "undefined") return "[undefined]";
    if (t === "bigint") return StringC(v) + "n";
    if (t === "symbol") return "[Symbol]";
    if (t === "function") return "[Function " + (typeof v.name === "string" ? v.name : "") + "]";
    if (weakSetHas(proxies, v)) return "[Proxy]";
    if (setHas(seenObjs, v)) return "[Circular]";
    try {
      if (isPrototypeOf(DateProto, v)) return dateToISOString(v);
    } catch (_) { return "[Invalid Date]"; }
    if (isPrototypeOf(ErrorProto, v)) {
      const d = getOwnPropertyDescriptor(v, "message");
      return "[Error " + (d && typeof d.value === "string" ? stringSlice(d.value, 0, budget.string) : "") + "]";
    }
    try {
      if (isPrototypeOf(MapC.prototype, v)) return "[Map(" + mapSize(v) + ")]";
      if (isPrototypeOf(SetC.prototype, v)) return "[Set(" + setSize(v) + ")]";
    } catch (_) { return "[Object]"; }
    const arr = isArray(v);
    if (depth >= budget.depth) return arr ? "[Array(" + v.length + ")]" : "[Object]";
    setAdd(seenObjs, v);
    const out = arr ? [] : create(null);
    const ks = ownKeys(v);
    let shown = 0;
    for (let i = 0; i < ks.length; i++) {
      const k = ks[i];
      if (typeof k !== "string" || (arr && k === "length")) continue;
      if (shown === 30) {
        const more = (arr ? v.length - shown : ks.length - i) + " more";
        if (arr) arrayPush(out, "… " + more); else out["…"] = more;
        break;
      }
      const d = getOwnPropertyDescriptor(v, k);
      if (d === undefined || (!arr && !d.enumerable)) continue;
      shown += 1;
      let item;
      if (!("value" in d)) item = "[Getter]";
      else if (regexpExec(BP_SECRET, k) !== null) item = "[masked]";
      else item = bpSnap(d.value, depth + 1, budget, seenObjs);
      if (arr) arrayPush(out, item); else out[k] = item;
    }
    setDelete(seenObjs, v);
    return out;
  }
  function bpStack() {
    const frames = [];
    let stack = "";
    try { stack = new ErrorC().stack; } catch (_) { return frames; }
    const ls = stringSplit(typeof stack === "string" ? stack : "", "\n");
    for (let i = 0; i < ls.length && frames.length < 20; i++) {
      const m = regexpExec(BP_FRAME, ls[i]);
      if (m === null) continue;
      const fn = m[1] === undefined || m[1] === "" ? "(anonymous)" : stringSlice(m[1], 0, 100);
      arrayPush(frames, { fn, line: +m[2] });
    }
    return frames;
  }
  // Takes one hit of breakpoint `id`'s budget (and the run's): false when spent.
  function bpTake(r, id) {
    const left = r.bpLeft;
    if (r.done || r.hitsLeft <= 0 || !(left[id] > 0)) { r.hitsDropped += 1; return false; }
    r.hitsLeft -= 1;
    left[id] -= 1;
    const k = r.bpInline;
    if (r.hitsLeft <= 0) for (let i = 0; i < k.length; i++) k[i] = 0;
    else k[id] = left[id];
    return true;
  }
  function bpDroppedCount(r) {
    let n = r.hitsDropped;
    const d = r.bpDropped;
    if (d !== null) for (let i = 0; i < d.length; i++) n += typeof d[i] === "number" && d[i] > 0 ? d[i] : 0;
    return n;
  }
  function bpSend(r, hit) { send("B", JSONStringify(hit)); }
  // A plain object (fast properties): reached from hot loops of instrumented code.
  const BP = freeze({
    // Around a condition: the sdk refuses calls in between.
    enter: freeze(function enter() { if (run !== null) run.inBreakpoint = true; }),
    leave: freeze(function leave() { if (run !== null) run.inBreakpoint = false; }),
    fail: freeze(function fail(id, line, e) {
      const r = run;
      if (r === null || !bpTake(r, id)) return;
      let what = "an exception";
      try { what = isPrototypeOf(ErrorProto, e) ? StringC(e.name) + ": " + StringC(e.message) : StringC(e); } catch (_) { /* keep */ }
      bpSend(r, { bp: id, line, note: "the condition failed: " + stringSlice(what, 0, 300) });
    }),
    hit: freeze(function hit(id, line, names, getters, thisGetter) {
      const r = run;
      if (r === null || !bpTake(r, id)) return;
      const budget = { nodes: r.limits.captureNodes, depth: r.limits.captureDepth, string: r.limits.captureString };
      const vars = create(null);
      const seenObjs = new SetC();
      r.inBreakpoint = true;
      try {
        for (let i = 0; i < names.length; i++) {
          const name = names[i];
          if (regexpExec(BP_SECRET, name) !== null) { vars[name] = "[masked]"; continue; }
          let v;
          try { v = getters[i](); } catch (_) { vars[name] = "[not initialized]"; continue; }
          vars[name] = bpSnap(v, 0, budget, seenObjs);
        }
        let self;
        try { self = thisGetter(); } catch (_) { self = undefined; }
        const thisSnap = self === undefined ? null : bpSnap(self, 0, budget, seenObjs);
        bpSend(r, { bp: id, line, vars, this: thisSnap, stack: bpStack() });
      } finally {
        r.inBreakpoint = false;
      }
    }),
    log: freeze(function logpoint(id, line, fn) {
      const r = run;
      if (r === null || !bpTake(r, id)) return;
      const budget = { nodes: r.limits.captureNodes, depth: 2, string: r.limits.captureString };
      let message = "";
      r.inBreakpoint = true;
      try {
        const items = fn();
        for (let i = 0; i < items.length; i++) {
          const v = typeof items[i] === "string" ? items[i] : bpSnap(items[i], 0, budget, new SetC());
          message += typeof v === "string" ? v : JSONStringify(v);
        }
      } catch (e) {
        let what = "an exception";
        try { what = isPrototypeOf(ErrorProto, e) ? StringC(e.name) + ": " + StringC(e.message) : StringC(e); } catch (_) { /* keep */ }
        bpSend(r, { bp: id, line, note: "the log message failed: " + stringSlice(what, 0, 300) });
        return;
      } finally {
        r.inBreakpoint = false;
      }
      if (message.length > r.limits.maxLogChars) message = stringSlice(message, 0, r.limits.maxLogChars);
      bpSend(r, { bp: id, line, message, stack: bpStack() });
      log("info", message, { logpoint: line });
    }),
  });

  // ---- the sdk object, built from the API declaration --------------------------
  const api = config.api;
  const sdk = create(null);
  for (let i = 0; i < api.length; i++) {
    const ns = api[i];
    const target = create(null);
    for (let j = 0; j < ns.functions.length; j++) {
      const fn = ns.functions[j];
      let impl;
      if (fn.kind === "log") {
        const level = fn.name;
        impl = function (message, fields) { log(level, message, fields); };
      } else if (fn.kind === "http") {
        const method = fn.method;
        impl = async function (url, a, b) {
          let init;
          if (method === null) init = a === undefined ? {} : a;
          else if (method === "GET") init = { ...(a === undefined ? {} : a), method };
          else init = { ...(b === undefined ? {} : b), method, body: a };
          if (init !== null && typeof init === "object" && !isArray(init)
              && hasOwn(init, "body") && typeof init.body !== "string" && init.body !== undefined) {
            init.body = serializeStrict(init.body, run === null ? 0 : run.limits.maxArgChars, 64,
              "argument_too_large", "invalid_argument");
            init.json = true;
          }
          const res = await hostCall("http.fetch", [url, init]);
          return freeze({
            status: res.status, ok: res.status >= 200 && res.status < 300,
            headers: freeze(res.headers), body: res.body, url: res.url, redirected: res.redirected,
            json() {
              try { return JSONParse(res.body); } catch (e) {
                throw SdkFail("invalid_argument", "response body is not JSON");
              }
            },
            text() { return res.body; },
          });
        };
      } else {
        const host = fn.host;
        const arity = fn.params.length;
        impl = function (...args) {
          if (args.length > arity) args.length = arity;
          return hostCall(host, args);
        };
      }
      defineProperty(impl, "name", { value: fn.name });
      target[fn.name] = impl;
    }
    sdk[ns.name] = target;
  }
  sdk.SdkError = SdkError;
  sdk.version = config.version;

  const consoleObj = create(null);
  consoleObj.log = function (...a) { log("info", consoleArgs(a)); };
  consoleObj.info = function (...a) { log("info", consoleArgs(a)); };
  consoleObj.debug = function (...a) { log("debug", consoleArgs(a)); };
  consoleObj.warn = function (...a) { log("warn", consoleArgs(a)); };
  consoleObj.error = function (...a) { log("error", consoleArgs(a)); };

  // ---- hardening -----------------------------------------------------------
  // Off-limits globals: shared memory, blocking waits, wasm, GC observation,
  // and mini-racer's timer internals (they run script code outside any eval).
  const REMOVED = ["WebAssembly", "SharedArrayBuffer", "Atomics", "FinalizationRegistry", "WeakRef",
    "setTimeout", "clearTimeout", "setInterval", "clearInterval", "__timer_manager", "console",
    "Realm", "d8", "gc", "version", "print", "readline", "quit", "load", "read"];
  for (let i = 0; i < REMOVED.length; i++) {
    // mini-racer declares its timers with `var`: not deletable, but a writable
    // global var may still be turned into a read-only undefined.
    if (!deleteProperty(G, REMOVED[i])) {
      defineProperty(G, REMOVED[i], { value: undefined, writable: false });
    }
  }
  // RegExp legacy statics would carry the last match of one run into the next.
  const LEGACY = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "input", "$_", "lastMatch",
    "$&", "lastParen", "$+", "leftContext", "$`", "rightContext", "$'"];
  for (let i = 0; i < LEGACY.length; i++) deleteProperty(RegExp, LEGACY[i]);

  defineProperty(G, "Proxy", { value: TrackedProxy, writable: false, enumerable: false, configurable: false });
  defineProperty(G, "console", { value: consoleObj, writable: false, enumerable: false, configurable: false });
  defineProperty(G, "sdk", { value: sdk, writable: false, enumerable: false, configurable: false });

  // The "override mistake": where an inherited data property is read-only
  // (a frozen prototype), `err.name = x` or `obj.toString = f` throws on
  // ordinary objects. Turn those inherited data properties into accessors
  // that define an own property on the receiver. On Object.prototype, which
  // is sealed below (not frozen), these accessors are also what keeps its
  // methods from being replaced.
  function enableOverride(obj, prop) {
    const d = getOwnPropertyDescriptor(obj, prop);
    if (d === undefined || !("value" in d) || !d.configurable) return;
    const value = d.value;
    defineProperty(obj, prop, {
      get() { return value; },
      set(nv) {
        if (this === obj) throw new TypeErrorC("Cannot assign to read only property '" + StringC(prop) + "'");
        if (hasOwn(this, prop)) this[prop] = nv;
        else defineProperty(this, prop, { value: nv, writable: true, enumerable: true, configurable: true });
      },
      enumerable: d.enumerable, configurable: false,
    });
  }
  const objProps = ownKeys(ObjectProto);
  for (let i = 0; i < objProps.length; i++) if (objProps[i] !== "__proto__") enableOverride(ObjectProto, objProps[i]);
  const errorCtors = [ErrorC, TypeErrorC, RangeErrorC, SyntaxError, ReferenceError, EvalError, URIError,
    AggregateError, SdkError];
  for (let i = 0; i < errorCtors.length; i++) {
    const p = errorCtors[i].prototype;
    enableOverride(p, "name"); enableOverride(p, "message"); enableOverride(p, "constructor");
    enableOverride(p, "toString");
  }
  enableOverride(Function.prototype, "toString");
  enableOverride(Function.prototype, "constructor");
  enableOverride(PromiseC.prototype, "constructor");
  enableOverride(PromiseC.prototype, "then");

  // Host entry points: read-only and non-configurable, so that no script can
  // replace them or shadow them with a global lexical binding. Each checks the
  // per-context token, which only the host knows.
  const entry = (name, fn) => defineProperty(G, name, { value: fn, writable: false, enumerable: false, configurable: false });
  entry("__iota_begin", freeze(begin));
  entry("__iota_resume", freeze(resume));
  entry("__iota_load", freeze(load));
  entry("__iota_module", freeze(loadModule));
  entry("__iota_take", freeze(takeEntry));

  // Freeze every intrinsic reachable from the global object and from the
  // hidden intrinsics (iterator, generator and async prototypes), but three.
  //
  // Trap: V8's fast paths hold only while some prototypes keep their
  // original shape (docs/operations/benchmarks.md, "Frozen intrinsics"):
  // - arrays and plain objects (element stores, spreads, for-in,
  //   Array.prototype.map and the like): Object.prototype and
  //   Array.prototype keep ordinary element kinds, and Array.prototype its
  //   own data properties. Freezing either, or redefining any property of
  //   Array.prototype, made array code 4x slower and a 1,000 records run a
  //   fifth slower. Both are sealed instead: nothing can be added, deleted
  //   or redefined. Object.prototype is then as good as frozen
  //   (enableOverride made each of its properties an accessor);
  //   Array.prototype's methods and length stay writable.
  // - regular expressions (exec, replace, split, match): RegExp.prototype
  //   keeps its original map. Freezing, sealing, even preventExtensions on
  //   it made regexp code 20x slower. It is left as it is.
  // The prelude never looks a method up on these two during a run (it
  // calls what it captured above). A run that changed either leaves a
  // context that is dropped (see `end`): the next run never sees it.
  const hidden = [
    getPrototypeOf(function* () {}), getPrototypeOf(async function () {}),
    getPrototypeOf(async function* () {}), getPrototypeOf([][Symbol.iterator]()),
    getPrototypeOf(new MapC()[Symbol.iterator]()), getPrototypeOf(new SetC()[Symbol.iterator]()),
    getPrototypeOf(""[Symbol.iterator]()), getPrototypeOf(/a/[Symbol.matchAll]("")),
    getPrototypeOf(Uint8Array), getPrototypeOf((function () { return arguments; })()),
    getOwnPropertyDescriptor(Function.prototype, "caller")?.get,
    sdk, consoleObj, BP,
  ];
  const seen = new SetC();
  const todo = [G];
  for (let i = 0; i < hidden.length; i++) if (hidden[i]) arrayPush(todo, hidden[i]);
  while (todo.length > 0) {
    const o = todo.pop();
    if ((typeof o !== "object" && typeof o !== "function") || o === null || setHas(seen, o)) continue;
    setAdd(seen, o);
    if (o === ObjectProto || o === ArrayProto) seal(o);
    else if (o !== G && o !== RegExpProto) freeze(o);
    arrayPush(todo, getPrototypeOf(o));
    const ks = ownKeys(o);
    for (let i = 0; i < ks.length; i++) {
      const d = getOwnPropertyDescriptor(o, ks[i]);
      if (d === undefined) continue;
      if ("value" in d) arrayPush(todo, d.value);
      else { arrayPush(todo, d.get); arrayPush(todo, d.set); }
    }
  }
  // Global bindings of the intrinsics become read-only; scripts may still add
  // their own globals, which are deleted when the run ends.
  const baseline = new SetC();
  const gkeys = ownKeys(G);
  for (let i = 0; i < gkeys.length; i++) {
    const k = gkeys[i];
    const d = getOwnPropertyDescriptor(G, k);
    if (d && d.configurable) {
      if ("value" in d) defineProperty(G, k, { value: d.value, writable: false, enumerable: d.enumerable, configurable: false });
      else defineProperty(G, k, { get: d.get, set: d.set, enumerable: d.enumerable, configurable: false });
    }
    setAdd(baseline, k);
  }
  const globalProto = getPrototypeOf(G);
  // Array.prototype's own values, and RegExp.prototype's own properties,
  // as the hardening left them (see above).
  const arrayProtoKeys = ownKeys(ArrayProto);
  const arrayProtoValues = [];
  for (let i = 0; i < arrayProtoKeys.length; i++) {
    arrayPush(arrayProtoValues, getOwnPropertyDescriptor(ArrayProto, arrayProtoKeys[i]).value);
  }
  const regexpProtoKeys = ownKeys(RegExpProto);
  const regexpProtoProps = [];
  for (let i = 0; i < regexpProtoKeys.length; i++) {
    arrayPush(regexpProtoProps, getOwnPropertyDescriptor(RegExpProto, regexpProtoKeys[i]));
  }
  // RegExp.prototype is an ordinary object: its keys and descriptors are
  // read without running script code (no getter is called).
  function regexpProtoUnchanged() {
    if (!isExtensible(RegExpProto) || getPrototypeOf(RegExpProto) !== ObjectProto) return false;
    const ks = ownKeys(RegExpProto);
    if (ks.length !== regexpProtoKeys.length) return false;
    for (let i = 0; i < ks.length; i++) {
      if (ks[i] !== regexpProtoKeys[i]) return false;
      const now = getOwnPropertyDescriptor(RegExpProto, ks[i]);
      const then = regexpProtoProps[i];
      if (now.value !== then.value || now.get !== then.get || now.set !== then.set
        || now.writable !== then.writable || now.enumerable !== then.enumerable
        || now.configurable !== then.configurable) return false;
    }
    return true;
  }


  function load(token, moduleFn) {
    if (token !== TOKEN) throw new TypeErrorC("not allowed");
    mainModule = moduleFn;
  }

  freeze(namespace);
  freeze(importModule);

  function loadModule(token, spec, moduleFn) {
    if (token !== TOKEN) throw new TypeErrorC("not allowed");
    const helper = create(null);
    helper.ns = namespace;
    helper.i = importModule;
    mapSet(modules, spec, moduleFn(helper));
  }

  function describeError(e) {
    // Runs inside the deadline: reading .stack/.message may run script getters.
    let code = "script_error";
    let name = "Error";
    let message = "";
    let stack = "";
    try {
      if (weakSetHas(sdkErrors, e)) code = e.code;
      if (e !== null && (typeof e === "object" || typeof e === "function")) {
        const n = e.name;
        const m = e.message;
        name = n === undefined ? "Uncaught" : StringC(n);
        message = m === undefined ? serialize(e, 2000, 8, "lenient", "argument_too_large", "argument_too_large") : StringC(m);
        const s = e.stack;
        stack = typeof s === "string" ? s : "";
      } else {
        name = "Uncaught";
        message = StringC(e);
      }
    } catch (_) {
      message = "uncaught exception (its message could not be read)";
    }
    if (message.length > 2000) message = stringSlice(message, 0, 2000) + "…";
    const frames = [];
    let line = null;
    let column = null;
    const lines = stringSplit(stack, "\n");
    for (let i = 0; i < lines.length && frames.length < 20; i++) {
      let l = lines[i];
      if (!stringIncludes(l, "script.js:")) continue;
      const m = regexpExec(FRAME_RE, l);
      if (m !== null) {
        let ln = +m[1];
        let col = +m[2];
        if (ln === 1) {
          col -= WRAP_COLUMN_SHIFT;
          l = stringSlice(l, 0, m.index) + "script.js:1:" + col + stringSlice(l, m.index + m[0].length);
        }
        if (line === null) { line = ln; column = col; }
      }
      if (l.length > 300) l = stringSlice(l, 0, 300);
      arrayPush(frames, l);
    }
    const out = { code, message: code === "script_error" ? name + ": " + message : message };
    if (line !== null) { out.line = line; out.column = column; }
    out.stack = arrayJoin(frames, "\n");
    if (code === "script_error" && name === "RangeError" && message === "Array buffer allocation failed") {
      out.code = "memory_limit";
      out.message = "off-heap memory cap reached: " + message;
    }
    return out;
  }

  function finish(r, ok, value) {
    if (run !== r || r.done) return;
    r.done = true;
    let body;
    if (r.fatal !== null) {
      body = "{\"ok\":false,\"error\":" + JSONStringify(describeError(r.fatal)) + "}";
    } else if (ok) {
      try {
        const text = serializeStrict(value, r.limits.maxResultChars, r.limits.maxResultDepth,
          "result_too_large", "result_too_deep");
        // The result travels as its own message, so the host can keep it as
        // JSON text without parsing it (see RunResult.result_json).
        send("R", text);
        body = "{\"ok\":true}";
      } catch (e) {
        body = "{\"ok\":false,\"error\":" + JSONStringify(describeError(e)) + "}";
      }
    } else {
      body = "{\"ok\":false,\"error\":" + JSONStringify(describeError(value)) + "}";
    }
    body = stringSlice(body, 0, -1) + ",\"calls\":" + r.calls + ",\"logsDropped\":" + r.logsDropped
      + (r.limits.maxHits ? ",\"hitsDropped\":" + bpDroppedCount(r) : "") + "}";
    send("D", body);
  }

  // Starts a run. Returns synchronously; the result arrives as a "D" message.
  function start(token, runId, inputJson, ctxJson, limitsJson) {
    if (token !== TOKEN) throw new TypeErrorC("not allowed");
    if (run !== null && !run.done) throw new TypeErrorC("a run is active");
    const r = {
      id: runId, limits: JSONParse(limitsJson), calls: 0, inflight: 0, nextId: 1,
      pending: new MapC(), queue: [], fatal: null, done: false, logLines: 0, logChars: 0, logsDropped: 0,
      inBreakpoint: false, bpLeft: null, bpInline: null, bpDropped: null, hitsLeft: 0, hitsDropped: 0,
    };
    run = r;
    outbox = [];
    const ctx = JSONParse(ctxJson);
    ctx.input = JSONParse(inputJson);
    if (mainModule === null) return finish(r, false, SdkFail("internal_error", "no script loaded"));
    let p;
    try {
      const exportsObj = create(null);
      // an instrumented script (breakpoints.js) reaches its helpers as $$iota.b
      if (r.limits.maxHits) {
        // k: hits left per breakpoint, read inline; the prelude keeps its own copy
        const k = [];
        const left = [];
        for (let i = 0; i < r.limits.breakpoints; i++) {
          arrayPush(k, r.limits.maxHitsPerBreakpoint);
          arrayPush(left, r.limits.maxHitsPerBreakpoint);
        }
        const dropped = [];
        for (let i = 0; i < r.limits.breakpoints; i++) arrayPush(dropped, 0);
        exportsObj.b = BP;
        exportsObj.k = k;
        exportsObj.x = dropped;
        r.bpDropped = dropped;
        r.bpLeft = left;
        r.bpInline = k;
        r.hitsLeft = r.limits.maxHits;
      }
      exportsObj.i = importModule;
      p = promiseThen(mainModule(exportsObj), () => {
        const main = exportsObj.d;
        if (typeof main !== "function") {
          throw new TypeErrorC("the script's default export must be a function, got " + typeof main);
        }
        return main(ctx);
      });
    } catch (e) {
      return finish(r, false, e);
    }
    promiseThen(p, (v) => finish(r, true, v), (e) => finish(r, false, e));
  }

  // Ends a run: forget its pending calls and delete the globals it added.
  // Returns false when the context cannot be made clean again.
  function end() {
    run = null;
    outbox = [];
    let clean = true;
    const ks = ownKeys(G);
    for (let i = 0; i < ks.length; i++) {
      if (!setHas(baseline, ks[i]) && !deleteProperty(G, ks[i])) clean = false;
    }
    if (getPrototypeOf(G) !== globalProto) clean = false;
    // Sealed: every own property of Array.prototype is still a data property
    // (reading it runs no script code); only its value can have changed.
    for (let i = 0; i < arrayProtoKeys.length; i++) {
      if (ArrayProto[arrayProtoKeys[i]] !== arrayProtoValues[i]) clean = false;
    }
    if (!regexpProtoUnchanged()) clean = false;
    return clean;
  }

  return true;
})
