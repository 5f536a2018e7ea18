"""Scripts as code: ``iota-scripts login/pull/push/diff/run --remote/logs`` against a live Odoo.

``login URL --db DB`` checks an Odoo API key (``--api-key``, else
``$IOTA_SCRIPTS_API_KEY``, else a prompt) against ``/iota/code/whoami`` and
stores it: in the user's keyring when the ``keyring`` package is importable
(and ``IOTA_SCRIPTS_KEYRING`` is not ``0``), else in
``$XDG_CONFIG_HOME/iota-scripts/credentials.json`` (default ``~/.config``),
a file of mode 0600 in a folder of mode 0700. The URL and database of the
last login are the defaults of the other commands (``config.json`` there).

A pulled folder holds ``KEY.js`` (the source), ``KEY.test.js`` (its tests,
when it has some) and ``iota-scripts.json``: the server, the company, and per
script its manifest (key, name, state, version number and sha256 pulled,
limits, triggers). ``push`` sends the scripts whose files changed since the
pull (or new ``KEY.js`` files) with the version they were pulled at; the
server refuses (``conflict``) when it holds a newer one, unless ``--force``.
Everything goes over the addon's ``/iota/code/*`` routes with bearer auth
(``controllers/code.py``), through :class:`._bundle_client.BundleClient`.
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import hashlib
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

from ._bundle_client import BundleClient, ClientError

MANIFEST = "iota-scripts.json"
_KEYRING_SERVICE = "iota-scripts"


# ---- credentials -----------------------------------------------------------------
def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "iota-scripts"


def _keyring() -> Any:
    if os.environ.get("IOTA_SCRIPTS_KEYRING", "1") == "0":
        return None
    try:
        import keyring  # type: ignore[import-not-found]
    except ImportError:
        return None
    return keyring


def _private_write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        json.dump(data, f, indent=2)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def store_key(url: str, db: str | None, api_key: str) -> str:
    """Stores the key of (url, db); returns where (``keyring`` or the file's path)."""
    account = f"{url}|{db or ''}"
    kr = _keyring()
    if kr is not None:
        kr.set_password(_KEYRING_SERVICE, account, api_key)
        where = "keyring"
    else:
        path = config_dir() / "credentials.json"
        creds = _read_json(path)
        creds[account] = api_key
        _private_write(path, creds)
        where = str(path)
    _private_write(config_dir() / "config.json", {"url": url, "db": db})
    return where


def load_key(url: str, db: str | None) -> str | None:
    account = f"{url}|{db or ''}"
    kr = _keyring()
    if kr is not None:
        key = kr.get_password(_KEYRING_SERVICE, account)
        if key:
            return str(key)
    path = config_dir() / "credentials.json"
    if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ClientError("access_denied", f"{path} is readable by others: chmod 600 it")
    value = _read_json(path).get(account)
    return value if isinstance(value, str) else None


# ---- arguments ----------------------------------------------------------------------
def _server(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    p.add_argument("--url", default=os.environ.get("IOTA_SCRIPTS_URL"))
    p.add_argument("--db", default=os.environ.get("IOTA_SCRIPTS_DB"))
    p.add_argument("--api-key", default=os.environ.get("IOTA_SCRIPTS_API_KEY"))
    p.add_argument("--company", type=int, default=None, help="company id")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON object")


def add_parsers(sub: Any, run: argparse.ArgumentParser) -> None:
    """Adds login, pull, push, diff and logs, and ``run --remote``."""
    login = sub.add_parser("login", help="store an API key for a server")
    login.add_argument("login_url", metavar="URL")
    _server(login)
    for name, helptext in (
        ("pull", "write the server's scripts to a folder"),
        ("push", "save changed files as new versions on the server"),
        ("diff", "show local files against the server"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("dir", nargs="?", default=".")
        p.add_argument("--key", action="append", default=None, metavar="KEY")
        _server(p)
        if name == "push":
            p.add_argument("--force", action="store_true", help="overwrite newer server versions")
    logs = sub.add_parser("logs", help="the runs of a script and their logs")
    logs.add_argument("key")
    logs.add_argument("--follow", action="store_true", help="keep polling for new runs")
    logs.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    logs.add_argument("--last", type=int, default=5, help="how many past runs to show first")
    _server(logs)
    run.add_argument("--remote", action="store_true", help="run KEY on the server (FILE is a key)")
    _server(run, json_flag=False)


def _client(args: argparse.Namespace) -> BundleClient:
    saved = _read_json(config_dir() / "config.json")
    url = args.url or saved.get("url")
    db = args.db or (saved.get("db") if not args.url or args.url == saved.get("url") else None)
    if not url:
        raise ClientError("invalid_argument", "no server: run `iota-scripts login URL --db DB`")
    key = args.api_key or load_key(url, db)
    if not key:
        raise ClientError("access_denied", f"no API key for {url}: run `iota-scripts login`")
    return BundleClient(url=url, api_key=key, db=db)


def _call(client: BundleClient, route: str, body: dict[str, Any]) -> Any:
    _kind, data = client._post(f"/iota/code/{route}", json.dumps(body).encode(), "application/json")
    try:
        return json.loads(data)
    except ValueError:
        raise ClientError("http_error", "the server's answer is not JSON") from None


def _fail(args: argparse.Namespace, code: str, message: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": {"code": code, "message": message}}))
    else:
        print(f"iota-scripts: error[{code}]: {message}", file=sys.stderr)
    return 1


def _print(args: argparse.Namespace, payload: dict[str, Any], lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"ok": True, **payload}, ensure_ascii=False))
    else:
        for line in lines:
            print(line)


# ---- commands ------------------------------------------------------------------------
def dispatch(args: argparse.Namespace) -> int:
    try:
        return {"login": _login, "pull": _pull, "push": _push, "diff": _diff, "logs": _logs}[
            args.command
        ](args)
    except ClientError as e:
        return _fail(args, e.code, e.message)


def _login(args: argparse.Namespace) -> int:
    url = args.login_url.rstrip("/")
    key = args.api_key or (getpass.getpass("Odoo API key: ") if sys.stdin.isatty() else "")
    if not key:
        return _fail(args, "invalid_argument", "an API key is required (--api-key or a prompt)")
    me = _call(BundleClient(url=url, api_key=key, db=args.db), "whoami", {})
    where = store_key(url, args.db, key)
    _print(
        args,
        {"user": me.get("login"), "db": me.get("db"), "stored": where},
        [f"logged in to {me.get('db')} as {me.get('login')}; the key is in {where}"],
    )
    return 0


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _write_item(folder: Path, item: dict[str, Any]) -> None:
    key = item["key"]
    (folder / f"{key}.js").write_text(item["source"], encoding="utf-8")
    tests_path = folder / f"{key}.test.js"
    if item.get("tests"):
        tests_path.write_text(item["tests"], encoding="utf-8")
    elif tests_path.exists():
        tests_path.unlink()


def _pull(args: argparse.Namespace) -> int:
    client = _client(args)
    answer = _call(client, "pull", {"company_id": args.company, "keys": args.key})
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _read_json(folder / MANIFEST)
    manifest.update(url=client.url, db=client.db, company=answer["company"])
    scripts = manifest.setdefault("scripts", {})
    for item in answer["scripts"]:
        _write_item(folder, item)
        scripts[item["key"]] = item["manifest"]
    _write_manifest(folder, manifest)
    keys = [item["key"] for item in answer["scripts"]]
    _print(
        args,
        {"scripts": keys, "dir": str(folder)},
        [f"pulled {len(keys)} scripts of {answer['company']['name']} into {folder}"],
    )
    return 0


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def _local(folder: Path, keys: list[str] | None) -> dict[str, dict[str, Any]]:
    """The scripts of the folder: ``{key: {source, tests}}`` (tests None without a file)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.js")):
        if path.name.endswith(".test.js"):
            continue
        key = path.name[: -len(".js")]
        if keys and key not in keys:
            continue
        tests_path = folder / f"{key}.test.js"
        out[key] = {
            "source": path.read_text(encoding="utf-8"),
            "tests": tests_path.read_text(encoding="utf-8") if tests_path.exists() else "",
        }
    return out


def _push(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    manifest = _read_json(folder / MANIFEST)
    known = manifest.get("scripts") or {}
    items = []
    for key, files in _local(folder, args.key).items():
        meta = known.get(key) or {}
        same = meta and _sha(files["source"]) == meta.get("sha256")
        if same and _sha(files["tests"]) == meta.get("tests_sha256"):
            continue
        items.append({"key": key, **files, "base_version": meta.get("version"), "name": key})
    if not items:
        _print(args, {"scripts": []}, ["nothing to push"])
        return 0
    client = _client(args)
    company = (manifest.get("company") or {}).get("id") if args.company is None else args.company
    answer = _call(client, "push", {"company_id": company, "force": args.force, "scripts": items})
    scripts = manifest.setdefault("scripts", {})
    for item in answer["scripts"]:
        scripts[item["key"]] = item["manifest"]
    manifest.setdefault("url", client.url)
    _write_manifest(folder, manifest)
    done = [
        {"key": i["key"], "status": i["status"], "version": i["manifest"]["version"]}
        for i in answer["scripts"]
    ]
    _print(
        args,
        {"scripts": done},
        [f"{d['status']:<10} {d['key']} (v{d['version']})" for d in done],
    )
    return 0


def _diff(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    client = _client(args)
    company = (_read_json(folder / MANIFEST).get("company") or {}).get("id")
    answer = _call(client, "pull", {"company_id": args.company or company, "keys": args.key})
    server = {item["key"]: item for item in answer["scripts"]}
    local = _local(folder, args.key)
    changed: list[dict[str, str]] = []
    text: list[str] = []
    for key in sorted(set(server) | set(local)):
        for part, suffix in (("source", ".js"), ("tests", ".test.js")):
            theirs = (server.get(key) or {}).get(part) or ""
            ours = (local.get(key) or {}).get(part) or ""
            if theirs == ours:
                continue
            changed.append({"key": key, "part": part})
            text.extend(
                difflib.unified_diff(
                    theirs.splitlines(keepends=True),
                    ours.splitlines(keepends=True),
                    f"server/{key}{suffix}",
                    f"local/{key}{suffix}",
                )
            )
    if getattr(args, "json", False):
        print(json.dumps({"ok": True, "changed": changed, "diff": "".join(text)}))
    else:
        sys.stdout.write("".join(text))
    return 1 if changed else 0


def run_remote(args: argparse.Namespace) -> int:
    try:
        input_value = None
        if args.input is not None:
            raw = Path(args.input[1:]).read_text() if args.input.startswith("@") else args.input
            input_value = json.loads(raw)
    except (OSError, ValueError) as e:
        print(f"iota-scripts: --input: {e.__class__.__name__}: {e}", file=sys.stderr)
        return 2
    try:
        client = _client(args)
        body = {"company_id": args.company, "key": args.file, "input": input_value}
        out = _call(client, "run", body)
    except ClientError as e:
        return _fail(args, e.code, e.message)
    ok = out.get("state") == "succeeded"
    if args.json:
        print(json.dumps({"ok": ok, **out}, ensure_ascii=False))
    else:
        for rec in out.get("logs") or []:
            print(f"[{rec.get('level')}] {rec.get('message')}", file=sys.stderr)
        if ok:
            print(json.dumps(out.get("result"), indent=2, ensure_ascii=False))
        else:
            err = out.get("error") or {}
            print(f"error[{err.get('code')}]: {err.get('message')}", file=sys.stderr)
    return 0 if ok else 1


def _logs(args: argparse.Namespace) -> int:
    client = _client(args)
    body = {"company_id": args.company, "key": args.key, "after_id": 0}
    first = _call(client, "logs", body)["executions"][-max(0, args.last) :]
    after = _show_runs(args, first)
    while args.follow:
        time.sleep(max(0.2, args.interval))
        runs = _call(client, "logs", {**body, "after_id": after})["executions"]
        after = _show_runs(args, runs) or after
    return 0


def _show_runs(args: argparse.Namespace, runs: list[dict[str, Any]]) -> int:
    last = 0
    for run in runs:
        last = max(last, int(run["id"]))
        if args.json:
            print(json.dumps(run, ensure_ascii=False), flush=True)
            continue
        print(
            f"#{run['id']} {run['started']} v{run.get('version')} {run['trigger']} {run['state']}"
        )
        for rec in run.get("logs") or []:
            print(f"  [{rec.get('level')}] {rec.get('message')}")
        if run.get("error"):
            print(f"  error[{run['error'].get('code')}]: {run['error'].get('message')}")
        sys.stdout.flush()
    return last
