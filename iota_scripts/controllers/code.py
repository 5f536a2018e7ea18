"""``/iota/code/*``: scripts as code, the command line's side (``iota-scripts pull``, ...).

Every route takes ``Authorization: Bearer <Odoo API key>`` (``auth='bearer'``,
as ``controllers/bundle.py``) and a JSON body, acts as the key's user without
sudo (``models/iota_script_code.py``), and answers JSON; errors are
``{"error": {"code", "message"}}`` with 400, 403 (``access_denied``), 404
(``not_found``, ``company_not_found``) or 409 (``conflict``).

* ``POST /iota/code/whoami`` ``{}``: ``{"user", "login", "db", "company"}``
* ``POST /iota/code/pull`` ``{"company_id", "keys"}``: ``{"scripts": [...]}``
* ``POST /iota/code/push`` ``{"company_id", "force", "scripts": [{key, source,
  tests, base_version, name}]}``: ``{"scripts": [...]}`` (each with ``status``);
  a conflict refuses the whole push before anything is saved
* ``POST /iota/code/run`` ``{"company_id", "key", "input"}``: the run's values
  (``state``, ``result``, ``error``, ``logs``, ``id``)
* ``POST /iota/code/logs`` ``{"company_id", "key", "after_id"}``: ``{"executions"}``
"""

import json

from odoo import http
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.http import request

from ..models.iota_script_bundle import BundleImportError
from ..models.iota_script_code import CodeError
from ..tools.gateway_http import SECURITY_HEADERS

MAX_PUSH_BYTES = 64 * 1024 * 1024
_STATUS = {"access_denied": 403, "not_found": 404, "company_not_found": 404, "conflict": 409}


def _json(payload, status=200):
    return http.Response(
        json.dumps(payload, ensure_ascii=False, default=str),
        status=status,
        headers=dict(SECURITY_HEADERS),
        content_type="application/json; charset=utf-8",
    )


def _error(code, message):
    return _json({"error": {"code": code, "message": message}}, _STATUS.get(code, 400))


def _route(path):
    return http.route(
        path,
        type="http",
        auth="bearer",
        methods=["POST"],
        csrf=False,
        save_session=False,
        max_content_length=MAX_PUSH_BYTES,
    )


class IotaCodeController(http.Controller):
    def _call(self, fn):
        """Reads the JSON body, finds the company, runs ``fn(body, company)``; errors named."""
        try:
            body = json.loads(request.httprequest.get_data() or b"{}")
            if not isinstance(body, dict):
                raise ValueError(body)
            company_id = body.get("company_id")
            if company_id is not None and (not isinstance(company_id, int) or company_id < 1):
                raise ValueError(company_id)
        except ValueError:
            return _error(
                "invalid_argument", "The body must be a JSON object; company_id a number."
            )
        try:
            company = request.env["iota.script.bundle"]._target_company(company_id)
            if company not in request.env.user.company_ids:
                raise AccessError(f"You do not work in {company.name}.")
            return _json(fn(body, company))
        except (CodeError, BundleImportError) as e:
            request.env.cr.rollback()
            return _error(e.code, e.args[0])
        except AccessError as e:
            request.env.cr.rollback()
            return _error("access_denied", e.args[0])
        except (UserError, ValidationError) as e:
            request.env.cr.rollback()
            return _error(getattr(e, "code", "invalid_record"), e.args[0])

    @_route("/iota/code/whoami")
    def iota_code_whoami(self, **kw):
        user = request.env.user
        return self._call(
            lambda body, company: {
                "user": user.name,
                "login": user.login,
                "db": request.env.cr.dbname,
                "company": {"id": company.id, "name": company.name},
            }
        )

    @_route("/iota/code/pull")
    def iota_code_pull(self, **kw):
        def pull(body, company):
            keys = body.get("keys")
            if keys is not None and not (
                isinstance(keys, list) and all(isinstance(k, str) for k in keys)
            ):
                raise CodeError("invalid_argument", "keys must be a list of script keys.")
            scripts = request.env["iota.script"]._iota_code_pull(company, keys)
            return {"company": {"id": company.id, "name": company.name}, "scripts": scripts}

        return self._call(pull)

    @_route("/iota/code/push")
    def iota_code_push(self, **kw):
        def push(body, company):
            items = body.get("scripts")
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise CodeError("invalid_argument", "scripts must be a list of objects.")
            Script = request.env["iota.script"]
            force = bool(body.get("force"))
            return {"scripts": [Script._iota_code_push(company, item, force) for item in items]}

        return self._call(push)

    @_route("/iota/code/run")
    def iota_code_run(self, **kw):
        def run(body, company):
            script = request.env["iota.script"]._iota_code_scripts(company, [body.get("key")])
            execution = script._run_by_hand(body.get("input"))
            return execution._run_panel_values()

        return self._call(run)

    @_route("/iota/code/logs")
    def iota_code_logs(self, **kw):
        def logs(body, company):
            script = request.env["iota.script"]._iota_code_scripts(company, [body.get("key")])
            after = body.get("after_id") or 0
            if not isinstance(after, int):
                raise CodeError("invalid_argument", "after_id must be an execution id.")
            return {"executions": script._iota_code_logs(after)}

        return self._call(logs)
