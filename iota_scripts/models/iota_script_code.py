"""Scripts as code: what ``iota-scripts pull``, ``push``, ``run --remote`` and ``logs`` do on the server.

The routes (``controllers/code.py``, bearer auth) call these methods as the
API key's user, without sudo: reading a script's source and tests needs an
IOTA Scripts developer, pushing one needs the right to write it (and, for a
privileged script, to be its run-as user or an administrator, as in the form).

* :meth:`_iota_code_pull`: each script as ``{key, name, version, sha256,
  tests_sha256, source, tests, manifest}``; the manifest names its triggers
  (schedules, endpoints, subscriptions, automation rules and scheduled actions),
  its limits and its state.
* :meth:`_iota_code_push`: saves a source and tests as a new version, or
  creates the script. It refuses with ``conflict`` when the server's current
  version is not the one the files were pulled from (``base_version``), unless
  ``force``: a push never overwrites a newer server version by accident.
* :meth:`_iota_code_logs`: the runs of a script after an execution id, oldest
  first, with their logs (``logs --follow`` polls it).
"""

from __future__ import annotations

import hashlib

from odoo import _, api, models
from odoo.exceptions import AccessError

from .iota_script import GROUP_DEVELOPER

_SCHEDULE = ("name", "cron", "tz", "missed_policy", "active")
_ENDPOINT = ("name", "path", "methods", "api_version", "auth_mode", "active", "rate_limit_per_min")
_SUBSCRIPTION = ("name", "event_type", "origin", "record_model", "record_domain", "active")
#: Most executions one logs call returns.
MAX_LOG_EXECUTIONS = 50


class CodeError(Exception):
    """A refused call of the command line: ``code`` and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sha256(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8", "surrogatepass")).hexdigest()


class IotaScriptCode(models.Model):
    _inherit = "iota.script"

    @api.model
    def _iota_code_check(self):
        if not self.env.user.has_group(GROUP_DEVELOPER):
            raise AccessError(_("Only IOTA Scripts developers may pull or push scripts."))

    @api.model
    def _iota_code_scripts(self, company, keys=None):
        if keys is not None and not all(isinstance(k, str) and k for k in keys):
            raise CodeError("invalid_argument", _("A script key is required."))
        domain = [("company_id", "=", company.id)]
        if keys:
            domain.append(("key", "in", list(keys)))
        scripts = self.with_context(allowed_company_ids=[company.id]).search(domain, order="key")
        missing = sorted(set(keys or ()) - set(scripts.mapped("key")))
        if missing:
            raise CodeError("not_found", _("No script %s in %s.", ", ".join(missing), company.name))
        return scripts

    @api.model
    def _iota_code_pull(self, company, keys=None):
        self._iota_code_check()
        return [script._iota_code_item() for script in self._iota_code_scripts(company, keys)]

    def _iota_code_item(self):
        self.ensure_one()
        version = self.version_id
        source, tests = self.source or "", self.tests or ""
        manifest = {
            "key": self.key,
            "name": self.name,
            "state": self.state,
            "version": version.number or 0,
            "sha256": sha256(source),
            "tests_sha256": sha256(tests),
            "timeout_sec": self.timeout_sec,
            "memory_mb": self.memory_mb,
            "allowed_hosts": self._allowed_hosts(),
            "triggers": self._iota_code_triggers(),
        }
        if "capability_ids" in self._fields:
            manifest["capabilities"] = sorted(self.capability_ids.mapped("display_name"))
        return {"key": self.key, "source": source, "tests": tests, "manifest": manifest}

    def _iota_code_triggers(self):
        def rows(records, names):
            return [{f: rec[f] for f in names if f in rec._fields} for rec in records]

        # server actions are for administrators: read here only what runs this script
        su = self.env(su=True)
        actions = su["ir.actions.server"].search([("iota_script_id", "=", self.id)])
        automations = su["base.automation"].search([("action_server_ids", "in", actions.ids)])
        crons = su["ir.cron"].search([("ir_actions_server_id", "in", actions.ids)])
        return {
            "schedules": rows(self.schedule_ids, _SCHEDULE),
            "endpoints": rows(
                self.env["iota.script.endpoint"].search([("script_id", "=", self.id)]), _ENDPOINT
            ),
            "subscriptions": rows(
                self.env["iota.script.subscription"].search([("script_id", "=", self.id)]),
                _SUBSCRIPTION,
            ),
            "automations": [
                {"name": a.name, "model": a.model_id.model, "trigger": a.trigger}
                for a in automations
            ],
            "scheduled_actions": [
                {"name": c.name, "interval": f"{c.interval_number} {c.interval_type}"}
                for c in crons
            ],
        }

    @api.model
    def _iota_code_push(self, company, item, force=False):
        """Saves ``item`` (``{key, source, tests, base_version, name}``); returns the pull item."""
        self._iota_code_check()
        key, source = item.get("key"), item.get("source")
        tests, base = item.get("tests"), item.get("base_version")
        if not isinstance(key, str) or not isinstance(source, str):
            raise CodeError("invalid_argument", _("A pushed script needs a key and a source."))
        if tests is not None and not isinstance(tests, str):
            raise CodeError("invalid_argument", _("tests must be text."))
        if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
            raise CodeError("invalid_argument", _("base_version must be a version number."))
        script = self.with_context(allowed_company_ids=[company.id], active_test=False).search(
            [("company_id", "=", company.id), ("key", "=", key)]
        )
        note = _("Pushed from the command line")
        if not script:
            vals = {"key": key, "name": item.get("name") or key, "company_id": company.id}
            vals.update(source=source, tests=tests or False)
            script = self.with_context(iota_scripts_version_note=note).create(vals)
            return dict(script._iota_code_item(), status="created")
        current = script.version_id.number or 0
        if not force and base != current:
            raise CodeError(
                "conflict",
                _(
                    "%(key)s is at v%(current)s on the server and these files were pulled at "
                    "%(base)s: pull and merge first, or push --force to overwrite it.",
                    key=key,
                    current=current,
                    base=f"v{base}" if base else _("no version"),
                ),
            )
        vals = {"source": source}
        if tests is not None:
            vals["tests"] = tests or False
        if source == (script.source or "") and (tests is None or tests == (script.tests or "")):
            return dict(script._iota_code_item(), status="unchanged")
        script.with_context(iota_scripts_version_note=note).write(vals)
        return dict(script._iota_code_item(), status="pushed")

    def _iota_code_logs(self, after_id=0, limit=MAX_LOG_EXECUTIONS):
        """The runs of this script after execution ``after_id``, oldest first."""
        self.ensure_one()
        executions = self.env["iota.script.execution"].search(
            [("script_id", "=", self.id), ("id", ">", int(after_id or 0))],
            order="id desc",
            limit=max(1, min(int(limit), MAX_LOG_EXECUTIONS)),
        )
        out = []
        for execution in executions.sorted("id"):
            values = execution._run_panel_values()
            out.append(
                {
                    "id": execution.id,
                    "state": execution.state,
                    "trigger": execution.trigger,
                    "version": values.get("version_number"),
                    "started": str(execution.create_date),
                    "error": values.get("error") or None,
                    "logs": values.get("logs") or [],
                    "result": values.get("result"),
                }
            )
        return out
