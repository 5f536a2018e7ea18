"""Path templates of script endpoints: parsing, normalising, matching, overlap.

A template is ``/seg/seg/...`` where a segment is either a literal
(lower-case letters, digits, ``-``, ``_``, ``.``; never ``.`` or ``..``) or a
parameter ``{name}`` that matches one whole non-empty segment. Templates are
stored normalised: literals lower-cased. Incoming paths match literals
exactly (no case folding, no percent-decoding tricks: the controller refuses
encoded dots and slashes before matching).

Two templates *overlap* when some path matches both: same number of segments
and, position by position, equal literals or at least one parameter. Overlaps
are refused at save (``/orders/{id}`` and ``/orders/new`` would be ambiguous).
"""

from __future__ import annotations

import re

_LITERAL = re.compile(r"^[a-z0-9_~-][a-z0-9._~-]*$")
_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]{0,63})\}$")
_ENCODED = re.compile(r"%(2e|2f|5c|00|25)", re.IGNORECASE)

#: First segments a template may not start with (they name core Odoo paths).
RESERVED_FIRST = frozenset(
    {"web", "xmlrpc", "jsonrpc", "odoo", "longpolling", "websocket", "openapi.json", "api"}
)

MAX_SEGMENTS = 16
MAX_TEMPLATE_CHARS = 512


class PathError(ValueError):
    """A template (or incoming path) that is refused; the message says why."""


def parse_template(template: str) -> tuple[str, ...]:
    """The normalised segments of ``template``; raises :class:`PathError`.

    Parameters come back as ``{name}``, literals lower-cased.
    """
    if not isinstance(template, str) or not template:
        raise PathError("the path is empty")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise PathError(f"the path is longer than {MAX_TEMPLATE_CHARS} characters")
    if _ENCODED.search(template) or "%" in template:
        raise PathError("the path may not contain percent-encoded characters (%2e, %2f...)")
    if "\\" in template or any(ord(c) < 0x21 or ord(c) > 0x7E for c in template):
        raise PathError("the path may contain only visible ASCII characters and no backslash")
    if not template.startswith("/"):
        raise PathError("the path must start with '/'")
    if template != "/" and template.endswith("/"):
        raise PathError("the path may not end with '/'")
    if template == "/":
        raise PathError("the path needs at least one segment")
    parts = template[1:].split("/")
    if len(parts) > MAX_SEGMENTS:
        raise PathError(f"the path has more than {MAX_SEGMENTS} segments")
    segments: list[str] = []
    names: set[str] = set()
    for part in parts:
        if part == "":
            raise PathError("the path may not contain empty segments ('//')")
        if part in (".", ".."):
            raise PathError("the path may not contain '.' or '..' segments")
        if match := _PARAM.match(part):
            name = match.group(1)
            if name in names:
                raise PathError(f"the parameter {{{name}}} appears twice")
            names.add(name)
            segments.append(part)
            continue
        literal = part.lower()
        if not _LITERAL.match(literal) or ".." in literal:
            raise PathError(
                f"{part!r} is neither a literal (letters, digits, '-', '_', '.', '~') "
                "nor a parameter {name}"
            )
        segments.append(literal)
    if segments[0] in RESERVED_FIRST:
        raise PathError(f"paths may not start with /{segments[0]} (a core Odoo path)")
    return tuple(segments)


def is_param(segment: str) -> bool:
    return segment.startswith("{")


def overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when some path would match both templates."""
    if len(a) != len(b):
        return False
    return all(x == y or is_param(x) or is_param(y) for x, y in zip(a, b, strict=True))


def match(segments: tuple[str, ...], path_parts: list[str]) -> dict[str, str] | None:
    """The parameters when ``path_parts`` matches ``segments``, else None."""
    if len(segments) != len(path_parts):
        return None
    params: dict[str, str] = {}
    for seg, part in zip(segments, path_parts, strict=True):
        if is_param(seg):
            if not part:
                return None
            params[seg[1:-1]] = part
        elif seg != part:
            return None
    return params


def split_request_path(subpath: str, raw_uri: str | None) -> list[str]:
    """The segments of an incoming sub-path; raises :class:`PathError` for tricks.

    ``raw_uri`` is the undecoded request target when the server provides it:
    encoded dots, slashes, backslashes and NULs there are refused, because
    the WSGI path was already decoded and could not tell ``a%2fb`` from ``a/b``.
    """
    if raw_uri is not None and _ENCODED.search(raw_uri.split("?", 1)[0]):
        raise PathError("encoded dots, slashes or percent signs are not allowed in the path")
    if subpath.endswith("/") or "//" in subpath or "\\" in subpath or "\x00" in subpath:
        raise PathError("trailing slashes, empty segments and backslashes are not allowed")
    parts = subpath.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PathError("'.' and '..' segments are not allowed")
    return parts


def openapi_path(segments: tuple[str, ...]) -> str:
    return "/" + "/".join(segments)
