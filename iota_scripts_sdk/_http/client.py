"""fetch: one script request, hop by hop, under an HttpPolicy.

Each hop: :func:`~.addresses.check_destination` (no network), the hop's headers
(:func:`~.request.hop_headers`), :func:`_exchange` (resolve once, connect to the pinned
address, send, read), then either the response or the next hop of a redirect. Every
low-level failure is mapped to a short :class:`~iota_scripts_sdk.errors.ScriptError` in
exactly one place, :func:`_exchange_safely`.
"""

from __future__ import annotations

import http.client
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ScriptError
from .addresses import check_destination
from .connection import Proxy, parse_proxy, pinned_connection
from .deadline import DeadlineExceededError
from .decoding import decode_text, read_body, response_headers
from .policy import HttpPolicy
from .request import (
    BODY_HEADERS,
    Target,
    add_trace_headers,
    check_method,
    effective_timeout,
    encode_body,
    header_bytes,
    hop_headers,
    parse_url,
    redirect_target,
    script_headers,
)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


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


@dataclass(frozen=True)
class _HopResult:
    status: int
    headers: dict[str, str]
    body: bytes
    location: str | None  # set when this hop is a redirect to follow


def _exchange(
    policy: HttpPolicy,
    target: Target,
    method: str,
    headers: list[tuple[str, str]],
    payload: bytes | None,
    deadline: float,
    proxy: Proxy | None,
) -> _HopResult:
    """Resolve, validate, connect to the pinned IP, send, and read one response."""
    connection = pinned_connection(policy, target, proxy, deadline)
    try:
        connection.connect()
        connection.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, header_bytes(value))
        connection.endheaders(payload)
        response = connection.read_response(method)
        try:
            status = response.status
            headers_in = response_headers(response.msg.items())
            location = response.msg.get("location")
            if status in _REDIRECT_STATUSES and location:
                return _HopResult(status, headers_in, b"", location)
            body = read_body(response, policy, deadline, target.host)
            return _HopResult(status, headers_in, body, None)
        finally:
            response.close()
    finally:
        connection.close()


def _exchange_safely(
    policy: HttpPolicy,
    target: Target,
    method: str,
    headers: list[tuple[str, str]],
    payload: bytes | None,
    deadline: float,
    proxy: Proxy | None,
    total: float,
) -> _HopResult:
    """:func:`_exchange` with every low-level failure turned into a short ScriptError."""
    host = target.host
    try:
        return _exchange(policy, target, method, headers, payload, deadline, proxy)
    except ScriptError:
        raise
    except (DeadlineExceededError, TimeoutError):
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


def fetch(
    policy: HttpPolicy,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    timeout_sec: float | None = None,
    idempotency_key: str | None = None,
    trace_headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """Perform one HTTP request for a script, following redirects, under *policy*.

    Arguments are validated before any network activity: *method* (case-insensitive, one of
    GET HEAD POST PUT PATCH DELETE OPTIONS), *headers* (RFC 7230 token names, no control
    characters in values; Host, Cookie, Proxy-Authorization and -- unless allowed --
    Authorization are refused; hop-by-hop/framing headers and Accept-Encoding are silently
    dropped), *body* (str is sent as UTF-8 with a default ``text/plain;charset=UTF-8`` type,
    bytes as is; not allowed on GET/HEAD; at most ``max_request_bytes``), *timeout_sec*
    (lowers the policy's total deadline, never raises it) and *idempotency_key* (sent as
    ``Idempotency-Key``; 1-255 printable ASCII characters). *trace_headers* come from the
    host, not the script: the W3C ``traceparent``/``tracestate`` of the caller's span (see
    :func:`~.request.add_trace_headers`); they replace a script's own and go on every hop.

    Redirects 301/302/303/307/308 are followed up to ``policy.max_redirects``, re-checking
    scheme, allow-list, resolution and addresses at every hop. 303 (and 301/302 after a POST)
    become a GET without body; once a hop leaves the first origin, Authorization and the
    policy's injected credentials are no longer sent. A 3xx without Location is returned.

    Returns the final :class:`HttpResponse`, whatever its status (4xx/5xx are not errors).
    Raises :class:`ScriptError` (see the package docstring for the codes).
    """
    total = effective_timeout(policy, timeout_sec)
    deadline = time.monotonic() + total
    method = check_method(method)
    payload = encode_body(policy, method, body)
    base_headers = script_headers(policy, headers, idempotency_key)
    if trace_headers:
        add_trace_headers(base_headers, trace_headers)
    if isinstance(body, str) and "content-type" not in base_headers:
        base_headers["content-type"] = ("Content-Type", "text/plain;charset=UTF-8")
    target = parse_url(url)
    proxy = parse_proxy(policy.proxy_url) if policy.proxy_url else None
    first_origin = target.origin
    crossed_origin = False
    redirects = 0
    while True:
        check_destination(target.host, target.ip, policy.allow_hosts, policy.extra_allowed_networks)
        headers_out = hop_headers(policy, target, base_headers, crossed_origin, payload, method)
        result = _exchange_safely(
            policy, target, method, headers_out, payload, deadline, proxy, total
        )
        if result.location is None:
            content_type = result.headers.get("content-type")
            return HttpResponse(
                status=result.status,
                headers=result.headers,
                body=decode_text(result.body, content_type),
                url=target.url,
                redirected=redirects > 0,
            )
        if redirects >= policy.max_redirects:
            raise ScriptError(
                "too_many_redirects",
                f"more than {policy.max_redirects} redirects (last from {target.host})",
            )
        redirects += 1
        target = redirect_target(target, result.location)
        if (result.status == 303 and method not in ("GET", "HEAD")) or (
            result.status in (301, 302) and method == "POST"
        ):
            method = "GET"
            payload = None
            base_headers = {k: v for k, v in base_headers.items() if k not in BODY_HEADERS}
        if target.origin != first_origin:
            crossed_origin = True  # sticky: credentials never come back on later hops
