"""What the script list filters on: the responsible user, trigger types, last run, lateness.

Fields added to ``iota.script``
-------------------------------
- ``user_id`` (Responsible): who gets the alert activities (see
  ``iota_script_alert_rule.py``); defaults to the creator.
- ``has_automation``, ``has_schedule``, ``has_subscription``,
  ``has_endpoint``, ``is_manual_only``: which triggers can start the script.
  Computed (never stored: a trigger lives in another table and changes
  without touching the script) and searchable with ``=``/``!=`` and a boolean:

  * automation: a server action of type "Run JavaScript script" that is not
    the action of a scheduled action: a contextual action, or the action of
    an *active* automation rule;
  * schedule: an active ``ir.cron`` running the script, or an active
    ``iota.script.schedule``;
  * subscription / endpoint: an active ``iota.script.subscription`` /
    ``iota.script.endpoint``;
  * manual only: none of the above.
- ``last_execution_state`` becomes searchable: the state of the script's
  newest execution (highest id), as shown in the list.
- ``has_late_schedule``: an active schedule whose next run is more than
  ``schedule_grace_sec`` in the past (searchable).

Why nothing here is stored: a stored "last run state" would be written on the
script's row by every run, and two queue workers finishing runs of the same
script at once would then conflict on that row (serialization failures that
make a successful run retry). The searches below are one indexed sub-query
each; the sub-queries read trigger tables as superuser, which is safe because
they only *narrow* a search on ``iota.script`` that the record rules still
filter.
"""

from __future__ import annotations

from datetime import timedelta

from odoo import SUPERUSER_ID, _, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools.settings import get_setting

#: The trigger type fields, in display order.
TRIGGER_FIELDS = ("has_automation", "has_schedule", "has_subscription", "has_endpoint")


class IotaScript(models.Model):
    _name = "iota.script"
    _inherit = ["iota.script", "mail.activity.mixin"]

    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        index=True,
        tracking=True,
        default=lambda self: self._default_user_id(),
        domain="[('share', '=', False), ('company_ids', 'in', company_id)]",
        help="Receives the to-dos of alert rules about this script.",
    )
    has_automation = fields.Boolean(
        "Has Automation Rules", compute="_compute_trigger_types", search="_search_has_automation"
    )
    has_schedule = fields.Boolean(
        "Has Schedules", compute="_compute_trigger_types", search="_search_has_schedule"
    )
    has_subscription = fields.Boolean(
        "Has Subscriptions", compute="_compute_trigger_types", search="_search_has_subscription"
    )
    has_endpoint = fields.Boolean(
        "Has Endpoints", compute="_compute_trigger_types", search="_search_has_endpoint"
    )
    is_manual_only = fields.Boolean(
        "Manual Only", compute="_compute_trigger_types", search="_search_is_manual_only"
    )
    trigger_summary = fields.Char("Triggers", compute="_compute_trigger_types")
    last_execution_state = fields.Selection(search="_search_last_execution_state")
    has_late_schedule = fields.Boolean(
        "Late Schedule", compute="_compute_has_late_schedule", search="_search_has_late_schedule"
    )

    def _default_user_id(self):
        # Not the superuser: installing this field would otherwise fill it
        # with OdooBot on every existing script; left empty, the responsible
        # is the creator (see _responsible).
        return self.env.user if self.env.uid != SUPERUSER_ID else False

    # ---- trigger types ------------------------------------------------------------
    def _trigger_script_ids(self, kind) -> SQL:
        """A sub-query of the ids of scripts that have a trigger of ``kind``."""
        env = self.env(su=True)
        # the sub-queries read these tables directly: write pending changes first
        env["ir.actions.server"].flush_model(
            ["state", "iota_script_id", "usage", "base_automation_id"]
        )
        env["base.automation"].flush_model(["active"])
        env["ir.cron"].flush_model(["active", "ir_actions_server_id"])
        if kind == "has_automation":
            return SQL(
                """SELECT a.iota_script_id FROM ir_act_server a
                    LEFT JOIN base_automation r ON r.id = a.base_automation_id
                   WHERE a.state = 'iota_script' AND a.iota_script_id IS NOT NULL
                     AND a.usage != 'ir_cron' AND (a.base_automation_id IS NULL OR r.active)"""
            )
        if kind == "has_schedule":
            return SQL(
                """SELECT a.iota_script_id FROM ir_cron c
                     JOIN ir_act_server a ON a.id = c.ir_actions_server_id
                    WHERE c.active AND a.state = 'iota_script' AND a.iota_script_id IS NOT NULL
                   UNION %s""",
                env["iota.script.schedule"]
                ._search([("active", "=", True), ("script_id", "!=", False)])
                .select("script_id"),
            )
        model = {
            "has_subscription": "iota.script.subscription",
            "has_endpoint": "iota.script.endpoint",
        }
        return (
            env[model[kind]]
            ._search([("active", "=", True), ("script_id", "!=", False)])
            .select("script_id")
        )

    def _search_trigger(self, kind, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(_("Search trigger types with = or != and True or False."))
        has = (operator == "=") == value
        return [("id", "in" if has else "not in", SQL("(%s)", self._trigger_script_ids(kind)))]

    def _search_has_automation(self, operator, value):
        return self._search_trigger("has_automation", operator, value)

    def _search_has_schedule(self, operator, value):
        return self._search_trigger("has_schedule", operator, value)

    def _search_has_subscription(self, operator, value):
        return self._search_trigger("has_subscription", operator, value)

    def _search_has_endpoint(self, operator, value):
        return self._search_trigger("has_endpoint", operator, value)

    def _search_is_manual_only(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(_("Search trigger types with = or != and True or False."))
        any_trigger = SQL(" UNION ").join(
            SQL("(%s)", self._trigger_script_ids(name)) for name in TRIGGER_FIELDS
        )
        manual = (operator == "=") == value
        return [("id", "not in" if manual else "in", SQL("(%s)", any_trigger))]

    def _compute_trigger_types(self):
        labels = {
            "has_automation": _("Automation Rule"),
            "has_schedule": _("Schedule"),
            "has_subscription": _("Subscription"),
            "has_endpoint": _("Endpoint"),
        }
        with_trigger = {}
        if self.ids:
            for name in TRIGGER_FIELDS:
                self.env.cr.execute(
                    SQL(
                        "SELECT id FROM iota_script WHERE id IN %s AND id IN (%s)",
                        tuple(self.ids),
                        self._trigger_script_ids(name),
                    )
                )
                with_trigger[name] = {row[0] for row in self.env.cr.fetchall()}
        for script in self:
            found = []
            for name in TRIGGER_FIELDS:
                has = script.id in with_trigger.get(name, ())
                script[name] = has
                if has:
                    found.append(labels[name])
            script.is_manual_only = not found
            script.trigger_summary = ", ".join(found) if found else _("Manual")

    # ---- last run ------------------------------------------------------------------
    def _search_last_execution_state(self, operator, value):
        """Scripts whose newest execution is (not) in the given state(s).

        ``= False`` finds scripts that never ran. The newest execution is read
        without record rules: it always belongs to the script's company.
        """
        if operator in ("=", "!="):
            states = [value]
        elif operator in ("in", "not in") and isinstance(value, (list, tuple)):
            states = list(value)
        else:
            raise UserError(_("Search the last run state with =, !=, in or not in."))
        never = False in states
        self.env["iota.script.execution"].flush_model(["script_id", "state"])
        states = [s for s in states if s]
        last = SQL(
            """SELECT s.id FROM iota_script s
                 JOIN LATERAL (SELECT e.state FROM iota_script_execution e
                                WHERE e.script_id = s.id ORDER BY e.id DESC LIMIT 1) l ON TRUE
                WHERE l.state IN %s""",
            tuple(states) or ("",),
        )
        positive = operator in ("=", "in")
        domain = [("id", "in" if positive else "not in", SQL("(%s)", last))]
        if never:
            ran = SQL("SELECT script_id FROM iota_script_execution WHERE script_id IS NOT NULL")
            never_domain = [("id", "not in" if positive else "in", SQL("(%s)", ran))]
            domain = ["|" if positive else "&", *domain, *never_domain]
        return domain

    # ---- lateness ------------------------------------------------------------------
    def _late_cutoff(self):
        return fields.Datetime.now() - timedelta(
            seconds=get_setting(self.env, "schedule_grace_sec")
        )

    def _compute_has_late_schedule(self):
        late = set(
            self.env["iota.script.schedule"]
            .sudo()
            .search(
                [
                    ("script_id", "in", self.ids),
                    ("active", "=", True),
                    ("next_run", "<", self._late_cutoff()),
                ]
            )
            .script_id.ids
        )
        for script in self:
            script.has_late_schedule = script.id in late

    def _search_has_late_schedule(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(_("Search late schedules with = or != and True or False."))
        query = (
            self.env["iota.script.schedule"]
            .sudo()
            ._search(
                [
                    ("active", "=", True),
                    ("next_run", "<", self._late_cutoff()),
                    ("script_id", "!=", False),
                ]
            )
        )
        late = (operator == "=") == value
        return [("id", "in" if late else "not in", query.subselect("script_id"))]

    def _responsible(self):
        """The user who gets this script's alerts: its responsible, else its creator.

        (OdooBot, the creator of scripts made by data files or by code running
        as superuser, is inactive: such scripts get messages, no to-do.)
        """
        self.ensure_one()
        return self.user_id or self.create_uid
