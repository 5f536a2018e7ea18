"""Public keys that verify signed versions, by key id (sha256 of the raw key).

Approving a version registers the public key of the server's ``signing_key``
here. Rotating the key (a new ``signing_key``) adds a row; the old rows stay,
so versions signed before the rotation still verify. An administrator may
add a public key by hand (a second server's key) and archive a compromised
one: its signatures then no longer verify. Rows are never deleted.
"""

from __future__ import annotations

from iota_scripts_sdk import ScriptError, signing
from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError


class IotaScriptSigningKey(models.Model):
    _name = "iota.script.signing.key"
    _description = "Script Signing Key"
    _order = "id desc"
    _rec_name = "key_id"

    key_id = fields.Char(string="Key ID", readonly=True, index=True, copy=False)
    public_key = fields.Char(required=True, help="The Ed25519 public key: 32 bytes, base64.")
    active = fields.Boolean(default=True)
    create_date = fields.Datetime(string="Added On", readonly=True)

    _sql_constraints = [("key_id_uniq", "unique (key_id)", "This public key is known already.")]

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            try:
                vals["key_id"] = signing.key_id(vals.get("public_key") or "")
            except ScriptError as e:
                raise ValidationError(e.message) from None
        return super().create(vals_list)

    def write(self, vals):
        if set(vals) - {"active"}:
            raise UserError(_("A public key cannot change; archive it and add another."))
        return super().write(vals)

    def unlink(self):
        raise UserError(_("Public keys are archived, never deleted: signatures name them."))

    @api.model
    def _iota_register(self, key_id, public_key):
        """Stores ``public_key`` under ``key_id`` unless known (archived keys stay archived)."""
        Keys = self.sudo().with_context(active_test=False)
        if not Keys.search_count([("key_id", "=", key_id)], limit=1):
            Keys.create({"public_key": public_key})

    @api.model
    def _iota_public_keys(self) -> dict[str, str]:
        """``{key id: public key}`` of the active keys."""
        rows = self.sudo().search_read([], ["key_id", "public_key"])
        return {row["key_id"]: row["public_key"] for row in rows}
