"""Loopback HTTPS servers that stand for the outside APIs a script calls.

A recipe calls ``https://fulfil.example.com/v1/shipments``; here that name is
served by a real HTTPS server on 127.0.0.1 with a throw-away certificate. The
script's run goes through the engine's real ``sdk.http`` client: its allow-list
(the script's *Allowed Hosts*, as an administrator sets them), the address
checks, TLS with certificate and hostname verification, headers, timeouts.
Only three things are test seams, on :class:`HttpPolicy`'s documented test
hooks: the names resolve to 127.0.0.1 (``resolver``), 127.0.0.1 is exempted
from the deny list (``extra_allowed_networks``), and the certificate is
trusted (``_ssl_context``). The URL gets the server's port (the recipes use
443, which a test cannot bind).
"""

import dataclasses
import datetime
import ipaddress
import json
import os
import ssl
import tempfile
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch
from urllib.parse import urlsplit, urlunsplit

import iota_scripts_sdk._http as sdk_http
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _certificate(names):
    """A self-signed certificate for ``names``: ``(cert_pem, key_pem)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class Recorded:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-cased names
        self.body = body

    def json(self):
        return json.loads(self.body)


class Api:
    """One outside API: answers each path from a plan of ``(status, JSON body)``.

    A path's plan is consumed in order; its last answer repeats. A callable
    plan entry gets the :class:`Recorded` request and returns ``(status, body)``.
    """

    def __init__(self, name, routes, server_context):
        self.name = name
        self.plans = {path: list(plan) for path, plan in routes.items()}
        self.requests = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path = urlsplit(self.path).path
                recorded = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with api._lock:
                    api.requests.append(recorded)
                    plan = api.plans.get(path)
                    entry = (plan.pop(0) if len(plan) > 1 else plan[0]) if plan else (404, {})
                status, answer = entry(recorded) if callable(entry) else entry
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = server_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class OutsideWorld:
    """The outside APIs of a test: ``world.api("crm.example.com", {"/api/contacts": [...]})``.

    Inside ``with world.routing():`` the engine's HTTP client reaches them.
    """

    NAMES = (
        "api.example.com",
        "crm.example.com",
        "fulfil.example.com",
        "hooks.slack.com",
        "pim.example.com",
        "rates.example.com",
        "registry.example.com",
    )

    def __init__(self):
        cert_pem, key_pem = _certificate(list(self.NAMES))
        folder = tempfile.mkdtemp(prefix="iota_loopback_https_")
        cert_file, key_file = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        with open(key_file, "wb") as f:
            f.write(key_pem)
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(cert_file, key_file)
        self.client_context = ssl.create_default_context(cadata=cert_pem.decode())
        os.unlink(key_file)
        os.unlink(cert_file)
        os.rmdir(folder)
        self.apis = {}

    def api(self, name, routes):
        assert name in self.NAMES, name
        if name in self.apis:
            self.apis[name].close()
        self.apis[name] = Api(name, routes, self.server_context)
        return self.apis[name]

    def close(self):
        for api in self.apis.values():
            api.close()
        self.apis = {}

    def _resolve(self, host, port):
        # names with a server resolve to loopback; any other name does not resolve
        return ["127.0.0.1"] if host in self.apis else []

    @contextmanager
    def routing(self):
        original = sdk_http.fetch

        def fetch(policy, url, **kw):
            parts = urlsplit(url)
            api = self.apis.get(parts.hostname or "")
            if api is not None and parts.port is None:
                netloc = f"{parts.hostname}:{api.port}"
                url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
            policy = dataclasses.replace(
                policy,
                resolver=self._resolve,
                extra_allowed_networks=("127.0.0.1/32",),
                _ssl_context=self.client_context,
            )
            return original(policy, url, **kw)

        with patch.object(sdk_http, "fetch", fetch):
            yield self
