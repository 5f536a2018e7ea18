"""The dependency rules a reviewer reads (issue 15 §3), checked on the source.

- No model or tool of the addon imports a controller (models never depend on HTTP).
- No module of the addon outside its tests imports a private (``_name``) engine module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "iota_scripts"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import of ``path``; relative ones keep their dots."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            found.append((node.lineno, base))
    return found


def _addon_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ADDON / folder).rglob("*.py"))]


def test_the_files_exist():
    # guards the checks below against a moved folder making them vacuous
    assert len(_addon_files("models")) > 10
    assert len(_addon_files("tools")) > 5


def test_no_model_or_tool_imports_a_controller():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in _addon_files("models", "tools", "wizard", "wizards")
        for line, name in _imports(path)
        if "controllers" in name.split(".")
    ]
    assert offenders == []


def test_no_private_engine_module_outside_tests():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted(ADDON.rglob("*.py"))
        if "tests" not in path.relative_to(ADDON).parts
        for line, name in _imports(path)
        if name.startswith("iota_scripts_sdk.")
        and any(part.startswith("_") and part != "__init__" for part in name.split(".")[1:2])
    ]
    assert offenders == []
