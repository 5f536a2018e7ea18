"""The security scan before an approval, and the whole approval build.

:func:`prepare` resolves a package with its tree (:mod:`.registry`), fetches
every tarball once and checks its integrity, unpacks them into a private
folder, scans them (:func:`scan`), bundles the package with esbuild
(:mod:`.bundler`) and returns a :class:`Prepared`: the lock, the bundle and
its hash, its ``.d.ts`` typings, and the scan's findings. It refuses
nothing itself: ``Prepared.refusals`` says why the package must not be
approved, and the caller (the addon's approval step) stores the result.

What the scan looks at:

* install scripts (``preinstall``, ``install``, ``postinstall``, ``prepare``)
  are listed; nothing here ever runs them, nor any other code of the package;
* native addons (``*.node`` files, ``binding.gyp``, ``gypfile``, the usual
  loaders such as ``node-gyp-build``) are refused;
* Node built-ins (``fs``, ``net``, ``child_process``, ...) that the bundled
  code reaches, and ``process.binding`` anywhere in it, are refused, each
  with the file that needs it;
* advisories from the registry's audit endpoint, with a note when it cannot
  be asked;
* each bundled file against the caller's AST policies (``policy_check``),
  violations listed with their file and position.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ScriptError
from .bundler import Bundle, bundle
from .module import bundle_hash
from .registry import Registry, Resolution, extract

__all__ = ["INSTALL_SCRIPTS", "Prepared", "prepare", "scan"]

INSTALL_SCRIPTS = ("preinstall", "install", "postinstall", "prepare", "preprepare", "postprepare")
NATIVE_LOADERS = frozenset(
    {
        "node-gyp-build",
        "bindings",
        "node-addon-api",
        "nan",
        "prebuild-install",
        "node-pre-gyp",
        "@mapbox/node-pre-gyp",
    }
)
_PROCESS_BINDING = re.compile(r"\bprocess\s*\.\s*(?:binding|_linkedBinding|dlopen)\b")
MAX_TYPES_BYTES = 4 * 1024 * 1024

#: (file, source) -> messages ("line 3, column 1: ..."), the caller's policy rules.
PolicyCheck = Callable[[str, str], list[str]]


@dataclass
class Prepared:
    """What an approval stores: see the module's docstring."""

    resolution: Resolution
    code: str = ""
    sha256: str = ""
    exports: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    unpacked_bytes: int = 0
    findings: dict[str, Any] = field(default_factory=dict)

    @property
    def refusals(self) -> list[str]:
        return list(self.findings.get("refusals", []))

    @property
    def ok(self) -> bool:
        return not self.refusals


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        out = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        return out if isinstance(out, dict) else {}
    except (OSError, ValueError):
        return {}


def scan(root: Path, resolution: Resolution, built: Bundle | None) -> dict[str, Any]:
    """Findings of the unpacked tree under ``root/node_modules`` (see the module's docstring)."""
    install: list[dict[str, str]] = []
    refusals: list[str] = []
    for path, pkg in sorted(resolution.packages.items()):
        folder = root / path
        manifest = _manifest(folder)
        scripts = manifest.get("scripts") or {}
        for key in INSTALL_SCRIPTS:
            if isinstance(scripts, dict) and key in scripts:
                install.append(
                    {"package": pkg.name, "script": key, "command": str(scripts[key])[:300]}
                )
        natives = sorted(
            str(p.relative_to(folder))
            for p in folder.rglob("*")
            if p.is_file() and (p.suffix == ".node" or p.name == "binding.gyp")
        )
        if natives or manifest.get("gypfile"):
            refusals.append(
                f"{pkg.name}@{pkg.version} is a native addon ({', '.join(natives[:3]) or 'gypfile'}): "
                "only pure JavaScript can run in scripts"
            )
        loaders = sorted(NATIVE_LOADERS & set(pkg.dependencies))
        if loaders:
            refusals.append(
                f"{pkg.name}@{pkg.version} loads native code (depends on {', '.join(loaders)})"
            )
    if built is not None:
        for b in built.builtins:
            refusals.append(
                f"{b['importer']} needs the Node built-in '{b['module']}', which scripts do not have"
            )
        for match in _PROCESS_BINDING.finditer(built.code):
            refusals.append(f"the bundle calls {match.group(0)}, a Node internal")
            break
    return {"install_scripts": install, "refusals": refusals}


def _types(folder: Path) -> dict[str, str]:
    """The package's ``.d.ts`` files (relative path -> text), when it ships them."""
    out: dict[str, str] = {}
    size = 0
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or not p.name.endswith((".d.ts", ".d.mts", ".d.cts")):
            continue
        if "node_modules" in p.relative_to(folder).parts:
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        size += len(text)
        if size > MAX_TYPES_BYTES:
            break
        out[str(p.relative_to(folder))] = text
    manifest = _manifest(folder)
    if out:
        out["package.json"] = json.dumps(
            {
                k: manifest[k]
                for k in ("name", "version", "types", "typings", "exports")
                if k in manifest
            }
        )
    return out


def prepare(
    registry: Registry,
    name: str,
    range_: str = "latest",
    *,
    esbuild: str | None = None,
    policy_check: PolicyCheck | None = None,
) -> Prepared:
    """Resolves, fetches, checks, scans and bundles ``name`` (see the module's docstring).

    Raises ``registry_unavailable``, ``not_found``, ``invalid_argument``,
    ``integrity_error``, ``package_refused`` (an unsafe tarball, a package
    esbuild cannot bundle) or ``not_installed`` (no esbuild).
    """
    resolution = registry.resolve(name, range_)
    with tempfile.TemporaryDirectory(prefix="iota-npm-") as tmp:
        root = Path(tmp)
        budget = [200 * 1024 * 1024]
        (root / "package.json").write_text('{"private": true}')
        for path, pkg in sorted(resolution.packages.items()):
            extract(registry.fetch(pkg), root / path, budget=budget)
        prepared = Prepared(resolution, unpacked_bytes=200 * 1024 * 1024 - budget[0])
        built: Bundle | None = None
        try:
            built = bundle(root, name, esbuild=esbuild)
        except ScriptError as e:
            if e.code != "package_refused":
                raise
            prepared.findings = scan(root, resolution, None)
            prepared.findings["refusals"].append(e.message)
        if built is not None:
            prepared.findings = scan(root, resolution, built)
            prepared.code = built.code
            prepared.sha256 = bundle_hash(built.code)
            prepared.exports = built.exports
            if policy_check is not None:
                prepared.findings["policy"] = _policies(root, built, policy_check)
        prepared.types = _types(root / "node_modules" / name)
    advisories, note = registry.advisories(list(resolution.packages.values()))
    prepared.findings["advisories"] = advisories
    prepared.findings["advisories_note"] = note
    return prepared


def _policies(root: Path, built: Bundle, check: PolicyCheck) -> list[dict[str, str]]:
    out = []
    for rel in built.inputs:
        path = root / rel
        if not rel.endswith((".js", ".mjs", ".cjs")) or not path.is_file():
            continue
        for message in check(rel, path.read_text(encoding="utf-8", errors="replace")):
            out.append({"file": rel, "message": message})
    return out
