"""The gateway's pure HTTP helpers: errors, JSON bodies, header policies, answers.

No Odoo here (the standard library, ``jsonschema`` and the engine), so the rules an
endpoint applies to what comes in and what goes out are tested on their own
(``tests/test_gateway_http.py``, in the engine's suite). The controller
(``controllers/main.py``) keeps the routing and the request pipeline and
wraps :func:`answer` in an Odoo response.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from . import json_schema
from .storable_text import header_value_error, unicode_text

__all__ = [
    "ALLOWED_REQUEST_HEADERS",
    "ALLOWED_RESPONSE_HEADERS",
    "API_VERSION",
    "APP_HEADER_PREFIX",
    "DIGITS",
    "HIDDEN_HEADERS",
    "IDEMPOTENCY_KEY",
    "MAX_JSON_DEPTH",
    "SECURITY_HEADERS",
    "Answer",
    "ApiError",
    "answer",
    "body_bytes",
    "check_json",
    "hmac_message",
    "limiter",
    "mask",
    "parse_json",
    "programmatic",
    "request_target",
    "validate",
]

#: Request headers a script never sees.
HIDDEN_HEADERS = frozenset(
    {
        "cookie",
        "authorization",
        "proxy-authorization",
        "x-openerp-session-id",
        "x-odoo-session-id",
        "x-signature",
        "x-api-key",
    }
)
#: Response headers a script may set, besides its own ``X-App-*`` headers.
#: An allowlist: anything else (``Set-Cookie``, CORS, security headers, and
#: headers a front proxy acts on, such as ``X-Accel-Redirect`` or
#: ``X-Sendfile``) is refused with ``invalid_response``.
ALLOWED_RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "content-language",
        "content-disposition",
        "etag",
        "last-modified",
        "location",
        "link",
        "x-request-id",
        "x-correlation-id",
        "x-total-count",
    }
)
APP_HEADER_PREFIX = "x-app-"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_JSON_DEPTH = 64
#: ``v1`` .. ``v999``: the version segment of ``/iota/api/<version>/...``.
API_VERSION = re.compile(r"^v[1-9][0-9]{0,2}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
#: What a CORS preflight allows a caller to send.
ALLOWED_REQUEST_HEADERS = (
    "Content-Type, Authorization, Idempotency-Key, X-Timestamp, X-Signature, X-Requested-With"
)
#: Numbers in headers and queries: ASCII only (str.isdigit() accepts "²", int() does not).
DIGITS = re.compile(r"^[0-9]{1,12}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_SECRET_KEY = re.compile(r"pass|secret|token|api[-_]?key|authorization|signature|cookie", re.I)


class ApiError(Exception):
    """A refusal with an HTTP status and a stable code; the message is shown."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def hmac_message(stamp: str, method: str, path: str, query: str, body: bytes) -> bytes:
    """The bytes an HMAC endpoint's signature covers (docs/guide/endpoints.md, "HMAC")::

        <X-Timestamp> LF <METHOD> LF <path> LF <query> LF <raw body>

    ``path`` is the request path as sent (``/iota/api/v1/hook``, its
    percent-encoding kept), ``query`` the query string as sent without ``?``
    (empty when there is none), ``METHOD`` upper case."""
    head = f"{stamp}\n{method}\n{path}\n{query}\n"
    return head.encode("latin-1", "replace") + body


def request_target(environ: Mapping[str, Any]) -> tuple[str, str]:
    """``(path, query)`` as the client sent them (WSGI strings hold the raw bytes
    as latin-1). Falls back to the decoded path when the server keeps no raw URI."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if "://" in raw.split("?", 1)[0]:  # absolute-form request target
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        path = raw.split("?", 1)[0]
    else:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return path, environ.get("QUERY_STRING", "")


def programmatic(headers: Mapping[str, str]) -> bool:
    """True for a call a page cannot make with a plain link, form or image.

    Either a custom header (``X-Requested-With``: a foreign page cannot send
    one without a CORS preflight, which only the endpoint's origins pass), or
    a browser ``fetch``/XHR from this origin (``Sec-Fetch-Site: same-origin``
    and ``Sec-Fetch-Dest: empty``; an ``<img>`` in the chatter is same-origin
    too, but its destination is ``image``)."""
    if headers.get("X-Requested-With"):
        return True
    return (
        headers.get("Sec-Fetch-Site") == "same-origin"
        and headers.get("Sec-Fetch-Dest") == "empty"
        and headers.get("Sec-Fetch-Mode") in ("cors", "same-origin")
    )


def check_json(value: Any) -> None:
    """Refuses what the runner cannot take: nesting past ``MAX_JSON_DEPTH``,
    integers outside 64 bits and strings with lone surrogates (``"\\ud800"``
    is valid JSON text but not valid Unicode). Iterative: no recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ApiError(400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise ApiError(400, "invalid_json", "Integers must fit in 64 bits.")
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(
                    400, "invalid_json", "Strings may not hold lone surrogates."
                ) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> tuple[str, Any]:
    """``(text, value)`` of a JSON body; ``ApiError`` 400 naming what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_utf8", "The body is not valid UTF-8.") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ApiError(
            400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels."
        ) from None
    except ValueError as e:
        raise ApiError(400, "invalid_json", f"The body is not JSON: {str(e)[:200]}") from None
    check_json(value)
    return text, value


def mask(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced by ``***``."""
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEY.search(str(k)) else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def validate(validator: Any, value: Any, where: str) -> None:
    """Raises ApiError 400 naming the first error of ``validator`` (a compiled
    ``jsonschema`` validator, cached in the endpoint's spec)."""
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    except json_schema.Unresolvable:
        # a remote $ref saved before refs were checked: never fetched
        raise ApiError(
            500, "invalid_schema", f"The {where} schema refers outside itself (remote_reference)."
        ) from None
    if errors:
        error = errors[0]
        pointer = "/".join(str(p) for p in error.path)
        raise ApiError(
            400,
            "validation_error",
            f"{where}{'/' + pointer if pointer else ''}: {error.message[:300]}",
        )


class Answer:
    """What a script's return value answers: ``status``, the script's own
    ``headers``, and either ``raw`` bytes or a JSON ``payload``."""

    __slots__ = ("content_type", "headers", "payload", "raw", "status")

    def __init__(self, status: int, headers: dict[str, str], payload: Any, raw: bytes | None):
        self.status, self.payload, self.raw = status, payload, raw
        self.content_type = headers.pop("Content-Type", None) or headers.pop("content-type", None)
        self.headers = headers


def _answer_headers(headers: Any) -> dict[str, str]:
    """The headers a script set, each on the allowlist with an encodable value."""
    out = {}
    for name, val in (headers or {}).items():
        if not HEADER_NAME.match(str(name)) or not (
            name.lower() in ALLOWED_RESPONSE_HEADERS or name.lower().startswith(APP_HEADER_PREFIX)
        ):
            raise ApiError(
                500, "invalid_response", f"The script may not set the header {str(name)[:64]!r}."
            )
        if why := header_value_error(val):
            # Checked here, not by the server: a value it cannot encode
            # would fail after the run's transaction ended.
            raise ApiError(500, "invalid_response", f"The value of the header {name!r} {why}.")
        out[name] = val
    return out


def answer(value: Any, response_validator: Any = None) -> Answer:
    """Maps a script's return value to an :class:`Answer`.

    ``{status, headers?, body?|json?}`` (and nothing else) sets the status,
    headers and body; any other value is the JSON body of a 200. A ``body``
    must be a string (sent as ``text/plain`` unless the script names a type).
    ``response_validator`` checks the JSON payload. Refusals are ``ApiError``
    500 ``invalid_response``."""
    if not (
        isinstance(value, dict)
        and isinstance(value.get("status"), int)
        and set(value) <= {"status", "headers", "body", "json"}
    ):
        status, headers, payload, raw = 200, {}, value, None
    else:
        status = value["status"]
        if not 200 <= status <= 599:
            raise ApiError(500, "invalid_response", "The script answered an invalid status.")
        headers, payload, raw = _answer_headers(value.get("headers")), value.get("json"), None
        if "body" in value:
            if not isinstance(value["body"], str):
                raise ApiError(
                    500, "invalid_response", "body must be a string (use json for values)."
                )
            raw = unicode_text(value["body"]).encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            payload = None
    if response_validator is not None and raw is None:
        try:
            validate(response_validator, payload, "response")
        except ApiError:
            raise ApiError(
                500, "invalid_response", "The script's answer does not match its schema."
            ) from None
    if status == 204:
        raw = b""
    return Answer(status, headers, payload, raw)


def body_bytes(payload: Any, raw: bytes | None = None) -> bytes:
    """The bytes of a response: ``raw``, or ``payload`` as UTF-8 JSON."""
    if raw is not None:
        return raw
    return unicode_text(json.dumps(payload, ensure_ascii=False)).encode("utf-8")


_LIMITERS: dict[tuple[str | None, str, str], object] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter(redis_url: str | None, policy: str, algorithm: str) -> Any:
    """The process-wide RateLimiter for a (Redis URL, outage policy, algorithm).

    Each algorithm has its own key namespace: a GCRA key is a Redis string, a
    sliding-window key a ZSET, and switching an endpoint's algorithm must not
    meet the other's value (WRONGTYPE)."""
    from iota_scripts_sdk.ratelimit import RateLimiter

    key = (redis_url, policy, algorithm)
    with _LIMITERS_LOCK:
        if key not in _LIMITERS:
            namespace = "iota:api" if algorithm == "gcra" else "iota:api:w"
            _LIMITERS[key] = RateLimiter(
                redis_url, on_unavailable=policy, namespace=namespace, algorithm=algorithm
            )
        return _LIMITERS[key]
