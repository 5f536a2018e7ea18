"""A loopback npm registry serving tarballs that ``npm pack`` made in the test.

No Odoo import: the engine's tests load this file too (tests/test_npm.py).

``pack(folder, name, version, files, **manifest)`` writes a tiny package and
packs it with the real ``npm pack`` (``--ignore-scripts``: packing runs no
lifecycle script either). :class:`LocalRegistry` serves what was packed the
way registry.npmjs.org does: ``GET /<name>`` (the abbreviated packument with
``dist.integrity`` and ``dist.tarball``), ``GET /<name>/<version>``, the
tarballs, and ``POST /-/npm/v1/security/advisories/bulk`` (``advisories``
answers it; None answers 503, as an unreachable audit endpoint). It counts
its hits, so a test can show that a run never reaches it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def pack(folder: Path, name: str, version: str, files: dict[str, str], **manifest: Any) -> Path:
    """Packs a package made of ``files`` with ``npm pack``; returns the tarball's path."""
    src = folder / f"src-{name.replace('/', '-')}-{version}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "package.json").write_text(
        json.dumps({"name": name, "version": version, "license": "MIT", **manifest})
    )
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    out = subprocess.run(
        ["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", str(folder)],
        cwd=src,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(folder),
            "npm_config_cache": str(folder / ".npm"),
        },
    )
    return folder / json.loads(out.stdout)[0]["filename"]


class LocalRegistry:
    """Serves packed tarballs on 127.0.0.1; ``url`` is its address."""

    def __init__(self) -> None:
        self.tarballs: dict[tuple[str, str], bytes] = {}
        self.manifests: dict[tuple[str, str], dict[str, Any]] = {}
        self.advisories: dict[str, Any] | None = None
        self.hits = 0
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                registry.hits += 1
                path = urllib.parse.unquote(self.path.lstrip("/"))
                if path.startswith("-/tarballs/"):
                    name, _, version = path.removeprefix("-/tarballs/").rpartition("/")
                    data = registry.tarballs.get((name, version.removesuffix(".tgz")))
                    return (
                        self._send(200, data, "application/octet-stream")
                        if data
                        else self._send(404, b"{}")
                    )
                for (name, version), meta in registry.manifests.items():
                    if path == f"{name}/{version}":
                        return self._send(200, json.dumps(meta).encode())
                doc = registry.packument(path)
                return self._send(200, json.dumps(doc).encode()) if doc else self._send(404, b"{}")

            def do_POST(self) -> None:
                registry.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if registry.advisories is None:
                    return self._send(503, b"{}")
                return self._send(200, json.dumps(registry.advisories).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, tarball: Path) -> dict[str, Any]:
        """Adds a packed tarball; returns its version's metadata."""
        import io
        import tarfile

        data = tarball.read_bytes()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            f = tar.extractfile("package/package.json")
            assert f is not None
            manifest = json.loads(f.read())
        name, version = manifest["name"], manifest["version"]
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        manifest["dist"] = {
            "integrity": integrity,
            "tarball": f"{self.url}/-/tarballs/{name}/{version}.tgz",
        }
        self.tarballs[(name, version)] = data
        self.manifests[(name, version)] = manifest
        return manifest

    def packument(self, name: str) -> dict[str, Any] | None:
        versions = {v: m for (n, v), m in self.manifests.items() if n == name}
        if not versions:
            return None
        latest = sorted(versions, key=lambda v: [int(x) for x in v.split(".")])[-1]
        return {"name": name, "dist-tags": {"latest": latest}, "versions": versions}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
