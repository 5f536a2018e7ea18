"""Bundles over HTTP: the ``iota-scripts`` command line against this test
server, the routes' named errors, and the dialogs in a real browser."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from iota_scripts_sdk.bundle import read_bundle
from odoo import fields
from odoo.tests import HttpCase, tagged

from .test_bundle import OTHER, V1, V2, BundleFixture, dump, totals


def _companies_and_key(cls, label):
    """Two companies with the bundle fixture, and an API key of its administrator."""
    cls.company_a = cls.env["res.company"].create({"name": f"IOTA Bundle {label} A"})
    cls.company_b = cls.env["res.company"].create({"name": f"IOTA Bundle {label} B"})
    cls._bundle_fixture(cls.env, cls.company_a, cls.company_b)
    cls.key = (
        cls.env["res.users.apikeys"]
        .with_user(cls.admin)
        ._generate(None, f"bundle {label}", fields.Datetime.now() + timedelta(days=1))
    )


@tagged("post_install", "-at_install")
class TestBundleCli(BundleFixture, HttpCase):
    """``iota-scripts export`` and ``import`` as subprocesses against this test server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _companies_and_key(cls, "CLI")

    def _cli(self, *args, key=None):
        import iota_scripts_sdk

        root = str(Path(iota_scripts_sdk.__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": root, "IOTA_SCRIPTS_API_KEY": key or self.key}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "iota_scripts_sdk.cli",
                *args,
                "--url",
                self.base_url(),
                "--db",
                self.env.cr.dbname,
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        return done.returncode, json.loads(done.stdout or "null"), done.stderr

    def test_export_drop_import(self):
        path = Path(self.env["ir.attachment"]._filestore()) / f"bundle-cli-{self.env.cr.dbname}.zip"
        self.addCleanup(lambda: path.unlink(missing_ok=True))
        before = dump(self.env, self.company_a)
        code, out, err = self._cli("export", "-o", str(path), "--company", str(self.company_a.id))
        self.assertEqual(code, 0, err)
        self.assertEqual(
            sorted(out["scripts"]), ["bundle_archived", "bundle_hello", "bundle_other"]
        )
        self.assertEqual(out["counts"]["versions"], 5)
        code, out, err = self._cli(
            "export",
            "-o",
            str(path) + ".one",
            "--key",
            "bundle_other",
            "--company",
            str(self.company_a.id),
        )
        self.addCleanup(lambda: Path(str(path) + ".one").unlink(missing_ok=True))
        self.assertEqual((code, out["scripts"]), (0, ["bundle_other"]), err)

        self.env["iota.script"].with_context(active_test=False).search(
            [("company_id", "=", self.company_a.id)]
        ).unlink()
        self.env.flush_all()
        code, out, err = self._cli(
            "import", str(path), "--company", str(self.company_a.id), "--dry-run"
        )
        self.assertEqual((code, out["applied"], out["counts"]["new"]), (0, False, 3), err)
        self.env.invalidate_all()
        self.assertEqual(dump(self.env, self.company_a), {})
        code, out, err = self._cli("import", str(path), "--company", str(self.company_a.id))
        self.assertEqual((code, out["applied"]), (0, True), err)
        self.env.invalidate_all()
        self.assertEqual(dump(self.env, self.company_a), before)

        # refusals carry the server's code: a wrong key, an unknown company
        code, out, err = self._cli("import", str(path), "--company", "987654")
        self.assertEqual((code, out["error"]["code"]), (1, "company_not_found"))
        code, out, err = self._cli("export", "-o", str(path), key="not-a-key")
        self.assertEqual((code, out["error"]["code"]), (1, "access_denied"))


@tagged("post_install", "-at_install")
class TestBundleUi(HttpCase):
    """Export from the list and import with the preview, in a real browser."""

    def test_export_and_import_in_the_browser(self):
        from odoo.tests import common

        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        company = self.env.ref("base.main_company")
        Script = self.env["iota.script"].with_user(self.env.ref("base.user_admin"))
        Script.create({"name": "Bundle tour other", "company_id": company.id, "source": OTHER})
        restored = Script.create(
            {
                "name": "Bundle tour restored",
                "key": "bundle_tour_restored",
                "company_id": company.id,
                "source": V1,
            }
        )
        restored.write({"source": V2})
        before = dump(self.env, company)["bundle_tour_restored"]
        data = (
            self.env["iota.script.bundle"]
            .with_user(self.env.ref("base.user_admin"))
            ._export_bundle(restored)
        )
        self.env["ir.attachment"].create(
            {"name": "iota_bundle_tour.zip", "raw": data, "mimetype": "application/zip"}
        )
        restored.unlink()
        self.start_tour(
            "/odoo/action-iota_scripts.iota_script_action",
            "iota_scripts_bundle_tour",
            login="admin",
            timeout=120,
        )
        self.env.invalidate_all()
        self.assertEqual(dump(self.env, company)["bundle_tour_restored"], before)


@tagged("post_install", "-at_install")
class TestBundleRoutes(BundleFixture, HttpCase):
    """The routes answer refusals as ``{"error": {"code", "message"}}`` and change nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _companies_and_key(cls, "Route")

    def _post(self, path, data, key=None, **params):
        return self.url_open(
            f"{path}?{'&'.join(f'{k}={v}' for k, v in params.items())}",
            data=data,
            headers={"Authorization": f"Bearer {key or self.key}"},
            timeout=60,
        )

    def test_refusals(self):
        before = totals(self.env)
        answer = self._post("/iota/bundle/import", b"not a zip", company_id=self.company_b.id)
        self.assertEqual(answer.status_code, 400)
        self.assertEqual(answer.json()["error"]["code"], "not_a_zip")
        good = self._post(
            "/iota/bundle/export", json.dumps({"company_id": self.company_a.id}).encode()
        )
        self.assertEqual(good.status_code, 200)
        self.assertEqual(good.headers["Content-Type"], "application/zip")
        self.assertEqual(len(read_bundle(good.content).script_keys), 3)
        answer = self._post("/iota/bundle/import", good.content, company_id=987654)
        self.assertEqual(
            (answer.status_code, answer.json()["error"]["code"]), (404, "company_not_found")
        )
        # B is importable, but the endpoints of A's bundle collide with A's own
        answer = self._post("/iota/bundle/import", good.content, company_id=self.company_b.id)
        self.assertEqual(
            (answer.status_code, answer.json()["error"]["code"]), (400, "invalid_record")
        )
        answer = self._post("/iota/bundle/export", b"[1]")
        self.assertEqual(answer.json()["error"]["code"], "invalid_argument")
        answer = self._post("/iota/bundle/export", b"{}", key="wrong")
        self.assertEqual(answer.status_code, 401)
        self.env.invalidate_all()
        self.assertEqual(totals(self.env), before)
        # a dry run previews without writing
        answer = self._post(
            "/iota/bundle/import", good.content, company_id=self.company_a.id, dry_run=1
        )
        self.assertEqual(answer.json()["counts"]["unchanged"], 3)
        self.assertFalse(answer.json()["applied"])
