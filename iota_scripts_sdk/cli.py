"""The ``iota-scripts`` command line. Its contract is fixed; other tools call it.

    iota-scripts run FILE [--input JSON] [--timeout SEC] [--memory-mb N]
                          [--allow-host HOST ...] [--redis-url URL] [--json]
    iota-scripts check FILE
    iota-scripts types
    iota-scripts bench [--json]
    iota-scripts sandbox [--json]
    iota-scripts audit verify (--db NAME [--db-host H] [--db-port P] [--db-user U]
                               | --file FILE.jsonl) [--json]
    iota-scripts audit export --db NAME [...] [--output FILE.jsonl]
    iota-scripts export -o FILE [--key KEY ...] [--company ID]   (--url --db --api-key)
    iota-scripts import FILE [--company ID] [--dry-run] [--skip-conflicts] [--json]
    iota-scripts bundle check FILE [--json]
    iota-scripts test FILE [--tests TESTS] [--json]        (the mocked sdk, no server)
    iota-scripts login URL --db DB [--api-key KEY]
    iota-scripts pull [DIR] [--key KEY ...]   iota-scripts push [DIR] [--key KEY ...] [--force]
    iota-scripts diff [DIR]   iota-scripts run KEY --remote [--input JSON]
    iota-scripts logs KEY [--follow]
    iota-scripts keygen [--json]
    iota-scripts verify FILE --keys KEYS [--json]

``test`` runs a script's tests (``FILE.test.js`` beside ``FILE.js`` unless
``--tests`` names them) with the mocked sdk (docs/guide/script-tests.md); it
exits 1 when a case failed. ``login``, ``pull``, ``push``, ``diff``, ``run
--remote`` and ``logs`` work on a live Odoo, scripts as files
(docs/guide/scripts-as-code.md, ``_remote_cli.py``).

``export`` and ``import`` talk to a live Odoo with the addon (backup and
restore, docs/operations/backup-restore.md): ``--url``, ``--db`` and
``--api-key`` (an Odoo API key), or ``IOTA_SCRIPTS_URL``, ``IOTA_SCRIPTS_DB``
and ``IOTA_SCRIPTS_API_KEY``. A bundle is checked locally before it is sent
and after it is received. ``audit`` reads a database's audit trail from
PostgreSQL, or an export of it. ``keygen`` prints a new Ed25519 signing key
(the ``signing_key`` setting) with its public key and key id; ``verify``
checks an exported version (JSON) or a bundle offline against the public keys
in KEYS (one base64 key a line, or JSON), and exits 1 when a signature is
invalid or no version is signed at all (``signing.py``).

Exit status: 0 when the run (or check) succeeded, 1 when the script failed
(or the bundle, export or import was refused), 2 on a usage error; ``sandbox``
exits 1 when a layer of the runners' operating-system sandbox is off; ``audit
verify`` exits 0 when the chain is intact, 1 naming the first broken entry, 3
when the entries cannot be read. With ``--json``, ``run`` prints exactly one
JSON object on
stdout: ``{"ok", "result", "error", "logs", "stats"}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

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
    audit = sub.add_parser("audit", help="the audit trail of a database")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    verify = audit_sub.add_parser("verify", help="check the hash chain")
    _db_arguments(verify, required=False)
    verify.add_argument("--file", help="an export (JSON lines) instead of a database")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    export = audit_sub.add_parser("export", help="write the entries as JSON lines")
    _db_arguments(export, required=True)
    export.add_argument("--output", help="file to write (default: stdout)")
    _bundle_parsers(sub)
    test = sub.add_parser("test", help="run a script's tests with the mocked sdk")
    test.add_argument("file")
    test.add_argument("--tests", default=None, help="the tests file (default: FILE.test.js)")
    test.add_argument("--timeout", type=float, default=30.0, help="deadline of all cases, seconds")
    test.add_argument("--json", action="store_true", help="print one JSON object")
    from ._remote_cli import add_parsers

    add_parsers(sub, run)
    keygen = sub.add_parser("keygen", help="make an Ed25519 key that signs approved versions")
    keygen.add_argument("--json", action="store_true")
    verify_sig = sub.add_parser("verify", help="check the signatures of a version or bundle")
    verify_sig.add_argument("file", help="an exported version (.json) or bundle (.zip)")
    verify_sig.add_argument("--keys", required=True, help="the public keys (a file)")
    verify_sig.add_argument("--json", action="store_true")
    return p


def _db_arguments(p: argparse.ArgumentParser, required: bool) -> None:
    # the defaults of scripts/test-addon (and of a local Odoo)
    p.add_argument("--db", required=required, help="the Odoo database")
    p.add_argument("--db-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    p.add_argument("--db-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    p.add_argument("--db-user", default=os.environ.get("PGUSER") or None)
    p.add_argument(
        "--db-password",
        default=None,
        help="default: PGPASSWORD or ~/.pgpass (libpq's own lookup)",
    )


def _bundle_parsers(sub: Any) -> None:
    def server(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", default=os.environ.get("IOTA_SCRIPTS_URL"))
        parser.add_argument("--db", default=os.environ.get("IOTA_SCRIPTS_DB"))
        parser.add_argument(
            "--api-key",
            default=os.environ.get("IOTA_SCRIPTS_API_KEY"),
            help="an Odoo API key (default: $IOTA_SCRIPTS_API_KEY)",
        )
        parser.add_argument("--company", type=int, default=None, help="company id")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    export = sub.add_parser("export", help="export scripts from Odoo to a bundle (zip)")
    export.add_argument("-o", "--output", required=True, help="the bundle file to write")
    export.add_argument(
        "--key", action="append", default=None, metavar="KEY", help="a script key; repeatable"
    )
    server(export)
    imp = sub.add_parser("import", help="import a bundle into Odoo")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="print the preview, change nothing")
    imp.add_argument(
        "--skip-conflicts", action="store_true", help="leave conflicting scripts as they are"
    )
    server(imp)
    bundle = sub.add_parser("bundle", help="bundle tools")
    bundle_sub = bundle.add_subparsers(dest="bundle_command", required=True, parser_class=_Parser)
    check = bundle_sub.add_parser("check", help="validate a bundle file")
    check.add_argument("file")
    check.add_argument("--json", action="store_true")


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"iota-scripts: cannot read {path}: {e.__class__.__name__}", file=sys.stderr)
        raise SystemExit(2) from None


def _test(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .limits import EngineConfig, Limits
    from .testing import format_report, run_tests

    tests_path = args.tests or _tests_path(args.file)
    source, tests = _read(args.file), _read(tests_path)
    engine = Engine(EngineConfig(runners=1, max_source_bytes=64 * 1024 * 1024))
    try:
        report = run_tests(engine, source, tests, limits=Limits(timeout_sec=args.timeout))
    finally:
        engine.close()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        sys.stdout.write(format_report(report, Path(tests_path).name))
    return 0 if report.ok else 1


def _tests_path(file: str) -> str:
    path = Path(file)
    stem = path.name[: -len(".js")] if path.name.endswith(".js") else path.name
    return str(path.with_name(stem + ".test.js"))


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "remote", False):
        from ._remote_cli import run_remote

        return run_remote(args)
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


def _fail(args: argparse.Namespace, code: str, message: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": {"code": code, "message": message}}))
    else:
        print(f"iota-scripts: error[{code}]: {message}", file=sys.stderr)
    return 1


def _client(args: argparse.Namespace) -> Any:
    from ._bundle_client import BundleClient

    if not args.url or not args.api_key:
        print(
            "iota-scripts: error: --url and --api-key (or IOTA_SCRIPTS_URL and "
            "IOTA_SCRIPTS_API_KEY) are required",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return BundleClient(url=args.url, api_key=args.api_key, db=args.db)


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        print(f"iota-scripts: cannot read {path}: {e.__class__.__name__}", file=sys.stderr)
        raise SystemExit(2) from None


def _bundle_summary(bundle: Any) -> dict[str, Any]:
    return {
        "format_version": bundle.format_version,
        "exported_at": bundle.manifest["exported_at"],
        "company": bundle.company,
        "scripts": bundle.script_keys,
        "counts": {section: len(rows) for section, rows in bundle.records.items()},
    }


def _export(args: argparse.Namespace) -> int:
    from ._bundle_client import ClientError
    from .bundle import BundleError, read_bundle

    client = _client(args)
    try:
        data = client.export(args.company, args.key)
        bundle = read_bundle(data)
    except (ClientError, BundleError) as e:
        return _fail(args, e.code, e.message)
    try:
        Path(args.output).write_bytes(data)
    except OSError as e:
        return _fail(args, "io_error", f"cannot write {args.output}: {e.__class__.__name__}")
    summary = {"ok": True, "file": args.output, "bytes": len(data), **_bundle_summary(bundle)}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(
            f"exported {len(bundle.script_keys)} scripts of {bundle.company.get('name')} "
            f"to {args.output} ({len(data)} bytes)"
        )
    return 0


def _import(args: argparse.Namespace) -> int:
    from ._bundle_client import ClientError
    from .bundle import BundleError, read_bundle

    data = _read_bytes(args.file)
    try:
        read_bundle(data)  # refused here, before anything is sent
        client = _client(args)
        result = client.import_(data, args.company, args.dry_run, args.skip_conflicts)
    except (ClientError, BundleError) as e:
        return _fail(args, e.code, e.message)
    if args.json:
        print(json.dumps({"ok": True, **result}, ensure_ascii=False))
        return 0
    for line in result.get("scripts", []):
        detail = f" ({line['detail']})" if line.get("detail") else ""
        print(f"{line['status']:<10} {line['key']}{detail}")
    for warning in result.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    counts = result.get("counts", {})
    verb = "imported into" if result.get("applied") else "dry run for"
    print(
        f"{verb} {result.get('company', {}).get('name')}: "
        + ", ".join(f"{n} {status}" for status, n in counts.items())
    )
    return 0


def _bundle_check(args: argparse.Namespace) -> int:
    from .bundle import BundleError, read_bundle

    try:
        bundle = read_bundle(_read_bytes(args.file))
    except BundleError as e:
        return _fail(args, e.code, e.message)
    summary = {"ok": True, **_bundle_summary(bundle)}
    print(json.dumps(summary, ensure_ascii=False) if args.json else "ok")
    return 0


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


def _audit(args: argparse.Namespace) -> int:
    from . import _audit_io as audit_io

    try:
        if args.audit_command == "export":
            return audit_io.export(args)
        return audit_io.verify_command(args)
    except audit_io.AuditReadError as e:
        print(f"iota-scripts: {e}", file=sys.stderr)
        return 3


def _keygen(args: argparse.Namespace) -> int:
    from . import signing

    private = signing.generate_private_key()
    public = signing.public_key_of(private)
    out = {"private_key": private, "public_key": public, "key_id": signing.key_id(public)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"signing_key = {private}")
        print(f"# public key {public}")
        print(f"# key id     {out['key_id']}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from . import signing
    from .bundle import BundleError
    from .errors import ScriptError

    try:
        keys = signing.load_public_keys(Path(args.keys).read_text(encoding="utf-8"))
        lines = signing.verify_export(_read_bytes(args.file), keys)
    except (ScriptError, BundleError) as e:
        return _fail(args, e.code, e.message)
    except (OSError, ValueError) as e:
        return _fail(args, "invalid_argument", f"cannot read the keys: {type(e).__name__}")
    bad = [line for line in lines if line["status"] == "invalid"]
    if not any(line["status"] == "valid" for line in lines):
        bad = bad or lines
    if args.json:
        print(json.dumps({"ok": not bad, "versions": lines}, ensure_ascii=False))
    else:
        for line in lines:
            print(f"{line['script']} v{line['number']}: {line['status']} ({line['message']})")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Runner crash reports (V8's own stderr) are for server logs, not here.
    logging.getLogger("iota_scripts_sdk").setLevel(logging.CRITICAL)
    if args.command == "run":
        return _run(args)
    if args.command == "test":
        return _test(args)
    if args.command in ("login", "pull", "push", "diff", "logs"):
        from ._remote_cli import dispatch

        return dispatch(args)
    if args.command == "check":
        return _check(args)
    if args.command == "types":
        from .api import typescript

        sys.stdout.write(typescript())
        return 0
    if args.command == "sandbox":
        return _sandbox(args)
    if args.command == "export":
        return _export(args)
    if args.command == "import":
        return _import(args)
    if args.command == "bundle":
        return _bundle_check(args)
    if args.command == "bench":
        from .bench import main as bench_main

        return bench_main(json_output=args.json, quick=args.quick)
    if args.command == "audit":
        return _audit(args)
    if args.command == "keygen":
        return _keygen(args)
    if args.command == "verify":
        return _verify(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
