"""Scripts as code end to end: the ``iota-scripts`` command line (login, pull,
test, diff, push, run --remote, logs --follow) as subprocesses against this
test server (controllers/code.py, models/iota_script_code.py)."""

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

SOURCE = """\
export default async function (ctx) {
  sdk.log.info("hello from code", { x: ctx.input && ctx.input.x });
  return { n: 1, x: ctx.input && ctx.input.x };
}
"""
TESTS = """\
it("answers n", async () => {
  expect(await run({ x: 5 })).toEqual({ n: 1, x: 5 });
});
"""


@tagged("post_install", "-at_install")
class TestCodeCli(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env["res.company"].create({"name": "IOTA Code CLI"})
        cls.dev = new_test_user(
            cls.env,
            "iota_code_dev",
            groups="base.group_user,iota_scripts.iota_scripts_group_developer",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )
        cls.script = (
            cls.env["iota.script"]
            .with_user(cls.dev)
            .create(
                {
                    "name": "Code hello",
                    "key": "code_hello",
                    "company_id": cls.company.id,
                    "state": "active",
                    "source": SOURCE,
                    "tests": TESTS,
                }
            )
        )
        cls.env["iota.script.schedule"].create(
            {"script_id": cls.script.id, "name": "nightly", "cron": "0 3 * * *"}
        )
        cls.key = (
            cls.env["res.users.apikeys"]
            .with_user(cls.dev)
            ._generate(None, "code cli", fields.Datetime.now() + timedelta(days=1))
        )

    def setUp(self):
        super().setUp()
        self.home = Path(tempfile.mkdtemp(prefix="iota-code-cli-"))
        self.addCleanup(subprocess.run, ["rm", "-rf", str(self.home)], check=False)
        self.dir = self.home / "scripts"

    def _env(self):
        import iota_scripts_sdk

        root = str(Path(iota_scripts_sdk.__file__).resolve().parent.parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTA_SCRIPTS_")}
        # the key goes to a file under this folder, never to the machine's keyring
        return {**env, "PYTHONPATH": root, "XDG_CONFIG_HOME": str(self.home / "config"),
                "IOTA_SCRIPTS_KEYRING": "0"}  # fmt: skip

    def _cli(self, *args):
        done = subprocess.run(
            [sys.executable, "-m", "iota_scripts_sdk.cli", *args, "--json"],
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=str(self.home),
            timeout=180,
        )
        out = json.loads(done.stdout.splitlines()[-1]) if done.stdout.strip() else None
        return done.returncode, out, done.stderr

    def test_pull_edit_push_run_round_trip(self):
        code, out, err = self._cli("login", self.base_url(), "--db", self.env.cr.dbname,
                                   "--api-key", self.key)  # fmt: skip
        self.assertEqual((code, out["user"]), (0, "iota_code_dev"), err)
        creds = self.home / "config" / "iota-scripts" / "credentials.json"
        self.assertEqual(out["stored"], str(creds))
        self.assertEqual(stat.S_IMODE(creds.stat().st_mode), 0o600)
        self.assertIn(self.key, creds.read_text())

        # pull: one .js per script, its tests, and the manifest
        code, out, err = self._cli("pull", str(self.dir))
        self.assertEqual((code, out.get("scripts")), (0, ["code_hello"]), (out, err))
        self.assertEqual((self.dir / "code_hello.js").read_text(), SOURCE)
        self.assertEqual((self.dir / "code_hello.test.js").read_text(), TESTS)
        manifest = json.loads((self.dir / "iota-scripts.json").read_text())
        entry = manifest["scripts"]["code_hello"]
        self.assertEqual((entry["version"], entry["state"]), (1, "active"))
        self.assertEqual(entry["triggers"]["schedules"][0]["cron"], "0 3 * * *")
        self.assertEqual(manifest["company"]["id"], self.company.id)

        # the tests run locally with the mocked sdk
        code, out, err = self._cli("test", str(self.dir / "code_hello.js"))
        self.assertEqual((code, out["passed"]), (0, 1), err)

        # edit, diff, push: a new version on the server
        edited = SOURCE.replace("n: 1", "n: 2")
        (self.dir / "code_hello.js").write_text(edited)
        (self.dir / "code_hello.test.js").write_text(TESTS.replace("n: 1", "n: 2"))
        code, out, err = self._cli("diff", str(self.dir))
        self.assertEqual(code, 1, err)
        self.assertIn("-  return { n: 1", out["diff"])
        self.assertIn("+  return { n: 2", out["diff"])
        code, out, err = self._cli("push", str(self.dir))
        self.assertEqual(code, 0, err)
        self.assertEqual(out["scripts"], [{"key": "code_hello", "status": "pushed", "version": 2}])
        self.script.invalidate_recordset()
        self.assertEqual((self.script.version_number, self.script.source), (2, edited))
        self.assertIn("n: 2", self.script.version_id.tests)
        self.assertEqual(self._cli("diff", str(self.dir))[0], 0)
        code, out, err = self._cli("push", str(self.dir))
        self.assertEqual((code, out["scripts"]), (0, []), "nothing changed: nothing sent")

        # run --remote: the pushed version runs on the server
        code, out, err = self._cli("run", "code_hello", "--remote", "--input", '{"x": 7}')
        self.assertEqual(
            (code, out["state"], out["result"]), (0, "succeeded", {"n": 2, "x": 7}), err
        )
        self.assertEqual(out["version_number"], 2)
        self.assertIn("hello from code", json.dumps(out["logs"]))

        # someone saves v3 on the server: a push from v2 is refused, --force overwrites
        self.script.with_user(self.dev).write({"source": SOURCE.replace("n: 1", "n: 3")})
        self.env.flush_all()
        (self.dir / "code_hello.js").write_text(SOURCE.replace("n: 1", "n: 4"))
        code, out, err = self._cli("push", str(self.dir))
        self.assertEqual((code, out["error"]["code"]), (1, "conflict"), err)
        self.assertIn("v3 on the server", out["error"]["message"])
        self.script.invalidate_recordset()
        self.assertEqual(self.script.version_number, 3)
        code, out, err = self._cli("push", str(self.dir), "--force")
        self.assertEqual((code, out["scripts"][0]["version"]), (0, 4), err)
        self.script.invalidate_recordset()
        self.assertIn("n: 4", self.script.source)

        # a new file is a new script
        (self.dir / "code_new.js").write_text("export default async () => 'new';\n")
        code, out, err = self._cli("push", str(self.dir))
        self.assertEqual(out["scripts"], [{"key": "code_new", "status": "created", "version": 1}])
        new = self.env["iota.script"].search([("key", "=", "code_new")])
        self.assertEqual(new.company_id, self.company)

        # logs: the remote run, with its log line
        code, out, err = self._cli("logs", "code_hello")
        self.assertEqual(code, 0, err)
        self.assertEqual(out["state"], "succeeded")
        self.assertIn("hello from code", json.dumps(out["logs"]))

        # a wrong key is a named refusal
        env = self._env()
        done = subprocess.run(
            [sys.executable, "-m", "iota_scripts_sdk.cli", "pull", str(self.dir), "--json",
             "--api-key", "wrong"],
            capture_output=True, text=True, env=env, timeout=180,
        )  # fmt: skip
        self.assertEqual(json.loads(done.stdout)["error"]["code"], "access_denied")

    def test_logs_follow_tails_new_runs(self):
        self._cli("login", self.base_url(), "--db", self.env.cr.dbname, "--api-key", self.key)
        follow = subprocess.Popen(
            [sys.executable, "-m", "iota_scripts_sdk.cli", "logs", "code_hello", "--follow",
             "--interval", "0.3", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self._env(),
        )  # fmt: skip
        self.addCleanup(follow.kill)
        time.sleep(2)
        code, _out, err = self._cli("run", "code_hello", "--remote", "--input", '{"x": 11}')
        self.assertEqual(code, 0, err)
        os.set_blocking(follow.stdout.fileno(), False)
        seen, deadline = "", time.monotonic() + 30
        while '"x": 11' not in seen and time.monotonic() < deadline:
            seen += (follow.stdout.read() or b"").decode()
            time.sleep(0.2)
        self.assertIn('"x": 11', seen, "the new run was tailed")
        self.assertIsNone(follow.poll(), "--follow keeps going")
