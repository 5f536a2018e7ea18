"""A FAKE Sentry server on loopback: it receives what the REAL ``sentry-sdk`` transport sends.

No Sentry server can run here, so this stands in for one: an HTTP server on
127.0.0.1 that accepts the two ingestion endpoints of the Sentry protocol,
``POST /api/<project>/store/`` (one event as JSON, which is where
sentry-sdk 1.9 sends error events) and ``POST /api/<project>/envelope/`` (an
envelope: a header line, then item header and payload lines), decodes their
``Content-Encoding`` (gzip or deflate) and keeps each request's raw body and
its events. It answers 200 with the event id as Sentry does.

Odoo-free: the addon tests import it, the engine tests load it by path.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def decode_envelope(body: bytes) -> list[dict[str, Any]]:
    """The event items of an envelope (newline-separated JSON: header, then items)."""
    lines = body.split(b"\n")
    events = []
    i = 1  # lines[0] is the envelope header
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        item_header = json.loads(lines[i])
        length = item_header.get("length")
        if length is not None:
            rest = b"\n".join(lines[i + 1 :])
            payload, rest = rest[:length], rest[length:]
            lines = [b"", *rest.split(b"\n")]
            i = 1
        else:
            payload = lines[i + 1]
            i += 2
        if item_header.get("type") in ("event", "transaction"):
            events.append(json.loads(payload))
    return events


class FakeSentry:
    """``dsn`` points the real client here; ``events`` are what it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                if self.path.rstrip("/").endswith("/envelope"):
                    events = decode_envelope(raw)
                else:
                    events = [json.loads(raw)]
                with server._cond:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": raw}
                    )
                    server.events.extend(events)
                    server._cond.notify_all()
                answer = json.dumps({"id": events[0].get("event_id") if events else None})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.dsn = f"http://public-key@127.0.0.1:{self.port}/42"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, predicate, timeout_sec: float = 10.0) -> list[dict[str, Any]]:
        """The received events that match ``predicate``, once there is one (or [] at the timeout)."""
        deadline = time.monotonic() + timeout_sec
        with self._cond:
            while True:
                found = [e for e in self.events if predicate(e)]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                self._cond.wait(left)

    def raw(self) -> bytes:
        """Every body received, decoded: what must hold no secret."""
        with self._cond:
            return b"\n".join(r["body"] for r in self.requests)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
