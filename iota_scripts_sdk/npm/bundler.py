"""One self-contained ES module per package, made by esbuild (installed from npm).

:func:`bundle` runs esbuild on an entry that re-exports the package
(``export * from "<name>"``, plus its default export when it has one), with
``--platform=neutral``: no Node built-in is ever shimmed or bundled. Every
built-in the package's code reaches is made external instead, so that the
metafile names it and who imports it: :mod:`.scan` refuses such packages.

Where esbuild is found, in this order: the ``esbuild`` argument, the
``IOTA_SCRIPTS_ESBUILD`` environment variable, ``node_modules/.bin/esbuild``
of the checkout this engine runs from (``npm ci`` installs it, see
package.json), then ``esbuild`` on ``PATH``. Missing: ``not_installed``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ScriptError

__all__ = ["BUILTINS", "Bundle", "bundle", "esbuild_path"]

#: Node's built-in modules (``node:`` prefixed or not): never bundled, always refused.
BUILTINS = frozenset(
    "assert async_hooks buffer child_process cluster console constants crypto dgram "
    "diagnostics_channel dns domain events fs http http2 https inspector module net os path "
    "perf_hooks process punycode querystring readline repl stream string_decoder sys timers "
    "tls trace_events tty url util v8 vm wasi worker_threads zlib".split()
)
#: The JavaScript our V8 runs (mini-racer 0.13: V8 13).
TARGET = "es2022"
_TIMEOUT_SEC = 120


@dataclass(frozen=True)
class Bundle:
    """esbuild's output: ``code`` (an ES module), the ``inputs`` it read, the ``builtins`` it reached."""

    code: str
    inputs: list[str]
    builtins: list[dict[str, str]]  # {"module": "fs", "importer": "node_modules/x/index.js"}
    exports: list[str]


def esbuild_path(explicit: str | None = None) -> str:
    """The esbuild executable (see the module's docstring for the order)."""
    candidates = [
        explicit,
        os.environ.get("IOTA_SCRIPTS_ESBUILD"),
        str(Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "esbuild"),
        shutil.which("esbuild"),
    ]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise ScriptError(
        "not_installed",
        "esbuild is missing: run `npm ci` in the IOTA Scripts checkout, or set IOTA_SCRIPTS_ESBUILD",
    )


def _builtin(path: str) -> str | None:
    name = path.removeprefix("node:").split("/", 1)[0]
    return name if (name in BUILTINS or path.startswith("node:")) else None


def _run(exe: str, workdir: Path, entry: str, name: str) -> subprocess.CompletedProcess[str]:
    (workdir / "entry.mjs").write_text(entry)
    external = [f"--external:{b}" for b in sorted(BUILTINS)]
    external += [f"--external:node:{b}" for b in sorted(BUILTINS)] + ["--external:node:*"]
    external += [f"--external:{b}/*" for b in sorted(BUILTINS)]
    return subprocess.run(  # noqa: S603 - argv: the esbuild executable and fixed flags, no shell
        [
            exe,
            "entry.mjs",
            "--bundle",
            "--format=esm",
            "--platform=neutral",
            "--main-fields=module,main",
            "--conditions=import,default",
            f"--target={TARGET}",
            "--legal-comments=none",
            "--charset=utf8",
            "--log-level=error",
            "--outfile=out.mjs",
            "--metafile=meta.json",
            *external,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SEC,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)},
        check=False,
    )


def bundle(workdir: Path, name: str, *, esbuild: str | None = None) -> Bundle:
    """Bundles ``workdir/node_modules/<name>`` (already unpacked) into one ES module.

    Raises ``package_refused`` when esbuild cannot bundle it (the reason is
    esbuild's first error, without host paths).
    """
    exe = esbuild_path(esbuild)
    spec = json.dumps(name)
    proc = _run(exe, workdir, f"export * from {spec};\nexport {{ default }} from {spec};\n", name)
    if proc.returncode != 0 and "default" in proc.stderr:
        # an ES module without a default export
        proc = _run(exe, workdir, f"export * from {spec};\n", name)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "ERROR" in ln or "error" in ln), "")
        why = first.replace(str(workdir), ".").strip()[:300] or "esbuild failed"
        raise ScriptError("package_refused", f"'{name}' cannot be bundled: {why}")
    meta: dict[str, Any] = json.loads((workdir / "meta.json").read_text())
    builtins = []
    for importer, info in (meta.get("inputs") or {}).items():
        for imp in info.get("imports") or []:
            mod = _builtin(str(imp.get("path", "")))
            if imp.get("external") and mod:
                builtins.append({"module": mod, "importer": importer})
    outputs = meta.get("outputs") or {}
    exports = sorted({e for o in outputs.values() for e in (o.get("exports") or [])})
    inputs = sorted(p for p in (meta.get("inputs") or {}) if p != "entry.mjs")
    return Bundle((workdir / "out.mjs").read_text(), inputs, builtins, exports)
