"""The first-run guided tour of IOTA Scripts (``static/src/onboarding/onboarding_tour.js``).

Odoo offers its onboarding tours only to users whose ``tour_enabled`` is set
(new administrators of databases without demo data). Ours is meant for every
new IOTA Scripts developer: ``session_info`` carries
``iota_scripts_onboarding`` (true until the user finishes the tour, which
Odoo records by ``web_tour.tour.consume``), and the web client starts it the
first time such a user opens a screen of the app. "Guided Tour" in the app's
menu starts it again.
"""

from __future__ import annotations

from odoo import api, models

ONBOARDING_TOUR = "iota_scripts_onboarding"
DEVELOPER_GROUP = "iota_scripts.iota_scripts_group_developer"


class WebTourTour(models.Model):
    _inherit = "web_tour.tour"

    @api.model
    def _iota_onboarding_pending(self):
        """True when the current user is an IOTA Scripts developer who has not finished the tour."""
        user = self.env.user
        if not user._is_internal() or not user.has_group(DEVELOPER_GROUP):
            return False
        return bool(
            self.sudo().search_count(
                [("name", "=", ONBOARDING_TOUR), ("user_consumed_ids", "not in", user.id)],
                limit=1,
            )
        )


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    def session_info(self):
        result = super().session_info()
        result["iota_scripts_onboarding"] = self.env["web_tour.tour"]._iota_onboarding_pending()
        return result
