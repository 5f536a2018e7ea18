// The "profile" run mode's instrumenting transform (see iota_scripts_sdk/profile.py).
// Runs in the runner's compiler context, after acorn, where no script code runs.
//
// __iota_profile(source) returns JSON text:
//   {"ok": true, "source": "...", "functions": [{"name", "line", "column"}, ...]}
//   or {"ok": false, "message", "line", "column"}
// The returned source is a module like the original, every line where it was
// (columns move): each function body is wrapped in
//   const $$fN = $$P.e(N); try { ...body... } finally { $$P.x($$fN); }
// and, inside async functions, each `await x` becomes
//   $$P.r($$fN, await $$P.s($$fN, x))
// so that the time a suspended function waits is not charged to whoever runs
// meanwhile. $$P (defined on line 1, before the script's own code) keeps a call
// tree keyed by the path of function ids (at most MAX_NODES nodes), each node
// [function id, parent node, calls, total ms]; when a function called from the
// top level returns, it logs the tree as one debug line "$$iota_profile" that
// the engine takes out of the run's logs. Time is wall time from Date.now():
// whole milliseconds per call, summed.
(function () {
  "use strict";
  const FUNCS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
  const MAX_NODES = 400;
  const RUNTIME =
    "const $$P=(function(){const L=sdk.log.debug,now=Date.now,N=[[-1,-1,0,0]],K=[new Map()];"
    + "let cur=0,over=0;"
    + "function kid(p,id){const m=K[p];let c=m.get(id);if(c===undefined){if(N.length>=" + MAX_NODES
    + "){over++;return 0;}c=N.length;N.push([id,p,0,0]);K.push(new Map());m.set(id,c);}return c;}"
    + "function flush(){try{L('$$iota_profile',{nodes:N.slice(1).map(n=>[n[0],n[1],n[2],Math.round(n[3]*100)/100]),over});}catch(e){}}"
    + "return{e(id){const p=cur,n=kid(p,id);cur=n||p;return[n,p,now()];},"
    + "x(f){if(f[0]){const n=N[f[0]];n[2]++;n[3]+=now()-f[2];}cur=f[1];if(f[1]===0)flush();},"
    + "s(f,v){cur=f[1];return v;},r(f,v){cur=f[0]||f[1];return v;}};})();";

  function fail(message, line, column) {
    return JSON.stringify({ ok: false, message, line, column });
  }
  function nameOf(node, parent) {
    if (node.id && node.id.name) return node.id.name;
    if (parent) {
      if (parent.type === "VariableDeclarator" && parent.id.type === "Identifier") return parent.id.name;
      if ((parent.type === "Property" || parent.type === "MethodDefinition" || parent.type === "PropertyDefinition")
        && !parent.computed && parent.key.type === "Identifier") return parent.key.name;
      if (parent.type === "AssignmentExpression" && parent.left.type === "Identifier") return parent.left.name;
      if (parent.type === "ExportDefaultDeclaration") return "default";
    }
    return "(anonymous)";
  }
  function profile(source) {
    let ast;
    try {
      ast = acorn.parse(source, { ecmaVersion: "latest", sourceType: "module", locations: true, allowHashBang: true });
    } catch (e) {
      if (e instanceof SyntaxError && e.loc) {
        return fail(String(e.message).replace(/ \(\d+:\d+\)$/, ""), e.loc.line, e.loc.column + 1);
      }
      return fail("the script could not be parsed", 1, 1);
    }
    const inserts = []; // [pos, closing (0|1), depth, text]
    const functions = [];
    // Iterative walk: [node, parent, enclosing function id (or -1), its async flag, depth]
    const stack = [[ast, null, -1, false, 0]];
    while (stack.length) {
      const [node, parent, fn, isAsync, depth] = stack.pop();
      let ownFn = fn;
      let ownAsync = isAsync;
      if (FUNCS.has(node.type)) {
        const id = functions.length;
        functions.push({ name: nameOf(node, parent), line: node.loc.start.line, column: node.loc.start.column + 1 });
        ownFn = id;
        ownAsync = node.async;
        const body = node.body;
        if (body.type === "BlockStatement") {
          inserts.push([body.start + 1, 0, depth, `const $$f${id}=$$P.e(${id});try{`]);
          inserts.push([body.end - 1, 1, depth, `}finally{$$P.x($$f${id})}`]);
        } else {
          // after `=>`, so that a parenthesised body stays inside
          const from = node.params.length ? node.params[node.params.length - 1].end : node.start;
          const arrow = source.indexOf("=>", from) + 2;
          inserts.push([arrow, 0, depth, `{const $$f${id}=$$P.e(${id});try{return(`]);
          inserts.push([node.end, 1, depth, `)}finally{$$P.x($$f${id})}}`]);
        }
      } else if (node.type === "AwaitExpression" && fn >= 0 && isAsync) {
        inserts.push([node.start, 0, depth, `$$P.r($$f${fn},`]);
        inserts.push([node.argument.start, 0, depth + 1, `$$P.s($$f${fn},`]);
        inserts.push([node.argument.end, 1, depth + 1, ")"]);
        inserts.push([node.end, 1, depth, ")"]);
      }
      for (const key of Object.keys(node)) {
        if (key === "loc") continue;
        const child = node[key];
        if (Array.isArray(child)) {
          for (let k = child.length - 1; k >= 0; k--) {
            const c = child[k];
            if (c && typeof c.type === "string") stack.push([c, node, ownFn, ownAsync, depth + 1]);
          }
        } else if (child && typeof child.type === "string") {
          stack.push([child, node, ownFn, ownAsync, depth + 1]);
        }
      }
    }
    // at one position: closings first (the innermost first), then openings (the outermost first)
    inserts.sort((a, b) => a[0] - b[0] || b[1] - a[1] || (a[1] ? b[2] - a[2] : a[2] - b[2]));
    let out = "";
    let pos = 0;
    for (const [at, , , text] of inserts) {
      out += source.slice(pos, at) + text;
      pos = at;
    }
    out += source.slice(pos);
    if (out.startsWith("#!")) {
      const end = out.indexOf("\n") === -1 ? out.length : out.indexOf("\n");
      out = out.slice(0, end).replace(/[^\n]/g, " ") + out.slice(end);
    }
    return JSON.stringify({ ok: true, source: RUNTIME + out, functions });
  }
  Object.defineProperty(globalThis, "__iota_profile", { value: profile });
})();
