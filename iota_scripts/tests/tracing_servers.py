"""Loopback servers of the tracing tests (issue 11 §2).

* :class:`FakeCollector`: a FAKE OpenTelemetry collector. No collector runs
  here, so this loopback HTTP server stands in for one: it accepts what the
  real OTLP/HTTP exporter (``opentelemetry-exporter-otlp-proto-http``) POSTs
  to ``/v1/traces`` and decodes the protobuf with ``opentelemetry-proto``
  (``ExportTraceServiceRequest``), keeping every span as a :class:`Span`.
* :class:`RecordingApi`: the "remote" API a script calls with ``sdk.http``;
  it records the headers of each request (the ``traceparent``).
* :class:`Tunnel`: an egress proxy (the ``http_proxy`` setting) that answers
  every ``CONNECT`` by tunnelling to :class:`RecordingApi`. A script calls a
  public address (loopback is blocked by ``sdk.http``, rightly), and the
  request still never leaves this machine.
"""

from __future__ import annotations

import dataclasses
import http.server
import select
import socket
import socketserver
import threading
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclasses.dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


class _Serving:
    def _serve(self, server: socketserver.BaseServer) -> None:
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeCollector(_Serving):
    """A fake OTLP/HTTP collector on loopback (see the module docstring)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = (
                    self.path == "/v1/traces"
                    and self.headers.get("Content-Type") == "application/x-protobuf"
                )
                if ok:
                    owner._receive(body)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def _receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        Span(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            status_code=span.status.code,
                            status_message=span.status.message,
                            attributes=_attributes(span.attributes),
                            resource=resource,
                        )
                    )
        with self.lock:
            self.requests += 1
            self.spans.extend(spans)

    def named(self, prefix: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.name.startswith(prefix)]

    def wait_for(self, names: list[str], timeout_sec: float = 90.0) -> dict[str, Span]:
        """The first span whose name starts with each of ``names``, once all arrived."""
        deadline = time.monotonic() + timeout_sec
        while True:
            found = {name: self.named(name) for name in names}
            if all(found.values()):
                return {name: spans[0] for name, spans in found.items()}
            if time.monotonic() > deadline:
                missing = [n for n, spans in found.items() if not spans]
                with self.lock:
                    have = sorted(s.name for s in self.spans)
                raise AssertionError(f"spans {missing} never arrived; got {have}")
            time.sleep(0.2)


class RecordingApi(_Serving):
    """The remote API of the scripts: answers 200, records each request's headers."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.received.append({k.lower(): v for k, v in self.headers.items()})
                body = b'{"pong": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))


class Tunnel(_Serving):
    """A CONNECT proxy whose every tunnel leads to 127.0.0.1:``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.connects: list[str] = []
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 8192:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, _, rest = line.partition(" ")
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                owner.connects.append(rest.split(" ", 1)[0])
                upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pipe(self.request, upstream)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._serve(Server(("127.0.0.1", 0), Handler))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            readable, _w, _x = select.select([a, b], [], [], 10)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    finally:
        b.close()
