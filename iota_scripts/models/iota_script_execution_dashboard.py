"""The dashboard's data: one JSON-RPC call, ``get_dashboard_data(period_days)``.

What it counts
--------------
Runs are executions whose ``date_start`` falls in the last ``period_days``
days (1, 7 or 30), bucketed by hour (1 day) or by day (7, 30 days) in the
user's time zone. A run is *finished* when it succeeded or failed; it
*failed* in the states ``failed``, ``timed_out`` and ``dead``. The error rate
is failed / finished, in percent (``None`` when nothing finished). Queued,
running and cancelled runs count in "runs per day" only.

Runs that their recording policy did not keep (``iota.script.run.stat``,
see ``models/iota_script_record_policy.py``) count like executions, by the
minute they started: run counts, states and error rates are exact under
every policy. Durations (``wall_ms``), CPU time (``cpu_ms``) and peak heap
(``heap_peak_bytes``) are summarised per script over the finished runs that
were *recorded*, with PostgreSQL's ``percentile_cont`` (linear interpolation
between the closest ranks, as Python's ``statistics.quantiles(method="inclusive")``);
``wall_ms_avg`` is over every finished run.

Scoping
-------
The SQL reads only the ids returned by ``_search`` on executions and run
counts: access rights and record rules apply, and the domain pins the companies to
``self.env.companies`` (the company switcher). Nothing here runs as
superuser. Queue depth and dead letters are ORM counts under the same rules;
dead deliveries are ``None`` for users who may not read deliveries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytz
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools.run_states import ERROR_STATES, FINISHED_STATES

PERIODS_DAYS = (1, 7, 30)
#: How many scripts the per-script charts show.
TOP_SCRIPTS = 10


def _pct(part, whole):
    return round(100.0 * part / whole, 2) if whole else None


class IotaScriptExecution(models.Model):
    _inherit = "iota.script.execution"

    @api.model
    def get_dashboard_data(self, period_days=7):
        """The dashboard's numbers for the last ``period_days`` (1, 7 or 30) days.

        Returns a JSON-able dict: ``period_days``, ``bucket`` ("hour"/"day"),
        ``buckets`` (labels, local time), ``states`` ([key, label] pairs),
        ``runs_by_state`` ({state: [count per bucket]}), ``error_rate``
        ([percent or None per bucket]), ``totals``, ``scripts`` (per script:
        runs, errors, error_rate, wall_ms_avg, p50/p95 of wall_ms, cpu_ms
        and heap_peak_bytes of the recorded runs; the ``TOP_SCRIPTS`` busiest), ``top_failing`` (the
        scripts with the most failed runs), ``queue`` (queued, running,
        dead runs: not limited to the period), ``dead_letters``,
        ``schedules`` (missed slots, and schedules waiting for an inactive
        script: not limited to the period) and ``rollouts`` (candidate
        against stable for the scripts with a candidate out:
        ``models/iota_script_rollout.py``).
        Raises UserError for any other period.
        """
        if isinstance(period_days, bool) or period_days not in PERIODS_DAYS:
            raise UserError(
                _("The period must be one of %(periods)s days.", periods=list(PERIODS_DAYS))
            )
        tz_name = self.env.context.get("tz") or self.env.user.tz or "UTC"
        if tz_name not in pytz.all_timezones_set:
            tz_name = "UTC"
        tz = pytz.timezone(tz_name)
        bucket = "hour" if period_days == 1 else "day"
        now = fields.Datetime.now()
        since = now - timedelta(days=period_days)
        # the SQL below reads these columns directly: write pending changes first
        self.flush_model(
            [
                "script_id",
                "company_id",
                "state",
                "date_start",
                "wall_ms",
                "cpu_ms",
                "heap_peak_bytes",
            ]
        )
        query = self._search(
            [("company_id", "in", self.env.companies.ids), ("date_start", ">=", since)]
        )
        ids = query.subselect()
        local = SQL("timezone(%s, timezone('UTC', e.date_start))", tz_name)
        # unrecorded runs: their minute starts at or after the period's first minute
        stat_ids = (
            self.env["iota.script.run.stat"]
            ._search(
                [
                    ("company_id", "in", self.env.companies.ids),
                    ("bucket", ">=", since.replace(second=0, microsecond=0)),
                ]
            )
            .subselect()
        )

        # 1. runs per bucket and state
        self.env.cr.execute(
            SQL(
                """SELECT date_trunc(%s, %s) AS b, e.state, count(*)
                     FROM iota_script_execution e WHERE e.id IN %s GROUP BY 1, 2
                   UNION ALL
                   SELECT date_trunc(%s, timezone(%s, timezone('UTC', s.bucket))), s.state,
                          sum(s.runs)
                     FROM iota_script_run_stat s WHERE s.id IN %s GROUP BY 1, 2""",
                bucket,
                local,
                ids,
                bucket,
                tz_name,
                stat_ids,
            )
        )
        rows = self.env.cr.fetchall()
        labels = self._dashboard_buckets(since, now, tz, bucket)
        index = {label: i for i, label in enumerate(labels)}
        states = self._fields["state"]._description_selection(self.env)
        by_state = {key: [0] * len(labels) for key, _label in states}
        for start, state, count in rows:
            i = index.get(self._dashboard_label(start, bucket))
            if i is not None:
                by_state[state][i] += count
        error_rate = []
        for i in range(len(labels)):
            errors = sum(by_state[s][i] for s in ERROR_STATES)
            finished = errors + by_state["succeeded"][i]
            error_rate.append(_pct(errors, finished))

        # 2. per script
        finished = SQL("e.state IN %s", FINISHED_STATES)

        def pct(p, column):
            return SQL(
                "percentile_cont(%s) WITHIN GROUP (ORDER BY %s) FILTER (WHERE %s)",
                p,
                SQL.identifier("e", column),
                finished,
            )

        self.env.cr.execute(
            SQL(
                """SELECT e.script_id, count(*), count(*) FILTER (WHERE e.state IN %s),
                          count(*) FILTER (WHERE %s), sum(e.wall_ms) FILTER (WHERE %s),
                          %s, %s, %s, %s, %s, %s
                     FROM iota_script_execution e WHERE e.id IN %s
                    GROUP BY e.script_id
                   UNION ALL
                   SELECT s.script_id, sum(s.runs), sum(s.runs) FILTER (WHERE s.state IN %s),
                          sum(s.runs) FILTER (WHERE s.state IN %s),
                          sum(s.wall_ms) FILTER (WHERE s.state IN %s),
                          NULL, NULL, NULL, NULL, NULL, NULL
                     FROM iota_script_run_stat s WHERE s.id IN %s
                    GROUP BY s.script_id""",
                ERROR_STATES,
                finished,
                finished,
                pct(0.5, "wall_ms"),
                pct(0.95, "wall_ms"),
                pct(0.5, "cpu_ms"),
                pct(0.95, "cpu_ms"),
                pct(0.5, "heap_peak_bytes"),
                pct(0.95, "heap_peak_bytes"),
                ids,
                ERROR_STATES,
                FINISHED_STATES,
                FINISHED_STATES,
                stat_ids,
            )
        )
        # one row of recorded runs (with percentiles) and one of unrecorded runs per script
        per_script = {}
        for script_id, runs, errors, done, wall_sum, *percentiles in self.env.cr.fetchall():
            row = per_script.setdefault(
                script_id,
                {"runs": 0, "errors": 0, "finished": 0, "wall_sum": 0.0, "p": [None] * 6},
            )
            row["runs"] += int(runs or 0)
            row["errors"] += int(errors or 0)
            row["finished"] += int(done or 0)
            row["wall_sum"] += float(wall_sum or 0.0)
            if percentiles[0] is not None:
                row["p"] = percentiles
        names = {
            script.id: script.display_name
            for script in self.env["iota.script"]
            .with_context(active_test=False)
            .browse(list(per_script))
        }
        scripts = [
            {
                "script_id": script_id,
                "name": names.get(script_id, str(script_id)),
                "runs": row["runs"],
                "errors": row["errors"],
                "finished": row["finished"],
                "error_rate": _pct(row["errors"], row["finished"]),
                "wall_ms_avg": row["wall_sum"] / row["finished"] if row["finished"] else None,
                "wall_ms_p50": row["p"][0],
                "wall_ms_p95": row["p"][1],
                "cpu_ms_p50": row["p"][2],
                "cpu_ms_p95": row["p"][3],
                "heap_bytes_p50": row["p"][4],
                "heap_bytes_p95": row["p"][5],
            }
            for script_id, row in per_script.items()
        ]
        busiest = sorted(scripts, key=lambda s: (-s["runs"], s["name"]))[:TOP_SCRIPTS]
        failing = sorted(
            (s for s in scripts if s["errors"]), key=lambda s: (-s["errors"], s["name"])
        )[:TOP_SCRIPTS]

        total_errors = sum(s["errors"] for s in scripts)
        total_finished = sum(s["finished"] for s in scripts)
        return {
            "period_days": period_days,
            "bucket": bucket,
            "tz": tz_name,
            "since": fields.Datetime.to_string(since),
            "error_states": list(ERROR_STATES),
            "buckets": labels,
            "states": [list(pair) for pair in states],
            "runs_by_state": by_state,
            "error_rate": error_rate,
            "totals": {
                "runs": sum(s["runs"] for s in scripts),
                "finished": total_finished,
                "errors": total_errors,
                "error_rate": _pct(total_errors, total_finished),
            },
            "scripts": busiest,
            "top_failing": failing,
            "queue": self._dashboard_queue(),
            "dead_letters": self._dashboard_dead_letters(),
            "schedules": self._dashboard_schedules(),
            "events_waiting": self._dashboard_events_waiting(),
            # candidate against stable (models/iota_script_rollout.py)
            "rollouts": self._dashboard_rollouts(),
        }

    # ---- helpers ---------------------------------------------------------------------
    @api.model
    def _dashboard_label(self, local_start: datetime, bucket: str) -> str:
        return local_start.strftime("%Y-%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d")

    @api.model
    def _dashboard_buckets(self, since, now, tz, bucket) -> list[str]:
        """Every bucket label from ``since`` to ``now`` (UTC, naive), in local time."""
        step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
        start = pytz.utc.localize(since).astimezone(tz).replace(tzinfo=None, minute=0, second=0)
        start = start.replace(microsecond=0)
        if bucket == "day":
            start = start.replace(hour=0)
        end = pytz.utc.localize(now).astimezone(tz).replace(tzinfo=None)
        labels = []
        while start <= end:
            label = self._dashboard_label(start, bucket)
            if not labels or labels[-1] != label:
                labels.append(label)
            start += step
        return labels

    @api.model
    def _dashboard_queue(self):
        counts = dict(
            self._read_group(
                [
                    ("company_id", "in", self.env.companies.ids),
                    ("state", "in", ("queued", "running", "dead")),
                ],
                ["state"],
                ["__count"],
            )
        )
        queued, running = counts.get("queued", 0), counts.get("running", 0)
        return {
            "queued": queued,
            "running": running,
            "depth": queued + running,
            "dead_runs": counts.get("dead", 0),
        }

    @api.model
    def _dashboard_schedules(self):
        """Missed slots of the schedules (all time), and the schedules waiting for an inactive script."""
        Schedule = self.env["iota.script.schedule"]
        if not Schedule.has_access("read"):
            return None
        companies = [("company_id", "in", self.env.companies.ids)]
        missed = Schedule._read_group(companies, [], ["missed_count:sum"])[0][0]
        return {
            "missed": missed or 0,
            "waiting": Schedule.search_count([*companies, ("waits_for_script", "=", True)]),
        }

    @api.model
    def _dashboard_dead_letters(self):
        Delivery = self.env["iota.script.delivery"]
        if not Delivery.has_access("read"):
            return None
        return Delivery.search_count(
            [("company_id", "in", self.env.companies.ids), ("state", "=", "dead")]
        )

    @api.model
    def _dashboard_events_waiting(self):
        """Events not dispatched yet, and how many of them wait for the event quota.

        ``None`` for users who may not read events. An event storm shows
        here while the quota holds it back (``models/iota_script_delivery.py``).
        """
        Event = self.env["iota.script.event"]
        if not Event.has_access("read"):
            return None
        domain = [("company_id", "in", self.env.companies.ids), ("state", "=", "pending")]
        return {
            "pending": Event.search_count(domain),
            "held_by_quota": Event.search_count([*domain, ("eta", "!=", False)]),
        }
