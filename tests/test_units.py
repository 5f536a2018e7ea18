"""Governance units: the cost table, the meter, and Engine.run(meter=...) with real V8.

Every host call is charged where the engine reads it from the runner, the
calls the engine serves itself (``http.fetch``, ``cache.*``) and log lines
included; a budget that runs out ends the run with ``budget_exceeded``,
whatever the script catches.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iota_scripts_sdk import Limits, ScriptError
from iota_scripts_sdk.api import host_names
from iota_scripts_sdk.units import UNIT_COSTS, Meter, cost_of, units_markdown

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GOVERNANCE = ROOT / "docs" / "operations" / "governance.md"
FAST = Limits(timeout_sec=3.0)


class Pool:
    """A pool of ``size`` units shared by several meters (as a company's daily pool)."""

    name = "the company's daily pool"

    def __init__(self, size):
        self.left = size
        self.takes = 0

    def take(self, units):
        self.takes += 1
        got = min(units, self.left)
        self.left -= got
        return got

    def give_back(self, units):
        self.left += units


def test_every_sdk_call_has_a_cost():
    for name in host_names():
        assert cost_of(name) > 0, name
    assert cost_of("db.search") == 10 and cost_of("db.write") == 20
    assert cost_of("http.fetch") == 10 and cost_of("log") == 1
    with pytest.raises(KeyError):
        cost_of("nope.nothing")


def test_the_readme_and_the_docs_show_the_cost_table():
    # their tables are the declaration's: they cannot drift
    assert units_markdown() in README.read_text(encoding="utf-8")
    assert units_markdown() in GOVERNANCE.read_text(encoding="utf-8")
    assert len(re.findall(r"^\| .* \| \d+ \|$", units_markdown(), re.MULTILINE)) == len(UNIT_COSTS)


def test_the_run_budget_names_itself():
    meter = Meter(run_limit=25, run_name="the run budget of trigger cron")
    meter.charge("db.search")
    meter.charge("db.read")
    with pytest.raises(ScriptError) as info:
        meter.charge("db.write")
    assert info.value.code == "budget_exceeded"
    assert "the run budget of trigger cron is 25 units" in info.value.message
    assert meter.used == 20
    with pytest.raises(ScriptError):  # stays exceeded
        meter.charge("log")


def test_the_pool_is_drawn_in_chunks_and_given_back():
    pool = Pool(1000)
    meter = Meter(run_limit=None, pool=pool, chunk=100)
    for _ in range(15):
        meter.charge("db.search")
    assert meter.used == 150 and pool.takes == 2 and pool.left == 800
    meter.close()
    assert pool.left == 850  # 50 reserved, not used, went back
    meter.close()
    assert pool.left == 850


def test_the_pool_runs_out_across_runs():
    pool = Pool(35)
    first = Meter(pool=pool, chunk=100)
    first.charge("db.write")
    first.close()
    second = Meter(pool=pool, chunk=100)
    second.charge("db.search")
    with pytest.raises(ScriptError) as info:
        second.charge("db.search")
    assert "the company's daily pool is used up" in info.value.message
    second.close()
    assert pool.left == 5


def test_engine_charges_every_call_and_log_line(engine):
    meter = Meter(run_limit=1000)
    src = """export default async () => {
      sdk.log.info("a"); console.log("b");
      await sdk.cache.set("k", 1); await sdk.cache.get("k");
      return 1;
    }"""
    res = engine.run(src, limits=FAST, meter=meter, tenant="units/1")
    assert res.ok, res.error
    assert meter.used == 1 + 1 + 1 + 1
    assert res.stats["units"] == 4


def test_engine_ends_the_run_the_script_cannot_catch_it(engine):
    meter = Meter(run_limit=35, run_name="the run budget of trigger manual")
    calls = []

    def search(args):
        calls.append(args)
        return []

    src = """export default async () => {
      let n = 0;
      for (;;) {
        try { await sdk.db.search("res.partner", []); n++; } catch (e) { if (n > 50) break; n++; }
      }
      return n;
    }"""
    res = engine.run(src, limits=FAST, meter=meter, host={"db.search": search})
    assert not res.ok
    assert res.error.code == "budget_exceeded"
    assert "the run budget of trigger manual is 35 units" in res.error.message
    assert len(calls) == 3  # the fourth call was never served
    assert res.stats["units"] == 30


def test_engine_counts_http_it_serves_itself(engine):
    meter = Meter(run_limit=15)
    src = """export default async () => {
      try { await sdk.http.fetch("https://example.invalid/"); } catch (e) {}
      await sdk.http.fetch("https://example.invalid/");
    }"""
    res = engine.run(src, limits=FAST, meter=meter)
    assert res.error.code == "budget_exceeded", res.error
    assert meter.used == 10


def test_engine_log_lines_past_the_budget_end_the_run(engine):
    meter = Meter(run_limit=5)
    src = (
        'export default () => { for (let i = 0; i < 20; i++) sdk.log.info("x" + i); return "done" }'
    )
    res = engine.run(src, limits=FAST, meter=meter)
    assert not res.ok and res.error.code == "budget_exceeded"
    assert len(res.logs) == 5 and meter.used == 5
