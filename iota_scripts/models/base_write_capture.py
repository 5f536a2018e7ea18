"""Every model reports its writes to the active write capture (``tools/write_capture.py``).

``write``, ``create`` and ``unlink`` of the ``base`` model sit under every
model's own overrides, so whatever writes during a dry-run or a shadowed
Python action is seen, including what Odoo writes as a consequence
(automation rules, business methods). Outside a capture the cost is one
dictionary lookup on the cursor per call.
"""

from odoo import api, models

from ..tools import write_capture


class Base(models.AbstractModel):
    _inherit = "base"

    def write(self, vals):
        write_capture.report(write_capture.current(self.env.cr), "on_write", self)
        return super().write(vals)

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        write_capture.report(write_capture.current(self.env.cr), "on_create", records)
        return records

    def unlink(self):
        write_capture.report(write_capture.current(self.env.cr), "on_unlink", self)
        return super().unlink()
