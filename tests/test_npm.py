"""npm packages in scripts, in the engine: resolve, check, scan, bundle, import.

The offline path uses tarballs made by ``npm pack`` in the test and served by
a loopback registry (``iota_scripts/tests/npm_registry.py``). The tests marked
``npm_registry`` use the real registry.npmjs.org and are skipped, saying so,
when it cannot be reached. esbuild comes from npm (package.json); set
``IOTA_SCRIPTS_ESBUILD`` to use another copy.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import urllib.parse
from pathlib import Path

import pytest

from iota_scripts_sdk import Engine, ScriptError
from iota_scripts_sdk.npm import Module, Registry, bundle_hash, esbuild_path, prepare

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "npm_registry", ROOT / "iota_scripts" / "tests" / "npm_registry.py"
)
assert _spec and _spec.loader
npm_registry = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(npm_registry)

TINY = {
    "index.mjs": (
        'import { pad } from "iota-pad";\n'
        "export function total(xs) { return xs.reduce((a, b) => a + b, 0); }\n"
        "export function label(n) { return pad(String(n), 6); }\n"
        "export default { kind: 'tiny' };\n"
    ),
    "index.d.ts": "export declare function total(xs: number[]): number;\n"
    "export declare function label(n: number): string;\n",
}
PAD = {"index.js": "exports.pad = function (s, n) { return s.padStart(n, '0'); };\n"}
FS = {"index.js": "const fs = require('fs');\nexports.read = (p) => fs.readFileSync(p, 'utf8');\n"}


@pytest.fixture(scope="module")
def esbuild() -> str:
    return esbuild_path()


@pytest.fixture(scope="module")
def registry(tmp_path_factory, esbuild):
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to pack the test packages")
    folder = tmp_path_factory.mktemp("npm")
    reg = npm_registry.LocalRegistry()
    pack = npm_registry.pack
    reg.publish(pack(folder, "iota-pad", "1.0.0", PAD, main="index.js"))
    reg.publish(pack(folder, "iota-pad", "2.0.0", PAD, main="index.js"))
    for version in ("1.2.0", "1.3.0", "2.0.0"):
        reg.publish(
            pack(
                folder,
                "iota-tiny",
                version,
                TINY,
                module="index.mjs",
                main="index.mjs",
                types="index.d.ts",
                dependencies={"iota-pad": "^1.0.0"},
            )
        )
    reg.publish(pack(folder, "iota-fs", "1.0.0", FS, main="index.js"))
    marker = folder / "PWNED"
    reg.publish(
        pack(
            folder,
            "iota-install",
            "1.0.0",
            {"index.js": "exports.x = 1;\n"},
            main="index.js",
            scripts={"postinstall": f"node -e \"require('fs').writeFileSync('{marker}', '1')\""},
        )
    )
    reg.marker = marker
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def engine():
    e = Engine()
    yield e
    e.close()


def test_resolves_a_range_to_the_highest_match_with_its_tree(registry):
    res = Registry(registry.url).resolve("iota-tiny", "^1.0.0")
    assert res.root.version == "1.3.0"
    assert res.root.integrity.startswith("sha512-")
    assert sorted(res.lock()) == ["node_modules/iota-pad", "node_modules/iota-tiny"]
    assert res.packages["node_modules/iota-pad"].version == "1.0.0"  # ^1.0.0, not 2.0.0
    assert res.root.license == "MIT"
    assert res.lock()["node_modules/iota-tiny"]["dependencies"] == {"iota-pad": "^1.0.0"}


def test_prepare_bundles_a_pure_package_that_scripts_import(registry, engine, esbuild):
    prepared = prepare(Registry(registry.url), "iota-tiny", "~1.2")
    assert prepared.ok, prepared.refusals
    assert prepared.resolution.root.version == "1.2.0"
    assert prepared.sha256 == bundle_hash(prepared.code)
    assert 'require("' not in prepared.code and 'from "' not in prepared.code  # self-contained
    assert prepared.exports == ["default", "label", "total"]
    assert "index.d.ts" in prepared.types and "total" in prepared.types["index.d.ts"]
    # the audit endpoint of this registry is down: said, not taken for "no advisory"
    assert prepared.findings["advisories"] == []
    assert "not checked" in prepared.findings["advisories_note"]
    module = Module("iota-tiny", prepared.code, prepared.sha256)
    res = engine.run(
        'import tiny, { total, label } from "iota-tiny";\n'
        "export default () => [total([1, 2, 3]), label(42), tiny.kind];\n",
        modules=[module],
    )
    assert res.ok, res.error
    assert res.result == [6, "000042", "tiny"]


def test_a_package_that_needs_fs_is_refused_with_the_reason(registry, esbuild):
    prepared = prepare(Registry(registry.url), "iota-fs", "1.0.0")
    assert not prepared.ok
    assert prepared.refusals == [
        "node_modules/iota-fs/index.js needs the Node built-in 'fs', which scripts do not have"
    ]


def test_install_scripts_are_listed_and_never_run(registry, esbuild):
    prepared = prepare(Registry(registry.url), "iota-install", "*")
    assert prepared.findings["install_scripts"] == [
        {
            "package": "iota-install",
            "script": "postinstall",
            "command": f"node -e \"require('fs').writeFileSync('{registry.marker}', '1')\"",
        }
    ]
    assert not registry.marker.exists()
    assert prepared.ok  # listed for the approver; refusing is their call


def test_advisories_are_listed_when_the_endpoint_answers(registry, esbuild):
    registry.advisories = {
        "iota-pad": [
            {
                "severity": "high",
                "title": "Prototype pollution",
                "url": "https://example.test/a/1",
                "vulnerable_versions": "<1.0.1",
            }
        ]
    }
    try:
        prepared = prepare(Registry(registry.url), "iota-tiny", "1.3.0")
    finally:
        registry.advisories = None
    assert prepared.findings["advisories"][0]["package"] == "iota-pad"
    assert prepared.findings["advisories"][0]["severity"] == "high"
    assert (
        prepared.findings["advisories_note"]
        == "advisories checked against the registry's audit endpoint"
    )


def test_a_tarball_that_does_not_match_its_integrity_is_refused(registry):
    reg = Registry(registry.url)
    res = reg.resolve("iota-pad", "1.0.0")
    key = ("iota-pad", "1.0.0")
    good = registry.tarballs[key]
    registry.tarballs[key] = good[:-1] + bytes([good[-1] ^ 1])
    try:
        with pytest.raises(ScriptError) as e:
            reg.fetch(res.root)
    finally:
        registry.tarballs[key] = good
    assert e.value.code == "integrity_error"
    assert "does not match its integrity" in e.value.message


def test_an_unreachable_registry_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed after this block: nothing listens there
    with pytest.raises(ScriptError) as e:
        Registry(f"http://127.0.0.1:{port}", timeout_sec=3).resolve("iota-tiny", "1")
    assert e.value.code == "registry_unavailable"
    assert (
        "cannot be reached" in e.value.message and "keep working from the store" in e.value.message
    )


def test_unknown_package_and_unsatisfiable_range(registry):
    reg = Registry(registry.url)
    with pytest.raises(ScriptError) as e:
        reg.resolve("iota-nothing", "1")
    assert (e.value.code, e.value.message) == (
        "not_found",
        "the npm registry has no package 'iota-nothing'",
    )
    with pytest.raises(ScriptError) as e:
        reg.resolve("iota-tiny", "^9")
    assert e.value.code == "not_found" and "satisfies" in e.value.message


def test_a_tampered_bundle_is_refused_at_load(engine):
    code = "export const x = 1;\n"
    with pytest.raises(ScriptError) as e:
        Module("iota-x", code + " ", bundle_hash(code))
    assert e.value.code == "integrity_error"


def test_an_unapproved_import_is_refused_with_its_position(engine):
    err = engine.check(
        '// header\nimport { a } from "left-pad";\nexport default () => a;\n', packages=["date-fns"]
    )
    assert err is not None
    assert (err.message, err.line, err.column) == (
        "package 'left-pad' is not approved for this company",
        2,
        19,
    )
    err = engine.check('import { total } from "lib:invoicing";\nexport default () => total;\n')
    assert (
        err is not None
        and err.message == "library script 'invoicing' is not approved for this company"
    )
    assert (
        engine.check(
            'import { a } from "left-pad";\nexport default () => a;\n', packages=["left-pad"]
        )
        is None
    )


def test_a_missing_export_is_a_clear_error_and_modules_load_once_per_context(engine):
    code = "let loads = 0; loads++; export function count() { return loads; }\n"
    mod = Module("iota-count", code, bundle_hash(code))
    bad = engine.run(
        'import { nope } from "iota-count";\nexport default () => nope;\n', modules=[mod]
    )
    assert not bad.ok and bad.error.code == "script_error"
    assert "does not provide an export named 'nope'" in bad.error.message
    src = 'import { count } from "iota-count";\nexport default () => count();\n'
    assert [engine.run(src, modules=[mod]).result for _ in range(3)] == [1, 1, 1]


def test_a_module_that_replaces_an_array_method_loads_and_keeps_it_to_its_runs(engine):
    # Array.prototype is sealed, not frozen (prelude.js, "hardening"): a
    # replaced method is the importing script's own. Its context is dropped
    # after each run (tests/test_engine.py checks the drop), so each run
    # loads the package again and gets the replacement again.
    code = "Array.prototype.includes = function () { return 'mine' }; export const x = 1;\n"
    mod = Module("iota-patch", code, bundle_hash(code))
    src = 'import { x } from "iota-patch";\nexport default () => [x, [1].includes(1)];\n'
    for _ in range(3):
        res = engine.run(src, modules=[mod])
        assert res.ok, res.error
        assert res.result == [1, "mine"]


def test_a_module_that_breaks_frozen_intrinsics_fails_to_load(engine):
    code = "Array.prototype.evil = 1; export const x = 1;\n"
    res = engine.run(
        'import { x } from "iota-evil";\nexport default () => x;\n',
        modules=[Module("iota-evil", code, bundle_hash(code))],
    )
    assert not res.ok and res.error.code == "script_error"
    assert res.error.message == (
        "the module 'iota-evil' failed to load: TypeError: Cannot add property evil, object is not extensible"
    )
    assert engine.run("export default () => [].evil;\n").result is None


def _registry_reachable() -> bool:
    try:
        host = urllib.parse.urlparse("https://registry.npmjs.org").hostname or ""
        socket.create_connection((host, 443), timeout=5).close()
        return True
    except OSError:
        return False


npm_registry_only = pytest.mark.skipif(
    not _registry_reachable(),
    reason="registry.npmjs.org is not reachable: the real-registry tests are skipped",
)


@pytest.mark.npm_registry
@npm_registry_only
@pytest.mark.parametrize(
    ("name", "range_", "script", "expected"),
    [
        (
            "date-fns",
            "^4.1.0",
            'import { format, addDays } from "date-fns";\n'
            'export default () => format(addDays(new Date(2024, 0, 31), 1), "yyyy-MM-dd");\n',
            "2024-02-01",
        ),
        (
            "decimal.js",
            "^10.4.0",
            'import Decimal from "decimal.js";\nexport default () => new Decimal("0.1").plus("0.2").toString();\n',
            "0.3",
        ),
    ],
)
def test_real_registry_packages(engine, esbuild, name, range_, script, expected):
    prepared = prepare(Registry(), name, range_)
    assert prepared.ok, prepared.refusals
    assert prepared.resolution.root.integrity.startswith("sha512-")
    assert prepared.resolution.root.license == "MIT"
    res = engine.run(script, modules=[Module(name, prepared.code, prepared.sha256)])
    assert res.ok, res.error
    assert res.result == expected


def test_imports_lists_what_a_source_imports(engine):
    src = 'import { a } from "x";\nimport * as y from "lib:inv";\nimport "x";\nexport default () => a;\n'
    assert engine.imports(src, ["x", "lib:inv", "z"]) == ["x", "lib:inv"]
    with pytest.raises(ScriptError) as e:
        engine.imports(src, ["x"])
    assert (e.value.line, e.value.column) == (2, 20)


def test_library_scripts_import_packages_and_are_imported(engine):
    lib = 'import { count } from "iota-count";\nexport function total(xs) { return xs.length + count(); }\n'
    assert engine.check(lib) is not None  # a script needs its default export
    assert engine.check(lib, ["iota-count"], module=True) is None
    err = engine.check(lib, [], module=True)
    assert err is not None and (err.line, err.column) == (1, 23)
    code = "export function count() { return 10; }\n"
    modules = [
        Module("iota-count", code, bundle_hash(code)),
        Module("lib:invoicing", lib, bundle_hash(lib)),
    ]
    res = engine.run(
        'import { total } from "lib:invoicing";\nexport default () => total([1, 2]);\n',
        modules=modules,
    )
    assert res.ok, res.error
    assert res.result == 12


def test_library_modules_refuse_html_comments_like_scripts(engine):
    err = engine.check("export const a = 1;\nconst b = a <!-- 2;\n", module=True)
    assert err is not None and (err.line, err.column) == (2, 13)
    assert "'<!--' is not allowed" in err.message
