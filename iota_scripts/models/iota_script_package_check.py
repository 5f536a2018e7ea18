"""Check the scripts before an upgrade: their tests against the candidate bundle (issue 13).

**Check the scripts** on an approved package (:meth:`action_check_scripts`)
resolves its range again, as **Upgrade** would, and bundles the candidate
version. Then, for each script whose current version imports the package and
has tests (``iota_script_tests.py``), it runs those tests with the candidate
in place of the approved bundle. Inside a savepoint that is always rolled
back, the candidate is stored and approved; the tests' run pins it as any
save would (``_iota_pins``), so the bundle their run imports is the
candidate's. Nothing stays: the package keeps its approved version, the
scripts keep their pins, and the registry is asked nothing at run time.

It also replays the script's last real runs on the candidate (the
behavioural diff of ``run/replay.py``) and counts those whose outcome or sdk
calls changed.

The report (``check_report``: JSON; ``check_result``: the text the form
shows) names each script with passed, failed (and the failed cases), did not
run, or no tests, and its changed replays. Confirming the switch is then
**Upgrade**.
"""

from __future__ import annotations

import json
from typing import Any

from odoo import _, fields, models
from odoo.exceptions import AccessError, UserError

from ..run import replay as run_replay
from ..tools.sentinel import as_engine
from .iota_script_package import GROUP_ADMIN

#: Recent real runs of each script replayed on the candidate (behavioural diff).
CHECK_REPLAYS = 10


def _script_line(row: dict[str, Any]) -> str:
    head = f"{row['script']} v{row['version']}: {row['status']}"
    if row["status"] == "failed":
        head += ": " + "; ".join(row["failed_cases"])
    elif row.get("message"):
        head += f" ({row['message']})"
    elif row["status"] == "passed":
        head += _(" (%s case(s))", row["passed"])
    if row.get("replayed"):
        head += _(
            "; replays: %(changed)s of %(n)s recent run(s) changed",
            changed=row["replays_changed"],
            n=row["replayed"],
        )
    return head


class IotaScriptPackageCheck(models.Model):
    _inherit = "iota.script.package"

    check_report = fields.Text(readonly=True, help="The last check of the scripts, as JSON.")
    check_result = fields.Text(
        string="Check of the Scripts",
        readonly=True,
        help="The tests of the scripts using the package, run against the version an "
        "upgrade would approve.",
    )

    def action_check_scripts(self):
        """Runs the tests of the scripts using this package against the version its
        range resolves to now; stores and returns the report (nothing else changes)."""
        self.ensure_one()
        if not self.env.user.has_group(GROUP_ADMIN):
            raise AccessError(_("Only IOTA Scripts administrators upgrade npm packages."))
        if self.state != "approved":
            raise UserError(_("Approve the package first: the check is for an upgrade."))
        prepared = self._iota_prepare()
        if not prepared.ok:
            raise UserError(
                _(
                    "%(name)s %(version)s is refused by the security scan: %(why)s",
                    name=self.name,
                    version=prepared.resolution.root.version,
                    why="; ".join(prepared.refusals),
                )
            )
        report = {
            "package": self.name,
            "approved": self.version,
            "candidate": prepared.resolution.root.version,
            "scripts": self._iota_check_candidate(prepared),
        }
        rows = report["scripts"]
        report["failed"] = sum(1 for r in rows if r["status"] in ("failed", "did not run"))
        head = _(
            "%(name)s %(candidate)s (approved: %(approved)s): %(failed)s of %(n)s script(s) "
            "failed their tests.",
            name=self.name,
            candidate=report["candidate"],
            approved=report["approved"],
            failed=report["failed"],
            n=len(rows),
        )
        text = "\n".join([head, *(_script_line(r) for r in rows)])
        as_engine(self).write({"check_report": json.dumps(report), "check_result": text})
        return report

    def _iota_check_candidate(self, prepared) -> list[dict[str, Any]]:
        """The test report of each script using the package, run with ``prepared``
        approved in a savepoint that is rolled back."""
        scripts = self.sudo().script_ids.sorted("name")
        rows = []
        savepoint = self.env.cr.savepoint()
        try:
            self._iota_store_bundle(prepared.code, prepared.sha256)
            as_engine(self).write(
                {
                    "version": prepared.resolution.root.version,
                    "bundle_sha256": prepared.sha256,
                }
            )
            for script in scripts:
                rows.append(self._iota_check_script(script))
        finally:
            savepoint.close(rollback=True)
            self.invalidate_recordset()
        return rows

    def _iota_check_script(self, script) -> dict[str, Any]:
        version = script.version_id.sudo()
        row = {"script_id": script.id, "script": script.name, "version": version.number}
        return {
            **row,
            **self._iota_check_tests(script, version),
            **self._iota_check_replays(script, version),
        }

    def _iota_check_replays(self, script, version) -> dict[str, Any]:
        """The behavioural diff of the script's recent real runs on the candidate
        (the source as a draft: it imports what a save would pin now)."""
        try:
            diff = run_replay.behaviour_diff(script, version.source, _("candidate"), CHECK_REPLAYS)
        except UserError as e:
            return {"replayed": 0, "replays_changed": 0, "replay_error": str(e)}
        return {
            "replayed": len(diff["runs"]),
            "replays_changed": diff["changed"],
            "changed_runs": [r["execution_id"] for r in diff["runs"] if r["changed"]],
        }

    def _iota_check_tests(self, script, version) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if not (version.tests or "").strip():
            return {**row, "status": "no tests"}
        try:
            report = script._iota_run_tests(version.source, version.tests)
        except UserError as e:
            return {**row, "status": "did not run", "message": str(e)}
        if report.error is not None:
            message = f"{report.error.get('code')}: {report.error.get('message')}"
            return {**row, "status": "did not run", "message": message}
        return {
            **row,
            "status": "passed" if report.ok else "failed",
            "passed": report.passed,
            "failed_cases": report.failed_names(),
        }
