"""The third-party JavaScript the engine loads (acorn), checked before use.

The files are not part of the source tree: ``npm ci`` installs them
(package.json pins them, package-lock.json carries their integrity) and
``scripts/place-js-deps`` copies them into ``vendor/``; a built wheel carries
them (``setup.py`` copies them at build time). ``third_party.json`` beside
this module lists each file with its sha256.

:func:`acorn_path` is called by the host before it starts a runner. A file
that is missing or whose sha256 differs (:func:`placed_file_state`) is a
``not_installed`` error whose message names the fix; the host path goes to
the server log only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

from .errors import ScriptError

__all__ = ["VENDOR_ROOT", "acorn_path", "placed_file_state"]

_logger = logging.getLogger(__name__)

#: Where ``third_party.json``'s ``to`` paths start (tests point it elsewhere).
VENDOR_ROOT = Path(__file__).resolve().parent
_MANIFEST = Path(__file__).resolve().parent / "third_party.json"
_FIX = (
    "run `npm ci` in the IOTA Scripts folder (or reinstall the iota-scripts-sdk package, "
    "whose wheel carries it)"
)

# Reads and writes of one dict item are atomic: no lock (none to hold across a fork either).
_verified: dict[tuple[Path, str], tuple[int, int]] = {}


def _declared(package: str, name: str) -> tuple[str, str, str]:
    """(version, ``to`` path, sha256) of ``package``'s file named ``name``."""
    spec = json.loads(_MANIFEST.read_text())["packages"][package]
    for f in spec["files"]:
        if Path(f["to"]).name == name:
            return spec["version"], f["to"], f["sha256"]
    raise KeyError(name)


def placed_file_state(path: Path, sha256: str) -> Literal["ok", "missing", "altered"]:
    """``"ok"``, ``"missing"`` or ``"altered"``: the placed file ``path`` against
    the ``sha256`` its manifest declares (a folder or an unreadable file reads as
    missing).

    A verified file is not hashed again while its size and mtime stay the same;
    a missing or altered one is looked at again on every call, so a reinstall
    counts at once. The addon's editor page checks Monaco's files with it too."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    stamp = (st.st_size, st.st_mtime_ns)
    if _verified.get((path, sha256)) == stamp:
        return "ok"
    try:
        data = path.read_bytes()
    except OSError:
        return "missing"
    if hashlib.sha256(data).hexdigest() != sha256:
        return "altered"
    _verified[(path, sha256)] = stamp
    return "ok"


def acorn_path() -> Path:
    """The verified ``acorn.js`` the runners load. Raises ``not_installed``."""
    version, to, digest = _declared("acorn", "acorn.js")
    path = VENDOR_ROOT / to
    state = placed_file_state(path, digest)
    if state == "missing":
        _logger.warning("acorn %s is not installed: %s is missing", version, path)
        raise ScriptError(
            "not_installed", f"acorn {version}, the engine's JavaScript parser, is missing: {_FIX}"
        )
    if state == "altered":
        _logger.warning("acorn %s at %s does not match its sha256 %s", version, path, digest)
        raise ScriptError(
            "not_installed",
            f"acorn {version}, the engine's JavaScript parser, differs from the version "
            f"package-lock.json pins: {_FIX}",
        )
    return path


def _forget() -> None:
    """Tests: verify again on the next call."""
    _verified.clear()
