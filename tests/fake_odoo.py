"""An in-memory stand-in for the addon's sdk hosts, for the cookbook's engine tests.

Import as ``import fake_odoo`` (``tests`` is on pytest's ``pythonpath``).

:class:`FakeOdoo` serves ``db.*``, ``events.emit`` and ``scripts.enqueue`` the
way the addon's hosts answer them (``iota_scripts/sdk_host``): ids, rows with
many2one values as ``[id, name]``, ``{id}`` for an enqueue, an error with a
code for a missing record. It records every write, event and enqueue so a test
can assert what a script did. It is **not** Odoo: no access rights, record
rules, computed fields or constraints. It checks a script's logic, and the
cookbook pages say so.

:func:`loopback_http` replaces the engine's ``http.fetch`` for a run: the
script's URL keeps its name (``https://api.example.com/...``) and is sent to a
:class:`http_servers.LoopbackServer` through the engine's own SSRF-safe client,
with 127.0.0.1 exempted; a name not in the map is ``destination_blocked``, as a
host missing from a script's allowed hosts would be.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from iota_scripts_sdk._http import HttpPolicy
from iota_scripts_sdk.engine import _http_fetch
from iota_scripts_sdk.errors import ScriptError

__all__ = ["FakeOdoo", "loopback_http"]

Method = Callable[["FakeOdoo", list[int], list[Any], dict[str, Any]], Any]


def _arg(args: list[Any], i: int, default: Any = None) -> Any:
    return args[i] if len(args) > i and args[i] is not None else default


class FakeOdoo:
    """Records by model (``{model: {id: {field: value}}}``); many2one values are ids."""

    def __init__(
        self,
        data: Mapping[str, Mapping[int, Mapping[str, Any]]] | None = None,
        *,
        m2o: Mapping[str, Mapping[str, str]] | None = None,
        methods: Mapping[tuple[str, str], Method] | None = None,
    ) -> None:
        self.data: dict[str, dict[int, dict[str, Any]]] = {
            model: {rid: dict(rec) for rid, rec in recs.items()}
            for model, recs in (data or {}).items()
        }
        self.m2o = {model: dict(fields) for model, fields in (m2o or {}).items()}
        self.methods = dict(methods or {})
        self.writes: list[tuple[str, list[int], dict[str, Any]]] = []
        self.created: list[tuple[str, int, dict[str, Any]]] = []
        self.calls: list[tuple[str, str, list[int], list[Any], dict[str, Any]]] = []
        self.events: list[tuple[str, Any]] = []
        self.enqueued: list[tuple[str, Any, dict[str, Any]]] = []
        self._event_ids = itertools.count(1)
        self._queue_ids = itertools.count(1000)

    # ---- the host functions ----------------------------------------------------------
    def host(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "db.search": lambda a: self.search(a[0], _arg(a, 1, []), _arg(a, 2, {})),
            "db.searchCount": lambda a: len(self.search(a[0], _arg(a, 1, []), {})),
            "db.read": lambda a: self.read(a[0], a[1], _arg(a, 2)),
            "db.searchRead": lambda a: self.read(
                a[0], self.search(a[0], _arg(a, 1, []), _arg(a, 3, {})), _arg(a, 2)
            ),
            "db.create": lambda a: self.create(a[0], a[1]),
            "db.write": lambda a: self.write(a[0], a[1], a[2]),
            "db.unlink": lambda a: self.unlink(a[0], a[1]),
            "db.call": lambda a: self.call(
                a[0], a[1], _arg(a, 2, []), _arg(a, 3, []), _arg(a, 4, {})
            ),
            "events.emit": self._emit,
            "scripts.enqueue": self._enqueue,
        }

    def _emit(self, args: list[Any]) -> str:
        self.events.append((args[0], _arg(args, 1)))
        return f"event-{next(self._event_ids)}"

    def _enqueue(self, args: list[Any]) -> dict[str, int]:
        self.enqueued.append((args[0], _arg(args, 1), _arg(args, 2, {})))
        return {"id": next(self._queue_ids)}

    # ---- the ORM, small --------------------------------------------------------------
    def _records(self, model: str) -> dict[int, dict[str, Any]]:
        return self.data.setdefault(model, {})

    def search(self, model: str, domain: list[Any], options: Mapping[str, Any]) -> list[int]:
        rows = [(rid, rec) for rid, rec in self._records(model).items() if _match(rec, rid, domain)]
        for part in reversed((options.get("order") or "id").split(",")):
            name, _, direction = part.strip().partition(" ")
            rows.sort(
                key=lambda r, n=name: (r[0] if n == "id" else r[1].get(n)) or 0,
                reverse=direction.strip().lower() == "desc",
            )
        ids = [rid for rid, _ in rows][int(options.get("offset") or 0) :]
        return ids[: options["limit"]] if options.get("limit") else ids

    def read(self, model: str, ids: list[int], fields: list[str] | None) -> list[dict[str, Any]]:
        records = self._records(model)
        missing = [i for i in ids if i not in records]
        if missing:
            raise ScriptError("invalid_argument", f"Record does not exist: {model}{missing}")
        out = []
        for rid in ids:
            rec = records[rid]
            names = fields if fields else list(rec)
            row: dict[str, Any] = {"id": rid}
            for name in names:
                row[name] = self._render(model, name, rec.get(name, False))
            out.append(row)
        return out

    def _render(self, model: str, field: str, value: Any) -> Any:
        comodel = self.m2o.get(model, {}).get(field)
        if comodel is None or not value:
            return value
        target = self._records(comodel).get(value, {})
        return [value, target.get("name", f"{comodel},{value}")]

    def create(self, model: str, values: dict[str, Any]) -> int:
        records = self._records(model)
        rid = max(records, default=0) + 1
        records[rid] = dict(values)
        self.created.append((model, rid, dict(values)))
        return rid

    def write(self, model: str, ids: list[int], values: dict[str, Any]) -> bool:
        records = self._records(model)
        for rid in ids:
            if rid not in records:
                raise ScriptError("invalid_argument", f"Record does not exist: {model}[{rid}]")
            records[rid].update(values)
        self.writes.append((model, list(ids), dict(values)))
        return True

    def unlink(self, model: str, ids: list[int]) -> bool:
        for rid in ids:
            self._records(model).pop(rid, None)
        return True

    def call(
        self, model: str, method: str, ids: list[int], args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        self.calls.append((model, method, list(ids), list(args), dict(kwargs)))
        fn = self.methods.get((model, method))
        return fn(self, ids, args, kwargs) if fn else True


def _match(rec: Mapping[str, Any], rid: int, domain: list[Any]) -> bool:
    """Polish-notation domains with ``&``, ``|``, ``!`` and the common operators."""
    stack: list[bool] = []
    for term in reversed(domain):
        if term == "!":
            stack.append(not stack.pop())
        elif term in ("&", "|"):
            a, b = stack.pop(), stack.pop()
            stack.append(a and b if term == "&" else a or b)
        else:
            stack.append(_term(rec, rid, term))
    return all(stack)


def _term(rec: Mapping[str, Any], rid: int, term: list[Any]) -> bool:
    field, op, value = term
    have = rid if field == "id" else rec.get(field, False)
    if op == "=":
        return have == value or (value is False and not have)
    if op == "!=":
        return not _term(rec, rid, [field, "=", value])
    if op == "in":
        return have in value
    if op == "not in":
        return have not in value
    if op == "=ilike":
        return isinstance(have, str) and have.lower() == str(value).lower()
    if op == "ilike":
        return isinstance(have, str) and str(value).lower() in have.lower()
    if have is False or have is None:
        return False
    return {"<": have < value, "<=": have <= value, ">": have > value, ">=": have >= value}[op]


def loopback_http(servers: Mapping[str, Any]) -> Callable[[list[Any]], Any]:
    """``http.fetch`` that sends ``https://NAME/...`` to ``servers[NAME]`` (a LoopbackServer)."""
    policy = HttpPolicy(
        allow_hosts=("127.0.0.1",), extra_allowed_networks=("127.0.0.1/32",), timeout_sec=5.0
    )

    def fetch(args: list[Any]) -> Any:
        url = urlsplit(args[0])
        server = servers.get(url.hostname or "")
        if server is None:
            raise ScriptError("destination_blocked", f"{url.hostname} is not an allowed host")
        local = urlunsplit(("http", f"127.0.0.1:{server.port}", url.path, url.query, ""))
        return _http_fetch(policy, [local, *args[1:]])

    return fetch


def rfc_date(text: str) -> bool:
    """True for an HTTP date as JavaScript's ``toUTCString`` writes it."""
    return (
        re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", text)
        is not None
    )
