"""SSRF-safe HTTP client behind ``sdk.http.fetch``.

Scripts are untrusted, so every request they make is treated as hostile input aimed at the
host's network. :func:`fetch` guarantees, for every hop of a request (the first one and each
redirect):

* only ``http`` and ``https`` URLs, without userinfo, are accepted;
* the host name is checked against :attr:`HttpPolicy.allow_hosts` *before* it is resolved;
* the name is resolved exactly once, **every** resolved address must be a global unicast
  address outside an explicit deny list (loopback, RFC 1918, link-local and cloud metadata,
  CGNAT, NAT64, 6to4, ULA, multicast, documentation ranges...), and the socket is connected
  to that pinned, validated address -- never to the name again, so DNS rebinding between the
  check and the connect is impossible;
* TLS is verified against the host *name* (not the pinned IP);
* one total deadline covers DNS, connect, TLS, every redirect and the body;
* the decoded body is capped, gzip/deflate included (no decompression bombs);
* environment proxies (``HTTP_PROXY`` & co.) are never consulted; only
  :attr:`HttpPolicy.proxy_url` is used, through a CONNECT tunnel to the pinned address.

Every failure leaves as :class:`~iota_scripts_sdk.errors.ScriptError` with one of the codes
``invalid_argument``, ``argument_too_large``, ``scheme_not_allowed``, ``destination_blocked``,
``too_many_redirects``, ``response_too_large``, ``timeout`` or ``http_error``. Messages are
short and written for script authors: they never contain a traceback, an exception repr or
a local path.

Only the standard library is used (``http.client``, ``socket``, ``ssl``...): Odoo pins old
versions of ``requests``/``urllib3`` and we do not want to depend on them.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import ipaddress
import math
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from .errors import ScriptError

__all__ = ["HttpPolicy", "HttpResponse", "fetch"]

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

_ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}

#: RFC 7230 ``token``: the only legal header-name characters.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Control characters refused in header values. CR and LF would split the header (request
#: smuggling / header injection), NUL truncates in some servers; the other C0 controls and DEL
#: are never legitimate either. HTAB is allowed (RFC 7230 field-value).
_BAD_HEADER_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Controls (and DEL) inside a URL. WHATWG parsers silently *remove* tab/CR/LF, which is how
#: "http://exa\nmple.com" style filter bypasses work; we refuse instead of guessing.
_URL_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_HOSTNAME_RE = re.compile(r"[a-z0-9_\-]{1,63}(?:\.[a-z0-9_\-]{1,63})*")
_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:\-]+)""", re.IGNORECASE)
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
_BODY_HEADERS = frozenset(
    {"content-type", "content-encoding", "content-language", "content-location"}
)
#: Removed once the request has left its first origin.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

_MAX_SCRIPT_HEADERS = 100
_MAX_SCRIPT_HEADER_BYTES = 64 * 1024
_MAX_URL_CHARS = 8192
_MAX_PROXY_RESPONSE_HEAD = 16 * 1024
_READ_CHUNK = 64 * 1024
_SEND_CHUNK = 64 * 1024

# Explicit deny lists, checked on top of ``is_global``. ``ipaddress``'s idea of "global" has
# changed between Python versions (e.g. 3.11 calls 224.0.0.0/4 multicast "global" and
# ``::1.2.3.4`` global), so we never rely on it alone.
_DENY_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
    )
)
_DENY_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",
        "::1/128",
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b::/96",  # NAT64 well-known prefix
        "64:ff9b:1::/48",  # NAT64 local-use
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, ...)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "fc00::/7",  # unique local, incl. fd00::/8
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)
#: Only this block is allocated for global unicast; anything else in IPv6 is refused.
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64_WKP = ipaddress.IPv6Network("64:ff9b::/96")


# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpPolicy:
    """What a host allows scripts to reach, and how.

    The policy is validated on construction; a malformed entry raises
    ``ScriptError("invalid_argument", ...)`` immediately rather than at the first fetch.

    * ``allow_hosts``: empty refuses every request (``destination_blocked``). ``"*"`` allows any
      host whose addresses are public. Other entries are an exact host name
      (``"api.example.com"``), ``"*.example.com"`` (strict subdomains only, not the apex) or a
      literal IP address. Names are compared case-insensitively after IDNA normalisation with
      one trailing dot stripped. The allow-list never overrides the address checks.
    * ``timeout_sec``: one total deadline for the whole fetch (DNS, connect, TLS, every
      redirect and the body). A per-call timeout can only lower it.
    * ``max_response_bytes``: cap on the *decoded* body (after gzip/deflate).
    * ``max_request_bytes``: cap on the request body.
    * ``max_redirects``: redirects followed before ``too_many_redirects``.
    * ``proxy_url``: one explicit egress proxy ``http://[user:password@]host:port``. Both http
      and https requests go through a CONNECT tunnel to the *validated pinned IP*. The proxy
      address itself is operator configuration and is not subject to the deny list.
      Environment proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``...) are
      always ignored.
    * ``credentials``: ``(host pattern, header name, value)`` headers injected by the host for
      destinations matching the pattern (same syntax as ``allow_hosts``). They are only sent
      while the request is still on its first origin (scheme, host, port); once a redirect
      leaves that origin they are never sent again, even if it comes back.
    * ``allow_script_credentials``: when False a script-supplied ``Authorization`` header is
      refused (``invalid_argument``). When True it is sent, and dropped like the injected
      credentials once a redirect leaves the first origin.
    * ``extra_allowed_networks``: CIDRs exempted from the deny list. **Dangerous**: every
      address listed becomes reachable by every script (e.g. ``10.0.0.0/8`` exposes the whole
      internal network, ``169.254.0.0/16`` the cloud metadata service and its credentials).
      Meant for tests (``127.0.0.1/32``) and deliberate operator configuration only. IPv6
      addresses embedding an IPv4 address (IPv4-mapped, 6to4, NAT64) still have the embedded
      address checked.
    * ``resolver``: DNS stub for tests, ``(host, port) -> list of IP strings``. The default
      uses :func:`socket.getaddrinfo`.
    * ``user_agent``: default ``User-Agent`` (a script may set its own).
    * ``_ssl_context``: **test-only seam**. When set, this context is used instead of
      ``ssl.create_default_context()`` for https (e.g. one that trusts a test CA). It is used
      as given, so it must keep ``check_hostname`` and ``CERT_REQUIRED``. Never set it in
      production configuration.
    """

    allow_hosts: tuple[str, ...] = ()
    timeout_sec: float = 10.0
    max_response_bytes: int = 5 * 1024 * 1024
    max_request_bytes: int = 1024 * 1024
    max_redirects: int = 5
    proxy_url: str | None = None
    credentials: tuple[tuple[str, str, str], ...] = ()
    allow_script_credentials: bool = False
    extra_allowed_networks: tuple[str, ...] = ()
    resolver: Callable[[str, int], list[str]] | None = None
    user_agent: str = "iota-scripts/0.1"
    _ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            _validate_policy(self)
        except (ValueError, TypeError) as exc:
            raise ScriptError("invalid_argument", f"invalid HttpPolicy: {exc}") from None


@dataclass(frozen=True)
class HttpResponse:
    """The final response of a fetch (after redirects).

    ``headers`` has lower-case names; repeated headers are joined with ``", "``. ``body`` is
    decoded with the charset of ``Content-Type`` when it names a known text encoding, else as
    UTF-8, with undecodable bytes replaced. ``url`` is the final URL (no fragment) and
    ``redirected`` tells whether at least one redirect was followed.
    """

    status: int
    headers: dict[str, str]
    body: str
    url: str
    redirected: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape handed to scripts: status, headers, body, url, redirected."""
        return {
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body,
            "url": self.url,
            "redirected": self.redirected,
        }


# --------------------------------------------------------------------------------------------
# Internal types
# --------------------------------------------------------------------------------------------


class _DeadlineExceededError(Exception):
    """The total deadline passed. Never leaves this module (becomes ``timeout``)."""


@dataclass(frozen=True)
class _Target:
    """One validated, normalised hop destination."""

    scheme: str
    host: str  # IDNA/lower-case host name, or the canonical text of an IP literal
    ip: _IPAddress | None  # set when the URL host is an IP literal (any legacy spelling)
    port: int
    path: str  # origin-form request target: path plus "?query", never empty

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    authorization: str | None  # ready-made "Basic ..." value, or None


@dataclass(frozen=True)
class _HopResult:
    status: int
    headers: dict[str, str]
    body: bytes
    location: str | None  # set when this hop is a redirect to follow


@dataclass(frozen=True)
class _Pattern:
    kind: str  # "any" | "exact" | "suffix" | "ip"
    value: str
    ip: _IPAddress | None = None


# --------------------------------------------------------------------------------------------
# Host names, IP literals and patterns
# --------------------------------------------------------------------------------------------


def _ends_in_number(host: str) -> bool:
    """WHATWG "ends in a number": such hosts MUST parse as IPv4 or be refused.

    Without this rule ``http://0x7f.1/`` would be treated as a name and handed to
    getaddrinfo, which (like inet_aton) happily turns it into 127.0.0.1.
    """
    labels = host.split(".")
    last = labels[-1]
    if last.isdigit() and last.isascii():
        return True
    return last[:2] == "0x" and all(c in "0123456789abcdef" for c in last[2:])


def _parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse every inet_aton spelling: ``0``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``,
    ``127.1``... Returns None when *host* is not a valid IPv4 in any of these forms.

    Digits are checked explicitly because ``int()`` also accepts ``_``, ``+`` and spaces.
    """
    parts = host.split(".")
    if len(parts) > 4 or any(p == "" for p in parts):
        return None
    numbers: list[int] = []
    for part in parts:
        if part[:2] == "0x":
            digits, base, alphabet = part[2:], 16, "0123456789abcdef"
        elif len(part) > 1 and part[0] == "0":
            digits, base, alphabet = part[1:], 8, "01234567"
        else:
            digits, base, alphabet = part, 10, "0123456789"
        if not all(c in alphabet for c in digits):
            return None
        numbers.append(int(digits, base) if digits else 0)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _normalise_host(raw: str) -> tuple[str, _IPAddress | None]:
    """Normalise a host (without brackets) to ``(text, ip_or_None)``; ValueError if invalid.

    One trailing dot is stripped, non-ASCII names go through IDNA (which also maps
    full-width digits and ideographic dots, so such a spelling of 127.0.0.1 becomes an IP
    literal here), and names that end in a number are parsed as IPv4 in every legacy
    notation.
    """
    host = raw[:-1] if raw.endswith(".") else raw
    if not host:
        raise ValueError("empty host")
    if ":" in host:
        if "%" in host:  # zone ids ("fe80::1%eth0") select a local interface
            raise ValueError("IPv6 zone identifiers are not allowed")
        ip6 = ipaddress.IPv6Address(host)
        return str(ip6), ip6
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("invalid international host name") from None
    host = host.lower()
    if _ends_in_number(host):
        ip = _parse_legacy_ipv4(host)
        if ip is None:
            raise ValueError("malformed IPv4 address")
        return str(ip), ip
    if len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
        raise ValueError("malformed host name")
    return host, None


@functools.lru_cache(maxsize=1024)
def _compile_pattern(entry: str) -> _Pattern:
    """Parse an allow-list / credentials host pattern; ValueError if malformed."""
    if not isinstance(entry, str):
        raise TypeError("host patterns must be strings")
    text = entry.strip()
    if text == "*":
        return _Pattern("any", "*")
    if text.startswith("*."):
        host, ip = _normalise_host(text[2:])
        if ip is not None:
            raise ValueError(f"wildcard pattern on an IP address: {entry!r}")
        return _Pattern("suffix", "." + host)
    if "*" in text:
        raise ValueError(f"unsupported wildcard in host pattern {entry!r}")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    host, ip = _normalise_host(text)
    if ip is not None:
        return _Pattern("ip", host, ip)
    return _Pattern("exact", host)


def _host_matches(entry: str, target: _Target) -> bool:
    pattern = _compile_pattern(entry)
    if pattern.kind == "any":
        return True
    if pattern.kind == "ip":
        return target.ip is not None and target.ip == pattern.ip
    if target.ip is not None:
        return False
    if pattern.kind == "exact":
        return target.host == pattern.value
    return target.host.endswith(pattern.value)  # "suffix": strict subdomains only


# --------------------------------------------------------------------------------------------
# Address validation
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _parse_networks(entries: tuple[str, ...]) -> tuple[_IPNetwork, ...]:
    if isinstance(entries, str):
        raise TypeError("extra_allowed_networks must be a tuple of CIDR strings")
    return tuple(ipaddress.ip_network(str(e).strip(), strict=False) for e in entries)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any (mapped, 6to4, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_WKP:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_blocked(ip: _IPAddress, extra: tuple[_IPNetwork, ...]) -> bool:
    """True unless *ip* is a public unicast address (or exempted by *extra*).

    The embedded IPv4 of mapped/6to4/NAT64 addresses is checked first and cannot be exempted
    by exempting the outer IPv6 network: ``2002:7f00:1::`` reaches 127.0.0.1 through a 6to4
    relay whatever the operator thought ``2002::/16`` meant.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and _is_blocked(embedded, extra):
            return True
    if any(ip in net for net in extra):  # cross-version "in" is simply False
        return False
    deny: tuple[_IPNetwork, ...] = _DENY_V4 if ip.version == 4 else _DENY_V6
    if any(ip in net for net in deny):
        return True
    if (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return True
    return isinstance(ip, ipaddress.IPv6Address) and ip not in _V6_GLOBAL_UNICAST


# --------------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------------


def _validate_policy(policy: HttpPolicy) -> None:
    """Raise ValueError/TypeError for a malformed policy (see HttpPolicy.__post_init__)."""
    for name in ("allow_hosts", "credentials", "extra_allowed_networks"):
        if isinstance(getattr(policy, name), str):
            raise TypeError(f"{name} must be a tuple, not a string")
    for entry in policy.allow_hosts:
        _compile_pattern(entry)
    for credential in policy.credentials:
        pattern, header, value = credential
        _compile_pattern(pattern)
        if not isinstance(header, str) or not _TOKEN_RE.fullmatch(header):
            raise ValueError("credential header names must be HTTP tokens")
        if not isinstance(value, str) or _BAD_HEADER_VALUE_RE.search(value):
            raise ValueError("credential header values must not contain control characters")
    _parse_networks(tuple(policy.extra_allowed_networks))
    if policy.proxy_url is not None:
        _parse_proxy(policy.proxy_url)
    timeout = policy.timeout_sec
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError("timeout_sec must be a number")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError("timeout_sec must be a positive number")
    for name in ("max_response_bytes", "max_request_bytes", "max_redirects"):
        number = getattr(policy, name)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"{name} must be a non-negative integer")
    if not isinstance(policy.user_agent, str) or _BAD_HEADER_VALUE_RE.search(policy.user_agent):
        raise ValueError("user_agent must be a string without control characters")
    if policy.resolver is not None and not callable(policy.resolver):
        raise TypeError("resolver must be callable")


@functools.lru_cache(maxsize=16)
def _parse_proxy(url: str) -> _Proxy:
    """Parse ``http://[user:password@]host[:port]``; ValueError if anything else."""
    if not isinstance(url, str) or _URL_CONTROL_RE.search(url):
        raise ValueError("proxy_url must be an http:// URL")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError("proxy_url must be an http://host:port URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("proxy_url must not have a path or query")
    port = parts.port or 80  # ValueError on a malformed port
    authorization = None
    if parts.username is not None:
        user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(user_pass.encode("utf-8")).decode("ascii")
    return _Proxy(parts.hostname, port, authorization)


def _invalid(message: str) -> ScriptError:
    return ScriptError("invalid_argument", message)


def _short(value: object, limit: int = 40) -> str:
    """A bounded repr for error messages (user data only, never exceptions)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method.upper() not in _ALLOWED_METHODS:
        raise _invalid(
            f"HTTP method {_short(method)} is not allowed "
            f"(use one of {', '.join(sorted(_ALLOWED_METHODS))})"
        )
    return method.upper()


def _effective_timeout(policy: HttpPolicy, timeout_sec: object) -> float:
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


def _encode_body(policy: HttpPolicy, method: str, body: object) -> bytes | None:
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


def _script_headers(
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
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            raise _invalid(f"header name {_short(name)} is not a valid HTTP token")
        if isinstance(raw_value, bool) or not isinstance(raw_value, str | int | float):
            raise _invalid(f"the value of header {name} must be a string")
        value = str(raw_value)
        if _BAD_HEADER_VALUE_RE.search(value):
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


def _parse_url(url: object) -> _Target:
    """Parse and normalise a script URL; raises scheme_not_allowed or invalid_argument."""
    if not isinstance(url, str):
        raise _invalid("url must be a string")
    if len(url) > _MAX_URL_CHARS:
        raise _invalid(f"url is longer than {_MAX_URL_CHARS} characters")
    url = url.strip(_C0_AND_SPACE)  # WHATWG: leading/trailing C0 controls and spaces
    match = _SCHEME_RE.match(url)
    if match is None or match.group(1).lower() not in _DEFAULT_PORTS:
        raise ScriptError("scheme_not_allowed", "only http:// and https:// URLs are allowed")
    scheme = match.group(1).lower()
    if _URL_CONTROL_RE.search(url):
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
        host, ip = _normalise_host(raw_host)
    except ValueError:
        raise _invalid("malformed host in url") from None
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    if port == 0:
        raise _invalid("port 0 is not allowed")
    try:
        # Percent-encode spaces and non-ASCII; http.client refuses raw ones in the request line.
        path = _NOT_PRINTABLE_ASCII_RE.sub(lambda m: quote(m.group(0)), parts.path) or "/"
        if parts.query:
            path += "?" + _NOT_PRINTABLE_ASCII_RE.sub(lambda m: quote(m.group(0)), parts.query)
    except UnicodeEncodeError:  # lone surrogates from JavaScript strings
        raise _invalid("url is not valid Unicode") from None
    return _Target(scheme, host, ip, port, path)


# --------------------------------------------------------------------------------------------
# Deadline-aware networking
# --------------------------------------------------------------------------------------------


def _remaining(deadline: float) -> float:
    """Seconds left before *deadline*; raises when none are left (so never 0 = non-blocking)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlineExceededError
    return left


class _DeadlineReader(io.RawIOBase):
    """Raw stream over a socket where every recv waits at most until the total deadline.

    A per-recv timeout alone is useless against a server dripping one byte just before each
    timeout; resetting the timeout to the *remaining* time before each recv bounds the sum.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise _DeadlineExceededError from None


class _DeadlineSocket:
    """What HTTPResponse is given instead of the socket: it only ever calls makefile("rb").

    The reader does not own the socket; the connection closes it. (A real ``makefile`` keeps
    the socket alive through private refcounts; we sidestep that by never letting
    http.client close anything.)
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline), _READ_CHUNK)


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _resolve(policy: HttpPolicy, host: str, port: int, deadline: float) -> list[str]:
    """Resolve *host* once, within the deadline.

    getaddrinfo cannot be interrupted, so it runs in a daemon thread we stop waiting for at
    the deadline (the thread ends when the system resolver gives up on its own).
    """
    resolver = policy.resolver or _system_resolver
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = resolver(host, port)
        except Exception:  # noqa: BLE001 - any resolver failure means "cannot resolve"
            box["failed"] = True

    worker = threading.Thread(target=run, name="iota-http-resolve", daemon=True)
    worker.start()
    worker.join(_remaining(deadline))
    if worker.is_alive():
        raise _DeadlineExceededError
    result = box.get("result")
    if (
        box.get("failed")
        or not isinstance(result, list | tuple)
        or not result
        or not all(isinstance(a, str) for a in result)
    ):
        raise ScriptError("http_error", f"cannot resolve host {host}")
    return list(result)


def _validated_addresses(policy: HttpPolicy, target: _Target, deadline: float) -> list[str]:
    """Resolve the hop's host once and return its addresses, all of which are allowed.

    If ANY address is blocked the whole hop is refused: picking the "good" one would let an
    attacker who controls the zone keep a foot in the door (and some clients/libraries
    downstream could still try the others).
    """
    extra = _parse_networks(tuple(policy.extra_allowed_networks))
    if target.ip is not None:  # literal: already checked by _check_destination
        return [target.host]
    addresses: list[str] = []
    for text in _resolve(policy, target.host, target.port, deadline):
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise ScriptError(
                "destination_blocked", f"{target.host} resolves to an invalid address"
            ) from None
        if _is_blocked(ip, extra):
            raise ScriptError(
                "destination_blocked", f"{target.host} resolves to a non-public address"
            )
        if str(ip) not in addresses:
            addresses.append(str(ip))
    return addresses


def _check_destination(policy: HttpPolicy, target: _Target) -> None:
    """Checks that need no network: literal IPs, localhost names, the allow-list."""
    if target.ip is not None:
        if _is_blocked(target.ip, _parse_networks(tuple(policy.extra_allowed_networks))):
            raise ScriptError("destination_blocked", f"{target.host} is not a public address")
    elif target.host == "localhost" or target.host.endswith(".localhost"):
        # RFC 6761: always loopback, whatever DNS says; refuse without asking anybody.
        raise ScriptError("destination_blocked", f"{target.host} is not a public address")
    if not policy.allow_hosts:
        raise ScriptError("destination_blocked", "this host allows no HTTP destinations")
    if not any(_host_matches(entry, target) for entry in policy.allow_hosts):
        raise ScriptError("destination_blocked", f"host {target.host} is not in the allow-list")


def _read_head(sock: socket.socket, deadline: float) -> bytes:
    """Read a proxy's response head byte by byte, so no tunnelled byte is consumed."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        if len(head) > _MAX_PROXY_RESPONSE_HEAD:
            raise ScriptError("http_error", "the egress proxy sent an oversized response")
        sock.settimeout(_remaining(deadline))
        try:
            byte = sock.recv(1)
        except TimeoutError:
            raise _DeadlineExceededError from None
        if not byte:
            raise ScriptError("http_error", "the egress proxy closed the connection")
        head += byte
    return bytes(head)


def _open_tunnel(proxy: _Proxy, ip: str, port: int, deadline: float, host: str) -> socket.socket:
    """Connect to the proxy and CONNECT to the pinned *ip* (never to the name)."""
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=_remaining(deadline))
    except TimeoutError:
        raise _DeadlineExceededError from None
    except OSError:
        raise ScriptError("http_error", "cannot connect to the egress proxy") from None
    try:
        authority = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        sock.settimeout(_remaining(deadline))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status_line = _read_head(sock, deadline).split(b"\r\n", 1)[0]
        fields = status_line.split(None, 2)
        if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
            raise ScriptError("http_error", "the egress proxy sent an invalid response")
        status = int(fields[1])
        if not 200 <= status < 300:
            raise ScriptError(
                "http_error", f"the egress proxy refused the tunnel to {host} (status {status})"
            )
        return sock
    except BaseException:
        sock.close()
        raise


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection that never resolves ``host``: connect() goes to pre-validated IPs.

    ``host`` is only the name (the Host header is written explicitly by the caller). Every
    blocking operation uses the remaining time of the fetch's total deadline.
    """

    def __init__(
        self,
        target: _Target,
        addresses: list[str],
        proxy: _Proxy | None,
        deadline: float,
    ) -> None:
        super().__init__(target.host, target.port, timeout=None)
        self._target = target
        self._addresses = addresses
        self._proxy = proxy
        self._deadline = deadline

    def connect(self) -> None:
        target = self._target
        if self._proxy is not None:
            # One tunnel, to the first validated address.
            self.sock = _open_tunnel(
                self._proxy, self._addresses[0], target.port, self._deadline, target.host
            )
            return
        refused = False
        for ip in self._addresses:  # all validated; try them in resolver order
            try:
                # socket.create_connection is looked up at call time on purpose (tests spy it).
                self.sock = socket.create_connection(
                    (ip, target.port), timeout=_remaining(self._deadline)
                )
                return
            except TimeoutError:
                raise _DeadlineExceededError from None
            except ConnectionRefusedError:
                refused = True
            except OSError:
                pass
        detail = "was refused" if refused else "failed"
        raise ScriptError("http_error", f"connection to {target.host} {detail}")

    def send(self, data: Any) -> None:
        """Send bytes in slices, each bounded by the remaining deadline.

        (``SSLSocket.sendall`` applies its timeout per record, so one big sendall could
        outlive the deadline against a slowly reading server.)
        """
        if self.sock is None:
            raise ScriptError("http_error", "not connected")
        view = memoryview(data).cast("B")
        for offset in range(0, len(view), _SEND_CHUNK):
            self.sock.settimeout(_remaining(self._deadline))
            try:
                self.sock.sendall(view[offset : offset + _SEND_CHUNK])
            except TimeoutError:
                raise _DeadlineExceededError from None

    def read_response(self, method: str) -> http.client.HTTPResponse:
        """Read status line and headers (deadline-bounded); the body is read by the caller."""
        if self.sock is None:
            raise ScriptError("http_error", "not connected")
        response = http.client.HTTPResponse(
            _DeadlineSocket(self.sock, self._deadline),  # type: ignore[arg-type]
            method=method,
        )
        response.begin()
        return response


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """Pinned connection plus TLS verified against the host NAME (SNI and certificate)."""

    def __init__(
        self,
        target: _Target,
        addresses: list[str],
        proxy: _Proxy | None,
        deadline: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(target, addresses, proxy, deadline)
        self._context = context

    def connect(self) -> None:
        super().connect()
        if self.sock is None:
            raise ScriptError("http_error", f"connection to {self._target.host} failed")
        # The handshake is bounded as a whole by this timeout (CPython applies it as a
        # deadline for do_handshake).
        self.sock.settimeout(_remaining(self._deadline))
        # On failure wrap_socket closes the (detached) raw socket itself.
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._target.host)


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()  # CERT_REQUIRED, check_hostname, system CAs
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --------------------------------------------------------------------------------------------
# Response body
# --------------------------------------------------------------------------------------------


def _looks_like_zlib(head: bytes) -> bool:
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf * 256 + flg) % 31 == 0


class _Decoder:
    """Incremental gzip/deflate decoder that never inflates more than it is asked for.

    ``decompress(data, max_length)`` keeps the unprocessed input in ``unconsumed_tail``, so a
    bomb is only inflated up to the cap, with memory bounded by one network chunk.
    """

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._obj: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if kind == "gzip" else None
        self._head = b""
        self._done = False

    @classmethod
    def for_encoding(cls, content_encoding: str) -> _Decoder | None:
        """A decoder for gzip/deflate; None for identity and unknown codings (raw bytes)."""
        if content_encoding in ("gzip", "x-gzip"):
            return cls("gzip")
        if content_encoding == "deflate":
            return cls("deflate")
        return None

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode *data*, producing at most *room* bytes (room > 0)."""
        if self._done:
            return b""
        if self._obj is None:
            # "deflate" is zlib-wrapped per RFC, but many servers send raw deflate: sniff.
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            wbits = zlib.MAX_WBITS if _looks_like_zlib(data) else -zlib.MAX_WBITS
            self._obj = zlib.decompressobj(wbits)
        out = bytearray()
        while data and len(out) < room:
            piece = self._obj.decompress(data, room - len(out))
            out += piece
            if self._obj.eof:
                rest = self._obj.unused_data
                if self._kind == "gzip" and rest[:2] == b"\x1f\x8b":  # concatenated members
                    self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
                    continue
                self._done = True  # trailing garbage is ignored, like browsers do
                break
            tail = self._obj.unconsumed_tail
            if not piece and len(tail) >= len(data):
                break  # no progress possible (needs more input)
            data = tail
        return bytes(out)


def _too_large(host: str, limit: int) -> ScriptError:
    return ScriptError(
        "response_too_large", f"the response from {host} is larger than {limit} bytes"
    )


def _read_body(
    response: http.client.HTTPResponse, policy: HttpPolicy, deadline: float, host: str
) -> bytes:
    """Read the body: at most max_response_bytes+1 decoded bytes, within the deadline.

    http.client stops at Content-Length, so a server sending more than it declared cannot
    push past it; one sending less and keeping the socket open hits the deadline; one
    sending less and closing is reported (http.client itself silently returns short data).
    """
    limit = policy.max_response_bytes
    encoding = (response.getheader("content-encoding") or "").strip().lower()
    decoder = _Decoder.for_encoding(encoding)
    if decoder is None and response.length is not None and response.length > limit:
        raise _too_large(host, limit)  # declared too big: fail before reading anything
    # Compressed input is not decoded output, but it is never much larger; bounding the
    # wire bytes too stops an endless stream of empty deflate blocks.
    wire_limit = 2 * limit + _READ_CHUNK
    out = bytearray()
    wire = 0
    while True:
        _remaining(deadline)
        # read1: return what one recv brought (a plain read() would wait for a full chunk).
        chunk = response.read1(_READ_CHUNK)
        if not chunk:
            break
        wire += len(chunk)
        if decoder is None:
            out += chunk
        else:
            out += decoder.decode(chunk, limit + 1 - len(out))
        if len(out) > limit or wire > wire_limit:
            raise _too_large(host, limit)
    if response.length:  # bytes still owed according to Content-Length
        raise ScriptError("http_error", f"the response from {host} ended early")
    return bytes(out)


def _response_headers(message: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message:
        key = name.lower()
        clean = re.sub(r"[\r\n]+[ \t]*", " ", value).strip()  # unfold obsolete line folding
        headers[key] = f"{headers[key]}, {clean}" if key in headers else clean
    return headers


def _decode_text(data: bytes, content_type: str | None) -> str:
    match = _CHARSET_RE.search(content_type or "")
    if match:
        try:
            # bytes.decode refuses non-text codecs ("base64", "zip") with LookupError.
            return data.decode(match.group(1), errors="replace")
        except LookupError:
            pass
    return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# One hop
# --------------------------------------------------------------------------------------------


def _hop_headers(
    policy: HttpPolicy,
    target: _Target,
    base: dict[str, tuple[str, str]],
    crossed_origin: bool,
    payload: bytes | None,
    method: str,
) -> list[tuple[str, str]]:
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
            if _host_matches(pattern, target):
                headers[name.lower()] = (name, value)
    if payload is not None:
        headers["content-length"] = ("Content-Length", str(len(payload)))
    elif method in ("POST", "PUT", "PATCH"):
        headers["content-length"] = ("Content-Length", "0")
    return list(headers.values())


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")  # fetch() would refuse; UTF-8 is what servers expect


def _exchange(
    policy: HttpPolicy,
    target: _Target,
    method: str,
    headers: list[tuple[str, str]],
    payload: bytes | None,
    deadline: float,
    proxy: _Proxy | None,
) -> _HopResult:
    """Resolve, validate, connect to the pinned IP, send, and read one response."""
    addresses = _validated_addresses(policy, target, deadline)
    connection: _PinnedHTTPConnection
    if target.scheme == "https":
        context = policy._ssl_context or _default_ssl_context()
        connection = _PinnedHTTPSConnection(target, addresses, proxy, deadline, context)
    else:
        connection = _PinnedHTTPConnection(target, addresses, proxy, deadline)
    try:
        connection.connect()
        connection.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, _header_bytes(value))
        connection.endheaders(payload)
        response = connection.read_response(method)
        try:
            status = response.status
            response_headers = _response_headers(response.msg.items())
            location = response.msg.get("location")
            if status in _REDIRECT_STATUSES and location:
                return _HopResult(status, response_headers, b"", location)
            body = _read_body(response, policy, deadline, target.host)
            return _HopResult(status, response_headers, body, None)
        finally:
            response.close()
    finally:
        connection.close()


def _exchange_safely(
    policy: HttpPolicy,
    target: _Target,
    method: str,
    headers: list[tuple[str, str]],
    payload: bytes | None,
    deadline: float,
    proxy: _Proxy | None,
    total: float,
) -> _HopResult:
    """:func:`_exchange` with every low-level failure turned into a short ScriptError."""
    host = target.host
    try:
        return _exchange(policy, target, method, headers, payload, deadline, proxy)
    except ScriptError:
        raise
    except (_DeadlineExceededError, TimeoutError):
        raise ScriptError(
            "timeout", f"the HTTP request to {host} did not finish within {total:g} s"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or "untrusted certificate"
        raise ScriptError(
            "http_error", f"TLS certificate of {host} could not be verified: {reason}"
        ) from None
    except ssl.SSLError:
        raise ScriptError("http_error", f"TLS handshake with {host} failed") from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        raise ScriptError("http_error", f"the connection to {host} was closed") from None
    except http.client.IncompleteRead:
        raise ScriptError("http_error", f"the response from {host} ended early") from None
    except http.client.HTTPException:
        raise ScriptError("http_error", f"{host} sent an invalid HTTP response") from None
    except (OSError, ValueError, EOFError, zlib.error):
        # zlib.error: corrupt gzip/deflate; ValueError: http.client refusing a value.
        raise ScriptError("http_error", f"the HTTP request to {host} failed") from None


def _redirect_target(current: _Target, location: str) -> _Target:
    try:
        # http.client decodes header bytes as latin-1; servers that send raw UTF-8 mean UTF-8.
        location = location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    try:
        return _parse_url(urljoin(current.url, location.strip()))
    except ValueError:
        raise ScriptError("http_error", f"{current.host} sent an invalid redirect") from None
    except ScriptError as exc:
        if exc.code == "invalid_argument":
            raise ScriptError("http_error", f"{current.host} sent an invalid redirect") from None
        raise


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def fetch(
    policy: HttpPolicy,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    timeout_sec: float | None = None,
    idempotency_key: str | None = None,
) -> HttpResponse:
    """Perform one HTTP request for a script, following redirects, under *policy*.

    Arguments are validated before any network activity: *method* (case-insensitive, one of
    GET HEAD POST PUT PATCH DELETE OPTIONS), *headers* (RFC 7230 token names, no control
    characters in values; Host, Cookie, Proxy-Authorization and -- unless allowed --
    Authorization are refused; hop-by-hop/framing headers and Accept-Encoding are silently
    dropped), *body* (str is sent as UTF-8 with a default ``text/plain;charset=UTF-8`` type,
    bytes as is; not allowed on GET/HEAD; at most ``max_request_bytes``), *timeout_sec*
    (lowers the policy's total deadline, never raises it) and *idempotency_key* (sent as
    ``Idempotency-Key``; 1-255 printable ASCII characters).

    Redirects 301/302/303/307/308 are followed up to ``policy.max_redirects``, re-checking
    scheme, allow-list, resolution and addresses at every hop. 303 (and 301/302 after a POST)
    become a GET without body; once a hop leaves the first origin, Authorization and the
    policy's injected credentials are no longer sent. A 3xx without Location is returned.

    Returns the final :class:`HttpResponse`, whatever its status (4xx/5xx are not errors).
    Raises :class:`ScriptError` (see the module docstring for the codes).
    """
    total = _effective_timeout(policy, timeout_sec)
    deadline = time.monotonic() + total
    method = _check_method(method)
    payload = _encode_body(policy, method, body)
    base_headers = _script_headers(policy, headers, idempotency_key)
    if isinstance(body, str) and "content-type" not in base_headers:
        base_headers["content-type"] = ("Content-Type", "text/plain;charset=UTF-8")
    target = _parse_url(url)
    proxy = _parse_proxy(policy.proxy_url) if policy.proxy_url else None
    first_origin = target.origin
    crossed_origin = False
    redirects = 0
    while True:
        _check_destination(policy, target)
        hop_headers = _hop_headers(policy, target, base_headers, crossed_origin, payload, method)
        result = _exchange_safely(
            policy, target, method, hop_headers, payload, deadline, proxy, total
        )
        if result.location is None:
            content_type = result.headers.get("content-type")
            return HttpResponse(
                status=result.status,
                headers=result.headers,
                body=_decode_text(result.body, content_type),
                url=target.url,
                redirected=redirects > 0,
            )
        if redirects >= policy.max_redirects:
            raise ScriptError(
                "too_many_redirects",
                f"more than {policy.max_redirects} redirects (last from {target.host})",
            )
        redirects += 1
        target = _redirect_target(target, result.location)
        if (result.status == 303 and method not in ("GET", "HEAD")) or (
            result.status in (301, 302) and method == "POST"
        ):
            method = "GET"
            payload = None
            base_headers = {k: v for k, v in base_headers.items() if k not in _BODY_HEADERS}
        if target.origin != first_origin:
            crossed_origin = True  # sticky: credentials never come back on later hops
