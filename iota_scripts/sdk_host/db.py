"""The Odoo side of ``sdk.db``: host functions for one run.

What a script can reach
-----------------------
Every call runs in the *run environment*: the script's run-as user, not in
superuser mode, with ``allowed_company_ids`` pinned to the script's company
and a context built here (``lang``, ``tz``). Access rights and record rules
apply as they would over RPC for that user. On top of that:

The tables of what is refused live in ``policy.py`` (this package):

* Models that hold secrets or security policy are refused outright
  (``ir.config_parameter``, API keys, settings, ...); models that define code,
  access or the scripts themselves are read-only (``ir.rule``, ``res.users``,
  ``ir.actions.server``, ``iota.script*``, ...). Every model a write touches
  is checked, not only the one named: the comodels of nested x2many commands
  (recursively) and the targets of related fields.
* Fields whose names look like secrets (password, secret, token, API key,
  TOTP) are refused in reads, domains, orders and values.
* ``db.call`` reaches public methods only, as RPC does (no ``_private``, no
  ``@api.private`` such as ``sudo``/``with_user``/``with_company``). Of the
  methods every model has (``BaseModel``'s and the ``base`` model's), only
  those on the positive list ``ALLOWED_METHODS`` are accepted: ``read``,
  ``search_read``, ``web_save``, ``update``, ``export_data``, ... would bypass
  the checks above (use ``db.read`` and friends instead).
* A ``context`` passed in ``kwargs`` keeps ``lang`` and ``tz`` only; every
  other key (``allowed_company_ids``, ``active_test``, ``install_mode``, ...)
  is dropped.
* Values written (``db.create``, ``db.write``, the defaults of ``copy``) may
  link only to records the run may read: Odoo checks no company on some
  links (``res.partner.parent_id``), and a record hung under another
  company's would show that company's data.
* Records Odoo shares across companies are kept to the run's company where
  that sharing would show other companies' data (``SCOPED_MODELS``: other
  companies' users, their partners, the partners of other companies). They
  are record rules of the run, so model methods (``im_search``, mention
  suggestions) keep to them too.
* A record-rule refusal names no record and no company (``models/ir_rule.py``).
* With a capabilities declaration (``iota_scripts_sdk.capabilities``), the
  engine checks the model and operation each call names; this host checks
  the other models a call reaches: the comodels a write creates, changes or
  unlinks records of through x2many commands (``create``/``write``/``unlink``),
  the targets of related fields it writes (``write``), and the models a
  domain's field paths walk through (``read``).

Errors reach the script as ``{code, message}``: ``access_denied`` for Odoo
access errors and refused names, ``invalid_argument`` for bad arguments,
user and validation errors and database refusals. Messages never carry SQL or
a traceback.

Transactions: every call runs in a savepoint on the run's cursor (the calling
thread's), so a failing call leaves the transaction usable and undoes only
itself. Values are plain JSON: many2one ``[id, name]``, x2many id lists, dates
``YYYY-MM-DD``, datetimes ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), binary fields only
when named.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
import psycopg2
import pytz
from iota_scripts_sdk import ScriptError
from odoo.exceptions import AccessError, MissingError, RedirectWarning, UserError
from odoo.models import BaseModel
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, get_public_method

from .args import MAX_DEPTH, HostArgs, declared, denied, invalid, message, to_json
from .policy import (
    ALLOWED_METHODS,
    DENIED_MODELS,
    SCOPED_MODELS,
    SENSITIVE_FIELDS,
    is_read_only,
)

#: A search without a limit may match at most this many records.
MAX_RECORDS = 10000
#: Largest answer of one call, as JSON (the engine caps what scripts send,
#: not what the host answers).
MAX_REPLY_BYTES = 8 * 1024 * 1024


def method_allowed(model: BaseModel, name: str) -> bool:
    """True when ``sdk.db.call`` may call ``model.name`` (``name`` is not private).

    A method every model has (one of ``BaseModel`` or of the ``base`` model,
    which addons extend: ``web_save``, ``update``, ``read``, ...) must be on
    the positive list ``ALLOWED_METHODS``; a method the model defines for
    itself is a business method and may be called as over RPC.
    """
    if name in ALLOWED_METHODS:
        return True
    generic = type(model.env["base"])
    return not (hasattr(BaseModel, name) or hasattr(generic, name))


def scope_records(records: BaseModel, company: Any) -> BaseModel:
    """``records`` less those the scope of their model hides from a run of ``company``."""
    scope = SCOPED_MODELS.get(records._name)
    return records.filtered_domain(scope(company)) if scope and records else records


#: Context key of the run environment (see ``models/ir_rule.py``).
RUN_CONTEXT_KEY = "iota_scripts_run"

_ALLOWED_CONTEXT = ("lang", "tz")
_ORDER = re.compile(r"^\s*[a-z_][\w.]*(\s+(asc|desc))?(\s+nulls\s+(first|last))?\s*$", re.I)


# ---- argument checks ---------------------------------------------------------
def _ids(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in value
    ):
        raise invalid("ids must be a list of positive integers")
    if len(value) > MAX_RECORDS:
        raise invalid(f"at most {MAX_RECORDS} ids per call")
    return value


def _link_ids(values: list[Any]) -> list[int]:
    """The record ids among ``values`` (relational values); the ORM judges the rest."""
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]


def _command_ids(value: Any) -> tuple[list[int], list[dict[str, Any]]]:
    """Ids an x2many value links to, and the values of the records it creates or updates."""
    ids: list[Any] = []
    nested: list[dict[str, Any]] = []
    if not isinstance(value, list):
        return [], []
    for command in value:
        if not isinstance(command, list) or not command:
            ids.append(command)  # a bare id
            continue
        op = command[0]
        if op in (1, 2, 3, 4) and len(command) > 1:
            ids.append(command[1])
        elif op == 6 and len(command) > 2 and isinstance(command[2], list):
            ids.extend(command[2])
        if op in (0, 1) and len(command) > 2 and isinstance(command[2], dict):
            nested.append(command[2])
    return _link_ids(ids), nested


def _changes_comodel(value: Any) -> bool:
    """True when x2many commands create, update or delete records of the comodel."""
    return isinstance(value, list) and any(
        isinstance(command, list) and command and command[0] in (0, 1, 2) for command in value
    )


def _check_name(name: Any, what: str = "field") -> str:
    if not isinstance(name, str) or not name:
        raise invalid(f"{what} names must be non-empty strings")
    if SENSITIVE_FIELDS.search(name):
        raise denied(f"the {what} {name!r} is not available to scripts")
    return name


def _check_path(path: Any) -> None:
    if not isinstance(path, str) or not path:
        raise invalid("a domain leaf must start with a field name")
    for part in path.split("."):
        _check_name(part)


def _domain(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("the domain must be a list")
    out: list[Any] = []
    for leaf in value:
        if isinstance(leaf, str):
            if leaf not in ("&", "|", "!"):
                raise invalid(f"unknown domain operator {leaf!r}")
            out.append(leaf)
            continue
        if not (isinstance(leaf, list) and len(leaf) == 3 and isinstance(leaf[1], str)):
            raise invalid("a domain leaf must be [field, operator, value]")
        _check_path(leaf[0])
        operand = leaf[2]
        if leaf[1].lower() in ("any", "not any") and isinstance(operand, list):
            operand = _domain(operand)
        out.append((leaf[0], leaf[1], operand))
    return out


def _check_fields(model: BaseModel, names: Any) -> None:
    """Each name is a field of ``model`` that scripts may name."""
    for name in names:
        _check_name(name)
        if name not in model._fields:
            raise invalid(f"{model._name} has no field {name!r}")


def _field_names(model: BaseModel, names: Any) -> list[str] | None:
    if names is None:
        return None
    if not isinstance(names, list):
        raise invalid("fields must be a list of field names")
    _check_fields(model, names)
    return names


def _default_fields(model: BaseModel) -> list[str]:
    """Fields read when the script names none: no binary, no secret, none it may not read."""
    access = model.env["ir.model.access"]
    return [
        name
        for name, field in model._fields.items()
        if field.type != "binary"
        and not SENSITIVE_FIELDS.search(name)
        and field.is_accessible(model.env)
        and not (
            field.relational
            and field.type != "many2one"
            and not access.check(field.comodel_name, "read", raise_exception=False)
        )
    ]


def _values(model: BaseModel, values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise invalid("values must be an object")
    _check_fields(model, values)
    return values


def _options(value: Any) -> tuple[int | None, int, str | None]:
    if value is None:
        return None, 0, None
    if not isinstance(value, dict):
        raise invalid("options must be an object")
    unknown = sorted(set(value) - {"limit", "offset", "order"})
    if unknown:
        raise invalid(f"unknown option(s): {', '.join(unknown)}")
    limit, offset, order = value.get("limit"), value.get("offset") or 0, value.get("order")
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_RECORDS
    ):
        raise invalid(f"limit must be an integer from 1 to {MAX_RECORDS}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise invalid("offset must be a non-negative integer")
    if order is not None:
        if not isinstance(order, str):
            raise invalid("order must be a string")
        for part in order.split(","):
            if not _ORDER.match(part):
                raise invalid(f"invalid order {order!r}")
            _check_path(part.split()[0])
    return limit, offset, order


def _context(value: Any) -> dict[str, Any]:
    """The allowed part of a context passed by the script; the rest is dropped."""
    if not isinstance(value, dict):
        return {}
    out = {}
    lang, tz = value.get("lang"), value.get("tz")
    if isinstance(lang, str) and re.fullmatch(r"[a-z]{2,3}(_[A-Za-z0-9@]+)?", lang):
        out["lang"] = lang
    if isinstance(tz, str) and tz in pytz.all_timezones_set:
        out["tz"] = tz
    return out


# ---- host functions --------------------------------------------------------------
class DbHost:
    """``sdk.db`` for one run. ``env`` is the pinned run environment."""

    def __init__(self, env: Any, caps: Any = None) -> None:
        self.env = env
        #: the version's capabilities (None: no declaration)
        self.caps = caps
        #: A concurrency error (serialization failure, lock, deadlock) met by
        #: a call. The script sees ``internal_error``; the caller re-raises
        #: this after the run so that Odoo retries the whole transaction.
        self.abort: Exception | None = None

    def functions(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            host: self._guard(declared(host, fn))
            for host, fn in (
                ("db.search", self.search),
                ("db.read", self.read),
                ("db.searchRead", self.search_read),
                ("db.searchCount", self.search_count),
                ("db.create", self.create),
                ("db.write", self.write),
                ("db.unlink", self.unlink),
                ("db.call", self.call),
            )
        }

    def _guard(self, fn: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        def host(args: list[Any]) -> Any:
            try:
                # A savepoint per call: a refused write undoes itself only and
                # leaves the transaction (the user's, the cron's) usable.
                with self.env.cr.savepoint():
                    value = to_json(fn(args))
                if len(orjson.dumps(value)) > MAX_REPLY_BYTES:
                    raise invalid(
                        f"the answer is larger than {MAX_REPLY_BYTES} bytes; ask for fewer records or fields"
                    )
                return value
            except ScriptError:
                raise
            except AccessError as e:
                raise denied(message(e)) from None
            except MissingError as e:
                raise invalid(message(e)) from None
            except UserError as e:  # ValidationError included
                raise invalid(message(e)) from None
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY as e:
                self.abort = e
                raise ScriptError(
                    "internal_error", "a concurrent update interrupted the run; it will be retried"
                ) from None
            except RedirectWarning as e:
                raise invalid(message(e)) from None
            except psycopg2.IntegrityError:
                raise invalid("the database refused the values (a constraint failed)") from None
            except psycopg2.Error:
                raise invalid("the database refused the operation") from None
            except (ValueError, TypeError, KeyError) as e:
                raise invalid(message(e)) from None

        return host

    def _model(self, name: Any, write: bool = False) -> BaseModel:
        if not isinstance(name, str) or not name:
            raise invalid("the model name must be a non-empty string")
        if name in DENIED_MODELS:
            raise denied(f"the model {name!r} is not available to scripts")
        if name not in self.env.registry:
            raise invalid(f"unknown model {name!r}")
        model = self.env[name]
        if model._abstract:
            raise invalid(f"{name!r} is an abstract model")
        if write and is_read_only(name):
            raise denied(f"scripts may not change {name!r}")
        return model

    def _need(self, model_name: str, operation: str) -> None:
        if self.caps is not None:
            self.caps.require_model(model_name, operation)

    def _need_paths(self, model: BaseModel, domain: list[Any]) -> None:
        """``read`` of every model a domain's field paths walk into (``partner_id.email``)."""
        if self.caps is None:
            return
        for leaf in domain:
            if isinstance(leaf, tuple):
                self._need_path(model, leaf[0])
                operand = leaf[2]
                if leaf[1].lower() in ("any", "not any") and isinstance(operand, list):
                    field = model._fields.get(leaf[0].split(".")[0])
                    if field is not None and field.relational:
                        self._need_paths(self.env[field.comodel_name], operand)

    def _need_path(self, model: BaseModel, path: str) -> None:
        for part in path.split(".")[:-1]:
            field = model._fields.get(part)
            if field is None or not field.relational:
                return  # the ORM refuses the path itself
            model = self.env[field.comodel_name]
            self._need(model._name, "read")
        last = model._fields.get(path.split(".")[-1])
        if last is not None and last.relational and "." in path:
            self._need(last.comodel_name, "read")

    def _scoped(self, model: BaseModel, domain: list[Any]) -> list[Any]:
        self._need_paths(model, domain)
        scope = SCOPED_MODELS.get(model._name)
        # a domain is a sequence of expressions ANDed together: prepending is enough
        return scope(self.env.company) + domain if scope else domain

    def _browse(self, model: BaseModel, ids: list[int]) -> BaseModel:
        records = model.browse(ids)
        if model._name in SCOPED_MODELS:
            existing = records.exists()
            if existing - scope_records(existing, self.env.company):
                raise denied(f"some {model._name} records belong to another company")
        return records

    def search(self, args: HostArgs) -> list[int]:
        model = self._model(args["model"])
        domain = self._scoped(model, _domain(args["domain"]))
        limit, offset, order = _options(args["options"])
        ids = model.search(domain, offset=offset, limit=limit or MAX_RECORDS + 1, order=order).ids
        if limit is None and len(ids) > MAX_RECORDS:
            raise invalid(
                f"more than {MAX_RECORDS} records match; page with options.limit and options.offset"
            )
        return ids

    def read(self, args: HostArgs) -> list[dict[str, Any]]:
        model = self._model(args["model"])
        ids = _ids(args["ids"])
        names = _field_names(model, args["fields"]) or _default_fields(model)
        return self._browse(model, ids).read(names)

    def search_read(self, args: HostArgs) -> list[dict[str, Any]]:
        model = self._model(args["model"])
        domain = self._scoped(model, _domain(args["domain"]))
        names = _field_names(model, args["fields"]) or _default_fields(model)
        limit, offset, order = _options(args["options"])
        records = model.search(domain, offset=offset, limit=limit or MAX_RECORDS + 1, order=order)
        if limit is None and len(records) > MAX_RECORDS:
            raise invalid(
                f"more than {MAX_RECORDS} records match; page with options.limit and options.offset"
            )
        return records.read(names)

    def search_count(self, args: HostArgs) -> int:
        model = self._model(args["model"])
        return model.search_count(self._scoped(model, _domain(args["domain"])))

    def create(self, args: HostArgs) -> int:
        model = self._model(args["model"], write=True)
        values = _values(model, args["values"])
        self._check_links(model, values)
        return model.create(values).id

    def write(self, args: HostArgs) -> bool:
        model = self._model(args["model"], write=True)
        records = model.browse(_ids(args["ids"]))
        values = _values(model, args["values"])
        self._check_links(model, values)
        return bool(records.write(values))

    def _check_links(self, model: BaseModel, values: dict[str, Any], depth: int = 0) -> None:
        """Refuses values that point to records the run may not read, or change models it may not.

        Odoo does not check that a user may read the records that a relational
        value points to, and not every such field checks companies
        (``res.partner.parent_id`` does not): a script could hang one of its
        own records under another company's and read back what is copied or
        computed from it (its name, VAT, ...). Every id in a many2one, x2many
        or reference value must be readable by the run, as if ``sdk.db.read``
        asked for it; nested creations and updates are checked the same way.

        A write reaches more models than the one named: an editable related
        field writes its target (``res.partner.user_ids`` and the fields
        inherited from a parent model alike), a one2many command writes the
        comodel's inverse field, and a nested create/update/delete writes the
        comodel. Each of those models must be one scripts may change, or the
        checks on the named model would be a door to ``res.users.groups_id``.
        """
        if depth > MAX_DEPTH:
            raise invalid("the values are nested too deeply")
        for name, value in values.items():
            field = model._fields[name]
            self._check_related_target(model, field)
            nested: list[dict[str, Any]] = []
            if field.type == "many2one":
                ids = _link_ids([value[0] if isinstance(value, list) and value else value])
            elif field.type in ("one2many", "many2many"):
                ids, nested = _command_ids(value)
                if (field.type == "one2many" and value) or _changes_comodel(value):
                    self._model(field.comodel_name, write=True)
                    self._need_commands(field, value)
            elif field.type == "reference" and isinstance(value, str) and "," in value:
                comodel_name, _sep, rid = value.partition(",")
                if rid.strip().isdigit():
                    self._browse(self._model(comodel_name), [int(rid)]).check_access("read")
                continue
            else:
                continue
            if not (ids or nested):
                continue
            comodel = self._model(field.comodel_name)
            if ids:
                self._browse(comodel, ids).check_access("read")
            for vals in nested:
                self._check_links(comodel, _values(comodel, vals), depth + 1)

    def _need_commands(self, field: Any, value: Any) -> None:
        """The operations x2many commands make on the comodel (0 create, 1 write, 2 unlink;
        a one2many link or unlink writes the comodel's inverse field)."""
        if self.caps is None or not isinstance(value, list):
            return
        ops = {0: "create", 1: "write", 2: "unlink"}
        for command in value:
            op = command[0] if isinstance(command, list) and command else None
            if op in ops:
                self._need(field.comodel_name, ops[op])
            elif field.type == "one2many":
                self._need(field.comodel_name, "write")

    def _check_related_target(self, model: BaseModel, field: Any) -> None:
        """Refuses a related (or inherited) field whose value lives in a model scripts may not change."""
        if not field.related:
            return
        target = model
        for part in field.related.split(".")[:-1]:
            target = self.env[target._fields[part].comodel_name]
        self._model(target._name, write=True)
        self._need(target._name, "write")
        self._check_related_target(target, target._fields[field.related.split(".")[-1]])

    def unlink(self, args: HostArgs) -> bool:
        model = self._model(args["model"], write=True)
        return bool(model.browse(_ids(args["ids"])).unlink())

    def call(self, args: HostArgs) -> Any:
        model = self._model(args["model"], write=True)
        name = args["method"]
        if not isinstance(name, str) or not name:
            raise invalid("the method name must be a non-empty string")
        if name.startswith("_") or not method_allowed(model, name):
            raise denied(f"scripts may not call {model._name}.{name}")
        try:
            method = get_public_method(model, name)
        except AccessError:
            raise denied(f"scripts may not call {model._name}.{name}") from None
        except AttributeError:
            raise invalid(f"{model._name} has no method {name!r}") from None
        ids = args["ids"]
        call_args = args["args"] or []
        kwargs = args["kwargs"] or {}
        if not isinstance(call_args, list):
            raise invalid("args must be a list")
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise invalid("kwargs must be an object")
        kwargs = dict(kwargs)
        context = _context(kwargs.pop("context", None))
        if name == "copy":
            # the values of the copy are checked like those of db.create
            default = call_args[0] if call_args else kwargs.get("default")
            if default is not None:
                self._check_links(model, _values(model, default))
        if getattr(method, "_api", None) in ("model", "model_create"):
            records = model
        else:
            records = self._browse(model, _ids(ids or []))
        if context:
            records = records.with_context(**context)
        return getattr(records, name)(*call_args, **kwargs)
