"""The event outbox: domain events written in the transaction that caused them.

Scripts write events with ``sdk.events.emit(type, payload)``; the addon writes
its own domain events (``script.created``, ``script.updated`` for a new
version, ``script.executed``, ``script.failed``). An event is a row in the same
transaction as the change it describes, so it exists if and only if the
change was committed; a dispatcher delivers ``pending`` events after commit
(at least once, by ``uuid``). Events of a failed run are rolled back with the
run's writes.

Only the engine path writes events (sentinel, as for executions).
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

from odoo import api, fields, models

from ..tools import cron_wake
from ..tools.event_types import ORIGINS
from ..tools.observability import tracing
from ..tools.sentinel import as_engine
from ..tools.storable_text import storable_text

_DEFERRED = "iota_scripts.deferred_events"


@contextmanager
def deferred_events(env):
    """Collects the deferrable events recorded inside; writes them on a clean exit.

    Yields the list of collected values (clear it to write nothing).
    On an exception nothing is written (the caller rolls the transaction
    back). The buffer lives in ``cr.postcommit.data``: it belongs to the
    transaction.
    """
    data = env.cr.postcommit.data
    buffer = data[_DEFERRED] = []
    try:
        yield buffer
    except BaseException:
        data.pop(_DEFERRED, None)
        raise
    data.pop(_DEFERRED, None)
    if buffer:
        as_engine(env["iota.script.event"].sudo())._insert(buffer)


class IotaScriptEvent(models.Model):
    _name = "iota.script.event"
    _inherit = ["iota.script.engine.written"]
    _description = "Script Event (Outbox)"
    _iota_engine_only_message = "Events are written by scripts and the script engine only."
    _order = "id desc"
    _rec_name = "type"

    uuid = fields.Char(
        string="UUID",
        required=True,
        readonly=True,
        index=True,
        copy=False,
        default=lambda self: str(uuid.uuid4()),
    )
    type = fields.Char(required=True, readonly=True, index=True)
    origin = fields.Selection(
        ORIGINS,
        required=True,
        readonly=True,
        help="Who emitted the event: a script (sdk.events.emit), a record change "
        "(an 'Emit script event' action) or IOTA Scripts itself (script.executed, ...).",
    )
    payload_json = fields.Text(string="Payload", readonly=True)
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("done", "Delivered"),
            ("failed", "Failed"),
            ("dead", "Dead Letter"),
        ],
        default="pending",
        required=True,
        readonly=True,
        index=True,
    )
    eta = fields.Datetime(
        string="Waits Until",
        readonly=True,
        help="Set while the company is over its event quota: the event waits, and is "
        "dispatched once the quota allows it.",
    )
    charged_at = fields.Datetime(
        string="Counted Against the Quota At",
        readonly=True,
        help="When the dispatcher handed this event to its subscriptions and counted it "
        "against the company's event_quota_per_minute (script and record events only).",
    )
    attempts = fields.Integer(readonly=True)
    hop = fields.Integer(
        readonly=True,
        help="0 for an event from outside; n+1 for one emitted by a handler of a hop-n event.",
    )
    last_error = fields.Text(readonly=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    user_id = fields.Many2one(
        "res.users", readonly=True, ondelete="set null", context={"active_test": False}
    )
    # Deleting a script (administrators only; others archive) deletes its
    # events. With SET NULL here, one DELETE would update each event twice
    # (script_id from the script, execution_id from the cascaded executions)
    # and PostgreSQL refuses the second update.
    script_id = fields.Many2one("iota.script", readonly=True, index=True, ondelete="cascade")
    execution_id = fields.Many2one(
        "iota.script.execution", readonly=True, index=True, ondelete="set null"
    )
    # W3C trace context (tools/observability/tracing.py): the span that emitted it; its deliveries' runs continue its trace
    trace_parent = fields.Char(string="Trace Parent", readonly=True, copy=False)
    trace_state = fields.Char(string="Trace State", readonly=True, copy=False)

    _sql_constraints = [("uuid_uniq", "unique (uuid)", "Event UUIDs are unique.")]

    def init(self):
        super().init()
        # the dispatcher's fair claim: the oldest pending events of each company
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS iota_script_event_pending_idx "
            "ON iota_script_event (company_id, id) WHERE state = 'pending'"
        )
        # the quota: the company's events counted in the last minute
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS iota_script_event_charged_idx "
            "ON iota_script_event (company_id, charged_at) WHERE charged_at IS NOT NULL"
        )

    @api.model
    def _record(
        self,
        event_type,
        payload_json,
        *,
        user,
        origin,
        script=None,
        execution=None,
        company=None,
        deferrable=False,
    ):
        """Writes one pending event; ``payload_json`` is JSON text or a value to encode.

        With ``deferrable`` and inside :func:`deferred_events` (a queue worker's
        group of runs), the event is only collected and returns an empty
        recordset: the group writes all of them in one INSERT, in the same
        transaction, before it commits.
        """
        if not isinstance(payload_json, str):
            payload_json = json.dumps(payload_json, ensure_ascii=False, default=str)
        payload_json = storable_text(payload_json)
        delivery = execution.sudo().delivery_id if execution else None
        company = company or script.company_id
        if self._has_subscribers(event_type, company):
            self._wake_dispatcher()
        values = {
            "hop": delivery.hop + 1 if delivery else 0,
            "type": event_type,
            "origin": origin,
            "payload_json": payload_json,
            "company_id": company.id,
            "user_id": user.id if user else False,
            "script_id": script.id if script else False,
            "execution_id": execution.id if execution else False,
        }
        values["trace_parent"], values["trace_state"] = tracing.carrier()
        buffer = self.env.cr.postcommit.data.get(_DEFERRED) if deferrable else None
        if buffer is not None:
            buffer.append(values)
            return self.browse()
        return self._insert([values])

    @api.model
    def _insert(self, vals_list):
        """Writes pending events (values as :meth:`_record` builds them) in one INSERT.

        The outbox is append-only and nothing is computed from its rows, so
        the ORM's ``create`` (defaults, per-record bookkeeping: most of the
        cost of an event) is skipped; the rows are the same. Engine only,
        as ``create``. Returns the events, their ``uuid`` in the cache.
        """
        self._check_engine_context()
        if not vals_list:
            return self.browse()
        uuids = [str(uuid.uuid4()) for _vals in vals_list]

        def column(name):
            return [vals.get(name) or None for vals in vals_list]

        self.env.cr.execute(
            """
            INSERT INTO iota_script_event (
                uuid, type, origin, payload_json, hop, company_id, user_id, script_id,
                execution_id, trace_parent, trace_state,
                state, attempts, create_uid, write_uid, create_date, write_date
            )
            SELECT v.*, 'pending', 0, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC'
              FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::text[], %s::int[],
                          %s::int[], %s::int[], %s::int[], %s::int[],
                          %s::varchar[], %s::varchar[]) AS v
            RETURNING id, uuid
            """,
            [
                self.env.uid,
                self.env.uid,
                uuids,
                column("type"),
                column("origin"),
                column("payload_json"),
                [vals.get("hop") or 0 for vals in vals_list],
                column("company_id"),
                column("user_id"),
                column("script_id"),
                column("execution_id"),
                column("trace_parent"),
                column("trace_state"),
            ],
        )
        ids = {row[1]: row[0] for row in self.env.cr.fetchall()}
        events = self.browse([ids[u] for u in uuids])
        self.env.cache.update(events, self._fields["uuid"], uuids)
        return events

    @api.model
    def _has_subscribers(self, event_type, company):
        """Whether an active subscription of ``company`` may want ``event_type``.

        Events nobody listens to (most ``script.executed``) do not wake the
        dispatcher: they wait for its one-minute round, which marks them done.
        The patterns are ormcached (``iota.script.subscription._iota_patterns``).
        """
        patterns = self.env["iota.script.subscription"]._iota_patterns(company.id)
        return any(regex.match(event_type) for regex in patterns)

    @api.model
    def _wake_dispatcher(self):
        cron_wake.wake(self.env, "iota_scripts.iota_script_delivery_cron_dispatch")

    @api.model
    def _prune(self, before, batch_size):
        self.search(
            [("state", "in", ("done", "dead")), ("create_date", "<", before)], limit=batch_size
        ).unlink()
