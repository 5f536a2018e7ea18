"""A real Prometheus (Debian's ``prometheus`` package) on loopback, for the metrics tests.

``PrometheusServer(target, token)`` writes a scrape config that points at
``http://<target>/iota/metrics`` with the bearer token, every second, starts
``prometheus`` on a free loopback port with its storage in a temporary
folder, and stops it (and removes the folder) on ``stop()``. ``value(expr)``
asks its HTTP API (``/api/v1/query``) for one number; ``wait_for`` polls
until Prometheus has scraped what the test expects.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

BINARY = shutil.which("prometheus")
SKIP_REASON = "the prometheus binary is missing: apt-get install -y prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    def __init__(self, target: str, token: str, params: dict[str, str] | None = None) -> None:
        assert BINARY, SKIP_REASON
        self.folder = Path(tempfile.mkdtemp(prefix="iota_prometheus_"))
        self.port = free_port()
        params_yaml = "".join(f"      {k}: [{json.dumps(v)}]\n" for k, v in (params or {}).items())
        (self.folder / "prometheus.yml").write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: odoo\n"
            "    metrics_path: /iota/metrics\n"
            + ("    params:\n" + params_yaml if params_yaml else "")
            + "    authorization:\n"
            "      type: Bearer\n"
            f"      credentials: {json.dumps(token)}\n"
            "    static_configs:\n"
            f"      - targets: [{json.dumps(target)}]\n"
        )
        self.log = open(self.folder / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        self._wait_ready()

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read()

    def _wait_ready(self, timeout_sec: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_sec
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.logs()}")
            try:
                self._get("/-/ready")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"prometheus did not become ready: {self.logs()}")

    def logs(self) -> str:
        self.log.flush()
        return (self.folder / "prometheus.log").read_text(errors="replace")[-3000:]

    def query(self, expr: str) -> list[dict]:
        """The instant vector of ``expr``: ``[{"metric": {...}, "value": [t, "v"]}, ...]``."""
        body = json.loads(self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The one number ``expr`` gives now (None: no series)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expected: dict[str, float], timeout_sec: float = 45.0) -> dict[str, float]:
        """Polls until each expression of ``expected`` gives its number; returns what it saw."""
        deadline = time.monotonic() + timeout_sec
        seen: dict[str, float | None] = {}
        while time.monotonic() < deadline:
            seen = {expr: self.value(expr) for expr in expected}
            if seen == expected:
                return seen
            time.sleep(0.5)
        targets = self._get("/api/v1/targets").decode()[:1500]
        raise AssertionError(f"Prometheus saw {seen}, expected {expected}; targets: {targets}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)
