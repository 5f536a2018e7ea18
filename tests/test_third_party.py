"""Third-party JavaScript comes from npm, is verified before use, and is never tracked.

acorn (the engine's parser) and Monaco (the addon's editor) are pinned in
package.json, locked with their integrity in package-lock.json, placed by
scripts/place-js-deps (npm's postinstall) and listed with their sha256 in
``iota_scripts_sdk/third_party.json`` and ``iota_scripts/third_party.json``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _checks import assert_clean_error

from iota_scripts_sdk import Engine, EngineConfig, _vendor

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = [
    ROOT / "iota_scripts_sdk" / "third_party.json",
    ROOT / "iota_scripts" / "third_party.json",
]
HELLO = "export default (ctx) => ({ hello: ctx.input })"


def _declared():
    for manifest in MANIFESTS:
        for package, spec in json.loads(manifest.read_text())["packages"].items():
            yield manifest, package, spec


@pytest.fixture
def vendor_root(monkeypatch, tmp_path):
    """Points the engine's loader at ``tmp_path`` (empty) for one test."""
    monkeypatch.setattr(_vendor, "VENDOR_ROOT", tmp_path)
    _vendor._forget()
    yield tmp_path
    _vendor._forget()


def _tamper(root: Path) -> None:
    acorn = (ROOT / "iota_scripts_sdk" / "vendor" / "acorn.js").read_text()
    (root / "vendor").mkdir()
    # a parser that accepts anything would void the syntax check on save
    (root / "vendor" / "acorn.js").write_text(acorn.replace("'use strict';", "'use strict'; ", 1))


# ---- declared, locked, consistent -----------------------------------------------------------


def test_every_file_is_pinned_in_package_json_and_locked_with_integrity():
    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    packages = [package for _m, package, _s in _declared()]
    assert sorted(packages) == ["acorn", "monaco-editor"]
    for _manifest, package, spec in _declared():
        assert pins[package] == spec["version"], f"package.json must pin {package} exactly"
        locked = lock[f"node_modules/{package}"]
        assert locked["version"] == spec["version"]
        assert locked["integrity"].startswith("sha512-")
        assert not locked.get("dev"), f"{package} is a runtime dependency"


def test_npm_placed_the_declared_files():
    """What scripts/test's `npm ci` placed is byte for byte what the manifests declare."""
    for manifest, package, spec in _declared():
        for f in spec["files"]:
            src = ROOT / "node_modules" / package / f["from"]
            dst = manifest.parent / f["to"]
            assert hashlib.sha256(src.read_bytes()).hexdigest() == f["sha256"], src
            assert dst.read_bytes() == src.read_bytes(), dst
    check = subprocess.run(
        [sys.executable, "scripts/place-js-deps", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_no_third_party_code_is_tracked():
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    tracked = [t for t in tracked if t]
    placed = {
        str((manifest.parent / f["to"]).relative_to(ROOT))
        for manifest, _p, spec in _declared()
        for f in spec["files"]
    }
    assert not placed & set(tracked)
    assert not [t for t in tracked if t.startswith(("node_modules/", "iota_scripts/static/lib/"))]
    assert not [t for t in tracked if t.startswith("iota_scripts_sdk/vendor/")]
    digests = {f["sha256"] for _m, _p, spec in _declared() for f in spec["files"]}
    for name in tracked:
        path = ROOT / name
        if path.is_file() and path.stat().st_size > 1000:
            assert hashlib.sha256(path.read_bytes()).hexdigest() not in digests, name
    ignored = subprocess.run(
        ["git", "check-ignore", *sorted(placed)], cwd=ROOT, capture_output=True, text=True
    )
    assert sorted(ignored.stdout.split()) == sorted(placed)


def test_place_js_deps_check_names_npm_ci_for_a_missing_file(tmp_path):
    """--check on a copy of the tree whose placed acorn is gone."""
    copy = tmp_path / "repo"
    for part in ("scripts", "iota_scripts_sdk"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "iota_scripts_sdk" / "vendor" / "acorn.js").unlink()
    out = subprocess.run(
        [sys.executable, str(copy / "scripts" / "place-js-deps"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "iota_scripts_sdk/vendor/acorn.js is missing" in out.stderr
    assert "run `npm ci`" in out.stderr


# ---- a missing or altered install is a named error --------------------------------------------


def test_missing_acorn_is_not_installed(vendor_root):
    engine = Engine(EngineConfig(runners=1))
    try:
        result = engine.run(HELLO, input=1)
        assert not result.ok
        err = result.error.to_dict()
        assert_clean_error(err, "not_installed")
        assert "acorn 8.19.0" in err["message"] and "is missing" in err["message"]
        assert "run `npm ci`" in err["message"]
        assert str(vendor_root) not in err["message"]
        checked = engine.check(HELLO)
        assert checked is not None and checked.code == "not_installed"
        assert engine.stats()["runners"] == 0  # nothing started, nothing left counted
    finally:
        engine.close()


def test_tampered_acorn_is_not_installed(vendor_root):
    _tamper(vendor_root)
    engine = Engine(EngineConfig(runners=1))
    try:
        err = engine.check(HELLO)
        assert err is not None
        assert_clean_error(err.to_dict(), "not_installed")
        assert "differs from the version package-lock.json pins" in err.message
        assert "run `npm ci`" in err.message
    finally:
        engine.close()


def test_the_verified_install_runs():
    _vendor._forget()
    engine = Engine(EngineConfig(runners=1))
    try:
        result = engine.run(HELLO, input="Ada")
        assert result.ok, result.error
        assert result.result == {"hello": "Ada"}
    finally:
        engine.close()


@pytest.mark.parametrize("state", ["missing", "tampered"])
def test_cli_check_reports_not_installed(tmp_path, state):
    """`iota-scripts check` prints the named error and exits 1 (the loader pointed at tmp_path)."""
    root = tmp_path / "root"
    root.mkdir()
    if state == "tampered":
        _tamper(root)
    script = tmp_path / "hello.js"
    script.write_text(HELLO)
    code = (
        "import sys; from pathlib import Path; from iota_scripts_sdk import _vendor, cli; "
        f"_vendor.VENDOR_ROOT = Path({str(root)!r}); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "check", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith(
        "error[not_installed]: acorn 8.19.0, the engine's JavaScript parser"
    )
    assert "run `npm ci`" in out.stderr
    assert str(root) not in out.stderr


# ---- the wheel carries acorn; without npm's files the build names the fix --------------------


def _source_copy(dst: Path, with_js: bool) -> Path:
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "vendor")
    dst.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / "iota_scripts_sdk", dst / "iota_scripts_sdk", ignore=skip)
    if with_js:
        shutil.copytree(ROOT / "node_modules" / "acorn", dst / "node_modules" / "acorn")
    return dst


def _build_py(src: Path, out: Path) -> subprocess.CompletedProcess:
    """setup.py's build step, as `pip wheel` / `python -m build` run it (offline here)."""
    return subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_build_copies_acorn_from_node_modules(tmp_path):
    src = _source_copy(tmp_path / "src", with_js=True)
    out = tmp_path / "lib"
    built = _build_py(src, out)
    assert built.returncode == 0, built.stderr
    acorn = out / "iota_scripts_sdk" / "vendor" / "acorn.js"
    placed = ROOT / "iota_scripts_sdk" / "vendor" / "acorn.js"
    assert acorn.read_bytes() == placed.read_bytes()
    assert (out / "iota_scripts_sdk" / "vendor" / "acorn.LICENSE").is_file()
    assert (out / "iota_scripts_sdk" / "third_party.json").is_file()


def test_the_build_without_npm_names_the_fix(tmp_path):
    src = _source_copy(tmp_path / "src", with_js=False)
    built = _build_py(src, tmp_path / "lib")
    assert built.returncode != 0
    assert (
        "acorn 8.19.0 (dist/acorn.js) is not installed or differs from package-lock.json"
        in built.stderr
    )
    assert "run `npm ci` in this folder, then build again" in built.stderr


def test_the_build_refuses_a_tampered_acorn(tmp_path):
    src = _source_copy(tmp_path / "src", with_js=True)
    acorn = src / "node_modules" / "acorn" / "dist" / "acorn.js"
    acorn.write_text(acorn.read_text() + "\n// changed\n")
    built = _build_py(src, tmp_path / "lib")
    assert built.returncode != 0
    assert "run `npm ci`" in built.stderr
