"""HttpPolicy: what a host allows scripts to reach, and how (validated on construction)."""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ScriptError
from .addresses import compile_pattern, parse_networks
from .connection import parse_proxy
from .request import BAD_HEADER_VALUE_RE, TOKEN_RE


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


def _validate_policy(policy: HttpPolicy) -> None:
    """Raise ValueError/TypeError for a malformed policy (see HttpPolicy.__post_init__)."""
    for name in ("allow_hosts", "credentials", "extra_allowed_networks"):
        if isinstance(getattr(policy, name), str):
            raise TypeError(f"{name} must be a tuple, not a string")
    for entry in policy.allow_hosts:
        compile_pattern(entry)
    for credential in policy.credentials:
        pattern, header, value = credential
        compile_pattern(pattern)
        if not isinstance(header, str) or not TOKEN_RE.fullmatch(header):
            raise ValueError("credential header names must be HTTP tokens")
        if not isinstance(value, str) or BAD_HEADER_VALUE_RE.search(value):
            raise ValueError("credential header values must not contain control characters")
    parse_networks(tuple(policy.extra_allowed_networks))
    if policy.proxy_url is not None:
        parse_proxy(policy.proxy_url)
    timeout = policy.timeout_sec
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError("timeout_sec must be a number")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError("timeout_sec must be a positive number")
    for name in ("max_response_bytes", "max_request_bytes", "max_redirects"):
        number = getattr(policy, name)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"{name} must be a non-negative integer")
    if not isinstance(policy.user_agent, str) or BAD_HEADER_VALUE_RE.search(policy.user_agent):
        raise ValueError("user_agent must be a string without control characters")
    if policy.resolver is not None and not callable(policy.resolver):
        raise TypeError("resolver must be callable")
