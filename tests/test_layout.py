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


# ---- reviewable files (issue 15 §4 and acceptance) ------------------------------
MAX_LINES = 600
REASON = "Over 600 lines:"
#: The run path: every trigger's RunRequest goes through these modules.
RUN_PATH = ("run", "sdk_host")
#: Run-path methods that live on models and controllers (by file, then name).
RUN_PATH_METHODS = {
    "models/iota_script_execution.py": ("_run", "_execute", "_run_env", "_iota_after_run"),
    "models/iota_script_run.py": ("_run_by_hand", "action_run_live"),
    "models/iota_script_queue.py": ("_queue_run_one", "_enqueue"),
    "models/ir_actions_server.py": ("_run_action_iota_script_multi",),
    "controllers/main.py": ("_iota_run", "_iota_answer_run", "_iota_answer"),
}
MAX_FUNCTION_LINES = 60
_OWN = (".py", ".js", ".xml", ".scss", ".ts", ".sh")


def _own_files() -> list[Path]:
    skip = {"node_modules", "lib", "vendor", ".git", "monaco"}
    return [
        path
        for top in ("iota_scripts", "iota_scripts_sdk", "tests", "bench", "scripts")
        for path in sorted((ROOT / top).rglob("*"))
        if path.is_file()
        and (path.suffix in _OWN or path.parent.name == "scripts")
        and not skip & set(path.relative_to(ROOT).parts)
        and not path.name.endswith(".d.ts")  # generated from api.py
    ]


def test_no_own_file_over_600_lines_without_a_reason_at_its_top():
    assert len(_own_files()) > 50
    offenders = []
    for path in _own_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_LINES and not any(REASON in line for line in lines[:3]):
            offenders.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert offenders == []


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_no_function_on_the_run_path_over_60_lines():
    checked, offenders = 0, []
    for folder in RUN_PATH:
        for path in _addon_files(folder):
            for name, line, length in _functions(path):
                checked += 1
                if length > MAX_FUNCTION_LINES:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {name} ({length} lines)")
    for rel, names in RUN_PATH_METHODS.items():
        found = {name: (line, n) for name, line, n in _functions(ADDON / rel) if name in names}
        assert set(found) == set(names), f"{rel}: missing {set(names) - set(found)}"
        for name, (line, length) in found.items():
            checked += 1
            if length > MAX_FUNCTION_LINES:
                offenders.append(f"iota_scripts/{rel}:{line}: {name} ({length} lines)")
    assert checked > 40
    assert offenders == []


def test_every_trigger_builds_a_run_request():
    # the run path has one way in: RunRequest, given to _run, _enqueue or run_root
    callers = {
        "models/iota_script_run.py",
        "models/ir_actions_server.py",
        "models/iota_script_queue.py",
        "models/iota_script_schedule.py",
        "controllers/main.py",
        "sdk_host/scripts.py",
    }
    for rel in callers:
        assert "RunRequest(" in (ADDON / rel).read_text(encoding="utf-8"), rel
    for path in sorted(ADDON.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "_run_script(" not in text, path  # the old entry point with 10 parameters
        assert "outcome[" not in text or "tests" in path.parts, path  # no output parameter


def test_every_security_rule_exception_says_why_inline():
    """ruff's S rules (bandit's) hold in product code; each ``# noqa: S...``
    there names its reason after a dash, and no S rule is switched off for
    product code in the configuration (only for tests, commented there)."""
    import re

    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert not [c for c in config["ignore"] if c.startswith("S")]
    for pattern, codes in config["per-file-ignores"].items():
        if any(c.startswith("S") for c in codes):
            assert pattern.startswith(("tests/", "bench/")), pattern
    noqa = re.compile(r"#\s*noqa:\s*([A-Z0-9, ]+)(.*)$")
    unexplained = []
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if "node_modules" in rel or "/tests/" in f"/{rel}" or rel.startswith("build/"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = noqa.search(line)
            if m and any(c.strip().startswith("S") for c in m.group(1).split(",")):
                if not m.group(2).strip().lstrip("- ").strip():
                    unexplained.append(f"{rel}:{n}")
    assert not unexplained, unexplained
