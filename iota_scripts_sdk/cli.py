"""The ``iota-scripts`` command line. Its contract is fixed; other tools call it.

    iota-scripts run FILE [--input JSON] [--timeout SEC] [--memory-mb N]
                          [--allow-host HOST ...] [--redis-url URL] [--json]
    iota-scripts check FILE
    iota-scripts types
    iota-scripts bench [--json]
    iota-scripts sandbox [--json]

Exit status: 0 when the run (or check) succeeded, 1 when the script failed,
2 on a usage error; ``sandbox`` exits 1 when a layer of the runners'
operating-system sandbox is off. With ``--json``, ``run`` prints exactly one JSON object on
stdout: ``{"ok", "result", "error", "logs", "stats"}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import NoReturn

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"iota-scripts: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="iota-scripts", description="Run JavaScript in the IOTA Scripts sandbox.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a script")
    run.add_argument("file")
    run.add_argument(
        "--input", default=None, help="JSON value passed as ctx.input (@FILE reads it from FILE)"
    )
    run.add_argument("--timeout", type=float, default=5.0, help="wall-clock deadline in seconds")
    run.add_argument("--memory-mb", type=int, default=64, help="V8 heap cap in MiB")
    run.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="host sdk.http may reach ('*' for every public host); repeatable",
    )
    run.add_argument("--redis-url", default=None, help="Redis for sdk.cache (default: in-process)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    check = sub.add_parser("check", help="validate a script without running it")
    check.add_argument("file")
    check.add_argument("--json", action="store_true")
    sub.add_parser("types", help="print sdk.d.ts")
    bench = sub.add_parser("bench", help="run the benchmark")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--quick", action="store_true", help="fewer iterations")
    sandbox = sub.add_parser(
        "sandbox", help="show the runners' sandbox layers and what a runner can reach"
    )
    sandbox.add_argument("--json", action="store_true")
    return p


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"iota-scripts: cannot read {path}: {e.__class__.__name__}", file=sys.stderr)
        raise SystemExit(2) from None


def _run(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .errors import ScriptError
    from .limits import EngineConfig, Limits

    source = _read(args.file)
    input_value = None
    if args.input is not None:
        text = _read(args.input[1:]) if args.input.startswith("@") else args.input
        try:
            input_value = json.loads(text)
        except ValueError as e:
            print(f"iota-scripts: --input is not JSON: {e}", file=sys.stderr)
            return 2
    try:
        limits = Limits(
            timeout_sec=args.timeout, memory_mb=args.memory_mb, allow_hosts=tuple(args.allow_host)
        )
        config = EngineConfig(
            runners=1, redis_url=args.redis_url, max_source_bytes=64 * 1024 * 1024
        )
    except ScriptError as e:
        print(f"iota-scripts: {e.message}", file=sys.stderr)
        return 2
    engine = Engine(config)
    try:
        on_log = None if args.json else _print_log
        result = engine.run(
            source,
            input=input_value,
            limits=limits,
            tenant="cli",
            ctx={"trigger": {"type": "cli"}},
            on_log=on_log,
        )
    finally:
        engine.close()
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    elif result.ok:
        sys.stdout.write(json.dumps(result.result, indent=2, ensure_ascii=False) + "\n")
    else:
        _print_error(result.error)
    return 0 if result.ok else 1


def _print_log(rec: dict[str, object]) -> None:
    fields = (
        "" if rec.get("fields") is None else " " + json.dumps(rec["fields"], ensure_ascii=False)
    )
    print(f"[{rec.get('level')}] {rec.get('message')}{fields}", file=sys.stderr)


def _print_error(err: object) -> None:
    d = err.to_dict()  # type: ignore[attr-defined]
    where = f" at line {d['line']}, column {d.get('column', '?')}" if "line" in d else ""
    print(f"error[{d['code']}]{where}: {d['message']}", file=sys.stderr)
    if d.get("stack"):
        print(d["stack"], file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .limits import EngineConfig

    engine = Engine(EngineConfig(runners=1))
    try:
        err = engine.check(_read(args.file))
    finally:
        engine.close()
    if args.json:
        print(json.dumps({"ok": err is None, "error": err.to_dict() if err else None}))
    elif err is None:
        print("ok")
    else:
        _print_error(err)
    return 0 if err is None else 1


def _sandbox(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .limits import EngineConfig

    engine = Engine(EngineConfig(runners=1))
    try:
        report = engine.sandbox()
    finally:
        engine.close()
    off = [layer for layer, state in report["layers"].items() if not state.startswith("on")]
    if args.json:
        print(json.dumps(report))
    else:
        for layer, state in report["layers"].items():
            print(f"{layer:13} {state}")
        print("probe        " + ", ".join(f"{k}={v}" for k, v in report["probe"].items()))
    return 1 if off else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Runner crash reports (V8's own stderr) are for server logs, not here.
    logging.getLogger("iota_scripts_sdk").setLevel(logging.CRITICAL)
    if args.command == "run":
        return _run(args)
    if args.command == "check":
        return _check(args)
    if args.command == "types":
        from .api import typescript

        sys.stdout.write(typescript())
        return 0
    if args.command == "sandbox":
        return _sandbox(args)
    if args.command == "bench":
        from .bench import main as bench_main

        return bench_main(json_output=args.json, quick=args.quick)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
