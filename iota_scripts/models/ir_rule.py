"""Record-rule errors met by sdk.db name no record and no company.

Odoo's message for a record-rule refusal helps a person at the screen: in
debug mode it lists the refused records by name, and for a user of several
companies it names the company that owns them ("you might be able to access
the record by switching to the company: ..."). A script is not that person:
the message would hand it the names it was refused. Inside a run (the run
environment carries ``RUN_CONTEXT_KEY``) the message says which model and
operation were refused, and nothing about the records.
"""

import logging

from odoo import _, api, models
from odoo.exceptions import AccessError
from odoo.osv import expression

from ..sdk_host.db import RUN_CONTEXT_KEY
from ..sdk_host.policy import SCOPED_MODELS

_logger = logging.getLogger(__name__)


class IrRule(models.Model):
    _inherit = "ir.rule"

    def _compute_domain_keys(self):
        # the scope below depends on it: it must be part of the cache key
        return [*super()._compute_domain_keys(), RUN_CONTEXT_KEY]

    @api.model
    def _compute_domain(self, model_name, mode="read"):
        domain = super()._compute_domain(model_name, mode)
        scope = SCOPED_MODELS.get(model_name)
        if scope is None or not self.env.context.get(RUN_CONTEXT_KEY) or self.env.su:
            return domain
        return expression.AND([domain or [], scope(self.env.company.sudo())])

    def _make_access_error(self, operation, records):
        if not self.env.context.get(RUN_CONTEXT_KEY):
            return super()._make_access_error(operation, records)
        _logger.info(
            "Access Denied by record rules for operation: %s on record ids: %r, uid: %s, model: %s",
            operation,
            records.ids[:6],
            self._uid,
            records._name,
        )
        return AccessError(
            _(
                "The run-as user may not %(operation)s some %(model)s records (record rules).",
                operation=operation,
                model=records._name,
            )
        )
