# Over 600 lines: claim, lease, fairness, cancel and retry are one state machine of one table, read together.
"""The run queue: executions in state ``queued``, claimed by cron workers.

What it is
----------
A run started "in the background" is an ``iota.script.execution`` in state
``queued``. There is no second broker: PostgreSQL is the queue, shared by
every Odoo process and instance of the database. The scheduled action
"IOTA Scripts: run queued scripts" is the worker; ``_enqueue`` wakes it at
once with ``ir.cron._trigger()`` (a ``pg_notify`` sent after commit).

How a worker runs a queued run
------------------------------
1. **Claim** (one short transaction, committed): expired leases are put back
   first (see below); then up to ``queue_claim_batch`` runs whose ``eta`` has
   passed are selected with ``FOR UPDATE SKIP LOCKED``: first the runs at a
   reserved priority (0-9, which only IOTA Scripts administrators may ask
   for), then the companies in turns, round robin, each company's runs by
   ``priority`` (lower first), ``eta`` and id, so that one company's flood
   never starves another company; companies that already have
   ``queue_company_concurrency`` *workers* busy with their runs are skipped.
   The claimed runs are marked ``running`` with ``worker_id``, ``attempt + 1`` and ``lease_until``. A
   worker runs its batch one run after the other, so the cap still bounds the
   runs of a company that execute at once; each run's lease covers the
   timeouts of the runs before it in the batch, plus its own, plus a margin.
2. **Run** (transactions of about ``GROUP_SEC`` each, committed): the worker
   locks the rows of its runs (``FOR NO KEY UPDATE``) and runs them, one
   after the other, through the run path (``run/pipeline.py``, a savepoint
   per run), then commits them together. Grouping saves a commit and the
   re-reading of scripts, versions and users per run, and writes the group's
   ``script.executed`` events and delivery outcomes in one statement each;
   results become visible when their group commits. A row lock *is the heartbeat*: it is held by the
   worker's connection for exactly as long as the worker lives, and
   PostgreSQL drops it the moment the connection dies. (A heartbeat column
   updated from another connection would block on this very lock, and under
   REPEATABLE READ it would make the run's final write fail.) If the worker
   itself fails during a run (not the script: the engine reports script
   faults), the group is rolled back, that run is recorded as failed, and the
   other runs of the group, still claimed, run again in the next group.
3. **Recovery**: a ``running`` run whose lease has expired *and* whose row is
   not locked (``SKIP LOCKED``) belongs to a dead worker: it is queued again,
   or moved to ``dead`` once ``max_attempts`` claims were used. A run is
   therefore never processed by two workers at once, and never lost.
4. **Retries**: a run that fails (any error but ``cancelled``) is queued
   again while ``attempt < max_attempts``, after an exponential backoff with
   jitter (``queue_retry_base_sec`` x 2^(attempt-1), capped at
   ``queue_retry_max_sec``, then drawn uniformly in [delay/2, delay]).
5. **Cancel**: a queued run is cancelled at once. A running run gets a cancel
   request (a row in ``iota_script_execution_cancel``, not a column of the
   execution, which the worker holds locked); the worker polls it on its own
   connection and sets the engine's cancel event, which kills the runner.
   Who may cancel: the user who started the run, or an IOTA Scripts
   administrator of its company.

The per-company cap is checked when claiming, against committed state: two
workers claiming at the very same instant may exceed it by one worker each.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.sql_db import db_connect
from psycopg2 import errors as pg_errors

from ..run import pipeline
from ..run.request import RunRequest
from ..run.start import MAX_STORED_CHARS
from ..sdk_host.scripts import RESERVED_PRIORITY_BELOW
from ..tools import cron_wake
from ..tools.bulk_insert import insert_rows
from ..tools.observability import metrics, sentry, tracing
from ..tools.sentinel import as_engine
from ..tools.settings import get_setting
from .iota_script_delivery import deferred_outcomes
from .iota_script_event import deferred_events

_logger = logging.getLogger(__name__)

CRON_XMLID = "iota_scripts.iota_script_execution_cron_queue"

#: How often a worker looks for a cancel request while a run is in progress.
CANCEL_POLL_SEC = 0.1


def backoff_sec(attempt: int, base_sec: float, max_sec: float, rand=random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential with "equal jitter": the capped delay ``base * 2**(attempt-1)``
    is halved and the other half drawn at random, so retries of runs that
    failed together spread out but never come back sooner than half the delay.
    """
    delay = min(max_sec, base_sec * 2 ** max(0, attempt - 1))
    return delay / 2 + rand() * delay / 2


def worker_name() -> str:
    """Identifies this worker (host, process, thread) in ``worker_id``."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


#: A worker commits its runs together for about this long (see step 2).
GROUP_SEC = 0.5

_DEFERRED_LEASES = "iota_scripts.deferred_leases"


@contextmanager
def _deferred_leases(env):
    """Collects the runs of a group whose lease ends; clears them in one UPDATE on exit.

    Yields the list of execution ids (clear it to write nothing); on an
    exception nothing is written (the caller rolls back).
    """
    data = env.cr.postcommit.data
    ids = data[_DEFERRED_LEASES] = []
    try:
        yield ids
    finally:
        data.pop(_DEFERRED_LEASES, None)
    if ids:
        env.cr.execute(
            "UPDATE iota_script_execution SET lease_until = NULL WHERE id IN %s", [tuple(ids)]
        )
        env["iota.script.execution"].browse(ids).invalidate_recordset(["lease_until"])


class _CancelWatcher:
    """Polls the cancel requests of a group of runs on its own connection.

    The group's transaction cannot see requests committed after it started
    (REPEATABLE READ), so the watcher reads them on a separate connection,
    in short transactions. It connects only after its first poll interval:
    a group of quick runs never opens that connection.
    """

    def __init__(self, dbname: str, execution_ids: list[int]):
        self.events = {exec_id: threading.Event() for exec_id in execution_ids}
        self._stop = threading.Event()
        self._dbname = dbname
        self._thread = threading.Thread(
            target=self._poll, name=f"iota-cancel-{execution_ids[0]}", daemon=True
        )

    def __enter__(self):
        self._thread.start()
        return self.events

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)

    def _poll(self):
        if self._stop.wait(CANCEL_POLL_SEC):
            return
        pending = set(self.events)
        try:
            with db_connect(self._dbname).cursor() as cr:
                while pending:
                    cr.execute(
                        "SELECT execution_id FROM iota_script_execution_cancel "
                        "WHERE execution_id IN %s",
                        [tuple(pending)],
                    )
                    found = {row[0] for row in cr.fetchall()}
                    cr.rollback()
                    for exec_id in found & pending:
                        self.events[exec_id].set()
                    pending -= found
                    if self._stop.wait(CANCEL_POLL_SEC):
                        return
        except Exception:
            _logger.exception(
                "iota.script.execution %s: the cancel watcher failed", sorted(pending)
            )


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    priority = fields.Integer(default=10, readonly=True, index=True, help="Lower runs first.")
    eta = fields.Datetime(string="Not Before", readonly=True, index=True)
    attempt = fields.Integer(
        default=0, readonly=True, help="How many times a worker claimed this run."
    )
    max_attempts = fields.Integer(default=1, readonly=True)
    lease_until = fields.Datetime(readonly=True)
    worker_id = fields.Char(string="Worker", readonly=True)
    cancel_requested = fields.Boolean(compute="_compute_cancel_requested")
    delivery_id = fields.Many2one(
        "iota.script.delivery", readonly=True, index="btree_not_null", ondelete="set null"
    )
    schedule_id = fields.Many2one(
        "iota.script.schedule", readonly=True, index="btree_not_null", ondelete="set null"
    )
    # W3C trace context (tools/observability/tracing.py): the span that queued this run; the worker's run continues its trace
    trace_parent = fields.Char(string="Trace Parent", readonly=True, copy=False)
    trace_state = fields.Char(string="Trace State", readonly=True, copy=False)

    def init(self):
        super().init()
        # Not a model: a request is written while the worker holds the
        # execution's row locked, so it must not touch that row.
        self.env.cr.execute(
            """
            CREATE TABLE IF NOT EXISTS iota_script_execution_cancel (
                execution_id integer PRIMARY KEY,
                requested_at timestamp NOT NULL DEFAULT (now() at time zone 'UTC')
            )
            """
        )
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS iota_script_execution_queue_idx
                ON iota_script_execution (priority, eta, id) WHERE state = 'queued'
            """
        )
        # the fair claim: the first due runs of each company
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS iota_script_execution_company_queue_idx
                ON iota_script_execution (company_id, priority, eta, id) WHERE state = 'queued'
            """
        )

    def _compute_cancel_requested(self):
        requested = set()
        if self.ids:
            self.env.cr.execute(
                "SELECT execution_id FROM iota_script_execution_cancel WHERE execution_id IN %s",
                [tuple(self.ids)],
            )
            requested = {row[0] for row in self.env.cr.fetchall()}
        for execution in self:
            execution.cancel_requested = execution.id in requested

    # ---- enqueue -----------------------------------------------------------------
    @api.model
    def _enqueue(self, request, **options):
        """Queues the run ``request`` (a ``RunRequest``) and wakes a worker after
        commit; returns its queued execution.

        The run happens later, in a worker's own transaction, as the script's
        run-as user; ``request.records`` are re-read then (deleted ones are
        dropped). ``options``: see :meth:`_enqueue_values`.
        """
        execution = as_engine(self).create(
            self._enqueue_values(
                request.script, request.trigger, request.records, request.input, **options
            )
        )
        self._queue_wake(options.get("eta"))
        return execution

    @api.model
    def _enqueue_many(self, vals_list):
        """Queued executions, one per :meth:`_enqueue_values` dict, in one INSERT.

        For the dispatcher's batches (each dict has its own ``delivery_id``):
        see ``tools/bulk_insert.py`` for what the ORM's ``create`` would add.
        Returns them in the order of ``vals_list``; wakes no one.
        """
        self._check_engine_context()
        rows = insert_rows(self, vals_list, "id, delivery_id")
        by_delivery = {delivery_id: exec_id for exec_id, delivery_id in rows}
        self.env["iota.script"].invalidate_model(["execution_ids", "recent_execution_ids"])
        return self.browse([by_delivery[vals["delivery_id"]] for vals in vals_list])

    @api.model
    def _enqueue_values(
        self,
        script,
        trigger,
        records=None,
        input_value=None,
        *,
        priority=10,
        eta=None,
        max_attempts=None,
        schedule=None,
        delivery=None,
        triggered_by=None,
        generation=1,
    ):
        """The values of a queued execution (for ``create``, one or many at once).

        ``generation`` > 1 marks a run queued by a run (``sdk.scripts.enqueue``):
        the worker starts its chain there, so ``max_depth`` still applies.
        Whoever creates them wakes a worker (:meth:`_queue_wake`).
        """
        script = script.sudo()
        input_text = json.dumps(input_value, ensure_ascii=False, default=str)
        if len(input_text) > MAX_STORED_CHARS:
            raise UserError(
                _(
                    "The input of a background run is limited to %s characters of JSON.",
                    MAX_STORED_CHARS,
                )
            )
        if max_attempts is None:
            max_attempts = get_setting(self.env, "queue_max_attempts")
        # the trace this run continues: its delivery's (the emitting span), else the current span
        trace = (delivery.trace_parent, delivery.trace_state) if delivery else tracing.carrier()
        return {
            "script_id": script.id,
            "company_id": script.company_id.id,
            "user_id": script.run_as_user_id.id,
            "triggered_by_id": triggered_by.id if triggered_by else self.env.uid,
            "trigger": trigger["type"],
            "trigger_json": json.dumps(trigger),
            "res_model": records is not None and records._name,
            "res_ids": records is not None and json.dumps(records.ids),
            "state": "queued",
            "generation": generation,
            "priority": priority,
            "eta": eta or False,
            "max_attempts": max(1, max_attempts),
            "input_json": input_text,
            "schedule_id": schedule.id if schedule else False,
            "delivery_id": delivery.id if delivery else False,
            "trace_parent": trace[0] or False,
            "trace_state": trace[1] or False,
        }

    @api.model
    def _queue_wake(self, at=None):
        """Wakes a worker after commit (at ``at`` when in the future; tools/cron_wake.py)."""
        cron_wake.wake(self.env, CRON_XMLID, at)

    # ---- cancel ---------------------------------------------------------------------
    def action_cancel(self):
        """Cancels queued runs now; asks the workers of running runs to stop them.

        Who may: the user who started each run, or an administrator of its company.
        """
        self.check_access("read")
        for execution in self.sudo():
            self._check_may_cancel(execution.triggered_by_id.id, execution.company_id.id)
        self.env.cr.execute(
            """
            UPDATE iota_script_execution
               SET state = 'cancelled', date_end = now() at time zone 'UTC',
                   error_code = 'cancelled', error_message = 'cancelled before it started'
             WHERE id IN %s AND state = 'queued'
            RETURNING id
            """,
            [tuple(self.ids) or (0,)],
        )
        cancelled = self.browse([row[0] for row in self.env.cr.fetchall()])
        cancelled.invalidate_recordset()
        cancelled._queue_announce_cancel()
        running = self.filtered(lambda e: e.state == "running")
        for execution in running:
            self.env.cr.execute(
                "INSERT INTO iota_script_execution_cancel (execution_id) VALUES (%s) "
                "ON CONFLICT DO NOTHING",
                [execution.id],
            )
        self.invalidate_recordset()
        return True

    def _abandon(self, message):
        """Ends a claimed run that cannot start (script archived, records gone)."""
        as_engine(self).write(
            {
                "state": "cancelled",
                "date_end": fields.Datetime.now(),
                "error_code": "cancelled",
                "error_message": message,
            }
        )
        return self

    # ---- the worker -----------------------------------------------------------------
    @api.model
    def _cron_process_queue(self, budget_sec=50.0):
        """The worker: claims batches of queued runs and runs them, committing per group.

        It stops when the queue is empty or after ``budget_sec`` (and then
        re-triggers itself, so a long queue does not hold a cron slot).
        """
        worker = worker_name()
        deadline = time.monotonic() + budget_sec
        batch = max(1, get_setting(self.env, "queue_claim_batch"))
        done = 0
        while time.monotonic() < deadline:
            executions = self._queue_claim(worker, limit=batch)
            if not executions:
                break
            done += len(executions._queue_run(worker))
        else:
            self._queue_wake()
            self.env.cr.commit()
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)
        return done

    @api.model
    def _queue_requeue_expired(self):
        """Puts back the runs of dead workers (expired lease, row not locked).

        Returns the ids queued again and the ids moved to ``dead``.
        """
        cr = self.env.cr
        cr.execute(
            """
            SELECT id, attempt, max_attempts FROM iota_script_execution
             WHERE state = 'running' AND lease_until < now() at time zone 'UTC'
             FOR UPDATE SKIP LOCKED
            """,
            log_exceptions=False,
        )
        requeued, dead = [], []
        for exec_id, attempt, max_attempts in cr.fetchall():
            (dead if attempt >= max_attempts else requeued).append(exec_id)
        if requeued:
            cr.execute(
                """
                UPDATE iota_script_execution
                   SET state = 'queued', worker_id = NULL, lease_until = NULL,
                       error_code = 'lease_expired',
                       error_message = 'the worker stopped before the run ended; queued again'
                 WHERE id IN %s
                """,
                [tuple(requeued)],
            )
            _logger.warning("iota.script.execution %s: lease expired, queued again", requeued)
            sentry.module_failure(
                "worker_lost", f"a worker stopped holding {len(requeued)} runs; queued again"
            )
        if dead:
            cr.execute(
                """
                UPDATE iota_script_execution
                   SET state = 'dead', worker_id = NULL, lease_until = NULL,
                       date_end = now() at time zone 'UTC', error_code = 'lease_expired',
                       error_message = 'the worker stopped before the run ended, too many times'
                 WHERE id IN %s
                """,
                [tuple(dead)],
            )
            cr.execute(
                """
                UPDATE iota_script_delivery d
                   SET state = 'dead', attempts = e.attempt,
                       last_error = 'lease_expired: the worker stopped before the run ended'
                  FROM iota_script_execution e
                 WHERE e.id IN %s AND d.execution_id = e.id
                """,
                [tuple(dead)],
            )
            _logger.warning("iota.script.execution %s: lease expired, moved to dead", dead)
            sentry.module_failure(
                "worker_lost", f"a worker stopped holding {len(dead)} runs; moved to dead"
            )
            for execution in self.sudo().browse(dead):
                # their runs never reached record(): the worker died
                metrics.run_ended(
                    cr.dbname,
                    execution.company_id.id,
                    execution.script_id.key,
                    execution.trigger,
                    "dead",
                    None,
                )
            self.browse(dead)._queue_announce_failure()
        return requeued, dead

    def _queue_announce_cancel(self):
        """A ``script.cancelled`` event for each run cancelled before it started
        (a run stopped while running announces it in ``_finish``)."""
        Event = as_engine(self.env["iota.script.event"])
        for execution in self.sudo():
            script = execution.script_id
            Event._record(
                "script.cancelled",
                {
                    "script_id": script.id,
                    "key": script.key,
                    "execution_id": execution.id,
                    "state": "cancelled",
                    "error_code": "cancelled",
                },
                script=script,
                execution=execution,
                user=execution.user_id,
                origin="system",
            )

    def _queue_announce_failure(self):
        """What ``_finish`` does for a failed run, for runs ended outside it
        (the worker failed, or died: lease expired): a ``script.failed``
        event each, and a wake-up of the alert rules."""
        Event = as_engine(self.env["iota.script.event"])
        for execution in self.sudo():
            execution.invalidate_recordset()
            script = execution.script_id
            Event._record(
                "script.failed",
                {
                    "script_id": script.id,
                    "key": script.key,
                    "execution_id": execution.id,
                    "state": execution.state,
                    "error_code": execution.error_code,
                },
                script=script,
                execution=execution,
                user=execution.user_id,
                origin="system",
            )
            execution._wake_alert_rules()

    @api.model
    def _queue_claim(self, worker, limit=1):
        """Claims up to ``limit`` due runs in a transaction of its own (committed).

        Under REPEATABLE READ, locking a row that another worker claimed and
        committed after this transaction's snapshot raises a serialization
        failure (SKIP LOCKED only skips rows locked right now): the claim is
        then simply tried again in a new transaction.
        """
        cr = self.env.cr
        self.env.flush_all()
        for _try in range(10):
            try:
                self._queue_requeue_expired()
                cr.commit()
                return self._queue_claim_once(worker, limit)
            except pg_errors.SerializationFailure:
                cr.rollback()
        return self.browse()

    @api.model
    def _queue_claim_once(self, worker, limit=1):
        cr = self.env.cr
        cap = max(1, get_setting(self.env, "queue_company_concurrency"))
        # A company is busy when `cap` workers run its runs (one at a time
        # each). The candidates are the first `limit` due runs of every other
        # company; they are then taken in turns, company by company (round
        # robin), after the runs at a reserved priority (0-9, administrators
        # only): a company that queues thousands of runs delays another
        # company's runs by at most one of its own per turn.
        cr.execute(
            """
            WITH busy AS (
                SELECT company_id FROM iota_script_execution
                 WHERE state = 'running' GROUP BY company_id
                HAVING count(DISTINCT worker_id) >= %(cap)s
            ), candidates AS (
                SELECT p.id, p.priority, row_number() OVER (
                           PARTITION BY p.company_id ORDER BY p.priority, p.eta, p.id
                       ) AS turn
                  FROM res_company c CROSS JOIN LATERAL (
                    SELECT e.id, e.company_id, e.priority, e.eta FROM iota_script_execution e
                     WHERE e.company_id = c.id AND e.state = 'queued'
                       AND (e.eta IS NULL OR e.eta <= now() at time zone 'UTC')
                     ORDER BY e.priority, e.eta, e.id
                     LIMIT %(limit)s
                  ) p
                 WHERE c.id NOT IN (SELECT company_id FROM busy)
            )
            SELECT e.id, s.timeout_sec FROM candidates k
              JOIN iota_script_execution e ON e.id = k.id
              JOIN iota_script s ON s.id = e.script_id
             WHERE e.state = 'queued'
             ORDER BY LEAST(k.priority, %(reserved)s), k.turn, k.priority, k.id
             LIMIT %(limit)s
             FOR UPDATE OF e SKIP LOCKED
            """,
            {"cap": cap, "limit": max(1, limit), "reserved": RESERVED_PRIORITY_BELOW},
            log_exceptions=False,
        )
        rows = cr.fetchall()
        if not rows:
            cr.commit()
            return self.browse()
        # Each lease covers the runs before it in the batch (they run first),
        # its own deadline, and a margin for recording it.
        margin = get_setting(self.env, "queue_lease_margin_sec")
        ids, leases, total = [], [], 0.0
        for exec_id, timeout in rows:
            total += timeout or 0.0
            ids.append(exec_id)
            leases.append(total + margin)
        cr.execute(
            """
            UPDATE iota_script_execution e
               SET state = 'running', worker_id = %s, attempt = COALESCE(e.attempt, 0) + 1,
                   lease_until = now() at time zone 'UTC' + v.lease * interval '1 second',
                   error_code = NULL, error_message = NULL
              FROM unnest(%s::int[], %s::float8[]) AS v(id, lease)
             WHERE e.id = v.id
            """,
            [worker, ids, leases],
        )
        cr.commit()
        executions = self.browse(ids)
        executions.invalidate_recordset()
        return executions

    def _queue_lock_own(self, worker):
        """Locks the rows of these runs that are still ours; returns those runs.

        A run is no longer ours when its lease expired and another worker
        took it over. Locking a row changed after this transaction's snapshot
        fails to serialize (REPEATABLE READ): then the runs still ours are
        read again in a new transaction and locked again.
        """
        cr = self.env.cr
        candidates = tuple(self.ids)
        for _try in range(10):
            try:
                cr.execute(
                    "SELECT id FROM iota_script_execution WHERE id IN %s AND state = 'running' "
                    "AND worker_id = %s ORDER BY id FOR NO KEY UPDATE",
                    [candidates, worker],
                    log_exceptions=False,
                )
                own = [row[0] for row in cr.fetchall()]
                return self.browse(own)
            except pg_errors.SerializationFailure:
                cr.rollback()
        return self.browse()

    def _queue_run(self, worker):
        """Runs these claimed runs, in groups of about ``GROUP_SEC``, each committed.

        Returns the runs that were recorded (those still ours).
        """
        cr = self.env.cr
        todo = self
        recorded = self.browse()
        while todo:
            group = todo._queue_lock_own(worker)
            if not group:
                cr.rollback()
                break
            ran, failed = group._queue_run_group(worker)
            if failed:
                # the worker failed during `failed`: the group was rolled back
                cr.rollback()
                failed._queue_record_failure()
                ran = failed
            cr.execute(
                "DELETE FROM iota_script_execution_cancel WHERE execution_id IN %s",
                [tuple(ran.ids)],
            )
            cr.commit()
            recorded |= ran
            todo = group - ran
        return recorded

    def _queue_run_group(self, worker):
        """Runs these locked runs one after the other, for up to ``GROUP_SEC``.

        Returns ``(ran, failed)``: the runs done, and the run during which the
        worker failed (then nothing of the group may be committed).
        """
        cr = self.env.cr
        ran = self.browse()
        started = time.monotonic()
        failed = self.browse()
        # the runs' script.executed/failed events (one INSERT) and their
        # deliveries' outcomes (one UPDATE) are written at the group's end
        with (
            _CancelWatcher(cr.dbname, self.ids) as cancels,
            deferred_events(self.env) as events,
            deferred_outcomes(self.env) as outcomes,
            _deferred_leases(self.env) as leases,
        ):
            for execution in self:
                try:
                    execution._queue_run_one(cancels[execution.id])
                except Exception:
                    _logger.exception("iota.script.execution %s: the run failed", execution.id)
                    sentry.module_failure("worker_failed", "a queue worker's run raised")
                    failed = execution
                    events.clear()  # the group is rolled back
                    outcomes.clear()
                    leases.clear()
                    break
                ran |= execution
                if time.monotonic() - started > GROUP_SEC:
                    break
        return ran, failed

    def _queue_run_one(self, cancel):
        """Runs one claimed, locked run in the current transaction (not committed)."""
        self.ensure_one()
        execution = self.sudo()
        trigger = json.loads(execution.trigger_json or "{}") or {"type": execution.trigger}
        records = None
        if execution.res_model and execution.res_model in self.env:
            records = self.env[execution.res_model].browse(json.loads(execution.res_ids or "[]"))
        input_value = json.loads(execution.input_json) if execution.input_json else None
        request = RunRequest(
            execution.script_id,
            trigger,
            records=records,
            input=input_value,
            queued=execution,
            cancel=cancel,
        )
        pipeline.run_root(self.env["iota.script.execution"], request, execution.generation or 1)
        self._queue_after_run()

    def _queue_record_failure(self):
        """Records a run during which the worker failed (after the rollback)."""
        self.ensure_one()
        execution = self.sudo()
        execution.invalidate_recordset()
        as_engine(execution).write(
            {
                "state": "failed",
                "error_code": "internal_error",
                "error_message": "the run failed; the details are in the server log",
                "date_end": fields.Datetime.now(),
            }
        )
        # as _finish does for every failed attempt, retried or not
        self._queue_announce_failure()
        self._queue_after_run()

    def _queue_after_run(self):
        """Schedules a retry of a failed run while attempts remain."""
        self.ensure_one()
        execution = self.sudo()
        values = {"lease_until": False}
        if (
            execution.state in ("failed", "timed_out")
            and execution.attempt < execution.max_attempts
        ):
            delay = backoff_sec(
                execution.attempt,
                get_setting(self.env, "queue_retry_base_sec"),
                get_setting(self.env, "queue_retry_max_sec"),
            )
            values.update(
                state="queued",
                eta=fields.Datetime.now() + timedelta(seconds=delay),
                worker_id=False,
            )
            self._queue_wake(values["eta"])
        elif execution.schedule_id:
            # a "catch up" slot may be waiting for this run to end
            cron_wake.wake(self.env, "iota_scripts.iota_script_schedule_cron_enqueue")
        leases = self.env.cr.postcommit.data.get(_DEFERRED_LEASES)
        if leases is not None and values == {"lease_until": False}:
            leases.append(execution.id)  # the usual case: one UPDATE for the group
        else:
            as_engine(execution).write(values)
        if execution.delivery_id:
            execution.delivery_id._after_run(execution)
