"""Field names a script reads, found in its text, for the editor's warnings.

``field_references(source)`` finds the calls ``sdk.db.read(model, ids,
[fields])`` and ``sdk.db.searchRead(model, domain, [fields])`` whose model is
a string literal and whose field list is an array of string literals, and
returns each field name with its 1-based line and column. The editor marks
the names the model does not have (``unknown_fields``) with a warning.

This is a scanner, not a parser: it follows brackets, strings, template
literals and comments to split a call's arguments, and ignores every call it
cannot read plainly (a variable model, a computed list). It never fails on
bad input: a source that does not parse yields what it could read.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..sdk_host.policy import DENIED_MODELS, SENSITIVE_FIELDS

#: sdk.db method -> index of its field-list argument.
FIELD_ARGUMENT = {"read": 2, "searchRead": 2}

_CALL = re.compile(r"\bsdk\s*\.\s*db\s*\.\s*(read|searchRead)\s*\(")
_STRING = re.compile(r"""\s*(["'])((?:\\.|(?!\1).)*)\1\s*$""", re.S)
_OPEN = "([{"
_CLOSE = ")]}"


class FieldRef(NamedTuple):
    model: str
    field: str
    line: int
    column: int


def _skip_string(source: str, i: int) -> int:
    """The index after the string or template literal that starts at ``i``."""
    quote = source[i]
    i += 1
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if char == quote:
            return i + 1
        if quote != "`" and char == "\n":
            return i  # an unterminated string ends with its line
        i += 1
    return i


def _arguments(source: str, start: int) -> list[tuple[int, int]]:
    """``(begin, end)`` offsets of the top-level arguments of the call opened just before ``start``."""
    args, depth, begin, i = [], 0, start, start
    while i < len(source):
        char = source[i]
        if char in "\"'`":
            i = _skip_string(source, i)
            continue
        if source.startswith("//", i):
            newline = source.find("\n", i)
            i = len(source) if newline < 0 else newline
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = len(source) if end < 0 else end + 2
            continue
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            if depth == 0:
                args.append((begin, i))
                return args
            depth -= 1
        elif char == "," and depth == 0:
            args.append((begin, i))
            begin = i + 1
        i += 1
    return args  # unterminated call: what was read


def _string_value(text: str) -> str | None:
    match = _STRING.match(text)
    return match.group(2) if match and "\\" not in match.group(2) else None


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def field_references(source: str) -> list[FieldRef]:
    """The literal field names of ``sdk.db.read``/``searchRead`` calls in ``source``."""
    refs = []
    for call in _CALL.finditer(source):
        args = _arguments(source, call.end())
        index = FIELD_ARGUMENT[call.group(1)]
        if len(args) <= index:
            continue
        model = _string_value(source[args[0][0] : args[0][1]])
        begin, end = args[index]
        text = source[begin:end]
        stripped = text.strip()
        if not model or not (stripped.startswith("[") and stripped.endswith("]")):
            continue
        offset = begin + text.index("[") + 1
        inner = stripped[1:-1]
        for item in re.finditer(r"""(["'])([\w.]*)\1|[^,\s]+""", inner):
            if item.group(2) is None:
                continue  # not a plain string literal: not ours to judge
            line, column = _position(source, offset + item.start())
            refs.append(FieldRef(model, item.group(2), line, column))
    return refs


def unknown_fields(env: Any, source: str) -> list[dict[str, Any]]:
    """Warning markers for the field names that the named model does not have, for ``env.user``.

    Fields are those ``fields_get`` returns to the user (as the editor's
    typings). Models the user may not read, unknown models and the fields
    ``sdk.db`` hides anyway are left alone (other errors say so at run time).
    """
    markers, known = [], {}
    for ref in field_references(source):
        if ref.model in DENIED_MODELS or SENSITIVE_FIELDS.search(ref.field):
            continue
        if ref.model not in known:
            model = env.get(ref.model) if ref.model in env.registry else None
            readable = model is not None and model.has_access("read")
            known[ref.model] = set(model.fields_get(attributes=["type"])) if readable else None
        fields = known[ref.model]
        if fields is None or ref.field in fields:
            continue
        markers.append(
            {
                "line": ref.line,
                "column": ref.column,
                "severity": "warning",
                "message": f'{ref.model} has no field "{ref.field}"',
            }
        )
    return markers
