"""A model whose creates, edits and deletes go to the audit trail (``iota.script.audit``).

Inherit ``iota.script.audited`` (after the model's other parents) and, when
the defaults do not fit, set:

* ``_iota_audit_values``: fields whose new *values* are kept (states, flags,
  paths); every other changed field is logged by name only. A ``source``
  field is logged as its sha256, never as text.
* ``_iota_audit_ignore``: bookkeeping fields the server writes on its own
  (a schedule's ``next_run``): a write of only these logs nothing.

The action of a write is ``activate``/``disable``/``draft`` when ``state``
changes, ``archive``/``unarchive`` when ``active`` does, else ``edit``
(override ``_iota_audit_action``). Writes made on the engine path
(``tools.sentinel.as_engine``: a new version's pointer, a run's bookkeeping)
are the consequences of a logged action, not actions, and are not logged.
"""

from __future__ import annotations

import hashlib

from odoo import api, models

from ..tools.sentinel import is_engine

_STATE_ACTIONS = {"active": "activate", "disabled": "disable", "draft": "draft"}
#: mail.thread and activity bookkeeping: never an action of their own
_ALWAYS_IGNORED = ("message_", "activity_", "website_message", "__last_update")


class IotaScriptAudited(models.AbstractModel):
    _name = "iota.script.audited"
    _description = "Logged in the IOTA Scripts audit trail"

    _iota_audit_values = frozenset({"state", "active"})
    _iota_audit_ignore = frozenset()

    def _iota_audit_fields(self, vals):
        return [
            name
            for name in vals
            if name not in self._iota_audit_ignore and not name.startswith(_ALWAYS_IGNORED)
        ]

    def _iota_audit_values_of(self, vals, names):
        values = {k: vals[k] for k in names if k in self._iota_audit_values}
        if isinstance(vals.get("source"), str):
            values["source_sha256"] = hashlib.sha256(
                vals["source"].encode("utf-8", "surrogatepass")
            ).hexdigest()
        return values

    def _iota_audit_action(self, vals):
        if "state" in vals and vals["state"] in _STATE_ACTIONS:
            return _STATE_ACTIONS[vals["state"]]
        if "active" in vals:
            return "unarchive" if vals["active"] else "archive"
        return "edit"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if not is_engine(self.env):
            Audit = self.env["iota.script.audit"]
            for record, vals in zip(records, vals_list, strict=True):
                names = self._iota_audit_fields(vals)
                Audit._log(
                    "create", record, fields=names, values=self._iota_audit_values_of(vals, names)
                )
        return records

    def write(self, vals):
        res = super().write(vals)
        names = self._iota_audit_fields(vals)
        if self and names and not is_engine(self.env):
            self.env["iota.script.audit"]._log(
                self._iota_audit_action(vals),
                self,
                fields=names,
                values=self._iota_audit_values_of(vals, names),
            )
        return res

    def unlink(self):
        if self and not is_engine(self.env):
            # before: the names are still readable
            self.env["iota.script.audit"]._log("delete", self)
        return super().unlink()
