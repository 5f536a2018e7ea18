"""Gradual rollout (issue 11 §7): a candidate beside the stable version.

Real runs (V8, PostgreSQL) in one transaction: routing by share, user,
trigger and pin, stickiness, promote and roll back, a switch during a run,
the counts and the automatic rollback, the dashboard's comparison. The
draws are hashes of known keys (``tools/rollout.py``): the tests compute
the expected channel of every run and assert it exactly. The rollback after
commit, under ``--workers=2`` through HTTP, is ``test_rollout_workers.py``.
"""

import json
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..run.request import RunRequest
from ..sdk_host.flags import FlagsHost
from ..tools import rollout
from .common import IotaScriptsCase

STABLE = "export default async function () { return {v: 'stable'}; }"
CANDIDATE = "export default async function () { return {v: 'candidate'}; }"
FAILING = "export default async function () { throw new Error('candidate broke'); }"


@tagged("post_install", "-at_install")
class TestRollout(IotaScriptsCase):
    def _rolled_out(self, candidate_source=CANDIDATE, **values):
        """A script whose v1 is stable and v2 (``candidate_source``) the candidate."""
        script = self._script(STABLE, user_id=self.dev_a.id, **values)
        script.rollout_mode = True
        script.source = candidate_source
        self.assertEqual(script.version_id.number, 1)
        self.assertEqual(script.candidate_version_id.number, 2)
        return script

    def _on_record(self, script, record):
        return self.env["iota.script.execution"]._run(
            RunRequest(script, {"type": "automation"}, records=record)
        )

    def _v(self, execution):
        return json.loads(execution.result_json)["v"]

    def test_a_saved_source_becomes_the_candidate_in_rollout_mode(self):
        script = self._rolled_out()
        self.assertIn("out as a candidate", script.message_ids[0].body)
        # without rollout mode a save replaces the stable version, as before
        script.rollout_mode = False
        script.source = STABLE.replace("stable", "stable again")
        self.assertEqual(script.version_id.number, 3)
        self.assertEqual(script.candidate_version_id.number, 2)

    def test_ten_percent_of_records_go_to_the_candidate_exactly_as_drawn_and_stick(self):
        script = self._rolled_out(rollout_percent=10.0)
        candidate = script.candidate_version_id
        partners = self.env["res.partner"].create(
            [{"name": f"P{i}", "company_id": self.company_a.id} for i in range(200)]
        )
        expected = {p.id: rollout.chosen(candidate.id, f"res.partner:{p.id}", 10) for p in partners}
        channels = {}
        for partner in partners:
            execution = self._on_record(script, partner)
            channels[partner.id] = execution.channel
            want = "candidate" if expected[partner.id] else "stable"
            self.assertEqual((execution.channel, self._v(execution)), (want, want))
            self.assertEqual(
                execution.version_id, candidate if expected[partner.id] else script.version_id
            )
        on_candidate = sum(expected.values())
        # the hash spreads 200 records around 10 % (binomial: 4..40 holds with
        # p > 0.99999); the exact set is asserted above
        self.assertTrue(4 <= on_candidate <= 40, on_candidate)
        # sticky: the same record gets the same channel, run after run
        for partner in partners[:40]:
            self.assertEqual(self._on_record(script, partner).channel, channels[partner.id])
        counts = self.env["iota.script.rollout.count"]
        self.assertEqual(
            counts._totals(candidate.id, "candidate"),
            (on_candidate + sum(expected[p.id] for p in partners[:40]), 0),
        )

    def test_candidate_users_trigger_types_and_pins(self):
        script = self._rolled_out(rollout_percent=0.0)
        script.rollout_user_ids = self.dev_a
        dev_run = script.with_user(self.dev_a).action_run()
        self.assertEqual((dev_run.channel, self._v(dev_run)), ("candidate", "candidate"))
        other = self._user("iota_rollout_other", "iota_scripts.iota_scripts_group_developer")
        self.assertEqual(script.with_user(other).action_run().channel, "stable")
        # a manual run sticks to its user: at 100 % every user gets the candidate
        script.rollout_percent = 100.0
        self.assertEqual(script.with_user(other).action_run().channel, "candidate")
        # only one trigger type may take part
        script.rollout_trigger = "endpoint"
        self.assertEqual(script.with_user(self.dev_a).action_run().channel, "stable")
        self.assertEqual(self._on_record(script, self.partner_a).channel, "stable")
        # a run pinned to a version (an endpoint running as its caller) runs the pin
        pinned = self.env["iota.script.execution"]._run(
            RunRequest(
                script,
                {"type": "endpoint"},
                pinned_version_id=script.version_id.id,
                caller="ip:10.0.0.1",
            )
        )
        self.assertEqual((pinned.version_id, pinned.channel), (script.version_id, "stable"))
        unpinned = self.env["iota.script.execution"]._run(
            RunRequest(script, {"type": "endpoint"}, caller="ip:10.0.0.1")
        )
        self.assertEqual(unpinned.channel, "candidate")

    def test_promote_and_roll_back_in_one_click(self):
        script = self._rolled_out(rollout_percent=100.0)
        v1, v2 = script.version_id, script.candidate_version_id
        self.assertEqual(self._on_record(script, self.partner_a).version_id, v2)
        script.with_user(self.dev_a).action_iota_rollback()
        self.assertFalse(script.candidate_version_id)
        run = self._on_record(script, self.partner_a)
        self.assertEqual((run.version_id, run.channel, self._v(run)), (v1, "stable", "stable"))
        self.assertIn("rolled back by", script.message_ids[0].body)
        with self.assertRaises(UserError):
            script.action_iota_rollback()
        # out again from a version's button, then promoted
        v2.with_user(self.dev_a).action_iota_roll_out()
        self.assertEqual(script.candidate_version_id, v2)
        script.with_user(self.dev_a).action_iota_promote()
        self.assertEqual((script.version_id, script.candidate_version_id), (v2, v2.browse()))
        run = self._on_record(script, self.partner_a)
        self.assertEqual((run.version_id, run.channel, self._v(run)), (v2, "stable", "candidate"))
        self.assertIn("promoted", script.message_ids[0].body)
        # the current version cannot be a candidate; a plain user may not switch
        with self.assertRaises(UserError):
            v2.action_iota_roll_out()
        v1.action_iota_roll_out()
        with self.assertRaises(AccessError):
            script.with_user(self.user_a).action_iota_promote()
        # each switch is in the audit trail
        actions = (
            self.env["iota.script.audit"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "iota.script"),
                    ("res_id", "=", script.id),
                    ("action", "=like", "rollout.%"),
                ],
                order="id",
            )
            .mapped("action")
        )
        self.assertEqual(
            actions,
            [
                "rollout.start",
                "rollout.rollback",
                "rollout.start",
                "rollout.promote",
                "rollout.start",
            ],
        )

    def test_a_run_in_flight_keeps_the_version_it_resolved(self):
        """The candidate is rolled back *during* its run (from a host call): the
        run finishes on the candidate and records it; the next run is stable."""
        source = """export default async function () {
          const on = await sdk.flags.enabled("anything");
          return {v: 'candidate', on};
        }"""
        script = self._rolled_out(source, rollout_percent=100.0)
        candidate = script.candidate_version_id
        original = FlagsHost.enabled

        def switch_then_answer(host, args):
            script.with_user(self.dev_a).action_iota_rollback()
            return original(host, args)

        with patch.object(FlagsHost, "enabled", switch_then_answer):
            run = self._on_record(script, self.partner_a)
        self.assertFalse(script.candidate_version_id)
        self.assertEqual(run.state, "succeeded")
        self.assertEqual(
            (run.version_id, run.channel, self._v(run)), (candidate, "candidate", "candidate")
        )
        self.assertEqual(self._v(self._on_record(script, self.partner_a)), "stable")

    def test_the_candidate_rolls_back_automatically_over_the_threshold(self):
        script = self._rolled_out(FAILING, rollout_percent=100.0, rollout_min_runs=10)
        candidate = script.candidate_version_id
        partners = self.env["res.partner"].create(
            [{"name": f"F{i}", "company_id": self.company_a.id} for i in range(10)]
        )
        Count = self.env["iota.script.rollout.count"]
        self.env.cr.postcommit.data.pop("iota_scripts.rollout_rollback", None)
        for partner in partners[:9]:
            self.assertEqual(self._on_record(script, partner).state, "failed")
        # a failure schedules the check after the run's commit (once per transaction)...
        self.assertEqual(
            self.env.cr.postcommit.data["iota_scripts.rollout_rollback"],
            {(script.id, candidate.id)},
        )
        # ...which does this (called by hand here: a test transaction never
        # commits): 9 failures of 9 runs are under the minimum number of runs
        self.assertEqual(Count._totals(candidate.id, "candidate"), (9, 9))
        self.assertFalse(script._iota_auto_rollback(candidate.id))
        self.assertTrue(script.candidate_version_id)
        self._on_record(script, partners[9])
        with self.assertLogs(
            "odoo.addons.iota_scripts.models.iota_script_rollout", "WARNING"
        ) as log:
            self.assertTrue(script._iota_auto_rollback(candidate.id))
        self.assertIn("rolled back automatically (10 of 10 runs failed)", log.output[0])
        self.assertFalse(script.candidate_version_id)
        self.assertIn("rolled back automatically", script.message_ids[0].body)
        self.assertIn("10 of its 10 runs failed", script.message_ids[0].body)
        activity = script.activity_ids
        self.assertEqual((len(activity), activity.user_id), (1, self.dev_a))
        self.assertIn("Candidate rolled back", activity.summary)
        # a second worker finds nothing left to do
        self.assertFalse(script._iota_auto_rollback(candidate.id))
        self.assertEqual(self._on_record(script, partners[0]).state, "succeeded")

    def test_a_candidate_under_the_threshold_stays(self):
        half = """export default async function (ctx) {
          if (ctx.records.ids[0] % 2) throw new Error('odd');
          return {v: 'candidate'};
        }"""
        script = self._rolled_out(half, rollout_percent=100.0, rollout_min_runs=4)
        partners = self.env["res.partner"].create(
            [{"name": f"H{i}", "company_id": self.company_a.id} for i in range(8)]
        )
        for partner in partners:
            self._on_record(script, partner)
        # exactly 50 % failed: not *above* the 50 % threshold
        self.assertEqual(
            self.env["iota.script.rollout.count"]._totals(
                script.candidate_version_id.id, "candidate"
            ),
            (8, 4),
        )
        self.assertFalse(script._iota_auto_rollback(script.candidate_version_id.id))
        self.assertTrue(script.candidate_version_id)

    def test_the_dashboard_compares_candidate_and_stable(self):
        script = self._rolled_out(FAILING, rollout_percent=50.0, rollout_min_runs=1000)
        candidate = script.candidate_version_id
        partners = self.env["res.partner"].create(
            [{"name": f"D{i}", "company_id": self.company_a.id} for i in range(30)]
        )
        on_candidate = sum(
            rollout.chosen(candidate.id, f"res.partner:{p.id}", 50) for p in partners
        )
        for partner in partners:
            self._on_record(script, partner)
        data = self.env["iota.script.execution"].with_user(self.dev_a).get_dashboard_data(1)
        (row,) = [r for r in data["rollouts"] if r["script_id"] == script.id]
        self.assertEqual(row["candidate"]["version"], 2)
        self.assertEqual(row["stable"]["version"], 1)
        self.assertEqual(row["candidate"]["runs"], on_candidate)
        self.assertEqual(row["candidate"]["errors"], on_candidate)
        self.assertEqual(row["candidate"]["error_rate"], 100.0 if on_candidate else None)
        self.assertEqual((row["stable"]["runs"], row["stable"]["errors"]), (30 - on_candidate, 0))
        self.assertEqual(row["stable"]["error_rate"], 0.0)
        self.assertIsNotNone(row["stable"]["wall_ms_p95"])
        self.assertEqual(row["percent"], 50.0)
        # company B sees nothing of it
        data_b = self.env["iota.script.execution"].with_user(self.dev_b).get_dashboard_data(1)
        self.assertFalse([r for r in data_b["rollouts"] if r["script_id"] == script.id])
