#!/usr/bin/env python3
"""Throughput and latency of a trivial endpoint script against a plain Odoo route.

One run, one server: the script creates (or reuses) a database with
iota_scripts, a public endpoint ``GET /iota/api/v1/bench/ping`` whose script
returns ``{ok: true}``, starts Odoo with the test-only baseline route
``/iota/bench/plain`` (``IOTA_SCRIPTS_BENCH_BASELINE=1``) returning the same
JSON, warms both up, then measures each for ``--duration`` seconds with
``--concurrency`` keep-alive clients. Prints requests/s, p50 and p99 (ms) and
the ratios endpoint/plain, as text and with ``--json``.

The endpoint path does everything a real call does: route lookup, rate
limit (exact sliding window, Redis when ``--redis-url``), a V8 run in a runner process and an
execution record committed per call. The baseline is a readonly ``auth='none'``
route with no database write.

    python3 bench/endpoints.py [--port 18271] [--duration 10] [--concurrency 8]
                               [--workers 0] [--db iota_bench_endpoints] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent.parent
SETUP = """
script = env["iota.script"].search([("key", "=", "bench_ping")], limit=1)
if not script:
    script = env["iota.script"].create({
        "name": "bench ping", "key": "bench_ping", "state": "active",
        "source": "export default async function (ctx) { return {ok: true}; }",
    })
endpoint = env["iota.script.endpoint"].search([("script_id", "=", script.id)])
values = {"path": "/bench/ping", "methods": "GET", "auth_mode": "public",
          "rate_limit_per_min": 100000, "rate_limit_algorithm": "sliding_window"}
if endpoint:
    endpoint.write(values)
else:
    env["iota.script.endpoint"].create({"script_id": script.id, **values})
env["ir.config_parameter"].set_param("iota_scripts.redis_url", REDIS_URL or "")
env.cr.commit()
"""


def odoo_env(**extra: str) -> dict[str, str]:
    """The environment of every Odoo process: this checkout's engine package
    first on the path (an editable install elsewhere must not answer)."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def odoo_addons_dir() -> str:
    """Odoo's own addons: ``ODOO_ADDONS_PATH``, else the ``addons`` folder of the installed
    ``odoo`` package (as scripts/test-addon finds it), located without importing Odoo."""
    if os.environ.get("ODOO_ADDONS_PATH"):
        return os.environ["ODOO_ADDONS_PATH"]
    spec = importlib.util.find_spec("odoo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("Odoo is not importable: install Odoo 18 or pass --addons-path")
    return os.path.join(next(iter(spec.submodule_search_locations)), "addons")


def odoo_args(args) -> list[str]:
    addons = args.addons_path or f"{odoo_addons_dir()},{HERE}"
    return [
        sys.executable,
        "-m",
        "odoo",
        "-d",
        args.db,
        "--db_host",
        args.db_host,
        "--db_user",
        args.db_user,
        "--addons-path",
        addons,
        "--http-interface",
        "127.0.0.1",
        "--http-port",
        str(args.port),
        "--db-filter",
        f"^{args.db}$",
        "--without-demo",
        "all",
    ]


def prepare(args) -> None:
    exists = subprocess.run(
        ["psql", "-h", args.db_host, "-U", args.db_user, "-lqt"], capture_output=True, text=True
    ).stdout
    if f" {args.db} " not in exists:
        subprocess.run(
            [*odoo_args(args), "-i", "iota_scripts", "--stop-after-init"],
            env=odoo_env(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    else:
        subprocess.run(
            [*odoo_args(args), "-u", "iota_scripts", "--stop-after-init"],
            env=odoo_env(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    code = f"REDIS_URL = {args.redis_url!r}\n" + SETUP
    subprocess.run(
        [*odoo_args(args)[:3], "shell", *odoo_args(args)[3:], "--no-http"],
        input=code,
        text=True,
        env=odoo_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2).raise_for_status()
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url}")


def measure(url: str, duration: float, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def client():
        mine, bad = [], 0
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                response = session.get(url, timeout=30)
                elapsed = time.perf_counter() - t0
                if response.status_code != 200 or response.json() != {"ok": True}:
                    bad += 1
                mine.append(elapsed)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18271)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--db", default="iota_bench_endpoints")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--addons-path")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    prepare(args)
    env = odoo_env(IOTA_SCRIPTS_BENCH_BASELINE="1")
    server = subprocess.Popen(
        [
            *odoo_args(args),
            "--workers",
            str(args.workers),
            "--log-level",
            "warn",
            "--max-cron-threads",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    plain_url, endpoint_url = f"{base}/iota/bench/plain", f"{base}/iota/api/v1/bench/ping"
    try:
        wait_up(plain_url)
        for url in (plain_url, endpoint_url):  # warm up: runners, caches, connections
            measure(url, 2, args.concurrency)
        plain = measure(plain_url, args.duration, args.concurrency)
        endpoint = measure(endpoint_url, args.duration, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "settings": {
            "duration_sec": args.duration,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "redis": bool(args.redis_url),
        },
        "plain_controller": plain,
        "endpoint_script": endpoint,
        "ratios": {
            "throughput_endpoint_over_plain": round(endpoint["rps"] / plain["rps"], 3),
            "p50_endpoint_over_plain": round(endpoint["p50_ms"] / plain["p50_ms"], 2),
            "p99_endpoint_over_plain": round(endpoint["p99_ms"] / plain["p99_ms"], 2),
        },
    }
    result["target_0_7x_met"] = result["ratios"]["throughput_endpoint_over_plain"] >= 0.7
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in ("plain_controller", "endpoint_script"):
            r = result[name]
            print(
                f"{name:18} {r['rps']:>9.1f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
                f"p99 {r['p99_ms']:>7.2f} ms  ({r['requests']} requests, {r['errors']} errors)"
            )
        ratios = result["ratios"]
        print(
            f"ratio endpoint/plain: throughput {ratios['throughput_endpoint_over_plain']}x, "
            f"p50 {ratios['p50_endpoint_over_plain']}x, p99 {ratios['p99_endpoint_over_plain']}x; "
            f"target >= 0.7x throughput {'met' if result['target_0_7x_met'] else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
