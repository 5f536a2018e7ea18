"""Request validation: what a script asks for, checked before any network activity.

* :func:`check_method`, :func:`effective_timeout`, :func:`encode_body` and
  :func:`script_headers` check the arguments of ``fetch`` (``invalid_argument`` or
  ``argument_too_large``);
* :func:`parse_url` turns a script URL into a :class:`Target` (``scheme_not_allowed`` or
  ``invalid_argument``); :func:`redirect_target` does the same for a ``Location`` header
  (``http_error``: the server, not the script, sent it);
* :func:`hop_headers` builds the headers of one hop: ours, the script's, and the policy's
  credentials while the request is still on its first origin.

Header tables decide what a script may set: some headers are refused, framing and
hop-by-hop headers are dropped (the client owns the connection framing), credentials are
removed once a redirect leaves the first origin.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit

from ..errors import ScriptError
from .addresses import IPAddress, host_matches, normalise_host

if TYPE_CHECKING:
    from .policy import HttpPolicy

ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}

#: RFC 7230 ``token``: the only legal header-name characters.
TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Control characters refused in header values. CR and LF would split the header (request
#: smuggling / header injection), NUL truncates in some servers; the other C0 controls and DEL
#: are never legitimate either. HTAB is allowed (RFC 7230 field-value).
BAD_HEADER_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Controls (and DEL) inside a URL. WHATWG parsers silently *remove* tab/CR/LF, which is how
#: "http://exa\nmple.com" style filter bypasses work; we refuse instead of guessing.
URL_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_NOT_PRINTABLE_ASCII_RE = re.compile(r"[^\x21-\x7e]")

#: Headers a script may never set (invalid_argument). Authorization is handled separately
#: because HttpPolicy.allow_script_credentials can allow it.
_FORBIDDEN_HEADERS = frozenset({"host", "cookie", "proxy-authorization"})
#: Hop-by-hop and framing headers: dropped silently, the client owns the connection framing.
#: A script-chosen Content-Length or Transfer-Encoding would desynchronise the server
#: (request smuggling). Accept-Encoding is ours too: we must be able to decode what we ask
#: for, and we only decode gzip and deflate.
_STRIPPED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
        "content-length",
        "accept-encoding",
    }
)
#: Removed when a redirect turns the request into a body-less GET (fetch spec).
BODY_HEADERS = frozenset(
    {"content-type", "content-encoding", "content-language", "content-location"}
)
#: Removed once the request has left its first origin.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

_MAX_SCRIPT_HEADERS = 100
_MAX_SCRIPT_HEADER_BYTES = 64 * 1024
_MAX_URL_CHARS = 8192


@dataclass(frozen=True)
class Target:
    """One validated, normalised hop destination."""

    scheme: str
    host: str  # IDNA/lower-case host name, or the canonical text of an IP literal
    ip: IPAddress | None  # set when the URL host is an IP literal (any legacy spelling)
    port: int
    path: str  # origin-form request target: path plus "?query", never empty

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _invalid(message: str) -> ScriptError:
    return ScriptError("invalid_argument", message)


def _short(value: object, limit: int = 40) -> str:
    """A bounded repr for error messages (user data only, never exceptions)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Arguments of fetch
# --------------------------------------------------------------------------------------------


def check_method(method: object) -> str:
    """The upper-case method; ``invalid_argument`` unless it is one of ALLOWED_METHODS."""
    if not isinstance(method, str) or method.upper() not in ALLOWED_METHODS:
        raise _invalid(
            f"HTTP method {_short(method)} is not allowed "
            f"(use one of {', '.join(sorted(ALLOWED_METHODS))})"
        )
    return method.upper()


def effective_timeout(policy: HttpPolicy, timeout_sec: object) -> float:
    """The total deadline in seconds: the policy's, lowered (never raised) by *timeout_sec*."""
    total = float(policy.timeout_sec)
    if timeout_sec is None:
        return total
    if (
        isinstance(timeout_sec, bool)
        or not isinstance(timeout_sec, int | float)
        or not math.isfinite(timeout_sec)
        or timeout_sec <= 0
    ):
        raise _invalid("timeout must be a positive number of seconds")
    return min(total, float(timeout_sec))


def encode_body(policy: HttpPolicy, method: str, body: object) -> bytes | None:
    """The request body as bytes (str as UTF-8), at most ``policy.max_request_bytes``."""
    if body is None:
        return None
    if method in ("GET", "HEAD"):
        raise _invalid(f"a {method} request cannot have a body")
    limit = policy.max_request_bytes
    if isinstance(body, str):
        # Every character is at least one UTF-8 byte: refuse huge strings before encoding.
        if len(body) > limit:
            raise ScriptError(
                "argument_too_large", f"the request body is larger than {limit} bytes"
            )
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid("the request body is not valid Unicode text") from None
    elif isinstance(body, bytes | bytearray | memoryview):
        data = bytes(body)
    else:
        raise _invalid("the request body must be a string or bytes")
    if len(data) > limit:
        raise ScriptError(
            "argument_too_large",
            f"the request body is {len(data)} bytes; the limit is {limit} bytes",
        )
    return data


def script_headers(
    policy: HttpPolicy, headers: object, idempotency_key: object
) -> dict[str, tuple[str, str]]:
    """Validate script headers; returns ``{lower name: (name, value)}``."""
    if headers is None:
        headers = {}
    if not isinstance(headers, dict):
        raise _invalid("headers must be an object of name/value strings")
    if len(headers) > _MAX_SCRIPT_HEADERS:
        raise ScriptError(
            "argument_too_large", f"too many request headers (limit {_MAX_SCRIPT_HEADERS})"
        )
    out: dict[str, tuple[str, str]] = {}
    size = 0
    for name, raw_value in headers.items():
        if not isinstance(name, str) or not TOKEN_RE.fullmatch(name):
            raise _invalid(f"header name {_short(name)} is not a valid HTTP token")
        if isinstance(raw_value, bool) or not isinstance(raw_value, str | int | float):
            raise _invalid(f"the value of header {name} must be a string")
        value = str(raw_value)
        if BAD_HEADER_VALUE_RE.search(value):
            raise _invalid(f"the value of header {name} contains a control character")
        lower = name.lower()
        if lower in _STRIPPED_HEADERS:
            continue
        if lower in _FORBIDDEN_HEADERS or (
            lower == "authorization" and not policy.allow_script_credentials
        ):
            raise _invalid(f"scripts may not set the {name} header")
        value = value.strip(" \t")
        size += len(name) + len(value) + 4
        if lower in out:  # "X-A" and "x-a" in one object: same header, combine like HTTP does
            out[lower] = (out[lower][0], f"{out[lower][1]}, {value}")
        else:
            out[lower] = (name, value)
    if size > _MAX_SCRIPT_HEADER_BYTES:
        raise ScriptError(
            "argument_too_large",
            f"request headers are larger than {_MAX_SCRIPT_HEADER_BYTES} bytes",
        )
    if idempotency_key is not None:
        if (
            not isinstance(idempotency_key, str)
            or not 0 < len(idempotency_key) <= 255
            or any(not 0x20 <= ord(c) <= 0x7E for c in idempotency_key)
        ):
            raise _invalid("idempotency key must be 1 to 255 printable ASCII characters")
        out["idempotency-key"] = ("Idempotency-Key", idempotency_key)
    return out


#: Trace-context headers the host may add (W3C Trace Context); never a script's choice.
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
_TRACE_VALUE_RE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,510}[\x21-\x7e])?")


def add_trace_headers(base: dict[str, tuple[str, str]], trace: Mapping[str, str]) -> None:
    """Puts the host's trace-context headers into *base* (replacing a script's own).

    Only :data:`TRACE_HEADERS`, with printable ASCII values of at most 512 characters; any
    other name or value is dropped (the host's propagator made them: a bad one is a bug to
    ignore, never a reason to fail the script's request)."""
    for name, value in trace.items():
        lower = name.lower() if isinstance(name, str) else ""
        if lower in TRACE_HEADERS and isinstance(value, str) and _TRACE_VALUE_RE.fullmatch(value):
            base[lower] = (lower, value)


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


def parse_url(url: object) -> Target:
    """Parse and normalise a script URL; raises scheme_not_allowed or invalid_argument."""
    if not isinstance(url, str):
        raise _invalid("url must be a string")
    if len(url) > _MAX_URL_CHARS:
        raise _invalid(f"url is longer than {_MAX_URL_CHARS} characters")
    url = url.strip(_C0_AND_SPACE)  # WHATWG: leading/trailing C0 controls and spaces
    match = _SCHEME_RE.match(url)
    if match is None or match.group(1).lower() not in DEFAULT_PORTS:
        raise ScriptError("scheme_not_allowed", "only http:// and https:// URLs are allowed")
    scheme = match.group(1).lower()
    if URL_CONTROL_RE.search(url):
        raise _invalid("url contains control characters")
    if not url[match.end() :].startswith("//"):
        raise _invalid("url has no host")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid("malformed url or port") from None
    if "@" in parts.netloc:
        raise _invalid("credentials in the url (user:password@) are not allowed")
    raw_host = parts.hostname
    if not raw_host:
        raise _invalid("url has no host")
    bracketed = parts.netloc.startswith("[")
    try:
        if bracketed and ":" not in raw_host:
            raise ValueError("bracketed host is not IPv6")
        host, ip = normalise_host(raw_host)
    except ValueError:
        raise _invalid("malformed host in url") from None
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if port == 0:
        raise _invalid("port 0 is not allowed")
    try:
        # Percent-encode spaces and non-ASCII; http.client refuses raw ones in the request line.
        path = _NOT_PRINTABLE_ASCII_RE.sub(lambda m: quote(m.group(0)), parts.path) or "/"
        if parts.query:
            path += "?" + _NOT_PRINTABLE_ASCII_RE.sub(lambda m: quote(m.group(0)), parts.query)
    except UnicodeEncodeError:  # lone surrogates from JavaScript strings
        raise _invalid("url is not valid Unicode") from None
    return Target(scheme, host, ip, port, path)


def redirect_target(current: Target, location: str) -> Target:
    """The next hop of a redirect from *current*; ``http_error`` when *location* is invalid.

    A scheme other than http/https stays ``scheme_not_allowed``.
    """
    try:
        # http.client decodes header bytes as latin-1; servers that send raw UTF-8 mean UTF-8.
        location = location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    try:
        return parse_url(urljoin(current.url, location.strip()))
    except ValueError:
        raise ScriptError("http_error", f"{current.host} sent an invalid redirect") from None
    except ScriptError as exc:
        if exc.code == "invalid_argument":
            raise ScriptError("http_error", f"{current.host} sent an invalid redirect") from None
        raise


# --------------------------------------------------------------------------------------------
# Headers of one hop
# --------------------------------------------------------------------------------------------


def hop_headers(
    policy: HttpPolicy,
    target: Target,
    base: dict[str, tuple[str, str]],
    crossed_origin: bool,
    payload: bytes | None,
    method: str,
) -> list[tuple[str, str]]:
    """The ``(name, value)`` headers of one hop: ours, then the script's *base* headers.

    Credentials (the policy's and a script's Authorization) go only while the request has
    not *crossed_origin*.
    """
    headers: dict[str, tuple[str, str]] = {
        "host": ("Host", target.netloc),
        "user-agent": ("User-Agent", policy.user_agent),
        "accept": ("Accept", "*/*"),
        "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
        "connection": ("Connection", "close"),  # no reuse: one connection per hop
    }
    headers.update(base)
    if crossed_origin:
        for name in _CREDENTIAL_HEADERS:
            headers.pop(name, None)
    else:
        for pattern, name, value in policy.credentials:
            if host_matches(pattern, target.host, target.ip):
                headers[name.lower()] = (name, value)
    if payload is not None:
        headers["content-length"] = ("Content-Length", str(len(payload)))
    elif method in ("POST", "PUT", "PATCH"):
        headers["content-length"] = ("Content-Length", "0")
    return list(headers.values())


def header_bytes(value: str) -> bytes:
    """A header value as sent on the wire: latin-1 when it fits, else UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")  # fetch() would refuse; UTF-8 is what servers expect
