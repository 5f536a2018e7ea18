"""Models that only the engine path writes: one guard for all of them.

Executions, outbox events and deliveries are written by the engine (a run,
the dispatcher, the queue worker) through ``tools.sentinel.as_engine``; a
``create`` or ``write`` from anywhere else, RPC included, is refused with
the model's ``_iota_engine_only_message``. ``_check_engine_context`` serves
the engine's own bulk writers (``_enqueue_many``, ``_record_many``).
"""

from __future__ import annotations

from odoo import _, api, models
from odoo.exceptions import UserError

from ..tools.sentinel import is_engine


class IotaScriptEngineWritten(models.AbstractModel):
    _name = "iota.script.engine.written"
    _description = "Written by the IOTA Scripts engine only"

    #: What a refused write says (translated when raised).
    _iota_engine_only_message = "These records are written by the script engine only."

    def _check_engine_context(self):
        if not is_engine(self.env):
            raise UserError(_(self._iota_engine_only_message))

    @api.model_create_multi
    def create(self, vals_list):
        self._check_engine_context()
        return super().create(vals_list)

    def write(self, vals):
        self._check_engine_context()
        return super().write(vals)
