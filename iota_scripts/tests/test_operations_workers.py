"""Backup, restore and the audit trail against ``odoo --workers=2`` (issue 11 acceptance).

One real prefork server on this test's database (committed data): the
command line exports two scripts over HTTP with an API key, they are
deleted, the command line imports the bundle back, and the scripts are
identical. The export and the import were logged by the server's workers;
the audit chain they sealed verifies, a row edited in SQL is named as the
first broken entry, and the chain verifies again once the row is put back.
"""

import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from odoo import fields
from odoo.tests import TransactionCase, tagged

from .common import RealCursorMixin
from .odoo_workers import start_workers
from .test_audit import assert_cli_names_a_tampered_row, cli_verify
from .test_bundle import dump

SOURCE_V1 = "export default async (ctx) => ({ hello: ctx.input });\n"
SOURCE_V2 = "export default async (ctx) => ({ hello: ctx.input, v: 2 });\n"


@tagged("post_install", "-at_install")
class TestOperationsWorkers(RealCursorMixin, TransactionCase):
    def _admin_key(self):
        with self._env() as env:
            admin = env["res.users"].create(
                {
                    "name": "Operations admin",
                    "login": f"iota_ops_admin_{env.cr.dbname[-8:]}",
                    "company_id": env.ref("base.main_company").id,
                    "company_ids": [(6, 0, env.ref("base.main_company").ids)],
                    "groups_id": [
                        (6, 0, [env.ref("base.group_user").id,
                                env.ref("iota_scripts.iota_scripts_group_admin").id])
                    ],
                }
            )  # fmt: skip
            key = (
                env["res.users.apikeys"]
                .with_user(admin)
                ._generate(None, "operations", fields.Datetime.now() + timedelta(days=1))
            )
            admin_id = admin.id

        def archive():
            with self._env() as env:
                env["res.users"].browse(admin_id).active = False

        self.addCleanup(archive)
        return key

    def _cli(self, base, key, *args):
        env = {**os.environ, "IOTA_SCRIPTS_API_KEY": key}
        done = subprocess.run(
            [sys.executable, "-m", "iota_scripts_sdk.cli", *args,
             "--url", base, "--db", self.env.cr.dbname, "--json"],
            capture_output=True, text=True, env=env, timeout=180,
        )  # fmt: skip
        return done.returncode, json.loads(done.stdout or "null"), done.stderr

    def _dump(self, keys):
        with self._env() as env:
            company = env.ref("base.main_company")
            return {k: v for k, v in dump(env, company).items() if k in keys}

    def test_export_drop_import_and_audit_under_two_workers(self):
        first = self._committed_script(SOURCE_V1, name="Ops one")
        other = self._committed_script(SOURCE_V1, name="Ops two")
        with self._env() as env:
            env["iota.script"].browse(first).write({"source": SOURCE_V2})
            keys = env["iota.script"].browse([first, other]).mapped("key")
        before = self._dump(keys)
        self.assertEqual(len(before[keys[0]]["versions"]), 2)
        key = self._admin_key()
        _server, base, _data_dir = start_workers(self)
        bundle = Path(tempfile.mkdtemp(prefix="iota_ops_")) / "backup.zip"
        self.addCleanup(lambda: bundle.unlink(missing_ok=True))

        rc, out, err = self._cli(
            base, key, "export", "-o", str(bundle), *[arg for k in keys for arg in ("--key", k)]
        )
        self.assertEqual(rc, 0, err)
        self.assertTrue(bundle.stat().st_size > 0)
        for script_id in (first, other):
            self._delete_committed_script(script_id)
        self.assertEqual(self._dump(keys), {})
        rc, out, err = self._cli(base, key, "import", str(bundle))
        self.assertEqual(rc, 0, err)
        self.assertTrue(out["applied"], out)
        self.assertEqual(self._dump(keys), before)
        with self._env() as env:
            imported = (
                env["iota.script"].with_context(active_test=False).search([("key", "in", keys)])
            )
            imported_ids = imported.ids
        for script_id in imported_ids:
            self.addCleanup(self._delete_committed_script, script_id)

        # the workers logged and sealed the export and the import
        with self._env() as env:
            env.cr.execute(
                "SELECT id, seq, action FROM iota_script_audit WHERE action IN ('export', 'import')"
                " AND res_name IN %s ORDER BY id",
                [tuple(before[k]["name"] for k in keys)],
            )
            rows = env.cr.fetchall()
        self.assertEqual(sorted(r[2] for r in rows), ["export", "export", "import", "import"])
        self.assertTrue(all(r[1] for r in rows), f"sealed after commit: {rows}")
        self.assertEqual(cli_verify(self.env.cr.dbname).returncode, 0)
        assert_cli_names_a_tampered_row(self, rows[-1])
