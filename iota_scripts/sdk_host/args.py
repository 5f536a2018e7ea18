"""What every host namespace shares: the argument check, the errors, JSON replies.

The argument check is driven by the one declaration of the JS API,
:data:`iota_scripts_sdk.api.API`: a host function registered with
:func:`declared` receives :class:`HostArgs`, its arguments by the names the
declaration gives them, after two checks that no namespace repeats:

* no more arguments than the function declares (the prelude trims extra
  arguments; a call that reaches the host with more was not made by it);
* every parameter the declaration does not mark optional is present (not
  ``null``/``undefined``).

The checks of each value's shape stay with the namespace (``db.py``, ...),
which knows what a domain or a model name is. Every refusal is a
:class:`~iota_scripts_sdk.ScriptError`: ``invalid_argument`` or
``access_denied``, with a message that names no other company's data.
"""

from __future__ import annotations

import base64
import datetime
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from iota_scripts_sdk import ScriptError
from iota_scripts_sdk.api import API, Param
from odoo.models import BaseModel

__all__ = [
    "HostArgs",
    "declared",
    "denied",
    "invalid",
    "message",
    "number",
    "to_json",
]

#: JSON values deeper than this are refused (in replies and in payloads).
MAX_DEPTH = 64

#: host name -> its declared parameters (``db.search`` -> (model, domain, options))
PARAMS: dict[str, tuple[Param, ...]] = {
    fn.host: fn.params for ns in API for fn in ns.functions if fn.kind == "host" and fn.host
}


def denied(text: str) -> ScriptError:
    return ScriptError("access_denied", text)


def invalid(text: str) -> ScriptError:
    return ScriptError("invalid_argument", text)


def message(exc: BaseException) -> str:
    """The first argument of an Odoo exception, as one short line of text."""
    text = str(exc.args[0]) if exc.args else exc.__class__.__name__
    text = " ".join(text.split())
    return text[:500] or exc.__class__.__name__


def number(value: Any, name: str, low: float, high: float) -> float:
    """``value`` when it is a number from ``low`` to ``high``; else ``invalid_argument``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise invalid(f"{name} must be a number")
    if not low <= value <= high:
        raise invalid(f"{name} must be from {low} to {high}")
    return value


class HostArgs:
    """The arguments of one call of the host function ``host``, by declared name.

    ``args["model"]`` is the argument or ``None`` when the script left it out.
    Raises ``invalid_argument`` for too many arguments or a missing required one.
    """

    __slots__ = ("host", "values")

    def __init__(self, host: str, args: Any) -> None:
        params = PARAMS[host]
        if not isinstance(args, list):
            raise invalid(f"sdk.{host} takes a list of arguments")
        if len(args) > len(params):
            raise invalid(f"sdk.{host} takes at most {len(params)} arguments, not {len(args)}")
        self.host = host
        self.values = {p.name: (args[i] if i < len(args) else None) for i, p in enumerate(params)}
        for p in params:
            if not p.optional and self.values[p.name] is None:
                raise invalid(f"sdk.{host}: the argument {p.name!r} is required")

    def __getitem__(self, name: str) -> Any:
        return self.values[name]  # a KeyError is a host bug: the name is not declared


def declared(host: str, fn: Callable[[HostArgs], Any]) -> Callable[[list[Any]], Any]:
    """``fn`` as a host function: it receives the checked :class:`HostArgs` of ``host``."""
    if host not in PARAMS:
        raise KeyError(f"{host} is not a host function of iota_scripts_sdk.api.API")

    def call(args: list[Any]) -> Any:
        return fn(HostArgs(host, args))

    call.__name__ = fn.__name__
    return call


def to_json(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON types; recordsets become id lists."""
    if depth > MAX_DEPTH:
        raise invalid("the value is nested too deeply")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.replace(microsecond=0).isoformat() + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("ascii")  # binary fields read as base64
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, BaseModel):
        return list(value.ids)
    if isinstance(value, Mapping):
        return {str(k): to_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v, depth + 1) for v in value]
    raise invalid(f"a {type(value).__name__} value cannot be sent to the script")
