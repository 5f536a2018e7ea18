"""Governance units of a run: its meter, with the run budget of its trigger and the company's pool.

The costs and the meter are the engine's (``iota_scripts_sdk.units``); this
step only chooses the budgets: ``units_budget_<trigger type>`` (a setting)
and the company's *Daily Units Pool* (``res.company``), counted in
``iota.script.unit.pool``. A dry-run has the run budget but never draws on
the pool: it is rolled back, and costs the company nothing.
"""

from __future__ import annotations

from typing import Any

from iota_scripts_sdk.units import Meter

from ..tools.settings import DEFAULTS, get_setting
from .request import RunRequest

#: Units a run reserves from its company's pool at a time.
POOL_CHUNK = 200


class CompanyPool:
    """The daily pool of one company, as the engine's meter draws on it."""

    name = "the company's daily pool"

    def __init__(self, env: Any, company_id: int, size: int):
        self.Pool = env["iota.script.unit.pool"].sudo()
        self.company_id = company_id
        self.size = size
        self.name = f"the company's daily pool of {size} units"

    def take(self, units: int) -> int:
        return self.Pool._iota_take(self.company_id, self.size, units)

    def give_back(self, units: int) -> None:
        self.Pool._iota_give_back(self.company_id, units)


def meter(env: Any, req: RunRequest, script: Any) -> Meter:
    """The meter of one run of ``script`` (``script.company_id`` read as sudo)."""
    trigger = req.trigger["type"]
    key = f"units_budget_{trigger}"
    limit = get_setting(env, key) if key in DEFAULTS else 0
    size = script.company_id.iota_scripts_units_daily_pool
    pool = CompanyPool(env, script.company_id.id, size) if size and req.dry_run is None else None
    return Meter(
        run_limit=max(0, limit),
        run_name=f"the run budget of trigger {trigger}",
        pool=pool,
        chunk=POOL_CHUNK,
    )
