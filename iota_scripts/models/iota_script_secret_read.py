"""The log of secret reads: every ``sdk.secrets.get`` that answered a value.

One row per read: the secret, the script, the execution (when the run's
recording policy kept it), the run-as user and when. Written by the run path
after the run (``sdk_host/secrets.py``, ``flush``), outside the run's
savepoint, so that a run that fails still leaves its reads; only the engine
writes it (``iota.script.engine.written``).
"""

from odoo import fields, models


class IotaScriptSecretRead(models.Model):
    _name = "iota.script.secret.read"
    _description = "Secret Read"
    _inherit = ["iota.script.engine.written"]
    _order = "id desc"

    secret_id = fields.Many2one("iota.script.secret", required=True, ondelete="cascade", index=True)
    name = fields.Char(readonly=True, help="The secret's name when it was read.")
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    script_id = fields.Many2one("iota.script", ondelete="set null", readonly=True, index=True)
    execution_id = fields.Many2one("iota.script.execution", ondelete="set null", readonly=True)
    user_id = fields.Many2one("res.users", string="Run As", ondelete="set null", readonly=True)
    triggered_by_id = fields.Many2one("res.users", ondelete="set null", readonly=True)
    date = fields.Datetime(default=fields.Datetime.now, readonly=True)
