"""Each company gets a dedicated, least-privilege user that its scripts run as.

Its governance settings live here too (docs/operations/governance.md):
four-eyes approval of versions, signed versions, and the daily units pool.
"""

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..tools.ormcache import ormcache

RUNNER_LOGIN = "iota_scripts_runner_%s"


class ResCompany(models.Model):
    _inherit = "res.company"

    iota_api_public_listing = fields.Boolean(
        string="List Public Endpoints Anonymously",
        help="Anonymous callers of /iota/api/openapi.json?company=<id> see this company's "
        "public endpoints. Off: anonymous callers see nothing of this company.",
    )
    iota_capabilities_required = fields.Boolean(
        string="Capabilities Required",
        help="Scripts of this company whose version declares no capabilities refuse to "
        "run (capabilities_required). Declared capabilities are enforced either way.",
    )

    iota_scripts_require_approval = fields.Boolean(
        string="Require Approval of Script Versions",
        help="Four-eyes: a saved version stays a draft; it is submitted, approved by another "
        "user of the IOTA Scripts Approver group, then published. Off: saving publishes.",
    )
    iota_scripts_require_signed = fields.Boolean(
        string="Require Signed Versions",
        help="Every trigger refuses a version that is unsigned, or whose source or "
        "capabilities changed after approval (signature_invalid). Needs approval on.",
    )
    iota_scripts_units_daily_pool = fields.Integer(
        string="Daily Units Pool",
        help="Governance units all this company's runs may use per day (UTC). 0: no pool.",
    )

    @api.constrains("iota_scripts_require_approval", "iota_scripts_require_signed")
    def _check_iota_scripts_signed(self):
        for company in self:
            if company.iota_scripts_require_signed and not company.iota_scripts_require_approval:
                raise ValidationError(
                    _("Signed versions need approval: versions are signed when they are approved.")
                )

    @api.constrains("iota_scripts_units_daily_pool")
    def _check_iota_scripts_units_pool(self):
        if any(company.iota_scripts_units_daily_pool < 0 for company in self):
            raise ValidationError(_("The daily units pool is 0 (none) or more."))

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies._iota_scripts_runner_user()
        self.env["iota.script.policy.rule"]._iota_install_recommended(companies)
        return companies

    def _iota_scripts_runner_user(self):
        """The run-as user of each company in ``self``, created on first use.

        The user is internal with no group but "Internal User", knows only
        its company, and is archived: it cannot log in and takes no seat (like
        OdooBot, archived users still work as an environment's user). Its
        login is ``iota_scripts_runner_<company id>``.
        """
        Users = self.env["res.users"].sudo().with_context(active_test=False)
        users = Users.browse()
        for company in self:
            login = RUNNER_LOGIN % company.id
            user = Users.browse(self._iota_scripts_runner_uid(company.id))
            if not user:
                group_user = self.env.ref("base.group_user")
                user = Users.with_context(
                    no_reset_password=True,
                    mail_create_nosubscribe=True,
                    mail_create_nolog=True,
                    tracking_disable=True,
                    # the user's partner must not fire the scripts this user runs
                    iota_scripts_no_trigger=True,
                ).create(
                    {
                        "name": f"IOTA Scripts ({company.name})",
                        "login": login,
                        "company_id": company.id,
                        "company_ids": [(6, 0, company.ids)],
                        "groups_id": [(6, 0, group_user.ids)],
                    }
                )
                # Created active then archived: creating an archived user
                # trips the "contact linked to an active user" check.
                user.active = False
                user.partner_id.with_context(active_test=True).active = False
                # The lookup below cached "none" (or may cache this uncommitted id).
                self.env.registry.clear_cache()
                self.env.cr.postrollback.add(self.env.registry.clear_cache)
            users |= user
        return users

    @api.model
    @ormcache("company_id")
    def _iota_scripts_runner_uid(self, company_id):
        """The id of the runner user of ``company_id``, or 0 (ormcached: endpoint
        calls ask on every request; deleting a user clears the caches)."""
        Users = self.env["res.users"].sudo().with_context(active_test=False)
        return Users.search([("login", "=", RUNNER_LOGIN % company_id)], limit=1).id or 0
