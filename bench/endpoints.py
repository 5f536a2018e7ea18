#!/usr/bin/env python3
"""Throughput and latency of a trivial public endpoint against a plain Odoo controller.

One run, one server: the script creates (or reuses) a database with
iota_scripts and the test-only module ``bench/addons/iota_scripts_bench``
(the baseline: a plain ``auth='public'`` controller ``/iota_bench/plain``
returning ``{"ok": true}``; the product addon ships no benchmark route), and
one public script returning ``{ok: true}`` published three times, once per
recording policy (docs/recording-policies.md):

* ``GET /iota/api/v1/bench/ping``: every call recorded (``all``, the default);
* ``GET /iota/api/v1/bench/sampled``: failures plus 1 in ``--sample-every``
  successes (``sampled``);
* ``GET /iota/api/v1/bench/failures``: failures only (``failures``).

It warms every route up, then measures them in ``--rounds`` interleaved
rounds of ``--duration`` seconds each, with ``--concurrency`` keep-alive
clients (interleaving spreads the noise of a shared machine over all routes
alike). The order changes from round to round so that, over four rounds,
each route follows each other route once: ``all`` leaves PostgreSQL writing
its rows after its turn, and a fixed order charged that to ``sampled``. Prints requests/s, p50 and p99 (ms), SQL queries per call (from
Odoo's request log), the CPU time per call of the Odoo process with its
runner processes and of its PostgreSQL backends, and the ratios
endpoint/plain with the targets of issue 16: >= 0.8x for ``sampled``,
>= 0.6x for ``all``. ``--json`` prints the same as JSON.

On a machine shared with other work, requests/s move with the load of the
moment; CPU per call (Odoo's process, its V8 runner processes and its
PostgreSQL backends) moves much less. ``cpu_ratio`` (plain CPU per call /
endpoint CPU per call) is what the throughput ratio tends to when the
server is CPU-bound on a quiet machine.

    python3 bench/endpoints.py [--port 18271] [--duration 5] [--rounds 4]
        [--concurrency 8] [--workers 0] [--sample-every 100]
        [--db iota_bench_endpoints] [--addons-path ODOO_ADDONS,.,bench/addons] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

HERE = Path(__file__).resolve().parent.parent
BENCH_ADDONS = Path(__file__).resolve().parent / "addons"
SETUP = """
script = env["iota.script"].search([("key", "=", "bench_ping")], limit=1)
if not script:
    script = env["iota.script"].create({
        "name": "bench ping", "key": "bench_ping", "state": "active",
        "source": "export default async function (ctx) { return {ok: true}; }",
    })
Endpoint = env["iota.script.endpoint"].with_context(active_test=False)
for path, policy in (("/bench/ping", "all"), ("/bench/sampled", "sampled"),
                     ("/bench/failures", "failures")):
    values = {"script_id": script.id, "path": path, "methods": "GET", "auth_mode": "public",
              "rate_limit_per_min": 100000, "rate_limit_algorithm": "sliding_window",
              "active": True}
    if "record_policy" in Endpoint._fields:
        values.update(record_policy=policy, record_sample_every=SAMPLE_EVERY)
    endpoint = Endpoint.search([("api_version", "=", "v1"), ("path", "=", path)])
    if endpoint:
        endpoint.write(values)
    else:
        Endpoint.create(values)
env["ir.config_parameter"].set_param("iota_scripts.redis_url", REDIS_URL or "")
env.cr.commit()
"""
ROUTES = {
    "plain_controller": "/iota_bench/plain",
    "endpoint_all": "/iota/api/v1/bench/ping",
    "endpoint_sampled": "/iota/api/v1/bench/sampled",
    "endpoint_failures": "/iota/api/v1/bench/failures",
}
TARGETS = {"endpoint_sampled": 0.8, "endpoint_all": 0.6}
#: The order of ROUTES in each round: each route follows each other one once in four rounds.
_ORDERS = ((0, 1, 3, 2), (1, 2, 0, 3), (2, 3, 1, 0), (3, 0, 2, 1))
# werkzeug's request line, with Odoo's perf info: ... "GET /path HTTP/1.1" 200 - <queries> <sql s> <other s>
_REQUEST_LOG = re.compile(r'"GET (\S+) HTTP/[0-9.]+" 200 - (\d+) ')


def default_addons_path() -> str:
    """Odoo's own addons (beside the installed ``odoo`` package), this checkout
    and the benchmark's baseline module; as ``scripts/test-addon`` does."""
    return ",".join((odoo_addons_dir(), str(HERE), str(BENCH_ADDONS)))


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
        args.addons_path or default_addons_path(),
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
    exists = subprocess.run(  # noqa: S603 - fixed argv: psql on PATH, the bench's own arguments
        ["psql", "-h", args.db_host, "-U", args.db_user, "-lqt"],  # noqa: S607 - psql on PATH
        capture_output=True,
        text=True,
    ).stdout
    install = "-u" if f" {args.db} " in exists else "-i"
    subprocess.run(  # noqa: S603 - fixed argv: this Odoo, the bench's own arguments
        [*odoo_args(args), install, "iota_scripts,iota_scripts_bench", "--stop-after-init"],
        env=odoo_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    code = f"REDIS_URL = {args.redis_url!r}\nSAMPLE_EVERY = {args.sample_every}\n" + SETUP
    subprocess.run(  # noqa: S603 - fixed argv: odoo shell, the bench's own arguments
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


def measure(url: str, duration: float, concurrency: int) -> tuple[list[float], int, float]:
    """``(latencies in s, bad answers, wall s)`` of ``concurrency`` clients for ``duration`` s."""
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
    return latencies, errors[0], time.monotonic() - started


class CpuMeter:
    """CPU seconds (user + system) used by the Odoo server, its children (the
    V8 runners) and its PostgreSQL backends (``application_name`` odoo-<pid>)."""

    def __init__(self, server_pid: int, db_host: str, db_user: str, db: str):
        self.server = psutil.Process(server_pid)
        self.psql = ["psql", "-h", db_host, "-U", db_user, "-d", db, "-At"]
        pattern = f"odoo-{int(server_pid)}%"
        self.query = ["-v", f"pattern={pattern}"]

    def _backends(self) -> list[psutil.Process]:
        sql = (
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name LIKE :'pattern' AND pid <> pg_backend_pid()"
        )
        out = subprocess.run(  # noqa: S603 - fixed argv: psql, the bench's own query
            [*self.psql, *self.query], input=sql, capture_output=True, text=True
        ).stdout
        found = []
        for line in out.split():
            try:
                found.append(psutil.Process(int(line)))
            except (psutil.Error, ValueError):
                continue
        return found

    @staticmethod
    def _cpu(procs) -> dict[int, float]:
        total = {}
        for proc in procs:
            try:
                times = proc.cpu_times()
                total[proc.pid] = times.user + times.system
            except psutil.Error:
                continue
        return total

    def snapshot(self) -> tuple[dict[int, float], ...]:
        runners = self.server.children(recursive=True)
        return self._cpu([self.server]), self._cpu(runners), self._cpu(self._backends())

    @staticmethod
    def used(before, after) -> tuple[float, ...]:
        """``(odoo s, runners s, db s)`` between two snapshots (new processes count from 0)."""
        return tuple(
            sum(t - b.get(pid, 0.0) for pid, t in a.items())
            for b, a in zip(before, after, strict=True)
        )


def summarise(
    latencies: list[float], errors: int, wall: float, cpu: tuple[float, ...], queries: list[int]
) -> dict:
    latencies = sorted(latencies)
    q = statistics.quantiles(latencies, n=100)
    calls = max(1, len(latencies))
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "sql_queries_per_call": statistics.median(queries) if queries else None,
        "odoo_cpu_ms_per_call": round(cpu[0] * 1000 / calls, 3),
        "runner_cpu_ms_per_call": round(cpu[1] * 1000 / calls, 3),
        "db_cpu_ms_per_call": round(cpu[2] * 1000 / calls, 3),
        "cpu_ms_per_call": round(sum(cpu) * 1000 / calls, 3),
    }


def queries_by_path(log_path: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    with open(log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if match := _REQUEST_LOG.search(line):
                found.setdefault(match.group(1), []).append(int(match.group(2)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18271)
    parser.add_argument("--duration", type=float, default=5, help="seconds per route per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--sample-every", type=int, default=100)
    parser.add_argument("--db", default="iota_bench_endpoints")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--addons-path", help="default: Odoo's addons, this checkout, bench/addons")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    prepare(args)
    log = tempfile.NamedTemporaryFile(prefix="iota_bench_endpoints_", suffix=".log", delete=False)
    log.close()
    server = subprocess.Popen(  # noqa: S603 - fixed argv: the Odoo server under test
        [
            *odoo_args(args),
            "--workers",
            str(args.workers),
            "--log-level",
            "warn",
            # the request lines carry the SQL queries of each call
            "--log-handler",
            "werkzeug:INFO",
            "--logfile",
            log.name,
            "--max-cron-threads",
            "0",
        ],
        env=odoo_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    samples: dict[str, tuple[list[float], int, float]] = {n: ([], 0, 0.0) for n in ROUTES}
    cpu = {name: (0.0, 0.0, 0.0) for name in ROUTES}
    try:
        wait_up(base + ROUTES["plain_controller"])
        meter = CpuMeter(server.pid, args.db_host, args.db_user, args.db)
        for path in ROUTES.values():  # warm up: runners, caches, connections
            measure(base + path, 2, args.concurrency)
        names = list(ROUTES)
        for round_ in range(args.rounds):
            # A balanced order (a Williams square): over four rounds, each route
            # follows each other route once. endpoint_all's rows keep
            # PostgreSQL busy after its turn, and whichever route always came
            # next paid for it.
            for name in (names[i] for i in _ORDERS[round_ % len(_ORDERS)]):
                path = ROUTES[name]
                before = meter.snapshot()
                lat, bad, wall = measure(base + path, args.duration, args.concurrency)
                used = CpuMeter.used(before, meter.snapshot())
                old = samples[name]
                samples[name] = (old[0] + lat, old[1] + bad, old[2] + wall)
                cpu[name] = tuple(a + b for a, b in zip(cpu[name], used, strict=True))
    finally:
        server.terminate()
        server.wait(timeout=30)
    queries = queries_by_path(log.name)
    os.unlink(log.name)
    result: dict = {
        "settings": {
            "duration_sec_per_round": args.duration,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "sample_every": args.sample_every,
            "redis": bool(args.redis_url),
        },
        **{
            name: summarise(*samples[name], cpu[name], queries.get(path, []))
            for name, path in ROUTES.items()
        },
    }
    plain = result["plain_controller"]
    result["ratios"] = {
        name: {
            "throughput_over_plain": round(result[name]["rps"] / plain["rps"], 3),
            "p50_over_plain": round(result[name]["p50_ms"] / plain["p50_ms"], 2),
            "p99_over_plain": round(result[name]["p99_ms"] / plain["p99_ms"], 2),
            "cpu_ratio": round(plain["cpu_ms_per_call"] / result[name]["cpu_ms_per_call"], 3),
        }
        for name in ROUTES
        if name != "plain_controller"
    }
    result["targets"] = {
        name: {
            "throughput_over_plain_at_least": target,
            "met": result["ratios"][name]["throughput_over_plain"] >= target,
        }
        for name, target in TARGETS.items()
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name in ROUTES:
        r = result[name]
        print(
            f"{name:18} {r['rps']:>8.1f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
            f"p99 {r['p99_ms']:>7.2f} ms  {r['sql_queries_per_call']} queries/call  "
            f"CPU/call odoo {r['odoo_cpu_ms_per_call']:.2f} + V8 {r['runner_cpu_ms_per_call']:.2f}"
            f" + db {r['db_cpu_ms_per_call']:.2f} ms  "
            f"({r['requests']} requests, {r['errors']} errors)"
        )
    for name, ratio in result["ratios"].items():
        target = result["targets"].get(name)
        verdict = (
            f"; target >= {target['throughput_over_plain_at_least']}x "
            f"{'met' if target['met'] else 'NOT met'}"
            if target
            else ""
        )
        print(
            f"{name} / plain: throughput {ratio['throughput_over_plain']}x, "
            f"p50 {ratio['p50_over_plain']}x, p99 {ratio['p99_over_plain']}x, "
            f"CPU per call plain/endpoint {ratio['cpu_ratio']}x{verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
