// Turns an ES module source into the body of an async function, keeping every
// line where it was. Runs in the runner's compiler context, after acorn, where
// no script code ever runs: acorn only reads the source as text.
//
// __iota_transform(source) returns JSON text:
//   {"ok": true, "body": "..."}  or  {"ok": false, "message", "line", "column"}
// The body assigns the default export to `$$iota.d`.
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
  function transform(source) {
    let ast;
    let html = null;
    try {
      ast = acorn.parse(source, {
        ecmaVersion: "latest", sourceType: "module", locations: true, allowHashBang: true,
        onToken: (token) => {
          if (html === null) {
            const text = htmlComment(source, token);
            if (text !== null) html = { text, loc: token.loc.start };
          }
        },
      });
    } catch (e) {
      // `x\n--> y` is a syntax error for acorn, a comment for V8: name the cause.
      if (html !== null) return htmlFail(html);
      if (e instanceof SyntaxError && e.loc) {
        return fail(String(e.message).replace(/ \(\d+:\d+\)$/, ""), e.loc.line, e.loc.column + 1);
      }
      if (e instanceof RangeError) return fail("the script is nested too deeply to parse", 1, 1);
      throw e;
    }
    if (html !== null) return htmlFail(html);
    const edits = []; // [start, end, replacement]
    let hasDefault = false;
    const at = (node) => [node.loc.start.line, node.loc.start.column + 1];
    for (const node of ast.body) {
      if (node.type === "ImportDeclaration") {
        return fail("import declarations are not supported; the sdk is a global", ...at(node));
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
    edits.sort((a, b) => a[0] - b[0]);
    let out = "";
    let pos = 0;
    for (const [s, e, r] of edits) {
      out += source.slice(pos, s) + r;
      pos = e;
    }
    out += source.slice(pos);
    return JSON.stringify({ ok: true, body: out });
  }
  Object.defineProperty(globalThis, "__iota_transform", { value: transform });
})();
