"""Script tests: a ``tests`` source beside each script, versioned with it.

A script's ``tests`` hold ``describe``/``it``/``expect`` cases
(``iota_scripts_sdk/testing.py``, docs/guide/script-tests.md). Saving a script
whose tests changed creates a version like a change of its source does, and
every version keeps the tests it was saved with.

:meth:`IotaScript._iota_run_tests` runs them in a runner through the one run
path, as a **dry-run** (``run/dry_run.py``): a savepoint that is always rolled
back, HTTP, events and enqueues captured and not sent. Cases use the mocked
sdk; ``it.db`` cases use the real one, against the real database, and what
they write goes with the savepoint. The Tests tab of the script form shows the
report (``static/src/script_tests``).

"Tests must pass to publish" (``res.company.iota_scripts_tests_required``):
publishing a version (``iota.script._iota_publish_version``, the single publish
point) first runs that version's tests, and a failed case refuses the publish
with :class:`TestsFailedError` (code ``tests_failed``), naming every failed case.
"""

from __future__ import annotations

from iota_scripts_sdk.testing import TestReport, build_test_source, report_from_values
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..run.dry_run import dry_run as run_dry_run
from ..run.request import RunRequest
from ..tools.sentinel import as_engine
from .iota_script import GROUP_DEVELOPER

#: Failed cases named in a refused publish (the rest are counted).
MAX_NAMED_FAILURES = 10


class TestsFailedError(UserError):
    """Publishing refused: the version's tests failed (code ``tests_failed``)."""

    code = "tests_failed"


class IotaScriptTests(models.Model):
    _inherit = "iota.script"

    tests = fields.Text(
        groups=GROUP_DEVELOPER,
        help="describe/it/expect cases run against this script with a mocked sdk "
        "(see the Tests tab). Versioned with the source.",
    )

    def write(self, vals):
        restored = self.env.context.get("iota_scripts_restore_tests")
        if restored is not None and "source" in vals and "tests" not in vals:
            # a restored version brings its tests back with its source (one new version)
            vals = {**vals, "tests": restored or False}
        res = super().write(vals)
        if "tests" in vals:
            note = self.env.context.get("iota_scripts_version_note")
            for script in self:
                current = script.version_id.sudo()
                # the source's own save made a version with these tests already
                if script.sudo().source and (current.tests or "") != (script.sudo().tests or ""):
                    script._create_version(note or _("Tests changed"))
        return res

    def _iota_publish_version(self, version):
        if (
            self.company_id.sudo().iota_scripts_tests_required
            and (version.sudo().tests or "").strip()
        ):
            report = self._iota_run_tests(version.sudo().source, version.sudo().tests)
            if not report.ok:
                raise TestsFailedError(self._iota_tests_failed_message(version, report))
        return super()._iota_publish_version(version)

    def _iota_tests_failed_message(self, version, report: TestReport) -> str:
        if report.error is not None:
            detail = f"{report.error.get('code')}: {report.error.get('message')}"
            if report.error.get("where") == "tests" and report.error.get("line"):
                detail += _(" (tests line %s)", report.error["line"])
            return _(
                "tests_failed: the tests of %(script)s v%(number)s did not run (%(detail)s), "
                "so it is not published.",
                script=self.name,
                number=version.number,
                detail=detail,
            )
        failed = [c for c in report.cases if c.get("status") == "failed"]
        names = [
            f"{c.get('name')} (line {(c.get('error') or {}).get('line') or c.get('line')})"
            for c in failed[:MAX_NAMED_FAILURES]
        ]
        if len(failed) > MAX_NAMED_FAILURES:
            names.append(_("and %s more", len(failed) - MAX_NAMED_FAILURES))
        return _(
            "tests_failed: %(count)s test case(s) of %(script)s v%(number)s failed, so it is "
            "not published: %(names)s",
            count=len(failed),
            script=self.name,
            number=version.number,
            names="; ".join(names),
        )

    def _iota_run_tests(self, source=None, tests=None) -> TestReport:
        """Runs ``tests`` against ``source`` (default: the script's own) as a dry-run.

        Returns the :class:`TestReport`; never keeps anything (see the module
        docstring). Raises ``UserError`` when the run cannot start (scripts
        disabled on this server, ...), like a dry-run."""
        self.ensure_one()
        script = self.sudo()
        source = script.source if source is None else source
        tests = script.tests if tests is None else tests
        if not (tests or "").strip():
            return TestReport(mode="database")
        module = build_test_source(source or "", tests, "database")
        Execution = self.env["iota.script.execution"]
        cr = self.env.cr
        # The module runs as a version of this script that exists only inside
        # this savepoint (the dry-run's own savepoint nests in it).
        savepoint = cr.savepoint()
        try:
            probe = as_engine(self.env["iota.script.version"]).create(
                {"script_id": self.id, "source": module, "tests": False, "note": "tests"}
            )
            req = RunRequest(self, {"type": "manual", "tests": True}, pinned_version_id=probe.id)
            values = run_dry_run(Execution, req)
        finally:
            savepoint.close(rollback=True)
        return report_from_values(
            values.get("state") == "succeeded" and not values.get("error"),
            values.get("result"),
            values.get("error") or None,
            "database",
            source or "",
        )

    def action_run_tests(self, source=None, tests=None):
        """The Tests tab: runs the tests (the saved ones, or the editor's) and
        returns the report as JSON (``TestReport.to_dict``)."""
        self.ensure_one()
        if not (self.env.su or self.env.user.has_group(GROUP_DEVELOPER)):
            raise AccessError(_("Only IOTA Scripts developers may run a script's tests."))
        self.check_access("write")
        return self._iota_run_tests(source, tests).to_dict()


class IotaScriptVersionTests(models.Model):
    _inherit = "iota.script.version"

    tests = fields.Text(groups=GROUP_DEVELOPER, readonly=True)

    def action_restore(self):
        self.ensure_one()
        return super(
            IotaScriptVersionTests,
            self.with_context(iota_scripts_restore_tests=self.sudo().tests or ""),
        ).action_restore()

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "tests" not in vals and vals.get("script_id"):
                # a version keeps the tests its script had when it was saved
                script = self.env["iota.script"].sudo().browse(vals["script_id"])
                vals["tests"] = script.tests or False
        return super().create(vals_list)


class ResCompanyTests(models.Model):
    _inherit = "res.company"

    iota_scripts_tests_required = fields.Boolean(
        string="Tests Must Pass to Publish",
        help="Publishing a version of a script first runs the tests saved with it; a failed "
        "case refuses the publish (tests_failed), naming the failed cases.",
    )


class ResConfigSettingsTests(models.TransientModel):
    _inherit = "res.config.settings"

    iota_scripts_tests_required = fields.Boolean(
        related="company_id.iota_scripts_tests_required", readonly=False
    )
