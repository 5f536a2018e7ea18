"""``iota-scripts audit``: reads a database's audit trail (or an export) and checks it.

PostgreSQL is read directly with psycopg2 (installed with Odoo; imported
only here, on use), in one read-only REPEATABLE READ transaction so that the
entries and the head are one consistent picture even while Odoo appends.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from .audit import FIELDS, verify

_COLUMNS = ("id", *FIELDS, "prev_hash", "hash")


class AuditReadError(Exception):
    """The entries could not be read (no psycopg2, no database, not a JSON-lines export)."""


def _connect(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(psycopg2, connection)``: psycopg2 is optional (imported here only)."""
    try:
        import psycopg2  # type: ignore[import-untyped]
    except ImportError:
        raise AuditReadError(
            "reading a database needs psycopg2 (installed with Odoo): pip install psycopg2-binary,"
            " or verify an export with --file"
        ) from None
    params = {"dbname": args.db, "host": args.db_host, "port": args.db_port}
    if args.db_user:
        params["user"] = args.db_user
    if args.db_password:
        params["password"] = args.db_password
    try:
        conn = psycopg2.connect(connect_timeout=10, **params)
    except psycopg2.Error as e:
        raise AuditReadError(f"cannot connect to database {args.db!r}: {str(e).strip()}") from None
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    return psycopg2, conn


def _read_db(args: argparse.Namespace) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    psycopg2, conn = _connect(args)
    try:
        with conn.cursor() as cr:
            try:
                cr.execute("SELECT seq, hash FROM iota_script_audit_head WHERE id = 1")
                head = cr.fetchone()
                cr.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM iota_script_audit"  # noqa: S608 - constant columns
                    " ORDER BY seq NULLS LAST, id"
                )
                rows = [dict(zip(_COLUMNS, row, strict=True)) for row in cr]
            except psycopg2.errors.UndefinedTable:
                raise AuditReadError(
                    f"database {args.db!r} has no audit trail (is iota_scripts installed?)"
                ) from None
    finally:
        conn.close()
    return rows, (int(head[0]), str(head[1])) if head else None


def _read_file(path: str) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    rows: list[dict[str, Any]] = []
    head = None
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise AuditReadError(f"{path}:{number}: not a JSON object") from None
                if not isinstance(obj, dict):
                    raise AuditReadError(f"{path}:{number}: not a JSON object")
                if "head" in obj:
                    head = (int(obj["head"]["seq"]), str(obj["head"]["hash"]))
                else:
                    rows.append(obj)
    except OSError as e:
        raise AuditReadError(f"cannot read {path}: {e.__class__.__name__}") from None
    return rows, head


def _lines(rows: list[dict[str, Any]], head: tuple[int, str] | None) -> Iterator[str]:
    if head is not None:
        yield json.dumps({"head": {"seq": head[0], "hash": head[1]}})
    for row in rows:
        at = row.get("logged_at")
        row = {**row, "logged_at": at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else None}
        yield json.dumps(row, ensure_ascii=False)


def export(args: argparse.Namespace) -> int:
    rows, head = _read_db(args)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for line in _lines(rows, head):
            out.write(line + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def verify_command(args: argparse.Namespace) -> int:
    if bool(args.db) == bool(args.file):
        print("iota-scripts: error: give --db NAME or --file FILE", file=sys.stderr)
        return 2
    rows, head = _read_file(args.file) if args.file else _read_db(args)
    report = verify(rows, head=head)
    if args.json:
        print(json.dumps(report.to_dict()))
    elif report.ok:
        pending = f", {report.pending} pending" if report.pending else ""
        print(f"ok: {report.count} entries{pending}, head seq {report.head_seq} {report.head_hash}")
    else:
        print(f"BROKEN: {report.first_break}", file=sys.stderr)
    return 0 if report.ok else 1
