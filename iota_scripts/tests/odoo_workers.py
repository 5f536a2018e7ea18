"""``odoo --workers=2`` on the test database, for tests of committed data.

The same server as ``test_metrics.py`` starts (that test keeps its own copy,
with its metrics settings): a prefork server on loopback, no cron threads,
stopped (SIGINT, then SIGKILL) by the test's cleanup.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import requests
from odoo.tools import config

from .prometheus_server import free_port


def start_odoo_workers(test, extra_env=None):
    """Starts the server; returns ``(process, base url)`` once it answers."""
    port, gevent_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="iota_workers_odoo_")
    env = {**os.environ, **(extra_env or {})}
    args = [
        sys.executable, "-m", "odoo",
        "-d", test.env.cr.dbname,
        "--addons-path", config["addons_path"],
        "--http-interface", "127.0.0.1",
        "--http-port", str(port),
        "--gevent-port", str(gevent_port),
        "--workers", "2",
        "--max-cron-threads", "0",
        "--data-dir", data_dir,
        "--log-level", "warn",
    ]  # fmt: skip
    for option in ("db_host", "db_port", "db_user", "db_password"):
        if config.get(option):
            args += [f"--{option}", str(config[option])]
    log_path = os.path.join(data_dir, "odoo.log")
    log = open(log_path, "wb")
    server = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop():
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)

    test.addCleanup(stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        test.assertIsNone(server.poll(), "odoo --workers=2 exited")
        try:
            if requests.get(base + "/web/health", timeout=5).status_code == 200:
                return server, base
        except requests.RequestException:
            pass
        time.sleep(0.5)
    log.flush()
    with open(log_path, errors="replace") as f:
        test.fail(f"odoo --workers=2 did not answer: {f.read()[-3000:]}")
