"""Every command of the runbooks (``docs/runbooks/*.md``) runs against a real Odoo (issue 11 §8).

Each ``bash`` block of a runbook is run as it is written, with ``bash -eo
pipefail``, against this test's Odoo server (``ODOO_URL``), its PostgreSQL
database (psql's ``PG*`` variables), the machine's Redis and the installed
``iota-scripts`` command. It must exit 0, and its output must match each
``# expect: REGEX`` line of the block. So a renamed column, table, route,
metric or command fails here instead of misleading an operator during an
incident.

psql connects on its own, so it sees committed rows only (the module's data
and the demo data), not this test's records; the HTTP calls go to the test
server, which shares the test's transaction and so sees them: the queued
run made here is what the queue's metrics report.
"""

import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import config

from ..run.request import RunRequest
from ..tools.settings import get_setting

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
TOKEN = "runbook-metrics-token"  # noqa: S105 - a test token
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.S | re.M)


def command_blocks(text):
    """The ``bash`` blocks of a page: (source, [expected regexes])."""
    blocks = []
    for match in BLOCK.finditer(text):
        source = match.group(1)
        expects = re.findall(r"^# expect: (.+)$", source, re.M)
        blocks.append((source, expects))
    return blocks


@tagged("post_install", "-at_install")
class TestRunbooks(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"IOTA_SCRIPTS_METRICS_TOKEN": TOKEN}))
        cls.script = cls.env["iota.script"].create(
            {
                "name": "Runbook script",
                "key": "runbook_script",
                "state": "active",
                "source": "export default async () => ({ ok: true });",
            }
        )
        cls.api_key = (
            cls.env["res.users.apikeys"]
            .with_user(cls.env.ref("base.user_admin"))
            ._generate(None, "runbooks", fields.Datetime.now() + timedelta(days=1))
        )

    def _environment(self):
        bindir = os.path.dirname(sys.executable)
        return {
            **os.environ,
            "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
            "ODOO_URL": self.base_url(),
            "PGDATABASE": self.env.cr.dbname,
            "PGHOST": config["db_host"] or "127.0.0.1",
            "PGPORT": str(config["db_port"] or 5432),
            "PGUSER": config["db_user"] or os.environ.get("USER", "root"),
            "IOTA_SCRIPTS_METRICS_TOKEN": TOKEN,
            # restoring-from-export.md: the CLI's server and an administrator's API key
            "IOTA_SCRIPTS_URL": self.base_url(),
            "IOTA_SCRIPTS_DB": self.env.cr.dbname,
            "IOTA_SCRIPTS_API_KEY": self.api_key,
            "IOTA_SCRIPTS_REDIS_URL": get_setting(self.env, "redis_url")
            or "redis://127.0.0.1:6379/0",
            # a committed script when demo data is there (psql sees only those)
            "SCRIPT_KEY": (
                self.env.ref("iota_scripts.iota_script_demo_normalise_email", False) or self.script
            ).key,
        }

    def test_pages_have_command_blocks(self):
        pages = sorted(RUNBOOKS.glob("*.md"))
        self.assertGreaterEqual(len(pages), 9)
        blocks = [b for p in pages for b in command_blocks(p.read_text(encoding="utf-8"))]
        self.assertGreaterEqual(len(blocks), 15)
        self.assertTrue(all(expects for _source, expects in blocks), "a block has no # expect")

    def test_every_command_block_runs(self):
        self.assertTrue(
            shutil.which("iota-scripts", path=self._environment()["PATH"]),
            "the iota-scripts command is not installed (pip install -e ., as scripts/test does)",
        )
        # One queued run (not claimed: the test server runs no cron), so the
        # queue's series have a sample to show.
        self.env["iota.script.execution"]._enqueue(
            RunRequest(self.script, {"type": "manual"}, input={"n": 1})
        )
        # and one finished run, which starts a runner process
        self.script.action_run(input={"n": 2})
        env = self._environment()
        ran = 0
        for page in sorted(RUNBOOKS.glob("*.md")):
            for source, expects in command_blocks(page.read_text(encoding="utf-8")):
                with self.subTest(page=page.name, block=source.splitlines()[0]):
                    done = subprocess.run(
                        ["bash", "-eo", "pipefail", "-c", source],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=120,
                        check=False,
                    )
                    self.assertEqual(done.returncode, 0, f"{page.name}:\n{source}\n{done.stderr}")
                    for expect in expects:
                        self.assertRegex(done.stdout, re.compile(expect, re.M), source)
                    ran += 1
        self.assertGreaterEqual(ran, 15)
