"""Four-eyes approval and signing of script versions.

Life cycle
----------
``draft`` -> ``submitted`` -> ``approved`` -> ``published`` (or ``rejected``,
which may be submitted again). When the company's *Require Approval* is
off, saving a source publishes the new version at once, as before, and it is
recorded ``published``. When it is on, a save makes a ``draft`` that is not
run; its author (or any developer who may change the script) submits it,
another user of the group *IOTA Scripts: Approver* approves it, and then
**Publish** makes it current (:meth:`IotaScript._iota_publish_version`, the
one publish point; a gradual rollout makes it the candidate instead).

Nobody approves their own work
------------------------------
The approver can never be the version's submitter or its author. This is a
database CHECK constraint (``approver_distinct``), so no path can pass it:
not RPC (versions are written only with the engine sentinel anyway), not
``sudo()`` (sudo keeps the user: the approver is still ``env.uid``), not a
server action, not SQL run by the ORM. The Python constraint only words the
error.

Signing
-------
Approval signs the version with the site's Ed25519 key (``signing_key``,
outside the database: ``tools/settings.py``), over the canonical payload of
``iota_scripts_sdk.signing``: source sha256, capabilities (canonical JSON),
version id, company id, approver id and time. The public key is stored in
``iota.script.signing.key`` under its key id, so a rotated key's signatures
still verify. With *Require Signed Versions*, every trigger checks the
signature of the version it is about to run (``run/signature.py``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from iota_scripts_sdk import ScriptError, signing
from markupsafe import Markup
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools.sentinel import as_engine
from ..tools.settings import get_setting

_logger = logging.getLogger(__name__)

GROUP_APPROVER = "iota_scripts.iota_scripts_group_approver"

STATES = [
    ("draft", "Draft"),
    ("submitted", "Submitted"),
    ("approved", "Approved"),
    ("published", "Published"),
    ("rejected", "Rejected"),
]


def capabilities_json(version) -> str:
    """The version's capabilities as the canonical JSON text that is signed ("" when none)."""
    return version.sudo().capabilities_json or ""


class IotaScriptVersion(models.Model):
    _inherit = "iota.script.version"

    # "published" by default: every version saved before approvals existed was published
    state = fields.Selection(
        STATES, default="published", required=True, readonly=True, index=True, copy=False
    )
    submitter_id = fields.Many2one("res.users", string="Submitted By", readonly=True)
    submitted_on = fields.Datetime(readonly=True)
    approver_id = fields.Many2one("res.users", string="Approved By", readonly=True)
    approved_on = fields.Datetime(readonly=True)
    review_note = fields.Char(readonly=True, help="The approver's note, on approval or rejection.")
    signature = fields.Char(readonly=True, help="Ed25519 signature (base64) of the approval.")
    signature_key_id = fields.Char(
        string="Signing Key", readonly=True, help="sha256 of the public key that signed."
    )
    signed_at = fields.Char(readonly=True, help="The signing time, exactly as signed (UTC).")
    is_signed = fields.Boolean(compute="_compute_is_signed")

    _sql_constraints = [
        (
            "approver_distinct",
            "CHECK (approver_id IS NULL OR (approver_id IS DISTINCT FROM submitter_id "
            "AND approver_id IS DISTINCT FROM author_id))",
            "Four-eyes: nobody approves a version they submitted or wrote.",
        ),
        (
            "approved_has_approver",
            "CHECK (state NOT IN ('approved') OR approver_id IS NOT NULL)",
            "An approved version names its approver.",
        ),
    ]

    def _compute_is_signed(self):
        for version in self:
            version.is_signed = bool(version.signature)

    @api.constrains("approver_id", "submitter_id", "author_id")
    def _check_four_eyes(self):
        for version in self:
            approver = version.approver_id
            if approver and approver in (version.submitter_id | version.author_id):
                raise ValidationError(
                    _(
                        "Four-eyes: %(user)s submitted or wrote v%(number)s and cannot approve it.",
                        user=approver.name,
                        number=version.number,
                    )
                )

    # ---- actions ----------------------------------------------------------------------
    def action_submit(self):
        """Submits drafts (or rejected versions, or unsigned published ones) for approval."""
        for version in self:
            version.script_id._check_may_change()
            if version.state not in ("draft", "rejected") and not (
                version.state == "published" and not version.signature
            ):
                raise UserError(_("v%s cannot be submitted in its state.", version.number))
            as_engine(version).write(
                {
                    "state": "submitted",
                    "submitter_id": self.env.uid,
                    "submitted_on": fields.Datetime.now(),
                    "approver_id": False,
                    "approved_on": False,
                    "signature": False,
                    "signature_key_id": False,
                    "signed_at": False,
                }
            )
            version._iota_audit("version.submit")
            version._iota_note(_("v%s submitted for approval.", version.number))
        return True

    def action_approve(self, note=None):
        """Approves and signs submitted versions; never the caller's own."""
        self._check_approver()
        for version in self:
            if version.state != "submitted":
                raise UserError(_("Only a submitted version can be approved."))
            if self.env.user in (version.submitter_id | version.author_id):
                raise AccessError(
                    _(
                        "Four-eyes: you submitted or wrote v%s; another approver must approve it.",
                        version.number,
                    )
                )
            now = fields.Datetime.now()
            vals = {
                "state": "approved",
                "approver_id": self.env.uid,
                "approved_on": now,
                "review_note": note or False,
            }
            vals.update(version._iota_sign(self.env.uid))
            as_engine(version).write(vals)
            version._iota_audit("version.approve", signed=bool(vals.get("signature")))
            signed = bool(vals.get("signature"))
            version._iota_note(
                _("v%s approved and signed.", version.number)
                if signed
                else _("v%s approved (unsigned: no signing key).", version.number)
            )
        return True

    def action_reject(self, note=None):
        self._check_approver()
        for version in self:
            if version.state != "submitted":
                raise UserError(_("Only a submitted version can be rejected."))
            as_engine(version).write({"state": "rejected", "review_note": note or False})
            version._iota_audit("version.reject")
            version._iota_note(_("v%s rejected.", version.number))
        return True

    def action_publish(self):
        """Makes approved versions current (through the one publish point)."""
        for version in self:
            version.script_id._check_may_change()
            version.script_id._iota_publish_version(version)
            version._iota_audit("version.publish")
        return True

    def action_export_signed(self):
        """Button: downloads this version as ``iota-scripts verify`` reads it (controllers/version.py)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/iota_scripts/version/{self.id}/signed.json",
            "target": "download",
        }

    # ---- helpers ------------------------------------------------------------------------
    def _check_approver(self):
        if not self.env.user.has_group(GROUP_APPROVER):
            raise AccessError(_("Only users of the group IOTA Scripts: Approver approve versions."))

    def _iota_audit(self, action, **values):
        self.ensure_one()
        self.env["iota.script.audit"]._log(
            action, self.script_id, values={"version": self.number, **values}
        )

    def _iota_note(self, body):
        self.ensure_one()
        self.script_id.sudo().message_post(body=body, subtype_xmlid="mail.mt_note")

    def _iota_sign(self, approver_id):
        """The signature values of approving this version now, or {} without a key."""
        self.ensure_one()
        private = get_setting(None, "signing_key")
        if not private:
            if self.company_id.iota_scripts_require_signed:
                raise UserError(
                    _(
                        "No signing key is configured on this server (signing_key, see "
                        "`iota-scripts keygen`): versions of this company must be signed."
                    )
                )
            _logger.info("iota.script.version %s approved unsigned: no signing_key", self.id)
            return {}
        signed_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            public = signing.public_key_of(private)
            key_id, signature = signing.sign(private, self._iota_payload(approver_id, signed_at))
        except ScriptError:
            raise UserError(_("The signing_key of this server is not a valid key.")) from None
        self.env["iota.script.signing.key"]._iota_register(key_id, public)
        return {"signature": signature, "signature_key_id": key_id, "signed_at": signed_at}

    def _iota_payload(self, approver_id, signed_at) -> bytes:
        return signing.payload(
            source_sha256=signing.source_sha256(self.sudo().source or ""),
            capabilities=capabilities_json(self.sudo()),
            version_id=self.id,
            company_id=self.company_id.id,
            approver_id=approver_id,
            signed_at=signed_at,
        )

    def _iota_signed_export(self) -> dict:
        """This version as ``iota-scripts verify`` reads it (``signing.VERSION_FORMAT``)."""
        self.ensure_one()
        version = self.sudo()
        return {
            "format": signing.VERSION_FORMAT,
            "script": version.script_id.key,
            "number": version.number,
            "id": version.id,
            "company_id": version.company_id.id,
            "source": version.source or "",
            "capabilities_json": capabilities_json(version),
            "signature": version._iota_signature_record(),
        }

    def _iota_signature_record(self) -> dict | None:
        if not self.signature:
            return None
        return {
            "key_id": self.signature_key_id,
            "signature": self.signature,
            "approver_id": self.approver_id.id,
            "signed_at": self.signed_at,
        }

    def _iota_signature_error(self) -> ScriptError | None:
        """Why this version must not run under *Require Signed Versions*, or None."""
        self.ensure_one()
        export = self._iota_signed_export()
        keys = self.env["iota.script.signing.key"]._iota_public_keys()
        try:
            signing.verify_version(export, keys)
        except ScriptError as e:
            return e
        return None


class IotaScript(models.Model):
    _inherit = "iota.script"

    def _iota_last_saved(self):
        """The version a save compares its source with: the current one, or under
        approval the newest (a draft saved twice is one draft)."""
        self.ensure_one()
        if self.company_id.iota_scripts_require_approval:
            # searched: the one2many's cache lists a version made in this transaction last
            newest = (
                self.env["iota.script.version"]
                .sudo()
                .search([("script_id", "=", self.id)], order="number desc", limit=1)
            )
            return newest or self.version_id
        return self.version_id

    def _iota_check_publishable(self, version):
        self.ensure_one()
        if version.script_id != self:
            raise UserError(_("A script publishes its own versions only."))
        if self.company_id.iota_scripts_require_approval and version.state not in (
            "approved",
            "published",
        ):
            raise UserError(
                _(
                    "v%(number)s is %(state)s: this company requires another user's approval "
                    "before a version is published.",
                    number=version.number,
                    state=dict(version._fields["state"].selection).get(version.state),
                )
            )

    def _iota_mark_published(self, version):
        if version.state != "published":
            as_engine(version).write({"state": "published"})

    def _iota_signature_refused(self, version, error):
        """Tells the responsible user that a trigger refused ``version`` (one open to-do)."""
        self.ensure_one()
        script = self.sudo()
        message = _(
            "v%(number)s was refused at run: %(reason)s",
            number=version.number,
            reason=error.message,
        )
        summary = _("Signature refused: %s", script.name)
        responsible = script._responsible()
        if not responsible or not responsible.active or responsible.share:
            _logger.warning("iota.script %s: %s", script.id, message)
            return
        open_todo = (
            self.env["mail.activity"]
            .sudo()
            .search_count(
                [
                    ("res_model", "=", "iota.script"),
                    ("res_id", "=", script.id),
                    ("user_id", "=", responsible.id),
                    ("summary", "=", summary),
                ],
                limit=1,
            )
        )
        if open_todo:
            return  # a trigger firing on every record must not bury the user
        script.message_post(body=message, subtype_xmlid="mail.mt_note")
        script.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note=Markup("<p>%s</p>") % message,
            user_id=responsible.id,
        )
