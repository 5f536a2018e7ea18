"""Subscriptions: which script handles which events.

A subscription ties an event type pattern (``partner.created``,
``partner.*``, ``*``: ``*`` matches any run of characters) and an optional
JSON filter on the payload (``{"country": "BE", "customer.vip": true}``:
every key, a dot path into the payload, must equal its value) to a handler
script of the same company. Each matching event becomes one
``iota.script.delivery`` (see ``models/iota_script_delivery.py``).
"""

from __future__ import annotations

import json
import re

from odoo import _, api, fields, models, tools
from odoo.exceptions import ValidationError

_PATTERN = re.compile(r"^[a-z*][a-z0-9_.:*-]{0,63}$")
_MISSING = object()


def type_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def _lookup(payload, path):
    value = payload
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


class IotaScriptSubscription(models.Model):
    _name = "iota.script.subscription"
    _description = "Script Event Subscription"
    _order = "event_type, id"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    event_type = fields.Char(
        required=True, help="The event type, or a pattern with *: partner.*, *.created, *."
    )
    payload_filter = fields.Text(
        string="Payload Filter (JSON)",
        help='Optional. A JSON object of dot paths and values, e.g. {"country": "BE"}: '
        "the event is delivered only when each path of its payload has that value.",
    )
    script_id = fields.Many2one(
        "iota.script",
        string="Handler",
        required=True,
        index=True,
        ondelete="cascade",
        check_company=True,
    )
    company_id = fields.Many2one(related="script_id.company_id", store=True, index=True)
    max_attempts = fields.Integer(
        default=5,
        help="Runs of the handler for one event, the first included, before Dead letters.",
    )
    active = fields.Boolean(default=True)
    delivery_count = fields.Integer(compute="_compute_delivery_count")
    dead_count = fields.Integer(compute="_compute_delivery_count")

    @api.depends("event_type", "script_id.name")
    def _compute_name(self):
        for sub in self:
            sub.name = f"{sub.event_type or ''} → {sub.script_id.name or ''}"

    def _compute_delivery_count(self):
        Delivery = self.env["iota.script.delivery"]
        counts = {}
        for sub, state, count in Delivery._read_group(
            [("subscription_id", "in", self.ids)], ["subscription_id", "state"], ["__count"]
        ):
            counts.setdefault(sub.id, {})[state] = count
        for sub in self:
            sub.delivery_count = sum(counts.get(sub.id, {}).values())
            sub.dead_count = counts.get(sub.id, {}).get("dead", 0)

    @api.constrains("event_type", "payload_filter", "max_attempts")
    def _check_subscription(self):
        for sub in self:
            if not _PATTERN.match(sub.event_type or ""):
                raise ValidationError(
                    _(
                        "%s is not an event type pattern: a-z, 0-9, '_', '.', ':', '-' and *.",
                        sub.event_type,
                    )
                )
            if not 1 <= sub.max_attempts <= 20:
                raise ValidationError(_("The attempts must be from 1 to 20."))
            if sub.payload_filter:
                try:
                    value = json.loads(sub.payload_filter)
                except ValueError:
                    value = None
                if not isinstance(value, dict):
                    raise ValidationError(_("The payload filter must be a JSON object."))

    @api.model_create_multi
    def create(self, vals_list):
        subs = super().create(vals_list)
        self.env.registry.clear_cache()  # _iota_patterns
        return subs

    def write(self, vals):
        res = super().write(vals)
        self.env.registry.clear_cache()
        return res

    def unlink(self):
        res = super().unlink()
        self.env.registry.clear_cache()
        return res

    @api.model
    @tools.ormcache("company_id")
    def _iota_patterns(self, company_id):
        """The compiled event type patterns of the active subscriptions of a company.

        Ormcached (read by every recorded event, e.g. each endpoint call's
        ``script.executed``) and cleared by every change to a subscription.
        Only the "wake the dispatcher now" decision reads it: a stale answer
        in another thread costs at most the dispatcher's one-minute round.
        """
        self.flush_model(["event_type", "active", "company_id"])
        self.env.cr.execute(
            "SELECT DISTINCT event_type FROM iota_script_subscription "
            "WHERE active AND company_id = %s",
            [company_id],
        )
        return tuple(type_regex(row[0]) for row in self.env.cr.fetchall())

    def _matches(self, event_type, payload):
        """True when this subscription wants an event of ``event_type`` with ``payload``."""
        self.ensure_one()
        if not type_regex(self.event_type).match(event_type):
            return False
        if not self.payload_filter:
            return True
        wanted = json.loads(self.payload_filter)
        return all(_lookup(payload, path) == value for path, value in wanted.items())

    def action_view_deliveries(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "iota_scripts.iota_script_delivery_action"
        )
        action["domain"] = [("subscription_id", "=", self.id)]
        return action
