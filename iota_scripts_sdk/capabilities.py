"""Capabilities: what a script declares it may touch, checked on every sdk call.

A declaration is a JSON object; every key is optional and a missing key
declares nothing of its kind::

    {
      "models":  {"res.partner": ["read", "write"], "sale.order": ["read"]},
      "http":    ["api.example.com", "*.example.org"],
      "events":  ["order.exported", "crm.*"],
      "scripts": ["invoice-step-2"],
      "secrets": ["stripe_key"],
      "cache":   "vat-lookups"
    }

* ``models``: per model, the operations ``read`` (``db.search``, ``db.read``,
  ``db.searchRead``, ``db.searchCount``), ``create``, ``write`` and
  ``unlink``. ``db.call`` needs ``read`` for the methods that only look
  (:data:`READ_METHODS`), ``create`` for ``copy`` and ``name_create``, else
  ``write``.
* ``http``: the hosts ``sdk.http`` may reach, in the syntax of
  ``Limits.allow_hosts`` (``api.example.com``, ``*.example.com``, ``*``);
  they *are* the run's allow-list, redirects included.
* ``events``: the event types ``sdk.events.emit`` may emit; ``prefix.*``
  covers every type under ``prefix.``.
* ``scripts``: the keys ``sdk.scripts.enqueue`` may queue.
* ``secrets``: the names ``sdk.secrets.get`` may read.
* ``cache``: the namespace of ``sdk.cache``: its keys live apart from those
  of any other namespace. ``default`` is the run-as user's shared cache, the
  one scripts without a declaration use (and scripts used before capabilities
  existed: the upgrade keeps their cache). No namespace: no cache.

Capabilities come *on top of* the host's own checks (for Odoo: the run-as
user's access rights and record rules), never instead of them. A call outside
the declaration fails with ``access_denied`` naming what is missing, e.g.
``capability 'models.res.partner.write' not declared``.

:data:`SCHEMA` is the JSON Schema of a declaration (the Odoo addon validates
with it at save); :func:`parse` checks the same rules without ``jsonschema``
and :func:`canonical` gives the one text of a declaration (sorted keys and
lists, no spaces) that versions store and signatures cover.
:func:`suggest` turns the facts the runners' parser finds in a source
(``compiler.js``, ``__iota_capabilities``) into a declaration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ScriptError

__all__ = [
    "DEFAULT_CACHE_NAMESPACE",
    "OPERATIONS",
    "READ_METHODS",
    "SCHEMA",
    "Capabilities",
    "Suggestion",
    "canonical",
    "parse",
    "suggest",
]

OPERATIONS = ("read", "create", "write", "unlink")

#: The cache namespace that is the run-as user's shared cache (see ``cache`` above).
DEFAULT_CACHE_NAMESPACE = "default"

#: ``db.call`` methods that only look: they need ``read``.
READ_METHODS = frozenset(
    {"exists", "fields_get", "default_get", "has_access", "check_access", "name_search"}
)
_DB_FUNCTIONS = ("search", "read", "searchRead", "searchCount", "create", "write", "unlink", "call")

#: ``db.call`` methods that make records: they need ``create``.
CREATE_METHODS = frozenset({"copy", "name_create"})

_MODEL = r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$"
_HOST = (
    r"^(\*|(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$"
)
_EVENT = r"^[a-z0-9_][a-z0-9_.-]{0,127}(\.\*)?$|^\*$"
_KEY = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_SECRET = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"  # noqa: S105 - the pattern of secret names
_NAMESPACE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def _names(pattern: str, what: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": what,
        "items": {"type": "string", "pattern": pattern},
        "uniqueItems": True,
    }


#: The JSON Schema (draft 2020-12) of a declaration.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "IOTA Scripts capabilities",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "models": {
            "type": "object",
            "description": "operations per model: read, create, write, unlink",
            "propertyNames": {"pattern": _MODEL},
            "additionalProperties": {
                "type": "array",
                "items": {"enum": list(OPERATIONS)},
                "uniqueItems": True,
            },
        },
        "http": _names(_HOST, "hosts sdk.http may reach"),
        "events": _names(_EVENT, "event types sdk.events.emit may emit"),
        "scripts": _names(_KEY, "script keys sdk.scripts.enqueue may queue"),
        "secrets": _names(_SECRET, "secret names sdk.secrets.get may read"),
        "cache": {
            "type": "string",
            "pattern": _NAMESPACE,
            "description": "the sdk.cache namespace",
        },
    },
}


def _denied(capability: str) -> ScriptError:
    return ScriptError("access_denied", f"capability {capability!r} not declared")


@dataclass(frozen=True)
class Capabilities:
    """A parsed declaration (see the module docstring). Build it with :func:`parse`."""

    models: Mapping[str, frozenset[str]] = field(default_factory=dict)
    http: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    cache: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The declaration as JSON data, lists sorted, empty kinds left out."""
        out: dict[str, Any] = {}
        if self.models:
            out["models"] = {
                m: [op for op in OPERATIONS if op in ops] for m, ops in sorted(self.models.items())
            }
        for name in ("http", "events", "scripts", "secrets"):
            values = getattr(self, name)
            if values:
                out[name] = sorted(values)
        if self.cache:
            out["cache"] = self.cache
        return out

    # ---- checks -------------------------------------------------------------------
    def require_model(self, model: str, operation: str) -> None:
        """Raises ``access_denied`` unless ``operation`` on ``model`` is declared."""
        if operation not in self.models.get(model, ()):
            raise _denied(f"models.{model}.{operation}")

    def check(self, name: str, args: list[Any]) -> None:
        """Raises ``access_denied`` when the sdk call ``name(args)`` is outside the declaration.

        Malformed arguments pass: the function itself refuses them with
        ``invalid_argument`` (the declaration cannot be asked about them).
        """
        namespace, _, function = name.partition(".")
        first = args[0] if args else None
        if namespace == "db":
            if isinstance(first, str):
                method = args[1] if function == "call" and len(args) > 1 else None
                self.require_model(first, db_operation(function, method))
        elif namespace == "http":
            self._check_url(first)
        elif namespace == "events":
            if isinstance(first, str) and not any(_event_matches(p, first) for p in self.events):
                raise _denied(f"events.{first}")
        elif namespace == "scripts":
            if isinstance(first, str) and first not in self.scripts:
                raise _denied(f"scripts.{first}")
        elif namespace == "secrets":
            if isinstance(first, str) and first not in self.secrets:
                raise _denied(f"secrets.{first}")
        elif namespace == "cache":
            if not self.cache:
                raise _denied("cache")
        elif namespace != "flags":
            # a namespace this declaration has no words for: refused, never waved through
            raise _denied(namespace)

    def _check_url(self, url: Any) -> None:
        """The URL's host, normalised as the HTTP client does, must match ``http``.

        (The client checks the same list again at every redirect hop:
        ``http`` is the run's allow-list.)"""
        from ._http.addresses import host_matches
        from ._http.request import parse_url

        try:
            target = parse_url(url)
        except ScriptError:
            return  # the fetch itself refuses it, with its own code
        if not any(host_matches(entry, target.host, target.ip) for entry in self.http):
            raise _denied(f"http.{target.host}")


def db_operation(function: str, method: Any = None) -> str:
    """The operation an ``sdk.db`` function needs (``db.call``: by its method)."""
    if function in ("search", "read", "searchRead", "searchCount"):
        return "read"
    if function in ("create", "write", "unlink"):
        return function
    if isinstance(method, str) and method in READ_METHODS:
        return "read"
    if isinstance(method, str) and method in CREATE_METHODS:
        return "create"
    return "write"


def url_host(url: Any) -> str | None:
    """The host of an http(s) URL, lower-cased, or None when it has none."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return f"[{host}]" if ":" in host else host.lower().rstrip(".")


def _event_matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


# ---- parsing --------------------------------------------------------------------------
def _fail(where: str, why: str) -> ScriptError:
    return ScriptError("invalid_argument", f"capabilities: {where}: {why}")


def _name_list(data: Mapping[str, Any], key: str, pattern: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _fail(key, "must be a list of strings")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not re.match(pattern, item):
            raise _fail(f"{key}[{i}]", f"{item!r} is not valid")
        out.append(item)
    if len(set(out)) != len(out):
        raise _fail(key, "has duplicates")
    return tuple(sorted(out))


def parse(value: str | Mapping[str, Any]) -> Capabilities:
    """A declaration (JSON text or data) as :class:`Capabilities`.

    Raises ``invalid_argument`` naming the first bad entry (the same rules as
    :data:`SCHEMA`)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise _fail("JSON", str(e)) from None
    if not isinstance(value, Mapping):
        raise _fail("declaration", "must be an object")
    unknown = sorted(set(value) - set(SCHEMA["properties"]))
    if unknown:
        raise _fail(unknown[0], "unknown kind (one of " + ", ".join(SCHEMA["properties"]) + ")")
    models = value.get("models", {})
    if not isinstance(models, Mapping):
        raise _fail("models", "must be an object of operation lists")
    parsed: dict[str, frozenset[str]] = {}
    for model, ops in models.items():
        if not isinstance(model, str) or not re.match(_MODEL, model):
            raise _fail(f"models.{model}", "is not a model name")
        if not isinstance(ops, list) or any(op not in OPERATIONS for op in ops):
            raise _fail(f"models.{model}", "operations are " + ", ".join(OPERATIONS))
        if len(set(ops)) != len(ops):
            raise _fail(f"models.{model}", "has duplicates")
        parsed[model] = frozenset(ops)
    cache = value.get("cache")
    if cache is not None and not (isinstance(cache, str) and re.match(_NAMESPACE, cache)):
        raise _fail("cache", f"{cache!r} is not a namespace name")
    return Capabilities(
        models=parsed,
        http=_name_list(value, "http", _HOST),
        events=_name_list(value, "events", _EVENT),
        scripts=_name_list(value, "scripts", _KEY),
        secrets=_name_list(value, "secrets", _SECRET),
        cache=cache,
    )


def canonical(value: str | Mapping[str, Any] | Capabilities) -> str:
    """The one text of a declaration: sorted keys and lists, no spaces."""
    caps = value if isinstance(value, Capabilities) else parse(value)
    return json.dumps(caps.to_dict(), sort_keys=True, separators=(",", ":"))


# ---- suggestion from the AST -------------------------------------------------------------
@dataclass(frozen=True)
class Suggestion:
    """What :func:`suggest` found: the declaration, and the calls it could not read.

    ``unresolved``: ``{"line", "column", "call", "why"}`` per call whose
    target is computed (``sdk.db.search(ctx.input.model)``): the declaration
    needs a hand-written entry for it.
    """

    capabilities: Capabilities
    unresolved: tuple[dict[str, Any], ...] = ()


def suggest(facts: Mapping[str, Any], extra_hosts: Iterable[str] = ()) -> Suggestion:
    """A declaration from the parser's facts (``{"calls": [{path, args, line, column}]}``).

    ``args`` holds each literal argument as a string, else None. ``extra_hosts``
    are added to ``http`` (e.g. the hosts a script was allowed before it had a
    declaration)."""
    models: dict[str, set[str]] = {}
    kinds: dict[str, set[str]] = {"http": set(extra_hosts), "events": set(), "scripts": set()}
    kinds["secrets"] = set()
    cache = None
    unresolved = []
    seen: set[tuple[Any, Any]] = set()
    for call in facts.get("calls", []):
        path, args = str(call.get("path")), list(call.get("args") or [])
        namespace, _, function = path.removeprefix("sdk.").partition(".")
        first = args[0] if args else None
        target: str | None = None
        if call.get("indirect"):
            pass
        elif namespace == "db":
            method = args[1] if function == "call" and len(args) > 1 else None
            if function not in _DB_FUNCTIONS or (function == "call" and method is None):
                target = None
            elif isinstance(first, str) and re.match(_MODEL, first):
                models.setdefault(first, set()).add(db_operation(function, method))
                continue
        elif namespace == "http":
            target = url_host(first)
            if target is not None:
                kinds["http"].add(target)
                continue
        elif namespace == "cache" and not function.startswith("["):
            cache = DEFAULT_CACHE_NAMESPACE
            continue
        elif (
            namespace in ("events", "scripts", "secrets")
            and isinstance(first, str)
            and (not function.startswith("["))
        ):
            kinds[namespace].add(first)
            continue
        elif namespace == "flags":
            continue
        if (call.get("line"), call.get("column")) in seen:
            continue
        seen.add((call.get("line"), call.get("column")))
        unresolved.append(
            {
                "line": call.get("line"),
                "column": call.get("column"),
                "call": path,
                "why": "used indirectly or with a computed target: declare it by hand",
            }
        )
    data: dict[str, Any] = {"models": {m: sorted(ops) for m, ops in models.items()}}
    for name, values in kinds.items():
        data[name] = sorted(v for v in values if v)
    if cache:
        data["cache"] = cache
    try:
        caps = parse(data)
    except ScriptError:
        # a literal the schema refuses (an event type with spaces, ...): keep what is valid
        caps = parse(_valid_only(data))
    return Suggestion(caps, tuple(unresolved))


def _valid_only(data: dict[str, Any]) -> dict[str, Any]:
    patterns = {"http": _HOST, "events": _EVENT, "scripts": _KEY, "secrets": _SECRET}
    out = dict(data)
    for name, pattern in patterns.items():
        out[name] = [v for v in data.get(name, []) if re.match(pattern, v)]
    return out
