#!/usr/bin/env python3
"""What metrics and tracing cost a trivial endpoint when no exporter is configured.

Issue 11 asks for under 5%. Two Odoo servers on the same database, started
by this script, serve the same public endpoint (``/iota/api/v1/bench/failures``:
one script returning ``{ok: true}``, successes not recorded, so the run path
is as short as it gets and the hooks weigh the most):

* ``baseline``: the product with its metrics and tracing hooks taken out
  (``bench/addons/iota_scripts_bench/strip_observability.py``: no observer in
  the engine, no span, no counter call);
* ``shipped``: the product as it is, with no ``metrics_token`` and no traces
  endpoint (the default): every hook is called and finds its feature off;
* ``exporting`` (``--exporting``, for information): metrics on, and spans
  exported to a loopback OTLP sink that answers 200 and drops them;
* ``shipped_again`` (``--control``): a second ``shipped`` server. Two
  identical servers differ too, on a shared machine: that difference is the
  noise floor the cost must be read against.

The servers are measured in interleaved rounds (one at a time, so they
never compete for the CPU; every other round in reverse order), ``--duration`` seconds each, with
``--concurrency`` keep-alive clients. Printed: requests/s, p50, CPU per call
(the Odoo process, its V8 runners and its PostgreSQL backends, as
``bench/endpoints.py`` measures it), and the cost of ``shipped`` against
``baseline`` measured in the same run: throughput lost and CPU per call added,
in percent, with the 5% target. Then the hooks alone, timed in this process
with tracing and metrics off (nanoseconds per call).

    python3 bench/observability.py [--port 18275] [--duration 5] [--rounds 3]
        [--concurrency 4] [--exporting] [--control] [--db iota_bench_endpoints] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import timeit
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from endpoints import (
    HERE,
    CpuMeter,
    measure,
    odoo_args,
    odoo_env,
    prepare,
    wait_up,
)

ROUTE = "/iota/api/v1/bench/failures"
TARGET_PERCENT = 5.0
OFF_ENV = (
    "IOTA_SCRIPTS_METRICS_TOKEN",
    "IOTA_SCRIPTS_TRACING_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    # Sentry stays off in every server too
    "IOTA_SCRIPTS_SENTRY_DSN",
    "SENTRY_DSN",
)


class Sink:
    """A loopback OTLP/HTTP sink: answers 200 to every export and keeps nothing."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def stop(self) -> None:
        self.server.shutdown()


def start(args, port: int, extra_env: dict[str, str], log_dir: str) -> subprocess.Popen:
    server_args = vars(args).copy()
    server_args["port"] = port
    env = {k: v for k, v in odoo_env().items() if k not in OFF_ENV}
    env.update(extra_env)
    return subprocess.Popen(  # noqa: S603 - fixed argv: the Odoo server under test
        [
            *odoo_args(types.SimpleNamespace(**server_args)),
            "--workers",
            "0",
            "--max-cron-threads",
            "0",
            "--log-level",
            "warn",
            "--logfile",
            os.path.join(log_dir, f"odoo-{port}.log"),
            "--data-dir",
            os.path.join(log_dir, f"data-{port}"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def hooks_ns() -> dict[str, float]:
    """Nanoseconds per call of each hook, tracing and metrics off, in this process."""
    saved = {k: os.environ.pop(k) for k in OFF_ENV if k in os.environ}
    try:
        package = types.ModuleType("_iota_tools_alone")
        package.__path__ = [str(HERE / "iota_scripts" / "tools")]
        sys.modules["_iota_tools_alone"] = package
        tracing = importlib.import_module("_iota_tools_alone.observability.tracing")
        metrics = importlib.import_module("_iota_tools_alone.observability.metrics")
        observer = importlib.import_module("_iota_tools_alone.observability").engine_observer()
        assert tracing.tracer() is None, "tracing must be off here"  # noqa: S101 - the bench's precondition
        hreq = types.SimpleNamespace(method="GET", path="/x", headers={})
        req = types.SimpleNamespace()

        def endpoint_span() -> None:
            with tracing.endpoint_span(hreq) as span:
                span.resolved("GET", "v1", ("x",), 1)
                span.answered(200)

        def run_span() -> None:
            with tracing.run_span(req):
                tracing.run_ended(None, "succeeded", None)

        def sdk_call() -> None:
            token = observer.sdk_call_begin("db.search", ["res.partner", []])
            observer.sdk_call("db", "ok")
            if token is not None:
                observer.sdk_call_end(token, "ok", [])

        cases = {
            "endpoint_span": endpoint_span,
            "run_span + run_ended": run_span,
            "sdk call (observer)": sdk_call,
            "carrier (enqueue, emit)": tracing.carrier,
            "metrics.enabled": metrics.enabled,
        }
        out = {}
        for name, fn in cases.items():
            number = 20000
            best = min(timeit.repeat(fn, number=number, repeat=5))
            out[name] = round(best / number * 1e9, 1)
        return out
    finally:
        os.environ.update(saved)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18275)
    parser.add_argument("--duration", type=float, default=5, help="seconds per server per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--exporting", action="store_true", help="also measure exporting")
    parser.add_argument(
        "--control",
        action="store_true",
        help="a second shipped server: the difference between two identical servers "
        "is the noise floor of this machine",
    )
    parser.add_argument("--db", default="iota_bench_endpoints")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--addons-path", help="default: Odoo's addons, this checkout, bench/addons")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--sample-every", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    prepare(args)
    log_dir = tempfile.mkdtemp(prefix="iota_bench_observability_")
    sink = Sink() if args.exporting else None
    modes: dict[str, dict[str, str]] = {
        "baseline": {"IOTA_BENCH_STRIP_OBSERVABILITY": "1"},
        "shipped": {},
    }
    if args.control:
        modes["shipped_again"] = {}
    if sink is not None:
        modes["exporting"] = {
            "IOTA_SCRIPTS_METRICS_TOKEN": "bench-token",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.url,
        }
    servers = {
        name: (start(args, args.port + i, env, log_dir), args.port + i)
        for i, (name, env) in enumerate(modes.items())
    }
    samples: dict[str, list[float]] = {name: [] for name in modes}
    walls = dict.fromkeys(modes, 0.0)
    errors = dict.fromkeys(modes, 0)
    cpu = {name: 0.0 for name in modes}
    try:
        meters = {}
        for name, (server, port) in servers.items():
            wait_up(f"http://127.0.0.1:{port}{ROUTE}", timeout=120)
            meters[name] = CpuMeter(server.pid, args.db_host, args.db_user, args.db)
            measure(f"http://127.0.0.1:{port}{ROUTE}", 2, args.concurrency)  # warm up
        order = list(servers)
        for _round in range(args.rounds):
            # ABBA: every other round in reverse, so a drift of the machine's load
            # weighs on each server alike
            order.reverse()
            for name in order:
                port = servers[name][1]
                before = meters[name].snapshot()
                lat, bad, wall = measure(
                    f"http://127.0.0.1:{port}{ROUTE}", args.duration, args.concurrency
                )
                cpu[name] += sum(CpuMeter.used(before, meters[name].snapshot()))
                samples[name] += lat
                walls[name] += wall
                errors[name] += bad
    finally:
        for server, _port in servers.values():
            server.terminate()
        for server, _port in servers.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=30)
        if sink is not None:
            sink.stop()
    result: dict[str, Any] = {
        "settings": {
            "route": ROUTE,
            "duration_sec_per_round": args.duration,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
        }
    }
    for name in modes:
        lat = sorted(samples[name])
        calls = max(1, len(lat))
        result[name] = {
            "requests": len(lat),
            "errors": errors[name],
            "rps": round(len(lat) / walls[name], 1),
            "p50_ms": round(statistics.median(lat) * 1000, 3),
            "cpu_ms_per_call": round(cpu[name] * 1000 / calls, 3),
        }
    base, shipped = result["baseline"], result["shipped"]
    result["cost_percent"] = {
        "throughput_lost": round((1 - shipped["rps"] / base["rps"]) * 100, 2),
        "cpu_per_call_added": round(
            (shipped["cpu_ms_per_call"] / base["cpu_ms_per_call"] - 1) * 100, 2
        ),
        "target_under": TARGET_PERCENT,
    }
    if args.control:
        again = result["shipped_again"]
        result["noise_floor_percent"] = {
            "throughput": round((1 - again["rps"] / shipped["rps"]) * 100, 2),
            "cpu_per_call": round(
                (again["cpu_ms_per_call"] / shipped["cpu_ms_per_call"] - 1) * 100, 2
            ),
        }
    result["hooks_ns_per_call_off"] = hooks_ns()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name in modes:
        r = result[name]
        print(
            f"{name:13} {r['rps']:>8.1f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
            f"CPU/call {r['cpu_ms_per_call']:.3f} ms  ({r['requests']} requests, "
            f"{r['errors']} errors)"
        )
    cost = result["cost_percent"]
    met = max(cost["throughput_lost"], cost["cpu_per_call_added"]) < TARGET_PERCENT
    print(
        f"shipped vs baseline (no exporter, no metrics token): throughput "
        f"{-cost['throughput_lost']:+.2f}%, CPU per call {cost['cpu_per_call_added']:+.2f}%; "
        f"target: cost under {TARGET_PERCENT:g}% {'met' if met else 'NOT met'}"
    )
    if args.control:
        noise = result["noise_floor_percent"]
        print(
            f"noise floor (shipped_again vs shipped, identical servers): throughput "
            f"{-noise['throughput']:+.2f}%, CPU per call {noise['cpu_per_call']:+.2f}%"
        )
    print("the hooks alone, off (ns per call):")
    for name, ns in result["hooks_ns_per_call_off"].items():
        print(f"  {name:26} {ns:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
