// Snapshot breakpoints and logpoints: an instrumenting transform on the AST
// that acorn makes of the script, in the runner's compiler context (where no
// script code ever runs). See iota_scripts_sdk/breakpoints.py for the contract.
//
// __iota_instrument(source, breakpointsJson) returns JSON text:
//   {"ok": true, "source": "..."}  or  {"ok": false, "message", "line"}
// The returned source has the same lines as `source`: each breakpoint becomes
// one statement inserted on its own line, before the first statement that
// starts there, so every line number in errors and stack traces stays the
// same (columns move only on an instrumented line, after the insertion).
// compiler.js's __iota_transform then turns the result into the run body.
//
// At a breakpoint the inserted code is
//   if($$iota_k[ID]>0||(++$$iota_d[ID],false))$$iota_b.hit(ID,LINE,["a","b"],[()=>a,()=>b],()=>this);
// and with a condition, the hit in
//   {let $$iota_c=false;try{$$iota_b.enter();$$iota_c=!!(CONDITION)}catch($$iota_e){
//    $$iota_b.fail(ID,LINE,$$iota_e)}finally{$$iota_b.leave()}if($$iota_c)HIT}
// where line 1 starts with `const $$iota_k=$$iota.k,$$iota_d=$$iota.x,$$iota_b=$$iota.b;`.
// (a logpoint calls $$iota_b.log(ID,LINE,()=>["text",(expr),...]) instead),
// The getters read each visible local at the moment of the hit; a name still
// in its temporal dead zone is caught by the prelude, one by one.
(function () {
  "use strict";
  const FUNCS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
  const LISTS = { Program: "body", BlockStatement: "body", StaticBlock: "body", SwitchCase: "consequent" };
  const LOOPS = new Set(["ForStatement", "ForInStatement", "ForOfStatement", "WhileStatement", "DoWhileStatement"]);
  const MAX_NAMES = 60;
  const MAX_VAR_SCAN = 5000;

  function fail(message, line) {
    return JSON.stringify({ ok: false, message, line });
  }
  function isStatement(n) {
    return (/Statement$/.test(n.type) || /Declaration$/.test(n.type));
  }
  // Whether `node`, the `field` of `parent`, is where a statement may stand.
  function statementSlot(parent, field) {
    if (parent === null) return false;
    if (LISTS[parent.type] === field) return true;
    if (parent.type === "IfStatement") return field === "consequent" || field === "alternate";
    if (LOOPS.has(parent.type)) return field === "body";
    return parent.type === "LabeledStatement" && field === "body";
  }
  // A statement that runs nothing when reached: a breakpoint there is refused.
  function declarationOnly(n) {
    if (n.type === "FunctionDeclaration" || n.type === "ClassDeclaration" || n.type === "EmptyStatement") return true;
    if ((n.type === "ExportDefaultDeclaration" || n.type === "ExportNamedDeclaration") && n.declaration) {
      return declarationOnly(n.declaration) || FUNCS.has(n.declaration.type);
    }
    return n.type === "ExportNamedDeclaration";
  }
  function patternNames(p, out) {
    if (p === null) return;
    if (p.type === "Identifier") out.push(p.name);
    else if (p.type === "ObjectPattern") {
      for (const q of p.properties) patternNames(q.type === "RestElement" ? q.argument : q.value, out);
    } else if (p.type === "ArrayPattern") {
      for (const q of p.elements) if (q) patternNames(q, out);
    } else if (p.type === "AssignmentPattern") patternNames(p.left, out);
    else if (p.type === "RestElement") patternNames(p.argument, out);
  }
  // Names a statement list declares that are readable at `pos`: var and
  // function always (hoisted), let, const and class once declared before it.
  function listNames(list, pos, out) {
    for (let s of list) {
      if ((s.type === "ExportNamedDeclaration" || s.type === "ExportDefaultDeclaration") && s.declaration) {
        s = s.declaration;
      }
      if (s.type === "VariableDeclaration" && (s.kind === "var" || s.end <= pos)) {
        for (const d of s.declarations) patternNames(d.id, out);
      } else if (s.type === "FunctionDeclaration" && s.id) out.push(s.id.name);
      else if (s.type === "ClassDeclaration" && s.id && s.end <= pos) out.push(s.id.name);
    }
  }
  // var declarations anywhere in a function body, not inside nested functions.
  function functionVars(body, out) {
    const todo = [body];
    let seen = 0;
    while (todo.length && seen++ < MAX_VAR_SCAN) {
      const n = todo.pop();
      if (n.type === "VariableDeclaration" && n.kind === "var") {
        for (const d of n.declarations) patternNames(d.id, out);
      }
      for (const key of Object.keys(n)) {
        if (key === "loc") continue;
        const c = n[key];
        const kids = Array.isArray(c) ? c : [c];
        for (const k of kids) if (k && typeof k.type === "string" && !FUNCS.has(k.type)) todo.push(k);
      }
    }
  }
  // The locals visible at `target`, innermost scope first.
  function visibleNames(path, target) {
    const out = [];
    const pos = target.start;
    for (let i = path.length - 1; i >= 0; i--) {
      const [a, field] = path[i];
      if (LISTS[a.type] && a.type !== "SwitchCase") listNames(a[LISTS[a.type]], pos, out);
      else if (a.type === "SwitchStatement") for (const c of a.cases) listNames(c.consequent, pos, out);
      else if ((a.type === "ForStatement" && field !== "init") || ((a.type === "ForInStatement"
        || a.type === "ForOfStatement") && field === "body")) {
        const decl = a.type === "ForStatement" ? a.init : a.left;
        if (decl && decl.type === "VariableDeclaration") for (const d of decl.declarations) patternNames(d.id, out);
      } else if (a.type === "CatchClause" && field === "body") patternNames(a.param, out);
      else if (FUNCS.has(a.type)) {
        for (const p of a.params) patternNames(p, out);
        if (a.type === "FunctionExpression" && a.id) out.push(a.id.name);
        if (a.body.type === "BlockStatement") functionVars(a.body, out);
      } else if (a.type === "ClassExpression" && a.id) out.push(a.id.name);
    }
    const seen = new Set();
    const names = [];
    for (const n of out) {
      if (seen.has(n) || n.startsWith("$$iota")) continue;
      seen.add(n);
      names.push(n);
      if (names.length === MAX_NAMES) break;
    }
    return names;
  }
  // An expression a breakpoint carries (a condition, or a logpoint's `{...}`),
  // checked to be exactly one expression that can stand inline in the script.
  function expression(text, what) {
    if (/[\n\r\u2028\u2029]/.test(text)) return [null, what + " must fit on one line"];
    const comments = [];
    let html = false;
    let ast;
    try {
      ast = acorn.parse('"use strict";(' + text + ");", {
        ecmaVersion: "latest", sourceType: "script", onComment: comments,
        onToken: (t) => {
          const s = t.start - 15;
          if (s >= 0 && (text.startsWith("<!--", s) || text.startsWith("-->", s))) html = true;
        },
      });
    } catch (e) {
      return [null, what + " does not parse: " + String(e.message).replace(/ \(\d+:\d+\)$/, "")];
    }
    if (comments.length) return [null, what + " may not hold comments"];
    if (html) return [null, what + " may not hold '<!--' or '-->'"];
    if (ast.body.length !== 2 || ast.body[1].type !== "ExpressionStatement") {
      return [null, what + " must be one expression"];
    }
    const todo = [ast.body[1].expression];
    while (todo.length) {
      const n = todo.pop();
      if (n.type === "AwaitExpression" || n.type === "YieldExpression" || n.type === "Super"
          || n.type === "MetaProperty" || (n.type === "Identifier" && (n.name === "await" || n.name === "yield"
          || n.name.startsWith("$$iota")))) {
        return [null, what + " may not use " + (n.name || n.type)];
      }
      if (n.type === "AssignmentExpression" || n.type === "UpdateExpression"
          || (n.type === "UnaryExpression" && n.operator === "delete")) {
        return [null, what + " may not assign or delete (it must not change the run)"];
      }
      for (const key of Object.keys(n)) {
        const c = n[key];
        const kids = Array.isArray(c) ? c : [c];
        for (const k of kids) if (k && typeof k.type === "string") todo.push(k);
      }
    }
    return [text, null];
  }
  // "total {a + b} for {name}" -> the array literal's items, or an error.
  function template(text) {
    const items = [];
    let at = 0;
    while (at < text.length) {
      const open = text.indexOf("{", at);
      if (open === -1) { items.push(JSON.stringify(text.slice(at))); break; }
      if (open > at) items.push(JSON.stringify(text.slice(at, open)));
      let depth = 0;
      let close = -1;
      for (let i = open; i < text.length; i++) {
        if (text[i] === "{") depth++;
        else if (text[i] === "}" && --depth === 0) { close = i; break; }
      }
      if (close === -1) return [null, "the log message has a '{' without its '}'"];
      const [expr, err] = expression(text.slice(open + 1, close), "the log message's {" + text.slice(open + 1, close) + "}");
      if (err) return [null, err];
      items.push("(" + expr + ")");
      at = close + 1;
    }
    return ["[" + items.join(",") + "]", null];
  }
  // Every statement that stands where a statement may, by line, in source
  // order (outer before inner at the same start), and each node's parent.
  function statementsByLine(ast) {
    const byLine = new Map();
    const parents = new Map();
    const stack = [ast];
    while (stack.length) {
      const node = stack.pop();
      const up = parents.get(node);
      if (up !== undefined && isStatement(node) && statementSlot(up[0], up[1])) {
        const line = node.loc.start.line;
        if (!byLine.has(line)) byLine.set(line, []);
        byLine.get(line).push(node);
      }
      const keys = Object.keys(node).filter((k) => k !== "loc");
      for (let i = keys.length - 1; i >= 0; i--) {
        const c = node[keys[i]];
        const kids = Array.isArray(c) ? c : [c];
        for (let j = kids.length - 1; j >= 0; j--) {
          const k = kids[j];
          if (k && typeof k.type === "string") {
            parents.set(k, [node, keys[i]]);
            stack.push(k);
          }
        }
      }
    }
    return [byLine, parents];
  }
  // [ancestor, field below it] pairs from the root down to `node`'s parent.
  function pathTo(node, parents) {
    const path = [];
    for (let up = parents.get(node); up !== undefined; up = parents.get(up[0])) path.push(up);
    return path.reverse();
  }
  function instrument(source, breakpointsJson) {
    const bps = JSON.parse(breakpointsJson);
    let ast;
    try {
      ast = acorn.parse(source, { ecmaVersion: "latest", sourceType: "module", locations: true, allowHashBang: true });
    } catch (e) {
      if (e instanceof RangeError) return fail("the script is nested too deeply to instrument", 1);
      return JSON.stringify({ ok: false, code: "syntax_error", message: String(e.message).replace(/ \(\d+:\d+\)$/, ""),
        line: e.loc ? e.loc.line : 1 });
    }
    let byLine, parents;
    try {
      [byLine, parents] = statementsByLine(ast);
    } catch (e) {
      if (e instanceof RangeError) return fail("the script is nested too deeply to instrument", 1);
      throw e;
    }
    const edits = [];
    const used = new Set();
    for (let id = 0; id < bps.length; id++) {
      const bp = bps[id];
      const line = bp.line;
      if (used.has(line)) return fail("two breakpoints on line " + line, line);
      used.add(line);
      const found = (byLine.get(line) || []).filter((n) => !declarationOnly(n));
      if (!found.length) {
        const why = byLine.has(line) ? "it only declares a function or class: break on a line inside it"
          : "no statement starts there";
        return fail("line " + line + " has no statement to break on (" + why + ")", line);
      }
      const node = found[0];
      const path = pathTo(node, parents);
      const [parent, field] = path[path.length - 1];
      if (parent.type === "LabeledStatement") {
        return fail("line " + line + " starts a labelled statement's body: break on the label's line", line);
      }
      let action;
      if (bp.log) {
        const [items, err] = template(bp.log);
        if (err) return fail("line " + line + ": " + err, line);
        action = "$$iota_b.log(" + id + "," + line + ",()=>" + items + ")";
      } else {
        const names = visibleNames(path, node);
        action = "$$iota_b.hit(" + id + "," + line + "," + JSON.stringify(names) + ",["
          + names.map((n) => "()=>" + n).join(",") + "],()=>this)";
      }
      // $$iota_k[id]: the hits breakpoint `id` may still take in the run;
      // $$iota_d[id] counts the passes after that.
      let code = "if($$iota_k[" + id + "]>0||(++$$iota_d[" + id + "],false))";
      if (bp.condition) {
        const [expr, err] = expression(bp.condition, "the condition");
        if (err) return fail("line " + line + ": " + err, line);
        code += "{let $$iota_c=false;try{$$iota_b.enter();$$iota_c=!!(" + expr + ")}catch($$iota_e){"
          + "$$iota_b.fail(" + id + "," + line + ",$$iota_e)}finally{$$iota_b.leave()}if($$iota_c)" + action + "}";
      } else {
        code += action + ";";
      }
      // A statement in a slot of its own (`if (a) f();`) gets braces, so the
      // inserted one stays inside the same branch.
      const own = LISTS[parent.type] !== field;
      edits.push([node.start, node.start, own ? "{" + code : code]);
      if (own) edits.push([node.end, node.end, "}"]);
    }
    // Line 1 starts with the run's helpers in locals (fast to reach in a hot
    // loop); a hashbang there is blanked first (compiler.js would blank it).
    const head = "const $$iota_k=$$iota.k,$$iota_d=$$iota.x,$$iota_b=$$iota.b;";
    if (source.startsWith("#!")) {
      const end = source.search(/[\n\r\u2028\u2029]|$/);
      edits.push([0, end, source.slice(0, end).replace(/./g, " ")]);
    }
    edits.push([0, 0, head]);
    edits.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let out = "";
    let pos = 0;
    for (const [at, end, text] of edits) {
      out += source.slice(pos, at) + text;
      pos = end;
    }
    out += source.slice(pos);
    return JSON.stringify({ ok: true, source: out });
  }
  Object.defineProperty(globalThis, "__iota_instrument", { value: instrument });
})();
