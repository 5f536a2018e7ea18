"""The audit trail (issue 11 §4): what is logged, append-only, and a tampered row is found.

* :class:`TestAuditTrail`: in the test's transaction: actions on scripts and
  triggers, runs by hand and replays are logged (names and safe values,
  never a source); the ORM cannot change an entry; the "Verify audit trail"
  action names the first broken entry after one row is edited in SQL.
* :class:`TestAuditVerifyCli`: on committed data, ``iota-scripts audit
  verify --db`` (a subprocess reading PostgreSQL directly) says intact, then
  names the entry edited in SQL, then intact again once it is put back.
"""

import json
import subprocess
import sys
import threading

from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from ..models.iota_script_audit import AuditAppendOnly
from ..tools.sentinel import as_engine
from .common import IotaScriptsCase, RealCursorMixin

SOURCE = "export default async function () { return {n: 1}; }"
BODY_SOURCE = "export default async function () { return 'top-secret-body-42'; }"


def _entries(env, records):
    return env["iota.script.audit"].search(
        [("res_model", "=", records._name), ("res_id", "in", records.ids)], order="id"
    )


@tagged("post_install", "-at_install")
class TestAuditTrail(IotaScriptsCase):
    def test_script_lifecycle_is_logged_without_sources(self):
        script = self._script(SOURCE, name="Audited", state="draft")
        script.write({"source": BODY_SOURCE, "name": "Audited 2"})
        script.action_activate()
        script.action_disable()
        script.active = False
        entries = _entries(self.env, script)
        self.assertEqual(
            entries.mapped("action"),
            ["create", "edit", "edit", "activate", "disable", "archive"],
        )
        created, _run_as, edited = entries[0], entries[1], entries[2]
        self.assertEqual(created.user_id, self.env.uid)
        self.assertEqual(created.user_name, self.env.user.name)
        self.assertEqual(created.company_id, self.company_a.id)
        self.assertEqual(created.res_name, "Audited")
        changes = json.loads(edited.changes)
        self.assertEqual(changes["fields"], ["name", "source"])
        self.assertEqual(
            changes["values"]["source_sha256"], script.version_id.sha256, "the sha256, not the body"
        )
        self.assertNotIn("top-secret-body-42", "".join(entries.mapped("changes")))
        self.assertEqual(json.loads(entries[3].changes)["values"], {"state": "active"})
        # deleting: logged before the row goes (its name is kept)
        script_id = script.id
        script.unlink()
        deleted = self.env["iota.script.audit"].search(
            [("res_model", "=", "iota.script"), ("res_id", "=", script_id)],
            order="id desc",
            limit=1,
        )
        self.assertEqual((deleted.action, deleted.res_name), ("delete", "Audited 2"))

    def test_triggers_runs_by_hand_and_replays_are_logged(self):
        script = self._script(SOURCE, name="Triggered")
        endpoint = self.env["iota.script.endpoint"].create(
            {"script_id": script.id, "path": "/audit/one", "auth_mode": "public"}
        )
        endpoint.write({"path": "/audit/two"})
        self.assertEqual(_entries(self.env, endpoint).mapped("action"), ["create", "edit"])
        self.assertEqual(
            json.loads(_entries(self.env, endpoint)[-1].changes)["values"], {"path": "/audit/two"}
        )
        execution = script.with_user(self.dev_a).action_run(input={"x": 1})
        run = _entries(self.env, script).filtered(lambda e: e.action == "run")
        self.assertEqual(len(run), 1)
        self.assertEqual((run.user_id, run.user_name), (self.dev_a.id, self.dev_a.name))
        self.assertEqual(
            json.loads(run.changes)["values"], {"background": False, "execution_id": execution.id}
        )
        event = as_engine(self.env["iota.script.event"]).create(
            {"type": "audit.test", "origin": "script", "company_id": self.company_a.id}
        )
        delivery = as_engine(self.env["iota.script.delivery"]).create(
            {
                "event_id": event.id,
                "script_id": script.id,
                "company_id": self.company_a.id,
                "state": "dead",
            }
        )
        admin = self._user("iota_audit_admin", "iota_scripts.iota_scripts_group_admin")
        delivery.with_user(admin).action_replay()
        replay = _entries(self.env, delivery)
        self.assertEqual(replay.mapped("action"), ["replay"])
        self.assertEqual(replay.user_id, admin.id)
        self.assertEqual(json.loads(replay.changes)["values"]["event_type"], "audit.test")

    def test_the_orm_cannot_change_an_entry(self):
        self._script(SOURCE, name="Append only")
        entry = self.env["iota.script.audit"].search([], limit=1)
        self.assertTrue(entry)
        with self.assertRaises(AuditAppendOnly):
            entry.write({"action": "nothing"})
        with self.assertRaises(AuditAppendOnly):
            entry.unlink()
        with self.assertRaises(AuditAppendOnly):
            self.env["iota.script.audit"].create({"action": "forged"})
        with self.assertRaises(AccessError):  # developers do not read it
            self.env["iota.script.audit"].with_user(self.dev_a).search([], limit=1)
        with self.assertRaises(ValueError):  # names, never values
            self.env["iota.script.audit"]._log("secret.set", values={"secret_value": "x"})

    def test_verify_names_the_row_edited_in_sql(self):
        script = self._script(SOURCE, name="Tampered")
        script.name = "Tampered 2"
        script.action_disable()
        Audit = self.env["iota.script.audit"]
        ok = Audit.action_verify()
        self.assertEqual(ok["params"]["type"], "success", ok)
        entries = _entries(self.env, script)
        self.assertTrue(all(entries.mapped("seq")), "sealed by the verification")
        victim = entries[1]
        self.env.cr.execute(
            "UPDATE iota_script_audit SET action = 'create' WHERE id = %s", [victim.id]
        )
        broken = Audit.action_verify()
        self.assertEqual(broken["params"]["type"], "danger")
        self.assertIn(f"broken at entry {victim.id} (seq {victim.seq}", broken["params"]["message"])
        self.assertIn("hash mismatch", broken["params"]["message"])
        report = Audit._verify()
        self.assertEqual(
            (report.first_break.id, report.first_break.reason), (victim.id, "hash mismatch")
        )
        # a deleted entry in the middle: a gap at the next one
        self.env.cr.execute(
            "UPDATE iota_script_audit SET action = 'edit' WHERE id = %s", [victim.id]
        )
        self.assertTrue(Audit._verify().ok)
        self.env.cr.execute("DELETE FROM iota_script_audit WHERE id = %s", [victim.id])
        report = Audit._verify()
        self.assertEqual((report.first_break.id, report.first_break.reason), (entries[2].id, "gap"))
        with self.assertRaises(AuditAppendOnly):
            Audit.with_user(self.dev_a).action_verify()


def cli_verify(dbname, *extra):
    args = [sys.executable, "-m", "iota_scripts_sdk.cli", "audit", "verify", "--db", dbname]
    for option in ("db_host", "db_port", "db_user", "db_password"):
        if config.get(option):
            args += [f"--{option.replace('_', '-')}", str(config[option])]
    return subprocess.run([*args, *extra], capture_output=True, text=True, timeout=120)


def assert_cli_names_a_tampered_row(case, row):
    """Edits the committed entry ``row`` (id, seq, action) in SQL: the command
    line names it as the first broken entry; put back, the chain verifies."""
    victim_id, victim_seq, action = row
    dbname = case.env.cr.dbname

    def put_back():
        with case._env() as env:
            env.cr.execute(
                "UPDATE iota_script_audit SET action = %s WHERE id = %s", [action, victim_id]
            )

    case.addCleanup(put_back)
    with case._env() as env:
        env.cr.execute("UPDATE iota_script_audit SET action = 'delete' WHERE id = %s", [victim_id])
    broken = cli_verify(dbname)
    case.assertEqual(broken.returncode, 1, broken.stdout + broken.stderr)
    case.assertIn(f"entry {victim_id} (seq {victim_seq}, ", broken.stderr)
    case.assertIn("hash mismatch", broken.stderr)
    as_json = json.loads(cli_verify(dbname, "--json").stdout)
    case.assertEqual(as_json["first_break"]["id"], victim_id)
    case.assertEqual(as_json["first_break"]["reason"], "hash mismatch")
    put_back()
    case.assertEqual(cli_verify(dbname).returncode, 0)


@tagged("post_install", "-at_install")
class TestAuditVerifyCli(RealCursorMixin, TransactionCase):
    def test_cli_names_the_first_broken_entry(self):
        script_id = self._committed_script(SOURCE, name="CLI audited")
        with self._env() as env:
            env["iota.script"].browse(script_id).write({"name": "CLI audited 2"})
        with self._env() as env:
            env.cr.execute(
                "SELECT id, seq, action FROM iota_script_audit"
                " WHERE res_model = 'iota.script' AND res_id = %s ORDER BY id",
                [script_id],
            )
            rows = env.cr.fetchall()
        self.assertEqual(rows[0][2], "create")
        self.assertTrue(all(r[1] for r in rows), f"sealed after commit: {rows}")
        dbname = self.env.cr.dbname
        intact = cli_verify(dbname)
        self.assertEqual(intact.returncode, 0, intact.stderr)
        self.assertTrue(intact.stdout.startswith("ok: "), intact.stdout)

        assert_cli_names_a_tampered_row(self, rows[-1])

    def test_concurrent_appends_do_not_fork_and_rollbacks_leave_no_gap(self):
        """Two transactions log at once and commit; one more logs and rolls back (a replayed request)."""
        barrier = threading.Barrier(2)
        created = []

        def writer(n):
            with self._env() as env:
                scripts = env["iota.script"].create(
                    [
                        {
                            "name": f"Concurrent {n}.{i}",
                            "key": f"audit_concurrent_{n}_{i}_{self.env.cr.dbname[-6:]}",
                            "company_id": env.ref("base.main_company").id,
                            "source": SOURCE,
                        }
                        for i in range(3)
                    ]
                )
                barrier.wait(10)  # both hold pending entries, then both commit
                created.extend(scripts.ids)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for script_id in created:
            self.addCleanup(self._delete_committed_script, script_id)
        self.assertEqual(len(created), 6)
        with self._env() as env:
            env["iota.script.audit"]._log("edit", env["iota.script"].browse(created[0]))
            env.cr.rollback()  # what Odoo does before replaying a request
        with self._env() as env:
            env.cr.execute(
                "SELECT seq FROM iota_script_audit WHERE res_model = 'iota.script'"
                " AND res_id = ANY(%s) ORDER BY seq",
                [created],
            )
            seqs = [row[0] for row in env.cr.fetchall()]
            env.cr.execute("SELECT count(*) FROM iota_script_audit WHERE seq IS NULL")
            self.assertEqual(env.cr.fetchone()[0], 0, "everything committed is sealed")
        self.assertTrue(all(seqs) and len(set(seqs)) == len(seqs), seqs)
        report = cli_verify(self.env.cr.dbname, "--json")
        self.assertEqual(report.returncode, 0, report.stdout + report.stderr)
        self.assertIsNone(json.loads(report.stdout)["first_break"])
