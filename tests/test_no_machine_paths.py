"""No path of a developer's machine in the tracked code (tests excepted).

A path like ``/home/alice/odoo`` works on one machine only; code finds what it
needs from the installed packages (e.g. ``odoo.__file__``) or from options.
Tests may name such paths: they check that nothing leaks them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: An absolute path under a home or a developer's work folder, or a Windows drive.
MACHINE_PATH = re.compile(
    r"""(?<![\w.~/-])(?:/(?:home|root|Users|work)/[\w.-]|[A-Za-z]:\\\\?[\w.-])"""
)


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [
        name
        for name in out.stdout.decode().split("\0")
        if name
        and not name.startswith("tests/")
        and "/tests/" not in name
        and not name.endswith((".png", ".ttf", ".ico"))
    ]


def test_the_pattern_finds_machine_paths():
    for bad in (
        "/home/alice/odoo",
        "'/root/.pyenv'",
        "/Users/bob/x",
        "x=/work/odoo18/addons",
        r"C:\Odoo",
    ):
        assert MACHINE_PATH.search(bad), bad
    for fine in (
        "/iota/api/v1/home/x",
        "https://example.com/home/x",
        "~/work/x",
        "a/work/b",
        "/tmp/x",
    ):
        assert not MACHINE_PATH.search(fine), fine


def test_no_machine_path_in_tracked_code():
    found = []
    for name in _tracked():
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not found, "machine paths in tracked code:\n" + "\n".join(found)
