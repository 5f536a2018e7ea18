"""A trigger of a script (endpoint, subscription, schedule): changed only by who may change the script.

Creating, changing or deleting a trigger changes when its script runs. On a
privileged script (one that runs as another user than its company's runner,
see ``models/iota_script.py``) only that user or an IOTA Scripts
administrator may do it: ``iota.script._check_may_change`` decides, before a
write or an unlink, after a create, and again for the script a write points
the trigger to. Models whose lookups are ormcached (the endpoint route table,
the subscription patterns) set ``_iota_clears_cache``.
"""

from __future__ import annotations

from odoo import api, models


class IotaScriptGuardedTrigger(models.AbstractModel):
    _name = "iota.script.guarded.trigger"
    _description = "A trigger guarded by its script's change rights"

    #: Clear the registry's ormcaches after every create, write and unlink.
    _iota_clears_cache = False

    def _iota_changed(self):
        if self._iota_clears_cache:
            self.env.registry.clear_cache()

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        records.script_id._check_may_change()
        records._iota_changed()
        return records

    def write(self, vals):
        self.script_id._check_may_change()
        res = super().write(vals)
        if "script_id" in vals:
            self.script_id._check_may_change()
        self._iota_changed()
        return res

    def unlink(self):
        self.script_id._check_may_change()
        res = super().unlink()
        self._iota_changed()
        return res
