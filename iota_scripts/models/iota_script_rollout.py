"""Gradual rollout: a candidate version beside the stable one, promoted or rolled back.

What it is
----------
A script's *stable* version is ``version_id`` (what every run ran so far).
A *candidate* (``candidate_version_id``) is a newer (or older) version that
takes a share of the runs while the stable one keeps the rest. It is
published by saving the source with **Save as Candidate** on (``rollout_mode``:
the new version becomes the candidate, not the stable one), or from a
version's **Roll Out as Candidate** button.

Which runs go to the candidate (:meth:`IotaScript._iota_route`)
----------------------------------------------------------------
- only runs of the trigger type ``rollout_trigger``, when set;
- every run whose caller is in ``rollout_user_ids`` (beta testers);
- else ``rollout_percent`` % of the runs, drawn by a hash salted with the
  candidate's id (``tools/rollout.py``), *sticky*: the same record
  (``model:id`` of the run's first record), endpoint caller (``ip:…``, or
  ``user:…`` for calls authenticated as a user), manual user or event
  delivery always gets the same channel for a given candidate. Runs with
  nothing to stick to (a schedule, a run queued by a script without
  records) are drawn one by one.
- A run pinned to a version (an endpoint that runs as its caller runs the
  version an administrator approved) never takes part: the pin wins.
- A script belongs to one company, so its candidate only ever runs in that
  company: there is no routing by company.

Counting and automatic rollback
-------------------------------
While a candidate is out, each finished run adds itself to one row of
``iota.script.rollout.count`` (candidate, channel, database connection: no
two open transactions update the same row, as ``iota.script.run.stat``).
The candidate is rolled back when at least ``rollout_min_runs`` of its runs
finished and more than ``rollout_error_pct`` % of them failed. The check
sums the candidate's rows (an index scan of a few rows, never a scan of the
executions): after each failed candidate run, **once the run's transaction
committed**, on every committed run (a transaction alone would not see a
concurrent failure), and after a successful one in its own transaction. The
rollback is made in a transaction of its own that locks the script row
(``SKIP LOCKED``: one worker does it). The run itself never fails because of the rollback. The
rollback is posted on the script and the responsible user (the script's
``user_id``, else the candidate's author, else the script's creator) gets a
to-do, as for alert rules.

Promote and roll back
---------------------
One click each (:meth:`action_iota_promote`, :meth:`action_iota_rollback`):
one write of the script row. Runs in flight keep the version they resolved
(versions are immutable and a run holds its version from the start), so no
run fails because of the switch; the next run resolves the new state.
"""

from __future__ import annotations

import itertools
import logging
import os

from markupsafe import Markup
from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL
from psycopg2 import errors as pg_errors

from ..tools import rollout
from ..tools.run_states import ERROR_STATES, FINISHED_STATES
from ..tools.sentinel import as_engine

_logger = logging.getLogger(__name__)

#: Runs with no caller or record to stick to are drawn one by one (per process).
_UNSTICKY = itertools.count()


def sticky_key(req, uid) -> str:
    """What a run's channel sticks to (see the module doc)."""
    records = req.records  # a queued run gets its records back too (iota_script_queue.py)
    if records:
        return f"{records._name}:{min(records.ids)}"
    kind = req.trigger["type"]
    if kind == "endpoint" and req.caller:
        return req.caller
    if kind == "manual":
        return f"user:{uid}"
    if req.trigger.get("delivery_id"):
        return f"delivery:{req.trigger['delivery_id']}"
    if req.queued:
        delivery = req.queued.sudo().delivery_id
        return f"delivery:{delivery.id}" if delivery else f"run:{req.queued.id}"
    return f"run:{os.getpid()}:{next(_UNSTICKY)}"


class IotaScript(models.Model):
    _inherit = "iota.script"

    rollout_mode = fields.Boolean(
        string="Save as Candidate",
        help="Saving a new source publishes it as a candidate beside the current (stable) "
        "version, instead of replacing it. The first version is always stable.",
    )
    candidate_version_id = fields.Many2one(
        "iota.script.version",
        string="Candidate Version",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="Takes a share of the runs beside the current version until promoted or rolled back.",
    )
    candidate_number = fields.Integer(related="candidate_version_id.number", string="Candidate")
    candidate_since = fields.Datetime(readonly=True, copy=False)
    rollout_percent = fields.Float(
        string="Candidate Share (%)",
        default=10.0,
        help="The share of runs that go to the candidate, sticky per record or caller.",
    )
    rollout_trigger = fields.Selection(
        lambda self: self.env["iota.script.execution"]._fields["trigger"].selection,
        string="Only Trigger",
        help="When set, only runs of this trigger type may go to the candidate.",
    )
    rollout_user_ids = fields.Many2many(
        "res.users",
        "iota_script_rollout_user_rel",
        "script_id",
        "user_id",
        string="Candidate Users",
        domain="[('share', '=', False)]",
        help="Runs triggered by these users always go to the candidate.",
    )
    rollout_error_pct = fields.Float(
        string="Roll Back Above (%)",
        default=50.0,
        help="The candidate is rolled back automatically when more than this share of its "
        "finished runs failed...",
    )
    rollout_min_runs = fields.Integer(
        string="Over At Least (runs)",
        default=10,
        help="...once at least this many of its runs finished.",
    )
    candidate_runs = fields.Integer(compute="_compute_candidate_counts")
    candidate_errors = fields.Integer(compute="_compute_candidate_counts")

    @api.constrains("rollout_percent", "rollout_error_pct", "rollout_min_runs")
    def _check_rollout(self):
        for script in self:
            if not 0 <= script.rollout_percent <= 100:
                raise ValidationError(_("The candidate's share must be from 0 to 100 %."))
            if not 0 <= script.rollout_error_pct < 100:
                raise ValidationError(_("The rollback threshold must be from 0 to 99.99 %."))
            if script.rollout_min_runs < 1:
                raise ValidationError(_("The minimum number of runs must be at least 1."))

    @api.constrains("candidate_version_id")
    def _check_candidate(self):
        for script in self.sudo():
            if script.candidate_version_id and script.candidate_version_id.script_id != script:
                raise ValidationError(_("The candidate must be a version of the same script."))

    def _compute_candidate_counts(self):
        Count = self.env["iota.script.rollout.count"]
        for script in self:
            runs, errors = Count._totals(script.sudo().candidate_version_id.id, "candidate")
            script.candidate_runs, script.candidate_errors = runs, errors

    # ---- publishing ------------------------------------------------------------------
    def _iota_publish_version(self, version):
        """A saved version becomes the candidate in rollout mode (when a stable one exists)."""
        if self.rollout_mode and self.version_id and version != self.version_id:
            self._iota_start_candidate(version)
            return
        super()._iota_publish_version(version)

    def _iota_start_candidate(self, version):
        """Puts ``version`` out as the candidate, its counts from zero."""
        self.ensure_one()
        self._check_may_change()
        if version == self.version_id:
            raise UserError(_("This version is the current one already."))
        # a candidate is published: the same approval rule as the current version
        self._iota_check_publishable(version)
        self._iota_mark_published(version)
        self.env["iota.script.rollout.count"]._forget(version.id)
        as_engine(self).write(
            {"candidate_version_id": version.id, "candidate_since": fields.Datetime.now()}
        )
        self.env["iota.script.audit"]._log(
            "rollout.start",
            self,
            values={"version": version.number, "percent": self.rollout_percent},
        )
        self.message_post(
            body=_(
                "v%(number)s is out as a candidate for %(percent)s %% of the runs "
                "(v%(stable)s stays stable).",
                number=version.number,
                percent=self.rollout_percent,
                stable=self.version_id.number,
            ),
            subtype_xmlid="mail.mt_note",
        )

    # ---- routing ---------------------------------------------------------------------
    def _iota_route(self, req, uid):
        """The candidate version when this run goes to it, else ``None``.

        ``self`` is the (warm, sudo) script of a run; ``uid`` the user who
        triggered it. Reads only the run columns cached per registry."""
        candidate = self.candidate_version_id
        if not candidate or candidate == self.version_id:
            return None
        if self.rollout_trigger and req.trigger["type"] != self.rollout_trigger:
            return None
        if req.queued:
            uid = req.queued.sudo().triggered_by_id.id or uid
        if uid in self.rollout_user_ids.ids:
            return candidate
        if rollout.chosen(candidate.id, sticky_key(req, uid), self.rollout_percent):
            return candidate
        return None

    def _iota_channel(self, version) -> str:
        """``candidate`` when ``version`` is this script's candidate, else ``stable``."""
        candidate = self.candidate_version_id
        return "candidate" if candidate and version == candidate else "stable"

    # ---- counting, automatic rollback ----------------------------------------------------
    def _iota_rollout_ran(self, version, state):
        """Counts a run that ended while a candidate is out; after a candidate
        run, schedules the automatic rollback when the threshold is passed."""
        candidate = self.candidate_version_id
        if not candidate or state not in FINISHED_STATES:
            return
        channel = self._iota_channel(version)
        failed = state in ERROR_STATES
        Count = self.env["iota.script.rollout.count"]
        Count._count(self, candidate.id, channel, failed)
        if channel != "candidate":
            return
        # This transaction sees the runs committed before it started: two
        # concurrent failures could each miss the other. After a failure the
        # check is made again after commit, on every committed run.
        if failed or self._iota_rollout_breached(*Count._totals(candidate.id, "candidate")):
            self._iota_rollback_after_commit(candidate.id)

    def _iota_rollout_breached(self, runs, errors) -> bool:
        return runs >= self.rollout_min_runs and 100.0 * errors > self.rollout_error_pct * runs

    def _iota_rollback_after_commit(self, candidate_id):
        """Rolls the candidate back once this transaction commits (once per transaction)."""
        cr = self.env.cr
        scheduled = cr.postcommit.data.setdefault("iota_scripts.rollout_rollback", set())
        if (self.id, candidate_id) in scheduled:
            return
        scheduled.add((self.id, candidate_id))
        registry, script_id = self.env.registry, self.id

        def rollback():
            # A transaction of its own: the run's is committed already, and a
            # rollback that fails must not take a run with it.
            try:
                with registry.cursor() as cr2:
                    env = api.Environment(cr2, SUPERUSER_ID, {})
                    done = env["iota.script"].browse(script_id)._iota_auto_rollback(candidate_id)
            except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
                # another worker changed the script meanwhile (and rolled it back)
                _logger.info("iota.script %s: the rollback was made elsewhere", script_id)
                return
            except Exception:
                _logger.exception(
                    "iota.script %s: the automatic rollback of version %s failed",
                    script_id,
                    candidate_id,
                )
                return
            if done:
                # outside a request (the queue, a cron job) nobody else tells
                # the other workers that the script's cached columns changed
                registry.signal_changes()

        cr.postcommit.add(rollback)

    def _iota_auto_rollback(self, candidate_id) -> bool:
        """Rolls back ``candidate_id`` if it is still out and still over the
        threshold; returns whether it did. One worker does it: the script row
        is locked, and a worker that finds it locked leaves it to the other."""
        self.ensure_one()
        runs, failures = self.env["iota.script.rollout.count"]._totals(candidate_id, "candidate")
        if not self._iota_rollout_breached(runs, failures):
            return False
        self.flush_recordset(["candidate_version_id"])
        self.env.cr.execute(
            SQL(
                """SELECT id FROM iota_script WHERE id = %s AND candidate_version_id = %s
                   FOR NO KEY UPDATE SKIP LOCKED""",
                self.id,
                candidate_id,
            )
        )
        if not self.env.cr.fetchone():
            return False
        self.invalidate_recordset()
        self._iota_rollback(
            _(
                "v%(number)s was rolled back automatically: %(errors)s of its %(runs)s runs "
                "failed (%(rate)s %%, above %(threshold)s %%). v%(stable)s runs everything again.",
                number=self.candidate_version_id.number,
                errors=failures,
                runs=runs,
                rate=round(100.0 * failures / runs, 1),
                threshold=self.rollout_error_pct,
                stable=self.version_id.number,
            ),
            notify=True,
        )
        _logger.warning(
            "iota.script %s: candidate version %s rolled back automatically (%s of %s runs failed)",
            self.id,
            candidate_id,
            failures,
            runs,
        )
        return True

    def _iota_rollback(self, message, notify=False):
        candidate = self.candidate_version_id
        as_engine(self).write({"candidate_version_id": False, "candidate_since": False})
        self.env["iota.script.audit"]._log(
            "rollout.rollback", self, values={"version": candidate.number, "automatic": notify}
        )
        self.message_post(body=message, subtype_xmlid="mail.mt_note")
        responsible = self.user_id or candidate.author_id or self.create_uid
        if notify and responsible and responsible.active and not responsible.share:
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("Candidate rolled back: %s", self.name),
                note=Markup("<p>%s</p>") % message,
                user_id=responsible.id,
            )

    # ---- actions ------------------------------------------------------------------------
    def action_iota_promote(self):
        """Makes the candidate the current (stable) version: every run takes it."""
        for script in self:
            script._check_may_change()
            candidate = script.candidate_version_id
            if not candidate:
                raise UserError(_("%s has no candidate to promote.", script.name))
            stable = script.version_id
            as_engine(script).write(
                {
                    "version_id": candidate.id,
                    "candidate_version_id": False,
                    "candidate_since": False,
                }
            )
            self.env["iota.script.audit"]._log(
                "rollout.promote", script, values={"version": candidate.number}
            )
            script.message_post(
                body=_(
                    "v%(number)s promoted: it replaces v%(stable)s for every run.",
                    number=candidate.number,
                    stable=stable.number,
                ),
                subtype_xmlid="mail.mt_note",
            )
        return True

    def action_iota_rollback(self):
        """Withdraws the candidate: every run takes the current (stable) version again."""
        for script in self:
            script._check_may_change()
            if not script.candidate_version_id:
                raise UserError(_("%s has no candidate to roll back.", script.name))
            script._iota_rollback(
                _(
                    "v%(number)s rolled back by %(user)s: v%(stable)s runs everything again.",
                    number=script.candidate_version_id.number,
                    user=self.env.user.name,
                    stable=script.version_id.number,
                )
            )
        return True


class IotaScriptVersion(models.Model):
    _inherit = "iota.script.version"

    is_candidate = fields.Boolean(compute="_compute_is_candidate")

    def _compute_is_candidate(self):
        for version in self:
            version.is_candidate = version.script_id.candidate_version_id == version

    def action_iota_roll_out(self):
        """Button: puts this version out as the script's candidate."""
        self.ensure_one()
        self.script_id._iota_start_candidate(self)
        return True


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    channel = fields.Selection(
        [("stable", "Stable"), ("candidate", "Candidate")],
        readonly=True,
        help="Which version of a gradual rollout ran: the current (stable) one or the candidate.",
    )

    # ---- the dashboard: candidate against stable ------------------------------------
    @api.model
    def _dashboard_rollouts(self):
        """One entry per script of ``self.env.companies`` with a candidate out.

        Runs and failed runs of each channel come from the rollout's counts
        (exact, whatever the recording policy kept); the 95th percentile of
        the duration (``wall_ms_p95``) is over the recorded finished runs of
        the channel since the candidate went out. The scripts are searched
        with the user's rights; the SQL reads only those ids."""
        scripts = self.env["iota.script"].search(
            [
                ("company_id", "in", self.env.companies.ids),
                ("candidate_version_id", "!=", False),
            ]
        )
        if not scripts:
            return []
        Count = self.env["iota.script.rollout.count"]
        self.flush_model(["script_id", "version_id", "channel", "state", "date_start", "wall_ms"])
        out = []
        for script in scripts:
            candidate = script.candidate_version_id
            self.env.cr.execute(
                SQL(
                    """SELECT e.channel, percentile_cont(0.95) WITHIN GROUP (ORDER BY e.wall_ms)
                         FROM iota_script_execution e
                        WHERE e.script_id = %s AND e.state IN %s AND e.date_start >= %s
                          AND e.version_id IN %s AND e.channel IS NOT NULL
                        GROUP BY e.channel""",
                    script.id,
                    FINISHED_STATES,
                    script.candidate_since or fields.Datetime.now(),
                    (candidate.id, script.version_id.id or 0),
                )
            )
            p95 = dict(self.env.cr.fetchall())
            channels = {}
            for channel, version in (("stable", script.version_id), ("candidate", candidate)):
                runs, errors = Count._totals(candidate.id, channel)
                channels[channel] = {
                    "version": version.number,
                    "runs": runs,
                    "errors": errors,
                    "error_rate": round(100.0 * errors / runs, 2) if runs else None,
                    "wall_ms_p95": p95.get(channel),
                }
            out.append(
                {
                    "script_id": script.id,
                    "name": script.display_name,
                    "percent": script.rollout_percent,
                    "since": fields.Datetime.to_string(script.candidate_since),
                    "rollback_above_pct": script.rollout_error_pct,
                    "min_runs": script.rollout_min_runs,
                    **channels,
                }
            )
        return out
