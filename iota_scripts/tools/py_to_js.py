"""A first JavaScript draft of a Python server action ("Execute Code").

:func:`convert` reads the Python with :mod:`ast` (never runs it) and writes a
script module: the Python kept whole in a comment, then a default export
where the common idioms of Odoo server actions are translated and every other
statement is a ``// TODO:`` line holding the Python it stands for. Nothing is
guessed silently: a translation the converter cannot be sure of is marked
``TODO`` too. Recognised (see docs/guide/migrating.md, side by side):

* ``record.write({...})`` / ``records.write({...})`` -> ``sdk.db.write`` on ``ctx.records``;
* ``env['x'].search(domain, limit=n, order=o)`` -> ``sdk.db.search``; ``search_count`` -> ``sdk.db.searchCount``;
* ``env['x'].create({...})`` -> ``sdk.db.create``;
* ``records.filtered(lambda r: ...)`` -> a ``TODO`` with the condition;
* ``log(message, level=...)`` -> ``sdk.log.<level>``;
* ``raise UserError(message)`` -> ``throw new Error(message)``;
* ``for record in records:`` -> a loop over ``ctx.records.ids``.

No Odoo import: tested on its own (``tests/test_py_to_js.py``, engine suite).
"""

from __future__ import annotations

import ast
import json

__all__ = ["ConversionError", "convert"]

_LOG_LEVELS = {
    "debug": "debug",
    "info": "info",
    "warning": "warn",
    "warn": "warn",
    "error": "error",
}
_RECORDS = ("record", "records")


class ConversionError(ValueError):
    """The Python does not parse: nothing to convert (the message says where)."""


def _js(node: ast.AST) -> str | None:
    """``node`` as a JavaScript literal when it is plain data (a Python
    variable is not: its value is unknown here); else None."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    try:
        return json.dumps(_jsonable(value), ensure_ascii=False)
    except (TypeError, ValueError):
        return None


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("keys")
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, bytes, complex)):
        raise TypeError(type(value).__name__)
    return value


def _model_of(node: ast.AST) -> str | None:
    """``'res.partner'`` for ``env['res.partner']``."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "env"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    return None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _condition(node: ast.AST) -> str | None:
    """``records`` / ``not records`` (and ``record``) as JavaScript; else None."""
    if isinstance(node, ast.Name) and node.id in _RECORDS:
        return "ctx.records.ids.length > 0"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _condition(node.operand)
        return None if inner is None else f"!({inner})"
    return None


def _call(node: ast.AST, loop_var: str | None = None) -> str | None:
    """The JavaScript of a recognised call expression, or None. Inside ``for
    <loop_var> in records``, ``<loop_var>.write`` writes that record only."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "log":
            return _log(node)
        return None
    target, method = node.func.value, node.func.attr
    model = _model_of(target)
    if isinstance(target, ast.Name) and method == "write":
        if target.id == loop_var:
            ids = "[id]"
        elif target.id in _RECORDS:
            ids = "ctx.records.ids"
        else:
            return None
        values = _js(node.args[0]) if len(node.args) == 1 else None
        if values is None:
            return None
        return f"await sdk.db.write(ctx.records.model, {ids}, {values})"
    if model and method in ("search", "search_count"):
        domain = _js(node.args[0]) if node.args else "[]"
        if domain is None:
            return None
        if method == "search_count":
            return f"await sdk.db.searchCount({json.dumps(model)}, {domain})"
        options = {}
        for key in ("limit", "offset", "order"):
            value = _kw(node, key)
            if value is not None:
                options[key] = _js(value)
                if options[key] is None:
                    return None
        opts = ", {" + ", ".join(f"{k}: {v}" for k, v in options.items()) + "}" if options else ""
        return f"await sdk.db.search({json.dumps(model)}, {domain}{opts})"
    if model and method == "create" and len(node.args) == 1:
        values = _js(node.args[0])
        return None if values is None else f"await sdk.db.create({json.dumps(model)}, {values})"
    return None


def _log(node: ast.Call) -> str | None:
    message = _js(node.args[0]) if node.args else None
    level_node = _kw(node, "level") or (node.args[1] if len(node.args) > 1 else None)
    level = "info"
    if level_node is not None:
        if not (isinstance(level_node, ast.Constant) and level_node.value in _LOG_LEVELS):
            return None
        level = _LOG_LEVELS[level_node.value]
    return None if message is None else f"sdk.log.{level}({message})"


class _Writer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []
        self.loop_var: str | None = None

    def todo(self, node: ast.AST, depth: int, why: str = "") -> None:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        first, *rest = text.splitlines() or [""]
        note = f" ({why})" if why else ""
        self.lines.append(f"{'  ' * depth}// TODO{note}: {first}")
        self.lines.extend(f"{'  ' * depth}//   {line}" for line in rest)

    def statement(self, node: ast.stmt, depth: int) -> None:
        pad = "  " * depth
        if isinstance(node, ast.Expr):
            js = _call(node.value, self.loop_var)
            if js is not None:
                self.lines.append(f"{pad}{js};")
                return
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
                if node.value.func.attr == "filtered":
                    self.todo(node, depth, "filter ctx.records: read the fields, then keep the ids")
                    return
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            js = _call(node.value, self.loop_var)
            if isinstance(target, ast.Name) and js is not None:
                self.lines.append(f"{pad}const {target.id} = {js};")
                return
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ("UserError", "ValidationError") and node.exc.args:
                message = _js(node.exc.args[0])
                if message is not None:
                    self.lines.append(f"{pad}throw new Error({message});")
                    return
                self.lines.append(
                    f"{pad}// TODO: build the message: {ast.unparse(node.exc.args[0])}"
                )
                self.lines.append(f'{pad}throw new Error("TODO");')
                return
        if (
            isinstance(node, ast.For)
            and isinstance(node.iter, ast.Name)
            and node.iter.id == "records"
            and isinstance(node.target, ast.Name)
            and not node.orelse
        ):
            self.lines.append(f"{pad}for (const id of ctx.records.ids) {{")
            self.lines.append(
                f"{pad}  // TODO: `{node.target.id}` is the record with this id: read its fields with sdk.db.read"
            )
            outer, self.loop_var = self.loop_var, node.target.id
            for child in node.body:
                self.statement(child, depth + 1)
            self.loop_var = outer
            self.lines.append(f"{pad}}}")
            return
        if isinstance(node, ast.If):
            condition = _condition(node.test)
            if condition is None:
                self.lines.append(f"{pad}// TODO (condition): if {ast.unparse(node.test)}")
                condition = "false"
            self.lines.append(f"{pad}if ({condition}) {{")
            for child in node.body:
                self.statement(child, depth + 1)
            if node.orelse:
                self.lines.append(f"{pad}}} else {{")
                for child in node.orelse:
                    self.statement(child, depth + 1)
            self.lines.append(f"{pad}}}")
            return
        self.todo(node, depth)


def convert(python: str, name: str = "server action") -> str:
    """A JavaScript module drafted from the Python code of a server action.

    Raises :class:`ConversionError` when the Python does not parse."""
    try:
        tree = ast.parse(python or "", mode="exec")
    except SyntaxError as e:
        raise ConversionError(f"the Python does not parse: line {e.lineno}: {e.msg}") from None
    writer = _Writer(python or "")
    for node in tree.body:
        writer.statement(node, 1)
    if not tree.body:
        writer.lines.append("  // TODO: the server action has no code")
    kept = (python or "").replace("*/", "* /").rstrip()
    header = [
        f"// Converted from the Python server action {json.dumps(name, ensure_ascii=False)}.",
        "// Review every TODO; the Python stays below, as it was, for reference.",
        "/* Python:",
        *kept.splitlines(),
        "*/",
        "export default async function (ctx) {",
    ]
    return "\n".join([*header, *writer.lines, "}", ""])
