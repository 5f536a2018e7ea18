"""``odoo --workers=2`` on the test's database, for what only prefork shows.

:func:`start_workers_server` starts a real Odoo 18 prefork server (two HTTP
workers, no cron thread) on free loopback ports, with extra environment
variables, waits until ``/web/health`` answers, and registers its stop (SIGINT,
then SIGKILL) and the removal of its data folder as cleanups of the test.
The data it serves must be committed (see ``common.RealCursorMixin``).
(``test_metrics.TestMetricsWorkers`` has its own copy, older than this one.)
"""

from __future__ import annotations

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


def start_workers_server(test, env_extra, args_extra=()):
    """``(process, base_url, data_dir)`` of a running ``odoo --workers=2``; its
    output goes to ``<data_dir>/odoo.log``."""
    port, gevent_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="iota_workers_odoo_")
    env = {**os.environ, **env_extra}
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
        "--logfile", os.path.join(data_dir, "odoo.log"),
        *args_extra,
    ]  # fmt: skip
    for option in ("db_host", "db_port", "db_user", "db_password"):
        if config.get(option):
            args += [f"--{option}", str(config[option])]
    server = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=data_dir
    )

    def stop():
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)

    test.addCleanup(stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        test.assertIsNone(server.poll(), "odoo --workers=2 exited")
        try:
            if requests.get(base + "/web/health", timeout=5).status_code == 200:
                return server, base, data_dir
        except requests.RequestException:
            pass
        time.sleep(0.5)
    with open(os.path.join(data_dir, "odoo.log"), errors="replace") as f:
        test.fail(f"odoo --workers=2 did not answer: {f.read()[-3000:]}")
