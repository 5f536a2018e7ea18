"""Secrets of a company, for ``sdk.secrets.get(name)``: encrypted at rest, write-only.

The value is encrypted with the server's key (``tools/secret_box.py``: the
``secret_keys`` site setting, outside the database) and stored as a Fernet
token with the id of the key that made it. ``value`` is write-only: setting it
encrypts, reading it always answers nothing (form, RPC ``read``, export); the
token itself is readable by no group of IOTA Scripts (``groups``: Settings
only, and it is useless without the key).

A script reads a secret only when its version's capabilities name it
(``secrets: [...]``, checked by the engine on the call and again by the host,
``sdk_host/secrets.py``), only in the script's company. Every read is kept
(``iota.script.secret.read``: which secret, script, execution, user, when),
and the value is masked as ``[secret:name]`` in everything the run leaves
(the engine's ``masking.py``).

Rotation (:meth:`action_rotate_keys`, or ``env["iota.script.secret"]._iota_rotate_keys()``
from ``odoo shell``): with the new key first in ``IOTA_SCRIPTS_SECRET_KEYS`` and
the old ones after it, every secret is re-encrypted with the new key.
"""

from __future__ import annotations

import logging
import re

from iota_scripts_sdk import ScriptError
from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools import secret_box

_logger = logging.getLogger(__name__)

#: The names a capabilities declaration accepts (iota_scripts_sdk.capabilities).
SECRET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class IotaScriptSecret(models.Model):
    _name = "iota.script.secret"
    _description = "Script Secret"
    _inherit = ["iota.script.audited"]
    _order = "name"
    _check_company_auto = True

    name = fields.Char(
        required=True, help='What scripts ask for: sdk.secrets.get("name"), and declare.'
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    description = fields.Text()
    value = fields.Char(
        compute="_compute_value",
        inverse="_inverse_value",
        help="Write-only: the value is encrypted at save and can never be read back.",
    )
    ciphertext = fields.Text(groups="base.group_system", copy=False, prefetch=False)
    key_id = fields.Char(string="Key Id", readonly=True, copy=False)
    has_value = fields.Boolean(compute="_compute_has_value")
    read_ids = fields.One2many("iota.script.secret.read", "secret_id", string="Reads")
    read_count = fields.Integer(compute="_compute_read_count")

    _sql_constraints = [
        (
            "name_company_uniq",
            "unique (company_id, name)",
            "A secret's name is unique per company.",
        ),
    ]

    def _compute_value(self):
        self.value = False  # never readable

    def _inverse_value(self):
        for secret in self:
            if not secret.value:
                continue
            try:
                token, key_id = secret_box.encrypt(secret.value)
            except secret_box.SecretUnreadable as e:
                raise UserError(str(e)) from None
            secret.sudo().write({"ciphertext": token, "key_id": key_id})
            # not even this transaction reads the value back from the cache
            self.env.cache.update(secret, self._fields["value"], [False])

    def _compute_has_value(self):
        for secret in self:
            secret.has_value = bool(secret.sudo().ciphertext)

    def _compute_read_count(self):
        counts = dict(
            self.env["iota.script.secret.read"]._read_group(
                [("secret_id", "in", self.ids)], ["secret_id"], ["__count"]
            )
        )
        for secret in self:
            secret.read_count = counts.get(secret, 0)

    @api.constrains("name")
    def _check_name(self):
        for secret in self:
            if not SECRET_NAME.match(secret.name or ""):
                raise ValidationError(
                    _("A secret's name is 1 to 64 letters, digits, '_', '.' and '-'.")
                )

    def copy(self, default=None):
        raise UserError(_("Secrets cannot be duplicated; create one and set its value."))

    # ---- reads by scripts ---------------------------------------------------------------
    @api.model
    def _iota_value(self, name, company):
        """``(secret, value)`` of ``name`` in ``company``; ScriptError ``not_found`` or
        ``secret_unreadable``. Superuser read: the run-as user has no rights on secrets."""
        secret = self.sudo().search([("company_id", "=", company.id), ("name", "=", name)], limit=1)
        if not secret or not secret.ciphertext:
            raise ScriptError("not_found", f"no secret {name!r} in this company")
        try:
            return secret, secret_box.decrypt(secret.ciphertext, secret.key_id or "")
        except secret_box.SecretUnreadable as e:
            raise ScriptError(
                "secret_unreadable", f"the secret {name!r} is unreadable: {e}"
            ) from None

    # ---- rotation -----------------------------------------------------------------------
    @api.model
    def _iota_rotate_keys(self):
        """Re-encrypts every secret of the database with the current key; returns
        ``(rotated, unreadable names)``. A secret no configured key opens stays as it is."""
        rotated, unreadable = 0, []
        for secret in self.sudo().with_context(active_test=False).search([]):
            if not secret.ciphertext:
                continue
            try:
                token, key_id = secret_box.rotate(secret.ciphertext, secret.key_id or "")
            except secret_box.SecretUnreadable:
                unreadable.append(secret.name)
                continue
            models.Model.write(secret, {"ciphertext": token, "key_id": key_id})
            rotated += 1
        _logger.info(
            "iota_scripts: re-encrypted %s secret(s) with key %s; %s unreadable",
            rotated,
            secret_box.current_key_id(),
            len(unreadable),
        )
        return rotated, unreadable

    def action_rotate_keys(self):
        """Button (administrators): every secret re-encrypted with the current key."""
        if not self.env.user.has_group("iota_scripts.iota_scripts_group_admin"):
            raise UserError(_("Only IOTA Scripts administrators rotate the keys."))
        try:
            rotated, unreadable = self._iota_rotate_keys()
        except secret_box.SecretUnreadable as e:
            raise UserError(str(e)) from None
        message = _("%(count)s secret(s) re-encrypted with the current key.", count=rotated)
        if unreadable:
            message += " " + _(
                "No configured key opens: %(names)s.", names=", ".join(sorted(unreadable))
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": "warning" if unreadable else "success"},
        }
