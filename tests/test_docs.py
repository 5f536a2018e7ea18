"""The documentation cannot drift from the code it describes (issue 14 §1).

- ``docs/reference/sdk.md`` is the output of ``iota_scripts_sdk.docs.markdown()``,
  rendered from the one declaration (``api.py``), like ``sdk.d.ts``.
- The declaration's per-function errors, limits and examples are real: known
  codes, ``Limits`` fields, JavaScript that parses.
- ``docs/troubleshooting.md`` has one entry per code of ``errors.CODES``, and
  names no code that does not exist.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import pytest
import yaml

from iota_scripts_sdk import CODES, Limits
from iota_scripts_sdk.api import API, COMMON_ERRORS, COMMON_LIMITS
from iota_scripts_sdk.docs import markdown

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FUNCTIONS = [(ns.name, fn) for ns in API for fn in ns.functions]


# ---- the sdk API reference ------------------------------------------------------------


def test_committed_reference_is_generated_from_declaration():
    shipped = (DOCS / "reference" / "sdk.md").read_text(encoding="utf-8")
    assert shipped == markdown(), (
        "docs/reference/sdk.md is stale: python3 -m iota_scripts_sdk.docs > docs/reference/sdk.md"
    )


def test_reference_covers_every_function_with_signature_errors_and_example():
    page = markdown()
    for ns, fn in FUNCTIONS:
        start = page.index(f"### `sdk.{ns}.{fn.name}`")
        end = page.find("\n### ", start + 1)
        section = page[start : end if end != -1 else len(page)]
        assert f"sdk.{ns}.{fn.name}{fn.type_params}(" in section
        assert f"**Returns** `{fn.returns}`" in section
        for p in fn.params:
            assert f"| `{p.name}` |" in section, (ns, fn.name, p.name)
        for code in fn.errors + COMMON_ERRORS[fn.kind]:
            assert f"troubleshooting.md#{code})" in section, (ns, fn.name, code)
        for limit in fn.limits + COMMON_LIMITS[fn.kind]:
            assert f"`{limit}` (" in section, (ns, fn.name, limit)
        assert fn.example and fn.example in section, (ns, fn.name)


def test_declared_errors_and_limits_exist():
    limit_fields = {f.name for f in dataclasses.fields(Limits)}
    for ns, fn in FUNCTIONS:
        assert set(fn.errors) <= CODES.keys(), (ns, fn.name, set(fn.errors) - CODES.keys())
        assert set(fn.limits) <= limit_fields, (ns, fn.name, set(fn.limits) - limit_fields)
    for kind, codes in COMMON_ERRORS.items():
        assert set(codes) <= CODES.keys(), kind
        assert set(COMMON_LIMITS[kind]) <= limit_fields, kind


def test_errors_named_in_a_functions_doc_are_declared():
    # The prose says "Rejects with `x`": the declared tuple must say it too.
    for ns, fn in FUNCTIONS:
        named = {c for c in re.findall(r"`([a-z_]+)`", fn.doc) if c in CODES}
        declared = set(fn.errors) | set(COMMON_ERRORS[fn.kind])
        assert named <= declared, (ns, fn.name, named - declared)


def test_generator_refuses_an_unknown_code(monkeypatch):
    import iota_scripts_sdk.docs as docs_module

    ns0 = API[0]
    broken = dataclasses.replace(
        ns0, functions=(dataclasses.replace(ns0.functions[0], errors=("no_such_code",)),)
    )
    monkeypatch.setattr(docs_module, "API", (broken, *API[1:]))
    with pytest.raises(ValueError, match="no_such_code"):
        docs_module.markdown()


@pytest.mark.parametrize(("ns", "fn"), FUNCTIONS, ids=[f"{n}.{f.name}" for n, f in FUNCTIONS])
def test_every_example_parses(engine, ns, fn):
    source = "export default async function (ctx) {\n" + fn.example + "\n}\n"
    assert engine.check(source) is None, (ns, fn.name, engine.check(source))


# ---- troubleshooting: one entry per error code -----------------------------------------

_ENTRY = re.compile(r"^### `([a-z_]+)` \{#([a-z_]+)\}$", re.MULTILINE)


def _troubleshooting() -> str:
    return (DOCS / "troubleshooting.md").read_text(encoding="utf-8")


def test_troubleshooting_has_an_entry_per_code():
    entries = _ENTRY.findall(_troubleshooting())
    assert all(heading == anchor for heading, anchor in entries), entries
    names = [heading for heading, _ in entries]
    assert len(names) == len(set(names)), "a code has two entries"
    assert sorted(set(CODES) - set(names)) == [], "codes without a troubleshooting entry"
    assert sorted(set(names) - set(CODES)) == [], "entries for codes that do not exist"


def test_troubleshooting_entries_say_cause_how_to_tell_and_fix():
    page = _troubleshooting()
    starts = [m.start() for m in _ENTRY.finditer(page)] + [len(page)]
    for begin, end in itertools.pairwise(starts):
        entry = page[begin:end].split("\n## ", 1)[0]
        code = _ENTRY.match(entry).group(1)
        for part in ("**Cause.**", "**How to tell.**", "**Fix.**"):
            assert part in entry, (code, part)
        assert f"`{code}`" in entry.split("**How to tell.**", 1)[1], code


def test_troubleshooting_names_only_existing_codes():
    # Any `snake_case` word in backticks that looks like a code must be one, or a
    # known non-code (settings, fields, limits, HTTP answers).
    page = _troubleshooting()
    limit_fields = {f.name for f in dataclasses.fields(Limits)}
    not_codes = limit_fields | {
        "error_code",
        "error_message",
        "error_line",
        "error_column",
        "error_stack",
        "wall_ms",
        "cpu_ms",
        "heap_peak_bytes",
        "host_calls",
        "max_events_per_run",
        "max_enqueues_per_run",
        "max_depth",
        "max_timeout_sec",
        "max_memory_mb",
        "runner_memory_mb",
        "max_waiting",
        "wait_timeout_sec",
        "max_source_bytes",
        "redis_url",
        "ratelimit_redis_url",
        "cache_quota_keys",
        "cache_quota_bytes",
        "runners",
        "maxmemory",
    }
    words = set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", page))
    unknown = sorted(words - CODES.keys() - not_codes)
    assert unknown == [], f"troubleshooting.md names codes that do not exist: {unknown}"


def test_reference_links_resolve_to_troubleshooting_anchors():
    anchors = {anchor for _, anchor in _ENTRY.findall(_troubleshooting())}
    linked = set(re.findall(r"troubleshooting\.md#([a-z_]+)\)", markdown()))
    assert linked and linked <= anchors, linked - anchors


# ---- where the engine and the declaration disagree (found writing the cookbook) --------


def test_cache_get_of_a_missing_key_is_null_as_declared(engine):
    result = engine.run(
        "export default async () => { const v = await sdk.cache.get('missing');"
        " return v === null ? 'null' : typeof v; }",
        tenant="docs-cache-null",
    )
    assert result.ok, result.error
    assert result.result == "null"


# ---- the site is built by the test command ---------------------------------------------


def test_scripts_test_builds_the_site_strictly():
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    build = [
        line
        for line in script.splitlines()
        if "-m mkdocs build" in line and not line.startswith("#")
    ]
    assert len(build) == 1, build
    assert "--strict" in build[0] and "--site-dir" in build[0]
    # --quiet hides the warnings --strict counts: a broken link would pass
    assert "--quiet" not in build[0] and " -q " not in build[0]
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["docs_dir"] == "docs" and config["theme"]["name"] == "material"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/" + config["site_dir"] + "/" in ignored


def test_readme_links_into_the_docs_resolve():
    # The README is read on the forge, outside the site build: check its links here.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:docs|examples)/[^)#\s]+)(?:#([^)\s]+))?\)", readme)
    assert len(links) >= 10
    for target, anchor in links:
        path = ROOT / target
        assert path.is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, (target, anchor)


def test_readme_keeps_the_security_summary_and_where_things_live():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    security = readme.split("\n## Security model\n", 1)[1].split("\n## ", 1)[0]
    assert "ALLOWED_METHODS" in security and "sdk.db.call" in security
    # each layer: what it stops, what it does not, how to configure it
    assert "| what it stops | what it does not | how to configure |" in security
    for layer in ("OS sandbox", "policy rules", "host's policy", "access rules"):
        assert layer in security, layer
    assert "docs/security.md" in security
    assert "\n## Where things live\n" in readme
    assert "\n## Quick start\n" in readme and "./scripts/setup-and-run" in readme


# ---- the limits page: every limit and every code, with the code's meaning --------------


def test_limits_page_lists_every_limit_with_its_default():
    from iota_scripts_sdk.docs import _limit_default

    page = (DOCS / "guide" / "limits.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", page, re.MULTILINE))
    for f in dataclasses.fields(Limits):
        assert f.name in rows, f.name
        if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
            assert rows[f.name].strip() == _limit_default(f.name).removesuffix(".0"), f.name


def test_limits_page_lists_every_code_with_its_meaning():
    page = (DOCS / "guide" / "limits.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| \[`([a-z_]+)`\]\(\.\./troubleshooting\.md#\1\) \| (.+) \|$", page, re.MULTILINE
    )
    assert dict(rows) == CODES


# ---- the security page and the README name the policy tables as policy.py has them -----


def _policy_sets() -> dict[str, set[str]]:
    import ast

    tree = ast.parse((ROOT / "iota_scripts" / "sdk_host" / "policy.py").read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("DENIED_MODELS", "READ_ONLY_MODELS", "ALLOWED_METHODS"):
                out[name] = set(ast.literal_eval(node.value.args[0]))
    return out


def _row(page: str, table: str) -> str:
    (row,) = [line for line in page.splitlines() if line.startswith(f"| `{table}` |")]
    return row


def test_security_page_lists_the_policy_tables_of_policy_py():
    page = (DOCS / "security.md").read_text(encoding="utf-8")
    sets = _policy_sets()
    assert set(sets) == {"DENIED_MODELS", "READ_ONLY_MODELS", "ALLOWED_METHODS"}
    for table in ("DENIED_MODELS", "READ_ONLY_MODELS"):
        row = _row(page, table)
        for model in sets[table]:
            # "res.users.apikeys (+ `.description`)" spells a suffix only
            assert f"`{model}`" in row or f"`.{model.rsplit('.', 1)[1]}`" in row, (table, model)
    allowed_row = (
        _row(page, "ALLOWED_METHODS").split("accepts:", 1)[1].split("Every other one", 1)[0]
    )
    assert set(re.findall(r"`([a-z_]+)`", allowed_row)) == sets["ALLOWED_METHODS"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    security = readme.split("\n## Security model\n", 1)[1].split("\n## ", 1)[0]
    allowlist = security.split("positive allowlist:", 1)[1].split(")", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", allowlist)) == sets["ALLOWED_METHODS"]


# ---- runbooks -----------------------------------------------------------------------------

RUNBOOKS = DOCS / "runbooks"
RUNBOOK_HEADINGS = ["## Symptoms", "## Diagnosis", "## Actions", "## Verify"]


@pytest.mark.parametrize(
    "page",
    sorted(
        p.name for p in RUNBOOKS.glob("*.md") if p.name not in ("index.md", "more-incidents.md")
    ),
)
def test_each_runbook_has_symptoms_diagnosis_actions_verify_and_commands(page):
    """Issue 11 §8: each runbook gives symptoms, diagnosis commands, actions, verification.

    The commands (``bash`` blocks) are run against a real Odoo by
    ``iota_scripts/tests/test_runbooks.py``.
    """
    text = (RUNBOOKS / page).read_text(encoding="utf-8")
    positions = [text.find(f"\n{h}\n") for h in RUNBOOK_HEADINGS]
    assert all(p > 0 for p in positions), f"{page}: needs {RUNBOOK_HEADINGS}"
    assert positions == sorted(positions), f"{page}: headings out of order"
    diagnosis = text[positions[1] : positions[2]]
    assert "```bash\n" in diagnosis, f"{page}: the diagnosis has no command block"
    assert "```bash\n" in text and "# expect: " in text, page


def test_every_runbook_is_listed_on_the_index_and_in_the_nav():
    index = (RUNBOOKS / "index.md").read_text(encoding="utf-8")
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in RUNBOOKS.glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name
        assert f"runbooks/{page.name}" in nav, page.name


def test_every_threat_module_is_listed_with_its_threat():
    """docs/security.md lists each ``test_threat_*`` module with the threat its
    docstring names ("Threat: ..."), and nothing else."""
    import ast
    import re

    text = (ROOT / "docs" / "security.md").read_text()
    block = text.split("<!-- threats:start")[1].split("<!-- threats:end -->")[0]
    listed = dict(
        (module, threat)
        for threat, module in re.findall(r"^\| (.+?) \| `([^`]+)` \|$", block, re.M)
    )
    modules = {}
    for path in sorted(
        [*ROOT.glob("tests/test_threat_*.py"), *ROOT.glob("iota_scripts/tests/test_threat_*.py")]
    ):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert doc.startswith("Threat: "), path
        modules[path.relative_to(ROOT).as_posix()] = doc.split("\n")[0][len("Threat: ") :].rstrip(
            "."
        )
    assert listed == modules
