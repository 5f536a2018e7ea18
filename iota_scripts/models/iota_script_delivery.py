"""Deliveries: one event handed to one subscription, at least once.

How events flow
---------------
1. An event is written to the outbox (``iota.script.event``, state
   ``pending``) in the transaction that caused it; writing it triggers the
   scheduled action "IOTA Scripts: dispatch events", and ``ir.cron._trigger``
   notifies only after commit. A rolled-back transaction (a failed run, a
   request Odoo replays after a serialization failure) leaves neither the
   event nor the trigger.
2. The dispatcher claims pending events (``FOR UPDATE SKIP LOCKED``), creates
   one delivery per matching active subscription of the event's company and
   queues a run of its handler (trigger ``event``) through the run queue, then
   marks the event ``done``, and commits.
3. The handler sees ``ctx.event = {id, type, payload, uuid, hop, origin,
   script, user_id, created}``: ``origin`` is ``script``, ``record`` or
   ``system`` and ``script`` is ``{id, key}`` of the emitting script for a
   script event, else null (``tools/event_types.py``). ``id`` is the delivery's id: the idempotency key. It is the
   same for every retry and every replay of that delivery, so a handler with
   side effects outside the database can dedupe on it (``sdk.cache.incr``).
4. A failing handler is retried by the queue with backoff and jitter, up to
   the subscription's ``max_attempts``; then its delivery is ``dead`` and shows
   in Dead letters with its payload, last error, attempts, script version,
   company and user. Other deliveries keep flowing: every delivery is a run
   of its own.

Replay
------
One delivery, a selection, or every delivery of a type in a time range
(``_replay_range``) can be replayed. The run keeps the event's company (the
handler's) and user (``triggered_by_id``), never the replaying user's, and a
user cannot replay deliveries of a company that is not theirs.

Loop guard
----------
An event emitted by a handler carries ``hop`` = the handled event's hop + 1.
Events past ``event_max_hops`` are not run: their deliveries go straight to
Dead letters (``loop_guard``).

Quota: a company is slowed down, never dropped
----------------------------------------------
``event_quota_per_minute`` (0: no quota) caps how many of a company's
``script`` and ``record`` events the dispatcher hands to subscriptions in
any minute (a sliding window over ``charged_at``). IOTA Scripts' own
lifecycle events (origin ``system``: ``script.executed``, ...) are never
counted, and events that no subscription wants cost nothing. An event over
the quota is not dead: it stays ``pending`` with an ``eta`` (when the oldest
event counted in the window leaves it) and is dispatched then, and the
dispatcher wakes itself at the earliest ``eta``. A bulk import of 5,000
contacts thus reaches its handler at ``event_quota_per_minute`` events a
minute, all of them. The dashboard shows the waiting events.

Fairness
--------
The dispatcher claims the oldest due events of every company in turns
(round robin), so one company's flood does not delay another's events; the
run queue claims fairly too (``models/iota_script_queue.py``).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from psycopg2 import errors as pg_errors

from ..tools.bulk_insert import insert_rows
from ..tools.event_types import QUOTA_ORIGINS
from ..tools.sentinel import as_engine
from ..tools.settings import get_setting

_logger = logging.getLogger(__name__)

CRON_XMLID = "iota_scripts.iota_script_delivery_cron_dispatch"

#: ``event_quota_per_minute`` counts the events dispatched in this window.
QUOTA_WINDOW = timedelta(minutes=1)


def _now():
    """The dispatcher's clock (UTC, naive): the quota window and the ``eta`` of
    waiting events are read against it, never against PostgreSQL's ``now()``."""
    return fields.Datetime.now()


_DEFERRED = "iota_scripts.deferred_outcomes"


@contextmanager
def deferred_outcomes(env):
    """Collects the deliveries' outcomes written inside; writes them on a clean exit.

    Yields the list of ``(delivery id, values)`` (clear it to write nothing);
    on an exception nothing is written (the caller rolls back). The group's
    outcomes are one UPDATE (an ORM write per delivery cost more than the
    handler's run): the values are those of :meth:`IotaScriptDelivery._after_run`
    (``attempts``, ``execution_id``, ``last_error`` and maybe ``state``), and
    the cache of those fields is invalidated.
    """
    data = env.cr.postcommit.data
    buffer = data[_DEFERRED] = []
    try:
        yield buffer
    except BaseException:
        data.pop(_DEFERRED, None)
        raise
    data.pop(_DEFERRED, None)
    if not buffer:
        return
    Delivery = env["iota.script.delivery"]
    Delivery.flush_model()
    env.cr.execute(
        """
        UPDATE iota_script_delivery d
           SET attempts = v.attempts, execution_id = v.execution_id,
               last_error = v.last_error, state = COALESCE(v.state, d.state),
               write_uid = %s, write_date = now() at time zone 'UTC'
          FROM unnest(%s::int[], %s::int[], %s::int[], %s::text[], %s::varchar[])
               AS v(id, attempts, execution_id, last_error, state)
         WHERE d.id = v.id
        """,
        [
            env.uid,
            [delivery_id for delivery_id, _values in buffer],
            [values["attempts"] for _id, values in buffer],
            [values["execution_id"] for _id, values in buffer],
            [values["last_error"] or None for _id, values in buffer],
            [values.get("state") for _id, values in buffer],
        ],
    )
    Delivery.invalidate_model(["attempts", "execution_id", "last_error", "state"])


class IotaScriptDelivery(models.Model):
    _name = "iota.script.delivery"
    _inherit = ["iota.script.engine.written"]
    _description = "Script Event Delivery"
    _iota_engine_only_message = "Deliveries are written by the event dispatcher only."
    _order = "id desc"

    event_id = fields.Many2one(
        "iota.script.event", required=True, index=True, ondelete="cascade", readonly=True
    )
    subscription_id = fields.Many2one(
        "iota.script.subscription", index=True, ondelete="set null", readonly=True
    )
    script_id = fields.Many2one(
        "iota.script",
        string="Handler",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    user_id = fields.Many2one(
        "res.users",
        string="Event User",
        readonly=True,
        ondelete="set null",
        context={"active_test": False},
    )
    event_type = fields.Char(related="event_id.type", store=True, index=True)
    event_uuid = fields.Char(related="event_id.uuid")
    payload_json = fields.Text(related="event_id.payload_json", string="Payload")
    hop = fields.Integer(related="event_id.hop", store=True)
    state = fields.Selection(
        [("queued", "Queued"), ("done", "Delivered"), ("dead", "Dead Letter")],
        required=True,
        default="queued",
        readonly=True,
        index=True,
    )
    attempts = fields.Integer(readonly=True)
    last_error = fields.Text(readonly=True)
    execution_id = fields.Many2one(
        "iota.script.execution", string="Last Run", readonly=True, ondelete="set null"
    )
    version_id = fields.Many2one(
        related="execution_id.version_id", string="Script Version", compute_sudo=False
    )
    replay_count = fields.Integer(readonly=True)
    # W3C trace context (tools/observability/tracing.py): its event's; its runs continue that trace
    trace_parent = fields.Char(string="Trace Parent", readonly=True, copy=False)
    trace_state = fields.Char(string="Trace State", readonly=True, copy=False)

    @api.depends("event_type", "script_id.name")
    def _compute_display_name(self):
        for delivery in self:
            delivery.display_name = (
                f"{delivery.event_type} → {delivery.script_id.name} #{delivery.id}"
            )

    # ---- ctx.event ---------------------------------------------------------------
    def _ctx_event(self):
        self.ensure_one()
        event = self.sudo().event_id
        return {
            "id": self.id,
            "type": event.type,
            "payload": json.loads(event.payload_json or "null"),
            "uuid": event.uuid,
            "hop": event.hop,
            "origin": event.origin,
            # the emitting script, for script events only (a lifecycle event
            # names the script it is about in its payload)
            "script": (
                {"id": event.script_id.id, "key": event.script_id.key}
                if event.origin == "script" and event.script_id
                else None
            ),
            "user_id": event.user_id.id,
            "created": fields.Datetime.to_string(event.create_date),
        }

    # ---- dispatch ----------------------------------------------------------------
    @api.model
    def _cron_dispatch(self, batch_size=200, budget_sec=50.0):
        """Turns pending events into deliveries and queued runs, a batch per transaction.

        Events that wait for their company's quota are left pending with an
        ``eta``; the dispatcher wakes itself at the earliest one.
        """
        deadline = time.monotonic() + budget_sec
        total = 0
        while time.monotonic() < deadline:
            try:
                done = self._dispatch_batch(batch_size)
                self.env.cr.commit()
            except pg_errors.SerializationFailure:
                # another dispatcher took these events after our snapshot
                self.env.cr.rollback()
                continue
            total += done
            if done < batch_size:
                break
        self._dispatch_wake_for_waiting()
        self.env["ir.cron"]._notify_progress(done=total, remaining=0)
        return total

    @api.model
    def _dispatch_wake_for_waiting(self):
        """Triggers the dispatcher when the first event held by a quota may go."""
        cr = self.env.cr
        cr.execute(
            "SELECT min(eta) FROM iota_script_event WHERE state = 'pending' AND eta IS NOT NULL"
        )
        eta = cr.fetchone()[0]
        cron = self.env.ref(CRON_XMLID, raise_if_not_found=False)
        if not eta or not cron:
            return
        Trigger = self.env["ir.cron.trigger"].sudo()
        if not Trigger.search_count([("cron_id", "=", cron.id), ("call_at", "=", eta)], limit=1):
            cron.sudo()._trigger(at=eta)
            self.env.cr.commit()

    @api.model
    def _dispatch_claim(self, batch_size, now):
        """Locks up to ``batch_size`` due pending events, fairly across companies.

        The oldest events of each company are taken in turns (round robin):
        one company's flood never holds back another company's events.
        Events waiting for their company's quota (``eta`` in the future) are
        not due. Returns the ids, in the order to dispatch them.
        """
        cr = self.env.cr
        # candidates first (no lock: a company's rows past its turn stay free)...
        cr.execute(
            """
            SELECT p.id, p.company_id FROM res_company c CROSS JOIN LATERAL (
                SELECT e.id, e.company_id FROM iota_script_event e
                 WHERE e.company_id = c.id AND e.state = 'pending'
                   AND (e.eta IS NULL OR e.eta <= %s)
                 ORDER BY e.id LIMIT %s
            ) p
            """,
            [now, batch_size],
        )
        rank = {}
        ranked = []
        for event_id, company_id in sorted(cr.fetchall()):
            rank[company_id] = rank.get(company_id, 0) + 1
            ranked.append((rank[company_id], event_id))
        order = [event_id for _rank, event_id in sorted(ranked)[:batch_size]]
        if not order:
            return []
        # ...then the batch, locked; rows another dispatcher holds are skipped,
        # rows it dispatched since this snapshot fail to serialize (retried)
        cr.execute(
            "SELECT id FROM iota_script_event WHERE id = ANY(%s) AND state = 'pending' "
            "FOR UPDATE SKIP LOCKED",
            [order],
            log_exceptions=False,
        )
        locked = {row[0] for row in cr.fetchall()}
        return [event_id for event_id in order if event_id in locked]

    @api.model
    def _dispatch_batch(self, batch_size):
        """Dispatches one batch of due events (see the module docstring); returns its size."""
        cr = self.env.cr
        self.env.flush_all()
        Event = as_engine(self.env["iota.script.event"].sudo())
        now = _now()
        events = Event.browse(self._dispatch_claim(batch_size, now))
        if not events:
            return 0
        company_ids = list({event.company_id.id for event in events})
        subs_by_company = {}
        for sub in (
            self.env["iota.script.subscription"]
            .sudo()
            .search([("active", "=", True), ("company_id", "in", company_ids)])
        ):
            subs_by_company.setdefault(sub.company_id.id, []).append(sub)
        max_hops = get_setting(self.env, "event_max_hops")
        quota = get_setting(self.env, "event_quota_per_minute")
        used, oldest = {}, {}
        if quota > 0:
            cr.execute(
                """
                SELECT company_id, count(*), min(charged_at) FROM iota_script_event
                 WHERE company_id IN %s AND charged_at > %s
                 GROUP BY company_id
                """,
                [tuple(company_ids), now - QUOTA_WINDOW],
            )
            for company_id, count, first in cr.fetchall():
                used[company_id], oldest[company_id] = count, first
        planned = []  # (delivery values, subscription, error)
        outcome = {}  # (event state, error, charged) -> event ids
        waiting = {}  # eta -> event ids
        for event in events:
            company_id = event.company_id.id
            try:
                payload = json.loads(event.payload_json or "null")
            except ValueError:
                payload = None
            matching = [
                sub
                for sub in subs_by_company.get(company_id, ())
                if sub._matches(event.type, payload, event.origin)
            ]
            error = None
            charged = False
            if matching and event.hop > max_hops:
                error = f"loop_guard: an event {event.hop} hops away from its origin (at most {max_hops})"
            elif matching and quota > 0 and event.origin in QUOTA_ORIGINS:
                if used.get(company_id, 0) >= quota:
                    # over the quota: the event waits (pending) until the
                    # oldest event counted in the window leaves it
                    eta = (oldest.get(company_id) or now) + QUOTA_WINDOW
                    waiting.setdefault(eta, []).append(event.id)
                    continue
                used[company_id] = used.get(company_id, 0) + 1
                oldest.setdefault(company_id, now)
                charged = True
            for sub in matching:
                values = {
                    "event_id": event.id,
                    "subscription_id": sub.id,
                    "script_id": sub.script_id.id,
                    "company_id": company_id,
                    "user_id": event.user_id.id,
                    "event_type": event.type,
                    "hop": event.hop,
                    "state": "dead" if error else "queued",
                    "last_error": error or False,
                    # the run continues the emitting span's trace (tracing.py)
                    "trace_parent": event.trace_parent or False,
                    "trace_state": event.trace_state or False,
                }
                planned.append((values, sub, error))
            state = "dead" if error else "done"
            outcome.setdefault((state, error or False, charged), []).append(event.id)
        # one INSERT per model for the whole batch, not one per event
        rows = insert_rows(
            self, [values for values, _sub, _error in planned], "id, event_id, subscription_id"
        )
        ids = {(event_id, sub_id): delivery_id for delivery_id, event_id, sub_id in rows}
        runs = [
            (ids[values["event_id"], values["subscription_id"]], sub.max_attempts)
            for values, sub, error in planned
            if not error
        ]
        if runs:
            self.browse([d for d, _m in runs])._enqueue_runs([m for _d, m in runs])
        for (state, error, charged), ids in outcome.items():
            Event.browse(ids).write(
                {"state": state, "last_error": error, "eta": False, "charged_at": charged and now}
            )
        for eta, ids in waiting.items():
            Event.browse(ids).write({"eta": eta})
        return len(events)

    def _enqueue_run(self, max_attempts):
        self.ensure_one()
        return self._enqueue_runs([max_attempts])

    def _enqueue_runs(self, max_attempts):
        """Queues one run of its handler per delivery (``max_attempts`` each, in order).

        The executions are created together and a worker is woken once.
        """
        Execution = as_engine(self.env["iota.script.execution"])
        executions = Execution._enqueue_many(
            [
                Execution._enqueue_values(
                    delivery.script_id,
                    {
                        "type": "event",
                        "event_type": delivery.event_type,
                        "delivery_id": delivery.id,
                    },
                    max_attempts=attempts,
                    delivery=delivery,
                    triggered_by=delivery.user_id,
                )
                for delivery, attempts in zip(self, max_attempts, strict=True)
            ]
        )
        Execution._queue_wake()
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE iota_script_delivery d SET execution_id = v.execution_id, state = 'queued'
              FROM unnest(%s::int[], %s::int[]) AS v(id, execution_id)
             WHERE d.id = v.id
            """,
            [self.ids, executions.ids],
        )
        self.invalidate_recordset(["execution_id", "state"])
        return executions

    def _after_run(self, execution):
        """Follows the outcome of a run of this delivery (called by the queue).

        Inside :func:`deferred_outcomes` (a worker's group of runs) the write
        waits for the group's end, so that the group's deliveries are
        updated by one statement.
        """
        values = {"attempts": execution.attempt, "execution_id": execution.id}
        if execution.state == "succeeded":
            values.update(state="done", last_error=False)
        else:
            values["last_error"] = f"{execution.error_code}: {execution.error_message or ''}"
            if execution.state != "queued":
                values["state"] = "dead"
        buffer = self.env.cr.postcommit.data.get(_DEFERRED)
        if buffer is not None:
            buffer.append((self.id, values))
            return
        as_engine(self).write(values)

    # ---- replay ------------------------------------------------------------------
    def action_replay(self):
        """Runs the handler again for these deliveries (same ``ctx.event.id``)."""
        allowed = self.env.user.company_ids
        for delivery in self:
            if delivery.company_id not in allowed:
                raise AccessError(_("You cannot replay events of %s.", delivery.company_id.name))
        self.check_access("read")
        for delivery in self.sudo():
            if delivery.state == "queued":
                continue
            as_engine(delivery).write({"replay_count": delivery.replay_count + 1})
            self.env["iota.script.audit"]._log(
                "replay",
                delivery,
                values={"event_type": delivery.event_type, "script_id": delivery.script_id.id},
            )
            delivery._enqueue_run(
                delivery.subscription_id.max_attempts if delivery.subscription_id else 1
            )
        return True

    @api.model
    def _replay_range(self, event_type, date_from, date_to, states=("dead",)):
        """Replays the deliveries of ``event_type`` (``*`` allowed) created in a time range.

        Both ends are included, ``date_to`` with its whole second (dates in
        the interface have no fractions; records have).
        """
        from .iota_script_subscription import type_regex

        regex = type_regex(event_type)
        deliveries = self.search(
            [
                ("create_date", ">=", date_from),
                ("create_date", "<", date_to + timedelta(seconds=1)),
                ("state", "in", list(states)),
            ]
        ).filtered(lambda d: regex.match(d.event_type or ""))
        deliveries.action_replay()
        return deliveries
