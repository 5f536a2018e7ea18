"""Connections: resolve once, connect to the pinned address, directly or through the proxy.

:func:`pinned_connection` is the only way a hop gets a socket. It resolves the hop's name
exactly once (:func:`resolve`, bounded by the deadline), has every address checked by
:func:`~.addresses.check_resolved`, and returns an ``http.client`` connection that never
resolves anything again: ``connect()`` goes to the validated IPs (or CONNECTs the egress
proxy to the first of them), so DNS rebinding between the check and the connect is
impossible. https is verified against the host *name* (SNI and certificate).

Every blocking operation (getaddrinfo, connect, the proxy's answer, TLS, each send and
recv) waits at most until the fetch's total deadline; low-level failures leave as
``ScriptError("http_error")`` or :class:`~.deadline.DeadlineExceededError`, or as the
``OSError``/``ssl`` exceptions that ``client.py`` maps.

Environment proxies (``HTTP_PROXY`` & co.) are never consulted: only ``HttpPolicy.proxy_url``
(:func:`parse_proxy`) is.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..errors import ScriptError
from .addresses import check_resolved
from .deadline import DeadlineExceededError, remaining
from .request import URL_CONTROL_RE, Target

if TYPE_CHECKING:
    from .policy import HttpPolicy

READ_CHUNK = 64 * 1024
_SEND_CHUNK = 64 * 1024
_MAX_PROXY_RESPONSE_HEAD = 16 * 1024


@dataclass(frozen=True)
class Proxy:
    """The egress proxy of ``HttpPolicy.proxy_url``."""

    host: str
    port: int
    authorization: str | None  # ready-made "Basic ..." value, or None


@functools.lru_cache(maxsize=16)
def parse_proxy(url: str) -> Proxy:
    """Parse ``http://[user:password@]host[:port]``; ValueError if anything else."""
    if not isinstance(url, str) or URL_CONTROL_RE.search(url):
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
    return Proxy(parts.hostname, port, authorization)


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def resolve(policy: HttpPolicy, host: str, port: int, deadline: float) -> list[str]:
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
    worker.join(remaining(deadline))
    if worker.is_alive():
        raise DeadlineExceededError
    result = box.get("result")
    if (
        box.get("failed")
        or not isinstance(result, list | tuple)
        or not result
        or not all(isinstance(a, str) for a in result)
    ):
        raise ScriptError("http_error", f"cannot resolve host {host}")
    return list(result)


def _validated_addresses(policy: HttpPolicy, target: Target, deadline: float) -> list[str]:
    """Resolve the hop's host once and return its addresses, all of which are allowed."""
    if target.ip is not None:  # literal: already checked by addresses.check_destination
        return [target.host]
    resolved = resolve(policy, target.host, target.port, deadline)
    return check_resolved(target.host, resolved, policy.extra_allowed_networks)


# --------------------------------------------------------------------------------------------
# Deadline-aware sockets
# --------------------------------------------------------------------------------------------


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
        self._sock.settimeout(remaining(self._deadline))
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise DeadlineExceededError from None


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
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline), READ_CHUNK)


# --------------------------------------------------------------------------------------------
# The egress proxy
# --------------------------------------------------------------------------------------------


def _read_head(sock: socket.socket, deadline: float) -> bytes:
    """Read a proxy's response head byte by byte, so no tunnelled byte is consumed."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        if len(head) > _MAX_PROXY_RESPONSE_HEAD:
            raise ScriptError("http_error", "the egress proxy sent an oversized response")
        sock.settimeout(remaining(deadline))
        try:
            byte = sock.recv(1)
        except TimeoutError:
            raise DeadlineExceededError from None
        if not byte:
            raise ScriptError("http_error", "the egress proxy closed the connection")
        head += byte
    return bytes(head)


def _open_tunnel(proxy: Proxy, ip: str, port: int, deadline: float, host: str) -> socket.socket:
    """Connect to the proxy and CONNECT to the pinned *ip* (never to the name)."""
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=remaining(deadline))
    except TimeoutError:
        raise DeadlineExceededError from None
    except OSError:
        raise ScriptError("http_error", "cannot connect to the egress proxy") from None
    try:
        authority = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        sock.settimeout(remaining(deadline))
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


# --------------------------------------------------------------------------------------------
# Pinned connections
# --------------------------------------------------------------------------------------------


class PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection that never resolves ``host``: connect() goes to pre-validated IPs.

    ``host`` is only the name (the Host header is written explicitly by the caller). Every
    blocking operation uses the remaining time of the fetch's total deadline.
    """

    def __init__(
        self,
        target: Target,
        addresses: list[str],
        proxy: Proxy | None,
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
                    (ip, target.port), timeout=remaining(self._deadline)
                )
                return
            except TimeoutError:
                raise DeadlineExceededError from None
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
            self.sock.settimeout(remaining(self._deadline))
            try:
                self.sock.sendall(view[offset : offset + _SEND_CHUNK])
            except TimeoutError:
                raise DeadlineExceededError from None

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


class PinnedHTTPSConnection(PinnedHTTPConnection):
    """Pinned connection plus TLS verified against the host NAME (SNI and certificate)."""

    def __init__(
        self,
        target: Target,
        addresses: list[str],
        proxy: Proxy | None,
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
        self.sock.settimeout(remaining(self._deadline))
        # On failure wrap_socket closes the (detached) raw socket itself.
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._target.host)


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()  # CERT_REQUIRED, check_hostname, system CAs
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def pinned_connection(
    policy: HttpPolicy, target: Target, proxy: Proxy | None, deadline: float
) -> PinnedHTTPConnection:
    """Resolve and validate the hop's addresses, and return its (unconnected) connection.

    Raises ``destination_blocked`` when any resolved address is refused, ``http_error``
    when the name does not resolve, :class:`DeadlineExceededError` at the deadline.
    """
    addresses = _validated_addresses(policy, target, deadline)
    if target.scheme == "https":
        context = policy._ssl_context or _default_ssl_context()
        return PinnedHTTPSConnection(target, addresses, proxy, deadline, context)
    return PinnedHTTPConnection(target, addresses, proxy, deadline)
