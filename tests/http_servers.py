# Over 600 lines: the loopback HTTP, HTTPS and CONNECT-proxy servers the engine tests share.
"""Loopback-only HTTP, HTTPS and CONNECT-proxy servers for tests, counting their hits.

Import as ``import http_servers`` (``tests`` is on pytest's ``pythonpath``).

* :class:`LoopbackServer` -- threaded HTTP/1.1 server bound to a 127.0.0.0/8 address. It
  counts accepted TCP connections (:attr:`LoopbackServer.hits`), records every request
  (:attr:`LoopbackServer.requests`) and dispatches on the path to a route; unknown paths
  echo the request as JSON. Give it an ``ssl.SSLContext`` (see :func:`server_tls_context`)
  to serve HTTPS; SNI names and failed handshakes are recorded.
* Route factories: :func:`json_route`, :func:`text_route`, :func:`redirect_route`,
  :func:`raw_route`, :func:`drip_route`, :func:`drip_headers_route`,
  :func:`gzip_bomb_route`.
* :class:`ConnectProxy` -- CONNECT-only forward proxy recording each tunnel target; it only
  ever forwards to loopback addresses.
* :func:`make_self_signed_cert` -- a throw-away certificate (``cryptography`` if installed,
  else the ``openssl`` command).

Nothing here ever connects outside 127.0.0.0/8, and the servers avoid the reverse DNS
lookup ``http.server`` normally does on bind.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import selectors
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "ConnectProxy",
    "LoopbackServer",
    "RecordedRequest",
    "RequestHandler",
    "Route",
    "drip_headers_route",
    "drip_route",
    "echo_route",
    "gzip_bomb_route",
    "json_route",
    "make_self_signed_cert",
    "raw_route",
    "redirect_route",
    "server_tls_context",
    "text_route",
    "wait_until",
]

_POLL = 0.02  # serve_forever poll interval: keeps shutdown() fast


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. ``headers`` keys are lower-case, repeats joined."""

    method: str
    target: str  # request-target exactly as sent ("/path?q" or an absolute/authority form)
    headers: dict[str, str]
    raw_headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class RequestHandler(BaseHTTPRequestHandler):
    """Records the request, then runs the route registered for its path."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    recorded: RecordedRequest

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        raw = tuple((k, v) for k, v in self.headers.items())
        joined: dict[str, str] = {}
        for key, value in raw:
            low = key.lower()
            joined[low] = f"{joined[low]}, {value}" if low in joined else value
        self.recorded = RecordedRequest(self.command, self.path, joined, raw, body)
        owner = self.server.owner
        owner._record(self.recorded)
        route = owner.routes.get(self.recorded.path, echo_route)
        route(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    # -- helpers for routes ------------------------------------------------------------------

    @property
    def stopping(self) -> threading.Event:
        """Set when the server shuts down: long-running routes must return."""
        return self.server.owner.stop_event

    def send_raw(self, data: bytes) -> bool:
        """Write bytes as is; False once the client has gone away."""
        try:
            self.wfile.write(data)
            return True
        except OSError:
            self.close_connection = True
            return False

    def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str | None = "text/plain; charset=utf-8",
    ) -> None:
        """A complete response with Content-Length; the connection is closed after it."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.send_raw(body)
        self.close_connection = True

    def hold_open(self, seconds: float) -> None:
        """Keep the connection open (without writing) until *seconds* pass or shutdown."""
        self.stopping.wait(seconds)
        self.close_connection = True


Route = Callable[[RequestHandler], None]


def echo_route(handler: RequestHandler) -> None:
    """Answer 200 with the request as JSON: method, target, headers, body (text)."""
    req = handler.recorded
    payload = {
        "method": req.method,
        "target": req.target,
        "headers": req.headers,
        "body": req.body.decode("utf-8", "replace"),
    }
    handler.respond(200, json.dumps(payload).encode(), content_type="application/json")


def json_route(obj: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Route:
    """Always answer *status* with *obj* as JSON plus extra *headers* (repeats allowed)."""
    data = json.dumps(obj).encode()
    extra = tuple(headers)

    def route(handler: RequestHandler) -> None:
        handler.respond(status, data, extra, content_type="application/json")

    return route


def text_route(
    body: bytes,
    status: int = 200,
    headers: Iterable[tuple[str, str]] = (),
    *,
    content_type: str | None = "text/plain; charset=utf-8",
) -> Route:
    """Always answer *status* with *body* (given as bytes) and extra *headers*."""
    extra = tuple(headers)

    def route(handler: RequestHandler) -> None:
        handler.respond(status, body, extra, content_type=content_type)

    return route


def redirect_route(location: str | Callable[[], str], status: int = 302) -> Route:
    """Redirect to *location* (or to what the callable returns at request time)."""

    def route(handler: RequestHandler) -> None:
        target = location() if callable(location) else location
        handler.respond(status, b"redirecting", [("Location", target)])

    return route


def raw_route(data: bytes, *, hold_open: float = 0.0) -> Route:
    """Write *data* verbatim (status line, headers, body), then optionally keep the socket
    open for *hold_open* seconds -- for lying Content-Length and protocol-error tests."""

    def route(handler: RequestHandler) -> None:
        handler.send_raw(data)
        if hold_open:
            handler.hold_open(hold_open)
        handler.close_connection = True

    return route


def drip_route(
    body: bytes, interval: float, *, declare_length: bool = True, content_type: str = "text/plain"
) -> Route:
    """Send the headers at once, then the body one byte every *interval* seconds."""

    def route(handler: RequestHandler) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
        if declare_length:
            head += f"Content-Length: {len(body)}\r\n"
        if not handler.send_raw((head + "\r\n").encode()):
            return
        for index in range(len(body)):
            if handler.stopping.wait(interval):
                break
            if not handler.send_raw(body[index : index + 1]):
                break
        handler.close_connection = True

    return route


def drip_headers_route(interval: float, count: int = 1000) -> Route:
    """Send a status line, then one header byte every *interval* seconds, never finishing."""

    def route(handler: RequestHandler) -> None:
        if not handler.send_raw(b"HTTP/1.1 200 OK\r\nX-Slow: "):
            return
        for _ in range(count):
            if handler.stopping.wait(interval) or not handler.send_raw(b"a"):
                break
        handler.close_connection = True

    return route


def gzip_bomb_route(total: int = 1 << 30, step: int = 1 << 20) -> Route:
    """Stream gzip of *total* zero bytes, compressed on the fly (never held in memory).

    Each write carries the (sync-flushed) compression of *step* zero bytes, so a client that
    inflates a whole network read at once materialises about *step* bytes. The send buffer
    is shrunk so the server blocks as soon as the client stops reading, and writing stops
    when the client disconnects. ``owner.bomb_input_bytes`` counts how many
    zero bytes were compressed so far (a client inflating everything would push it to
    *total*).
    """

    zeros = bytes(step)  # allocated once, up front (not while a test traces memory)

    def route(handler: RequestHandler) -> None:
        owner = handler.server.owner
        with contextlib.suppress(OSError):
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n"
        )
        if not handler.send_raw(head):
            return
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        produced = 0
        while produced < total and not handler.stopping.is_set():
            data = compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)
            produced += step
            owner.bomb_input_bytes = produced
            if not handler.send_raw(data):
                return
        handler.send_raw(compressor.flush())
        handler.close_connection = True

    return route


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), i.e. a reverse DNS lookup that may
        # leave the machine (e.g. for 127.0.0.2). Skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        self.owner._count_connection()
        return conn, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.owner.tls
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(5)
        try:
            tls_sock = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.owner._count_tls_failure()
            return
        try:
            tls_sock.settimeout(None)
            super().finish_request(tls_sock, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls_sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up mid-response are expected in these tests: stay quiet."""


class _Serving:
    """Start/close/context-manager for a socketserver held in ``self._server``."""

    _server: socketserver.BaseServer
    _thread: threading.Thread | None
    stop_event: threading.Event

    def start(self) -> Any:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": _POLL}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoopbackServer(_Serving):
    """A threaded HTTP(S) server on a loopback address that counts its hits.

    Use as a context manager (or call :meth:`start` / :meth:`close`). ``routes`` maps a path
    (without query) to a :data:`Route`; unknown paths get :func:`echo_route`.
    """

    def __init__(
        self,
        routes: dict[str, Route] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("LoopbackServer only binds loopback addresses")
        self.routes: dict[str, Route] = dict(routes or {})
        self.tls = tls
        self.stop_event = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.sni_names: list[str | None] = []
        self.tls_failures = 0
        self.bomb_input_bytes = 0
        self._hits = 0
        self._lock = threading.Lock()
        if tls is not None:
            tls.sni_callback = self._sni_callback
        self._server = _HTTPServer((host, port), self)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    # -- bookkeeping ---------------------------------------------------------------------------

    @property
    def hits(self) -> int:
        """TCP connections accepted so far (0 proves nobody connected at all)."""
        with self._lock:
            return self._hits

    def _count_connection(self) -> None:
        with self._lock:
            self._hits += 1

    def _count_tls_failure(self) -> None:
        with self._lock:
            self.tls_failures += 1

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _sni_callback(self, _sock: Any, name: str | None, _ctx: Any) -> None:
        with self._lock:
            self.sni_names.append(name)

    # -- URLs ----------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """URL of *path* on this server, optionally spelled with another *host* name."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        owner = self.server.owner
        client: socket.socket = self.request
        client.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 16384:
            data = client.recv(1)
            if not data:
                return
            head += data
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            owner._record(request_line)
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        authority = parts[1]
        owner._record(authority)
        host, _, port_text = authority.rpartition(":")
        host = host.strip("[]")
        try:
            loopback = ipaddress.ip_address(host).is_loopback
            port = int(port_text)
        except ValueError:
            loopback, port = False, 0
        if owner.refuse or not loopback:  # never forward anywhere but loopback
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            upstream.settimeout(5)
            upstream.connect((host, port))
        except OSError:
            upstream.close()
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pump(client, upstream, owner.stop_event)


def _pump(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Copy bytes both ways until either side closes or the proxy stops."""
    peers = {a: b, b: a}
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ)
        selector.register(b, selectors.EVENT_READ)
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.05):
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = src.recv(65536)
                    if not data:
                        return
                    peers[src].sendall(data)
                except OSError:
                    return


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: ConnectProxy) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        self.owner._count_connection()
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet, like the HTTP server."""


class ConnectProxy(_Serving):
    """CONNECT-only egress proxy on 127.0.0.1.

    ``hits`` counts TCP connections, ``connects`` lists the request targets (``"ip:port"``
    for CONNECT). With ``refuse=True`` every CONNECT gets 403. Non-loopback targets are
    always refused, so a test can never make it reach the outside world.
    """

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.connects: list[str] = []
        self.stop_event = threading.Event()
        self._hits = 0
        self._lock = threading.Lock()
        self._server = _ProxyServer(self)
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits

    def _count_connection(self) -> None:
        with self._lock:
            self._hits += 1

    def _record(self, target: str) -> None:
        with self._lock:
            self.connects.append(target)


# --------------------------------------------------------------------------------------------
# TLS material
# --------------------------------------------------------------------------------------------


def make_self_signed_cert(
    directory: Path,
    dns_names: Iterable[str] = ("api.example.test",),
    *,
    name: str = "server",
) -> tuple[Path, Path]:
    """Write ``<name>.crt``/``<name>.key`` (self-signed, EC P-256, valid for a day) into
    *directory* and return their paths. The SAN holds *dns_names* only (no IP), so a client
    verifying against the pinned IP instead of the host name fails."""
    names = list(dns_names)
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        _openssl_cert(cert_path, key_path, names)
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _openssl_cert(cert_path: Path, key_path: Path, names: list[str]) -> None:
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key_path),
            "-out",
            str(cert_path),
            "-days",
            "1",
            "-subj",
            f"/CN={names[0]}",
            "-addext",
            f"subjectAltName={san}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server-side TLS context for :class:`LoopbackServer` (one per server: the server
    installs its own SNI callback on it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll *predicate* until true or *timeout* seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
