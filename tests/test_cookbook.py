"""The cookbook's recipes (``examples/cookbook/*.js``) are checked, documented scripts.

- Every recipe passes ``iota-scripts check`` (the command line, as a user runs it).
- Every recipe has a page that includes it with ``--8<--`` and is in the site's nav.
- Every recipe has its run against real Odoo in the addon's suite:
  ``iota_scripts/tests/test_cookbook.py`` makes a script from the file and runs it
  through its real trigger (automation rule, schedule and queue, the endpoint
  gateway over HTTP, event subscription, ``sdk.scripts.enqueue``), with loopback
  HTTPS servers for the APIs it calls, and checks what it wrote in the database.
  This file only checks, without Odoo, that each recipe has such a test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "examples" / "cookbook"
PAGES = ROOT / "docs" / "cookbook"
NAMES = sorted(p.stem for p in RECIPES.glob("*.js"))


# ---- every recipe: it parses, it has a page, the page includes it, the nav lists it ---


def test_there_are_at_least_15_recipes():
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_recipe_passes_iota_scripts_check(name):
    out = subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", "check", str(RECIPES / f"{name}.js")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_recipe_has_a_page_that_includes_it_and_nothing_else():
    pages = sorted(p.stem for p in PAGES.glob("*.md") if p.stem != "index")
    assert pages == NAMES
    for name in NAMES:
        page = (PAGES / f"{name}.md").read_text(encoding="utf-8")
        assert page.count("--8<--") == 1, name
        assert f'--8<-- "examples/cookbook/{name}.js"' in page, name


def test_every_page_is_in_the_nav_and_the_index():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    nav = set(pages(config["nav"]))
    index = (PAGES / "index.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"cookbook/{name}.md" in nav, name
        assert f"]({name}.md)" in index, name


def test_every_recipe_runs_against_real_odoo_in_the_addon_suite():
    # a new recipe needs a run through its trigger in real Odoo, not only a syntax check
    here = (ROOT / "iota_scripts" / "tests" / "test_cookbook.py").read_text(encoding="utf-8")
    body = here.split("# ---- normalize-contact", 1)[1]
    missing = [n for n in NAMES if f'"{n}"' not in body]
    assert missing == []
