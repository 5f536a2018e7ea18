// Turns an ES module source into the body of an async function, keeping every
// line where it was. Runs in the runner's compiler context, after acorn, where
// no script code ever runs: acorn only reads the source as text.
//
// __iota_transform(source, packages) returns JSON text:
//   {"ok": true, "body": "...", "imports": [...]}  or  {"ok": false, "message", "line", "column"}
// The body assigns the default export to `$$iota.d`. `packages` lists the
// module specifiers the script may import (a company's approved npm packages,
// "lib:<key>" library scripts); an import of anything else is refused here,
// with its position. An import becomes a `const` that reads the module's
// namespace through `$$iota.i(specifier, names)`, which the prelude fills from
// the modules loaded before the script (see __iota_transform_module).
//
// __iota_transform_module(source, packages) turns an ES module (an esbuild
// bundle, or a library script) into the body of a plain function that returns
// its exports: `$$iota.ns({name: local, ...})`, built once per context.
//
// Trap: acorn parses the module goal, but the runner evaluates the body as a
// classic script, where Annex B reads `<!--` anywhere, and `-->` at the start
// of a line, as the start of a line comment. `a <!-- b; f()` is a comparison
// and a call for acorn and only `a` for V8, so what was checked is not what
// runs. Both tokens are refused wherever they are code (strings, templates,
// regular expressions and comments may hold them).
(function () {
  "use strict";
  function fail(message, line, column) {
    return JSON.stringify({ ok: false, message, line, column });
  }
  function blank(text) {
    // Same length and the same line breaks, so positions do not move.
    return text.replace(/[^\n\r\u2028\u2029]/g, " ");
  }
  // `text` in place of `old`, padded so that columns after it do not move
  // when it fits on old's first line.
  function keepWidth(text, old) {
    const rest = blank(old);
    const firstBreak = rest.search(/[\n\r\u2028\u2029]/);
    if (firstBreak === -1 || firstBreak >= text.length) return text + rest.slice(text.length);
    return text + rest.replace(/[^\n\r\u2028\u2029]/g, "");
  }
  // The first `<!--` or `-->` that acorn read as operators, or null.
  function htmlComment(source, token) {
    const tt = acorn.tokTypes;
    if (token.type === tt.relational && source.startsWith("<!--", token.start)) return "<!--";
    if (token.type === tt.incDec && source.startsWith("-->", token.start)) return "-->";
    return null;
  }
  function htmlFail(html) {
    return fail(
      `'${html.text}' is not allowed outside strings and comments (it starts an HTML-like comment `
        + "in classic scripts); put a space between its characters",
      html.loc.line, html.loc.column + 1,
    );
  }
  function quote(text) {
    return JSON.stringify(text);
  }
  // The `const` an import declaration becomes, or a failure.
  function importText(node, packages) {
    const spec = node.source.value;
    if (packages.indexOf(spec) === -1) {
      const what = spec.startsWith("lib:") ? `library script '${spec.slice(4)}'` : `package '${spec}'`;
      return { error: `${what} is not approved for this company` };
    }
    const names = [];
    const parts = [];
    let whole = null;
    for (const s of node.specifiers) {
      if (s.type === "ImportNamespaceSpecifier") whole = s.local.name;
      else {
        const imported = s.type === "ImportDefaultSpecifier" ? "default"
          : (s.imported.type === "Identifier" ? s.imported.name : s.imported.value);
        names.push(imported);
        parts.push(quote(imported) + ":" + s.local.name);
      }
    }
    const ns = "$$iota.i(" + quote(spec) + "," + quote(names) + ")";
    let text = "";
    if (parts.length) text += "const {" + parts.join(",") + "}=" + ns + ";";
    if (whole !== null) text += "const " + whole + "=" + ns + ";";
    if (!text) text = ns + ";";
    return { spec, text };
  }
  // The local name of each export: [[exported, local], ...], or a failure.
  function exportNames(node, out) {
    const decl = node.declaration;
    if (decl) {
      if (decl.type === "VariableDeclaration") {
        for (const d of decl.declarations) {
          if (d.id.type !== "Identifier") return "destructuring exports are not supported";
          out.push([d.id.name, d.id.name]);
        }
      } else {
        out.push([decl.id.name, decl.id.name]);
      }
      return null;
    }
    for (const s of node.specifiers) {
      const exported = s.exported.type === "Identifier" ? s.exported.name : s.exported.value;
      out.push([exported, s.local.name]);
    }
    return null;
  }
  function parse(source, onToken) {
    return acorn.parse(source, {
      ecmaVersion: "latest", sourceType: "module", locations: true, allowHashBang: true, onToken,
    });
  }
  function applyEdits(source, edits) {
    edits.sort((a, b) => a[0] - b[0]);
    let out = "";
    let pos = 0;
    for (const [s, e, r] of edits) {
      out += source.slice(pos, s) + r;
      pos = e;
    }
    return out + source.slice(pos);
  }
  // Parses ``source``; returns { ast } or { failed: the JSON answer of a
  // refusal }. `x\n--> y` is a syntax error for acorn, a comment for V8: an
  // HTML-like comment token is named as the cause (see the header).
  function parseChecked(source, what) {
    let ast;
    let html = null;
    try {
      ast = parse(source, (token) => {
        if (html === null) {
          const text = htmlComment(source, token);
          if (text !== null) html = { text, loc: token.loc.start };
        }
      });
    } catch (e) {
      if (html !== null) return { failed: htmlFail(html) };
      if (e instanceof SyntaxError && e.loc) {
        const message = String(e.message).replace(/ \(\d+:\d+\)$/, "");
        return { failed: fail(message, e.loc.line, e.loc.column + 1) };
      }
      if (e instanceof RangeError) return { failed: fail(`the ${what} is nested too deeply to parse`, 1, 1) };
      throw e;
    }
    if (html !== null) return { failed: htmlFail(html) };
    return { ast };
  }
  function transformModule(source, packages) {
    const checked = parseChecked(source, "module");
    if (checked.failed) return checked.failed;
    const ast = checked.ast;
    const edits = [];
    const exported = [];
    const imports = [];
    const at = (node) => [node.loc.start.line, node.loc.start.column + 1];
    for (const node of ast.body) {
      if (node.type === "ImportDeclaration") {
        const imp = importText(node, packages || []);
        if (imp.error) return fail(imp.error, ...at(node.source));
        imports.push(imp.spec);
        edits.push([node.start, node.end, keepWidth(imp.text, source.slice(node.start, node.end))]);
      } else if (node.type === "ExportAllDeclaration" || (node.type === "ExportNamedDeclaration" && node.source)) {
        return fail("re-exports from other modules are not supported", ...at(node));
      } else if (node.type === "ExportDefaultDeclaration") {
        const decl = node.declaration;
        const head = source.slice(node.start, decl.start);
        if ((decl.type === "FunctionDeclaration" || decl.type === "ClassDeclaration") && decl.id) {
          edits.push([node.start, decl.start, blank(head)]);
          exported.push(["default", decl.id.name]);
        } else {
          edits.push([node.start, decl.start, keepWidth("$$iota.dv=(", head)]);
          edits.push([decl.end, node.end, ");" + blank(source.slice(decl.end, node.end)).slice(2)]);
          exported.push(["default", "$$iota.dv"]);
        }
      } else if (node.type === "ExportNamedDeclaration") {
        const why = exportNames(node, exported);
        if (why) return fail(why, ...at(node));
        if (node.declaration) {
          edits.push([node.start, node.declaration.start, blank(source.slice(node.start, node.declaration.start))]);
        } else {
          edits.push([node.start, node.end, blank(source.slice(node.start, node.end))]);
        }
      }
    }
    if (source.startsWith("#!")) {
      const end = source.indexOf("\n") === -1 ? source.length : source.indexOf("\n");
      edits.push([0, end, blank(source.slice(0, end))]);
    }
    const body = applyEdits(source, edits) + "\n;return $$iota.ns({"
      + exported.map(([name, local]) => quote(name) + ":" + local).join(",") + "});";
    return JSON.stringify({ ok: true, body, imports, exports: exported.map(([name]) => name) });
  }
  function transform(source, packages) {
    const checked = parseChecked(source, "script");
    if (checked.failed) return checked.failed;
    const ast = checked.ast;
    const edits = []; // [start, end, replacement]
    const imports = [];
    let hasDefault = false;
    const at = (node) => [node.loc.start.line, node.loc.start.column + 1];
    for (const node of ast.body) {
      if (node.type === "ImportDeclaration") {
        const imp = importText(node, packages || []);
        if (imp.error) return fail(imp.error, ...at(node.source));
        imports.push(imp.spec);
        edits.push([node.start, node.end, keepWidth(imp.text, source.slice(node.start, node.end))]);
        continue;
      }
      if (node.type === "ExportAllDeclaration" || (node.type === "ExportNamedDeclaration" && node.source)) {
        return fail("re-exports from other modules are not supported", ...at(node));
      }
      if (node.type === "ExportDefaultDeclaration") {
        hasDefault = true;
        const decl = node.declaration;
        const head = source.slice(node.start, decl.start);
        const named = (decl.type === "FunctionDeclaration" || decl.type === "ClassDeclaration") && decl.id;
        if (named) {
          // Keep it a declaration (hoisting), then export the binding.
          edits.push([node.start, decl.start, blank(head)]);
          edits.push([decl.end, node.end, blank(source.slice(decl.end, node.end))
            + ";$$iota.d=" + decl.id.name + ";"]);
        } else {
          edits.push([node.start, decl.start, keepWidth("$$iota.d=(", head)]);
          edits.push([decl.end, node.end, ");" + blank(source.slice(decl.end, node.end)).slice(2)]);
        }
      } else if (node.type === "ExportNamedDeclaration") {
        if (node.declaration) {
          edits.push([node.start, node.declaration.start, blank(source.slice(node.start, node.declaration.start))]);
        } else {
          let text = "";
          for (const s of node.specifiers) {
            const exported = s.exported.type === "Identifier" ? s.exported.name : s.exported.value;
            if (exported === "default") {
              hasDefault = true;
              text += "$$iota.d=" + s.local.name + ";";
            }
          }
          const old = source.slice(node.start, node.end);
          edits.push([node.start, node.end, keepWidth(text, old)]);
        }
      }
    }
    if (!hasDefault) {
      return fail("the script must `export default` a function, e.g. `export default async function (ctx) { ... }`", 1, 1);
    }
    if (source.startsWith("#!")) {
      const end = source.indexOf("\n") === -1 ? source.length : source.indexOf("\n");
      edits.push([0, end, blank(source.slice(0, end))]);
    }
    return JSON.stringify({ ok: true, body: applyEdits(source, edits), imports });
  }
  Object.defineProperty(globalThis, "__iota_transform", { value: transform });
  Object.defineProperty(globalThis, "__iota_transform_module", { value: transformModule });
})();

// __iota_policy(source, rules) returns JSON text: {"ok": true, "violations": [...]}
// or {"ok": false, "message", "line", "column"} when the source does not parse.
// A violation: {"rule": index in rules, "line", "column", "found"}. Rules (see
// iota_scripts_sdk/policy.py, which validates them): {"kind", "value"} with kind
//   identifier  value: a name, matched wherever it is a reference or a binding
//   member      value: a dotted path ("sdk.http", "Reflect.construct"), matched by
//               member chains (dots or string-literal brackets) and by destructuring
//   syntax      value: one of SYNTAX's keys
//   max_depth   value: how many blocks and functions may nest
//   default_export  the default export is a function
//   jsdoc_header    the source starts with a /** ... */ comment
// The AST cannot see computed access (sdk["ht" + "tp"]): the host refuses
// those calls at run time (Engine.run's `deny`).
(function () {
  "use strict";
  const SYNTAX = {
    with: (n) => n.type === "WithStatement",
    label: (n) => n.type === "LabeledStatement",
    debugger: (n) => n.type === "DebuggerStatement",
    generator: (n) => (n.type === "FunctionDeclaration" || n.type === "FunctionExpression") && n.generator,
    class: (n) => n.type === "ClassDeclaration" || n.type === "ClassExpression",
    "for-in": (n) => n.type === "ForInStatement",
    var: (n) => n.type === "VariableDeclaration" && n.kind === "var",
    delete: (n) => n.type === "UnaryExpression" && n.operator === "delete",
  };
  const FUNCS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
  const NESTS = new Set(["BlockStatement", "ClassBody", "StaticBlock", ...FUNCS]);
  function path(node) {
    // "a.b.c" for a static member chain, else null
    if (node.type === "Identifier") return node.name;
    if (node.type === "ThisExpression") return "this";
    if (node.type !== "MemberExpression") return null;
    const head = path(node.object);
    if (head === null) return null;
    if (!node.computed && node.property.type === "Identifier") return head + "." + node.property.name;
    if (node.computed && node.property.type === "Literal" && typeof node.property.value === "string") {
      return head + "." + node.property.value;
    }
    if (node.computed && node.property.type === "TemplateLiteral" && node.property.expressions.length === 0) {
      return head + "." + node.property.quasis[0].value.cooked;
    }
    return null;
  }
  function patternPaths(pattern, base, out) {
    // const {http, db: {unlink}} = sdk -> sdk.http, sdk.db, sdk.db.unlink
    if (pattern.type !== "ObjectPattern") return;
    for (const p of pattern.properties) {
      if (p.type !== "Property") continue;
      let key = null;
      if (!p.computed && p.key.type === "Identifier") key = p.key.name;
      else if (p.key.type === "Literal" && typeof p.key.value === "string") key = p.key.value;
      if (key === null) continue;
      const full = base + "." + key;
      out.push([full, p.key]);
      const inner = p.value.type === "AssignmentPattern" ? p.value.left : p.value;
      patternPaths(inner, full, out);
    }
  }
  function policy(source, rules) {
    let ast;
    const comments = [];
    try {
      ast = acorn.parse(source, {
        ecmaVersion: "latest", sourceType: "module", locations: true, allowHashBang: true,
        onComment: comments,
      });
    } catch (e) {
      if (e instanceof SyntaxError && e.loc) {
        return JSON.stringify({ ok: false, message: String(e.message).replace(/ \(\d+:\d+\)$/, ""),
          line: e.loc.line, column: e.loc.column + 1 });
      }
      return JSON.stringify({ ok: false, message: "the script could not be parsed", line: 1, column: 1 });
    }
    const violations = [];
    const seen = new Set();
    function report(index, node, found) {
      const line = node.loc.start.line;
      const column = node.loc.start.column + 1;
      const id = index + ":" + line + ":" + column;
      if (seen.has(id)) return;
      seen.add(id);
      violations.push({ rule: index, line, column, found });
    }
    const byKind = (kind) => rules.map((r, i) => [r, i]).filter(([r]) => r.kind === kind);
    const identifiers = byKind("identifier");
    const members = byKind("member");
    const syntax = byKind("syntax");
    const depths = byKind("max_depth");
    function checkPath(full, node) {
      for (const [r, i] of members) if (full === r.value) report(i, node, full);
    }
    // Iterative walk: a deeply nested script must not blow this stack.
    const stack = [[ast, 0, null, null]];
    while (stack.length) {
      const [node, depth, parent, field] = stack.pop();
      const isKey = parent !== null && (
        ((parent.type === "MemberExpression") && field === "property" && !parent.computed)
        || ((parent.type === "Property" || parent.type === "MethodDefinition" || parent.type === "PropertyDefinition")
          && field === "key" && !parent.computed));
      if (node.type === "Identifier" && !isKey) {
        for (const [r, i] of identifiers) if (node.name === r.value) report(i, node, node.name);
      }
      if (node.type === "MemberExpression") {
        const full = path(node);
        if (full !== null) checkPath(full, node);
      }
      if (node.type === "VariableDeclarator" && node.init) {
        const base = path(node.init);
        if (base !== null) {
          const out = [];
          patternPaths(node.id, base, out);
          for (const [full, at] of out) checkPath(full, at);
        }
      }
      for (const [r, i] of syntax) if (SYNTAX[r.value](node)) report(i, node, r.value);
      // A function's own body block is not a level of its own.
      const nests = NESTS.has(node.type) && !(node.type === "BlockStatement" && parent !== null && FUNCS.has(parent.type));
      const next = nests ? depth + 1 : depth;
      if (nests) for (const [r, i] of depths) if (next === r.value + 1) report(i, node, String(next));
      for (const key of Object.keys(node)) {
        if (key === "loc") continue;
        const child = node[key];
        if (Array.isArray(child)) {
          for (let k = child.length - 1; k >= 0; k--) {
            const c = child[k];
            if (c && typeof c.type === "string") stack.push([c, next, node, key]);
          }
        } else if (child && typeof child.type === "string") {
          stack.push([child, next, node, key]);
        }
      }
    }
    for (const [r, i] of byKind("default_export")) {
      const decl = ast.body.find((n) => n.type === "ExportDefaultDeclaration");
      const fn = decl && ["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]
        .includes(decl.declaration.type);
      if (!fn) report(i, decl || ast, decl ? decl.declaration.type : "no default export");
    }
    for (const [r, i] of byKind("jsdoc_header")) {
      const first = ast.body.length ? ast.body[0].start : source.length;
      const doc = comments.find((c) => c.type === "Block" && c.value.startsWith("*") && c.end <= first);
      if (!doc) report(i, ast.body.length ? ast.body[0] : ast, "no /** header */");
    }
    violations.sort((a, b) => a.line - b.line || a.column - b.column || a.rule - b.rule);
    return JSON.stringify({ ok: true, violations });
  }
  Object.defineProperty(globalThis, "__iota_policy", { value: policy });
})();

// __iota_capabilities(source) returns JSON text: {"ok": true, "calls": [...]} or
// {"ok": false, "message", "line", "column"}. A call: {"path": "sdk.db.search",
// "args": [first two arguments: a string when literal, else null], "line", "column"}
// for every call of an sdk function, direct (`sdk.db.search(...)`) or through a
// destructured alias (`const {db} = sdk; db.search(...)`). Any other use of an sdk
// namespace (`const f = sdk.db.search`, `sdk[name]`) is a call with a null path's
// args: capabilities.py lists it as one to declare by hand.
(function () {
  "use strict";
  const NAMESPACES = new Set(["db", "http", "events", "scripts", "secrets", "cache", "flags"]);
  function literal(node) {
    if (!node) return null;
    if (node.type === "Literal" && typeof node.value === "string") return node.value;
    if (node.type === "TemplateLiteral" && node.expressions.length === 0) return node.quasis[0].value.cooked;
    return null;
  }
  function capabilities(source) {
    let ast;
    try {
      ast = acorn.parse(source, {
        ecmaVersion: "latest", sourceType: "module", locations: true, allowHashBang: true,
      });
    } catch (e) {
      if (e instanceof SyntaxError && e.loc) {
        return JSON.stringify({ ok: false, message: String(e.message).replace(/ \(\d+:\d+\)$/, ""),
          line: e.loc.line, column: e.loc.column + 1 });
      }
      return JSON.stringify({ ok: false, message: "the script could not be parsed", line: 1, column: 1 });
    }
    const aliases = new Map(); // local name -> "sdk.db", ...
    function path(node) {
      if (node.type === "Identifier") return aliases.has(node.name) ? aliases.get(node.name) : node.name;
      if (node.type !== "MemberExpression") return null;
      const head = path(node.object);
      if (head === null) return null;
      if (!node.computed && node.property.type === "Identifier") return head + "." + node.property.name;
      const key = node.computed ? literal(node.property) : null;
      return key === null ? (head === "sdk" || head.startsWith("sdk.") ? head + ".[computed]" : null) : head + "." + key;
    }
    function bind(pattern, base) {
      if (pattern.type === "Identifier") { aliases.set(pattern.name, base); return; }
      if (pattern.type !== "ObjectPattern") return;
      for (const p of pattern.properties) {
        if (p.type !== "Property") continue;
        const key = !p.computed && p.key.type === "Identifier" ? p.key.name : literal(p.key);
        if (key === null) continue;
        const inner = p.value.type === "AssignmentPattern" ? p.value.left : p.value;
        bind(inner, base + "." + key);
      }
    }
    // aliases first (a declaration may follow its use in a function body)
    const nodes = [];
    const stack = [ast];
    while (stack.length) {
      const node = stack.pop();
      nodes.push(node);
      for (const key of Object.keys(node)) {
        if (key === "loc") continue;
        const child = node[key];
        if (Array.isArray(child)) {
          for (let k = child.length - 1; k >= 0; k--) if (child[k] && typeof child[k].type === "string") stack.push(child[k]);
        } else if (child && typeof child.type === "string") stack.push(child);
      }
    }
    for (const node of nodes) {
      if (node.type === "VariableDeclarator" && node.init) {
        const base = path(node.init);
        if (base !== null && (base === "sdk" || base.startsWith("sdk."))) bind(node.id, base);
      }
    }
    const calls = [];
    const callees = new Set();
    const at = (n) => ({ line: n.loc.start.line, column: n.loc.start.column + 1 });
    for (const node of nodes) {
      if (node.type !== "CallExpression") continue;
      const full = path(node.callee);
      if (full === null || !full.startsWith("sdk.")) continue;
      const parts = full.split(".");
      if (parts.length !== 3 || !NAMESPACES.has(parts[1])) continue;
      callees.add(node.callee);
      calls.push({ path: full, args: [literal(node.arguments[0]), literal(node.arguments[1])], ...at(node) });
    }
    for (const node of nodes) {
      if (node.type !== "MemberExpression" || callees.has(node)) continue;
      const full = path(node);
      if (full === null) continue;
      const parts = full.split(".");
      // sdk.db.search used as a value, or sdk[computed]: not a call we can read
      if ((parts.length === 3 && NAMESPACES.has(parts[1])) || parts[1] === "[computed]" || parts[2] === "[computed]") {
        calls.push({ path: full, args: [null, null], ...at(node), indirect: true });
      }
    }
    calls.sort((a, b) => a.line - b.line || a.column - b.column);
    return JSON.stringify({ ok: true, calls });
  }
  Object.defineProperty(globalThis, "__iota_capabilities", { value: capabilities });
})();
