"""Everything the addon and the engine import is installed by the README's commands.

``./scripts/setup-and-run`` and ``./scripts/test`` install ``requirements.txt``
(``requirements-dev.txt`` includes it) and this folder (``pip install -e .``,
the ``iota-scripts-sdk`` distribution). Odoo 18, installed the usual way,
brings its own requirements: the addon may import those (:data:`FROM_ODOO`),
the engine never (it has no Odoo). The wheel of the engine declares its
dependencies in pyproject.toml, which must agree with requirements.txt.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Import name -> distribution name, where they differ.
DISTRIBUTION = {
    "py_mini_racer": "mini-racer",
    "iota_scripts_sdk": "iota-scripts-sdk",
    "yaml": "PyYAML",
    "pythonjsonlogger": "python-json-logger",
}
#: Namespace packages: dotted import name -> distribution (the longest prefix wins).
NAMESPACED = {
    "opentelemetry": "opentelemetry-api",
    "opentelemetry.sdk": "opentelemetry-sdk",
    "opentelemetry.exporter.otlp.proto.http": "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry.proto": "opentelemetry-proto",
}
#: Distributions Odoo 18's own requirements.txt installs (odoo itself included).
# cryptography: Odoo 18's requirements pin it (the addon's tests make a throw-away certificate)
FROM_ODOO = {
    "odoo",
    "psycopg2",
    "pytz",
    "werkzeug",
    "markupsafe",
    "requests",
    "psutil",
    "cryptography",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution(module: str) -> str:
    """The distribution that installs the (dotted) import name ``module``."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if (prefix := ".".join(parts[:n])) in NAMESPACED:
            return canonical(NAMESPACED[prefix])
    return canonical(DISTRIBUTION.get(parts[0], parts[0]))


def requirements(path: Path) -> dict[str, str]:
    """{distribution: line} of a requirements file, following ``-r``."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(requirements(path.parent / line[3:].strip()))
            continue
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        assert name, f"{path.name}: cannot read {raw!r}"
        out[canonical(name.group(0))] = line
    return out


def pyproject() -> tuple[str, dict[str, str]]:
    """(project name, {distribution: spec}) of pyproject.toml's [project]."""
    text = (ROOT / "pyproject.toml").read_text()
    name = re.search(r'^name = "([^"]+)"', text, re.M).group(1)
    block = re.search(r"^dependencies = \[(.*?)\]", text, re.M | re.S).group(1)
    deps = {}
    for spec in re.findall(r'"([^"]+)"', block):
        deps[canonical(re.match(r"[A-Za-z0-9._-]+", spec).group(0))] = spec
    return canonical(name), deps


def _optional(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``try: ... except ImportError``: optional imports."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def third_party_imports(folder: str) -> dict[str, set[str]]:
    """{distribution: files} of the non-stdlib, absolute, required imports under ``folder``."""
    local = {p.stem for p in (ROOT / folder).glob("*.py")} | {"iota_scripts"}
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        optional = _optional(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                dist = distribution(name)
                found.setdefault(dist, set()).add(str(path.relative_to(ROOT)))
    return found


RUNTIME = requirements(ROOT / "requirements.txt")
#: requirements.txt's distribution names as written there
RUNTIME_NAMES = {re.match(r"[A-Za-z0-9._-]+", line).group(0) for line in RUNTIME.values()}
OWN_NAME = re.search(r'^name = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
DEV = requirements(ROOT / "requirements-dev.txt")
OWN, WHEEL = pyproject()


def test_the_engine_imports_only_what_its_wheel_and_requirements_declare():
    imports = third_party_imports("iota_scripts_sdk")
    assert "odoo" not in imports, imports.get("odoo")
    assert set(imports) - {OWN} == set(WHEEL), (
        "the engine's imports and pyproject.toml's dependencies differ"
    )
    for dist, spec in WHEEL.items():
        assert RUNTIME.get(dist) == spec, f"requirements.txt must pin {spec} as pyproject.toml does"


def test_every_import_of_the_addon_is_installed():
    missing = {
        dist: sorted(files)
        for dist, files in third_party_imports("iota_scripts").items()
        if dist not in RUNTIME and dist not in FROM_ODOO and dist != OWN
    }
    assert not missing, f"add to requirements.txt: {missing}"


def test_manifest_external_dependencies_are_installed():
    manifest = ast.literal_eval((ROOT / "iota_scripts" / "__manifest__.py").read_text())
    python = manifest["external_dependencies"]["python"]
    assert python, "the manifest declares its Python dependencies"
    # Distribution names, spelled as in requirements.txt (Odoo looks them up with
    # importlib.metadata): an import name such as "pythonjsonlogger" is refused here.
    for name in python:
        assert name in {*RUNTIME_NAMES, OWN_NAME}, (
            f"{name} is not a distribution of requirements.txt"
        )
    # and the other way: what the addon's code (not its tests) imports from requirements.txt
    # is declared to Odoo, which then refuses to install the addon without it, naming it
    declared = {canonical(name) for name in python}
    addon = {
        dist
        for dist, files in third_party_imports("iota_scripts").items()
        if any(not f.startswith("iota_scripts/tests/") for f in files)
    }
    assert addon & set(RUNTIME) <= declared, sorted(addon & set(RUNTIME) - declared)


def test_every_requirement_is_used():
    used = set(third_party_imports("iota_scripts")) | set(third_party_imports("iota_scripts_sdk"))
    unused = sorted(set(RUNTIME) - used)
    assert not unused, f"requirements.txt lists what nothing imports: {unused}"


def test_the_engine_tests_imports_are_dev_requirements():
    missing = {
        dist: sorted(files)
        for dist, files in third_party_imports("tests").items()
        if dist not in DEV and dist != OWN
    }
    assert not missing, f"add to requirements-dev.txt: {missing}"


def test_what_odoo_provides_is_in_odoos_requirements():
    """FROM_ODOO is not a wish list: Odoo's own requirements.txt names each (source installs)."""
    spec = importlib.util.find_spec("odoo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("Odoo is not importable")
    odoo_requirements = (
        Path(next(iter(spec.submodule_search_locations))).parent / "requirements.txt"
    )
    if not odoo_requirements.exists():
        pytest.skip("Odoo is installed from a package: no requirements.txt beside it")
    provided = set(requirements(odoo_requirements))
    assert FROM_ODOO - {"odoo"} <= provided, FROM_ODOO - {"odoo"} - provided
