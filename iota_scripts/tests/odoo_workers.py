"""``odoo --workers=N`` on the test database, for tests of what only prefork workers show.

The server is a real Odoo started as a subprocess on free loopback ports,
on this test's database: it sees committed data only (use
``RealCursorMixin`` in the test), runs no cron unless asked, and is stopped
(SIGINT, then killed) and its data folder removed by the test's cleanups.
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


def start_workers(case, env=None, workers=2, cron_threads=0, drop_env_prefixes=()):
    """Starts Odoo for ``case`` (a test case); returns ``(process, base_url, data_dir)``.

    ``env``: environment variables set for the server (``None`` removes
    one); ``drop_env_prefixes``: variables of this process not passed on.
    Waits until ``/web/health`` answers, or fails the test with the log's tail.
    """
    port, gevent_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="iota_workers_odoo_")
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(drop_env_prefixes))}
    for key, value in (env or {}).items():
        if value is None:
            server_env.pop(key, None)
        else:
            server_env[key] = value
    args = [
        sys.executable, "-m", "odoo",
        "-d", case.env.cr.dbname,
        "--addons-path", config["addons_path"],
        "--http-interface", "127.0.0.1",
        "--http-port", str(port),
        "--gevent-port", str(gevent_port),
        "--workers", str(workers),
        "--max-cron-threads", str(cron_threads),
        "--data-dir", data_dir,
        "--log-level", "warn",
    ]  # fmt: skip
    for option in ("db_host", "db_port", "db_user", "db_password"):
        if config.get(option):
            args += [f"--{option}", str(config[option])]
    log = open(os.path.join(data_dir, "odoo.log"), "wb")
    server = subprocess.Popen(args, env=server_env, stdout=log, stderr=subprocess.STDOUT)

    def stop():
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)

    case.addCleanup(stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        case.assertIsNone(server.poll(), f"odoo --workers={workers} exited")
        try:
            if requests.get(base + "/web/health", timeout=5).status_code == 200:
                return server, base, data_dir
        except requests.RequestException:
            pass
        time.sleep(0.5)
    log.flush()
    with open(os.path.join(data_dir, "odoo.log"), errors="replace") as f:
        case.fail(f"odoo --workers={workers} did not answer: {f.read()[-3000:]}")
