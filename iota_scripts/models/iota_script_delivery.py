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
3. The handler sees ``ctx.event = {id, type, payload, uuid, hop, user_id,
   created}``. ``id`` is the delivery's id: the idempotency key. It is the
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
Events past ``event_max_hops``, and events of a company that emitted more
than ``event_quota_per_minute`` events in the last minute, are not run: their
deliveries go straight to Dead letters (``loop_guard``, ``budget_exceeded``).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from psycopg2 import errors as pg_errors

from ..tools.sentinel import as_engine, is_engine
from ..tools.settings import get_setting

_logger = logging.getLogger(__name__)

CRON_XMLID = "iota_scripts.iota_script_delivery_cron_dispatch"


_DEFERRED = "iota_scripts.deferred_outcomes"


@contextmanager
def deferred_outcomes(env):
    """Collects the deliveries' outcomes written inside; writes them on a clean exit.

    Yields the list of ``(delivery id, values)`` (clear it to write nothing);
    on an exception nothing is written (the caller rolls back). The writes
    are ORM writes, flushed together: one UPDATE for the group.
    """
    data = env.cr.postcommit.data
    buffer = data[_DEFERRED] = []
    try:
        yield buffer
    except BaseException:
        data.pop(_DEFERRED, None)
        raise
    data.pop(_DEFERRED, None)
    Delivery = as_engine(env["iota.script.delivery"].sudo())
    for delivery_id, values in buffer:
        Delivery.browse(delivery_id).write(values)


class IotaScriptDelivery(models.Model):
    _name = "iota.script.delivery"
    _description = "Script Event Delivery"
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

    @api.depends("event_type", "script_id.name")
    def _compute_display_name(self):
        for delivery in self:
            delivery.display_name = (
                f"{delivery.event_type} → {delivery.script_id.name} #{delivery.id}"
            )

    @api.model_create_multi
    def create(self, vals_list):
        if not is_engine(self.env):
            raise UserError(_("Deliveries are written by the event dispatcher only."))
        return super().create(vals_list)

    def write(self, vals):
        if not is_engine(self.env):
            raise UserError(_("Deliveries are written by the event dispatcher only."))
        return super().write(vals)

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
            "user_id": event.user_id.id,
            "created": fields.Datetime.to_string(event.create_date),
        }

    # ---- dispatch ----------------------------------------------------------------
    @api.model
    def _cron_dispatch(self, batch_size=200, budget_sec=50.0):
        """Turns pending events into deliveries and queued runs, a batch per transaction."""
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
        self.env["ir.cron"]._notify_progress(done=total, remaining=0)
        return total

    @api.model
    def _dispatch_batch(self, batch_size):
        cr = self.env.cr
        self.env.flush_all()
        cr.execute(
            "SELECT id FROM iota_script_event WHERE state = 'pending' ORDER BY id LIMIT %s "
            "FOR UPDATE SKIP LOCKED",
            [batch_size],
            log_exceptions=False,
        )
        events = self.env["iota.script.event"].sudo().browse([r[0] for r in cr.fetchall()])
        if not events:
            return 0
        subs = (
            self.env["iota.script.subscription"]
            .sudo()
            .search([("active", "=", True), ("company_id", "in", events.company_id.ids)])
        )
        max_hops = get_setting(self.env, "event_max_hops")
        quota = get_setting(self.env, "event_quota_per_minute")
        recent = dict(
            self.env["iota.script.event"]
            .sudo()
            ._read_group(
                [
                    ("company_id", "in", events.company_id.ids),
                    ("create_date", ">=", fields.Datetime.now() - timedelta(minutes=1)),
                ],
                ["company_id"],
                ["__count"],
            )
        )
        planned = []  # (delivery values, subscription, error)
        outcome = {}  # (event state, error) -> event ids
        for event in events:
            try:
                payload = json.loads(event.payload_json or "null")
            except ValueError:
                payload = None
            matching = subs.filtered(
                lambda s, e=event, p=payload: s.company_id == e.company_id and s._matches(e.type, p)
            )
            error = None
            if event.hop > max_hops:
                error = f"loop_guard: an event {event.hop} hops away from its origin (at most {max_hops})"
            elif recent.get(event.company_id, 0) > quota:
                error = f"budget_exceeded: the company emitted more than {quota} events in a minute"
            for sub in matching:
                values = {
                    "event_id": event.id,
                    "subscription_id": sub.id,
                    "script_id": sub.script_id.id,
                    "company_id": event.company_id.id,
                    "user_id": event.user_id.id,
                    "state": "dead" if error else "queued",
                    "last_error": error or False,
                }
                planned.append((values, sub, error))
            state = "dead" if error and matching else "done"
            outcome.setdefault((state, error or False), []).append(event.id)
        # one INSERT per model for the whole batch, not one per event
        deliveries = as_engine(self).create([values for values, _sub, _error in planned])
        runs = [
            (delivery, sub.max_attempts)
            for delivery, (_values, sub, error) in zip(deliveries, planned, strict=True)
            if not error
        ]
        if runs:
            self.browse([d.id for d, _m in runs])._enqueue_runs([m for _d, m in runs])
        Event = as_engine(self.env["iota.script.event"].sudo())
        for (state, error), ids in outcome.items():
            Event.browse(ids).write({"state": state, "last_error": error})
        return len(events)

    def _enqueue_run(self, max_attempts):
        self.ensure_one()
        return self._enqueue_runs([max_attempts])

    def _enqueue_runs(self, max_attempts):
        """Queues one run of its handler per delivery (``max_attempts`` each, in order).

        The executions are created together and a worker is woken once.
        """
        Execution = as_engine(self.env["iota.script.execution"])
        executions = Execution.create(
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
