"""The companies' daily pools of governance units: one counter row per company and day.

A run draws units from its company's pool in chunks (``iota_scripts_sdk.units.Meter``)
and gives back what it did not use when it ends. Each draw locks the company's row of the day
(``SELECT ... FOR UPDATE``), then adds what it grants, in a short
transaction of its own at READ COMMITTED, committed at once:

* concurrent runs (threads, ``--workers``, servers) queue on the row lock
  for the time of one UPDATE, never for the time of a run, and each sees
  what the others committed: a unit is granted once, never twice;
* the run's own transaction may roll back (a failed run, a serialization
  retry): the units it used stay counted, as the work was done.

A worker killed in the middle of a run loses its unused reservation (at
most one chunk) for the rest of the day: the pool errs on the side of the
limit. Days are UTC dates.

``company_id`` is a plain integer, not a foreign key: the draw runs on its
own cursor, and a foreign key would take a share lock on the company row
that the run's transaction may hold.

Tests never commit: there the draw runs on the test's cursor (except the
test of the committed path itself, ``test_threat_runaway_usage.py``).
"""

from __future__ import annotations

from odoo import api, fields, models
from odoo.modules import module as odoo_module
from odoo.sql_db import TestCursor


class IotaScriptUnitPool(models.Model):
    _name = "iota.script.unit.pool"
    _description = "Script Units Pool (per company and day)"
    _log_access = False
    _order = "day desc, company_id"

    company_id = fields.Integer(required=True, readonly=True, index=True)
    day = fields.Date(required=True, readonly=True)
    used = fields.Integer(readonly=True)

    _sql_constraints = [
        ("company_day_uniq", "unique (company_id, day)", "One row per company and day."),
    ]

    @api.model
    def _iota_take(self, company_id: int, size: int, want: int) -> int:
        """Reserves up to ``want`` units of ``company_id``'s pool of ``size`` today; returns
        how many it could (0: the pool is used up)."""

        def take(cr):
            cr.execute(
                "INSERT INTO iota_script_unit_pool (company_id, day, used) "
                "VALUES (%s, (now() AT TIME ZONE 'UTC')::date, 0) "
                "ON CONFLICT (company_id, day) DO NOTHING",
                [company_id],
            )
            # the row lock orders concurrent draws; held until this short transaction ends
            cr.execute(
                "SELECT id, used FROM iota_script_unit_pool "
                "WHERE company_id = %s AND day = (now() AT TIME ZONE 'UTC')::date FOR UPDATE",
                [company_id],
            )
            row_id, used = cr.fetchone()
            granted = max(0, min(want, size - used))
            if granted:
                cr.execute(
                    "UPDATE iota_script_unit_pool SET used = used + %s WHERE id = %s",
                    [granted, row_id],
                )
            return granted

        return self._iota_counter(take)

    @api.model
    def _iota_give_back(self, company_id: int, units: int) -> None:
        """Returns ``units`` reserved today and not used."""

        def give_back(cr):
            cr.execute(
                "UPDATE iota_script_unit_pool SET used = GREATEST(used - %s, 0) "
                "WHERE company_id = %s AND day = (now() AT TIME ZONE 'UTC')::date",
                [units, company_id],
            )

        self._iota_counter(give_back)

    @api.model
    def _iota_used_today(self, company_id: int) -> int:
        self.env.cr.execute(
            "SELECT used FROM iota_script_unit_pool "
            "WHERE company_id = %s AND day = (now() AT TIME ZONE 'UTC')::date",
            [company_id],
        )
        row = self.env.cr.fetchone()
        return row[0] if row else 0

    def _iota_counter(self, step):
        """``step(cr)`` in a transaction of its own, committed (the test's cursor in tests)."""
        in_test = isinstance(self.env.cr, TestCursor) or odoo_module.current_test
        # the context key: a test of the committed path, between real connections
        if in_test and not self.env.context.get("iota_scripts_pool_own_transaction"):
            return step(self.env.cr)
        with self.env.registry.cursor() as cr:
            # first statement of this transaction: see what other runs committed
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            return step(cr)
