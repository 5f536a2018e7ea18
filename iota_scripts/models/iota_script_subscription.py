"""Subscriptions: which script handles which events.

A subscription ties an event type pattern (``partner.created``,
``partner.*``, ``*``: ``*`` matches any run of characters), an optional
JSON filter on the payload (``{"country": "BE", "customer.vip": true}``:
every key, a dot path into the payload, must equal its value) and an
optional Odoo domain on the event's record to a handler script of the same
company, optionally for one origin only (``script``, ``record`` or
``system``: see ``tools/event_types.py``). Each matching event becomes one ``iota.script.delivery`` (see
``models/iota_script_delivery.py``).

The record filter (``record_model`` + ``record_domain``)
---------------------------------------------------------
* **What it applies to**: the record an event refers to. A record event
  names it in its payload: ``{"model": "res.partner", "id": 7, ...}`` (what
  the server-action type "Emit script event" writes), or ``"ids": [...]``
  for several. An event whose payload names no record of ``record_model``
  does not match.
* **When**: at dispatch, after the event's transaction committed: the domain
  sees the record as it is then, not as it was when the event was written.
  A record deleted in between does not match. With ``ids``, the event
  matches when at least one of its records does.
* **As whom**: the handler script's run-as user, in the subscription's
  company only (``allowed_company_ids`` pinned), never as superuser: a
  record that user cannot read (record rules, another company's records)
  does not match, and neither does any record of a model the user may not
  read.
* **Validated at save**: the domain is a Python literal list (no code, no
  ``uid`` or ``context_today()``: nothing is evaluated) whose fields and
  operators exist on ``record_model`` and whose values PostgreSQL accepts
  (the query runs once, as superuser, ``LIMIT 1``); else a ``ValidationError``.
  A row that fails in SQL anyway (saved before this check) matches nothing.
"""

from __future__ import annotations

import ast
import json
import logging
import re

import psycopg2
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools.event_types import ORIGINS
from ..tools.ormcache import ormcache

_logger = logging.getLogger(__name__)
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
    _inherit = ["iota.script.guarded.trigger", "iota.script.audited"]
    _iota_audit_values = frozenset({"active", "event_type"})
    _iota_clears_cache = True  # the patterns (_iota_patterns)
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
    origin = fields.Selection(
        ORIGINS,
        string="Emitted By",
        help="Optional. Only events of this origin: emitted by a script "
        "(sdk.events.emit), by a record change (an 'Emit script event' action) or by "
        "IOTA Scripts itself (script.executed, ...). Empty: any origin.",
    )
    record_model = fields.Char(
        string="Record Model",
        help="With a record filter: the model of the records the events refer to "
        "(their payload's model and id), e.g. res.partner.",
    )
    record_domain = fields.Char(
        string="Record Filter",
        help="Optional. An Odoo domain the event's record must match when the event is "
        "dispatched, checked as the handler's run-as user in this company, "
        "e.g. [('is_company', '=', True)].",
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

    @api.constrains("record_model", "record_domain")
    def _check_record_filter(self):
        for sub in self:
            if sub.record_domain and sub.record_domain.strip():
                sub._record_filter(run_query=True)

    def _record_filter(self, run_query=False):
        """``(model name, domain list)`` of the record filter, or ``None`` (ValidationError if bad).

        ``run_query`` (at save) also runs the query once, as superuser.
        """
        self.ensure_one()
        text = (self.record_domain or "").strip()
        if not text:
            return None
        model = (self.record_model or "").strip()
        if not model:
            raise ValidationError(
                _("A record filter needs the model of its records, e.g. res.partner.")
            )
        if model not in self.env or self.env[model]._abstract:
            raise ValidationError(_("%s is not a model.", model))
        try:
            domain = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValidationError(
                _(
                    "The record filter must be a domain of plain values, e.g. "
                    "[('is_company', '=', True)]: %s is not one (no code, no uid, no dates "
                    "computed at run time).",
                    text[:200],
                )
            ) from None
        if not isinstance(domain, list):
            raise ValidationError(
                _("The record filter must be a list, e.g. [('is_company', '=', True)].")
            )
        try:
            # builds the query: unknown fields and operators fail here
            query = self.env[model].sudo()._search(domain)
            if run_query:
                # ... and runs it (LIMIT 1): values PostgreSQL refuses fail here
                # (``[('create_date', '>', 'x')]``), not at every dispatch
                query.limit = 1
                with self.env.cr.savepoint():
                    self.env.cr.execute(query.select(), log_exceptions=False)
        except (psycopg2.DataError, psycopg2.ProgrammingError) as e:
            raise ValidationError(
                _(
                    "The record filter is not a valid domain on %(model)s: %(error)s",
                    model=model,
                    error=str(e.pgerror or e).strip().splitlines()[0][:200],
                )
            ) from None
        except (ValueError, TypeError, KeyError, AssertionError, UserError) as e:
            raise ValidationError(
                _(
                    "The record filter is not a valid domain on %(model)s: %(error)s",
                    model=model,
                    error=e,
                )
            ) from None
        return model, domain

    # A subscription decides when its handler runs, and its record filter is
    # evaluated as the handler's run-as user: on a privileged script, only
    # that user or an administrator may add, change or remove one.
    @api.model
    @ormcache("company_id")
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

    def _matches(self, event_type, payload, origin=None):
        """True when this subscription wants an event of ``event_type`` with ``payload``.

        ``origin`` is the event's (``tools/event_types.py``); a subscription
        with an origin wants only events of that origin. The record filter,
        when set, costs a query (see the module docstring).
        """
        self.ensure_one()
        if self.origin and origin != self.origin:
            return False
        if not type_regex(self.event_type).match(event_type):
            return False
        if self.payload_filter:
            wanted = json.loads(self.payload_filter)
            if not all(_lookup(payload, path) == value for path, value in wanted.items()):
                return False
        return self._matches_record(payload)

    def _matches_record(self, payload):
        self.ensure_one()
        try:
            record_filter = self._record_filter()
        except ValidationError:
            return False  # saved before a module changed the model: match nothing
        if record_filter is None:
            return True
        model, domain = record_filter
        if not isinstance(payload, dict) or payload.get("model") != model:
            return False
        ids = payload["ids"] if isinstance(payload.get("ids"), list) else [payload.get("id")]
        ids = [i for i in ids if type(i) is int and 0 < i < 2**31]
        if not ids:
            return False
        script = self.sudo().script_id
        user = script.run_as_user_id or script.company_id._iota_scripts_runner_user()
        run_env = self.env["iota.script.execution"]._run_env(script, user)
        try:
            # a savepoint: a refused search must leave the dispatcher's transaction usable
            with self.env.cr.savepoint():
                return bool(run_env[model].search_count([("id", "in", ids), *domain], limit=1))
        except (AccessError, UserError, ValueError, TypeError):
            return False
        except (psycopg2.DataError, psycopg2.ProgrammingError):
            # A value PostgreSQL refuses (``[('create_date', '>', 'x')]``), in a
            # row saved before _record_filter ran its query. Raising here would fail the
            # dispatcher's whole batch, round after round, and stop the bus.
            _logger.warning(
                "iota.script.subscription %s: its record filter fails in SQL; it matches nothing",
                self.id,
            )
            return False

    def action_view_deliveries(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "iota_scripts.iota_script_delivery_action"
        )
        action["domain"] = [("subscription_id", "=", self.id)]
        return action
