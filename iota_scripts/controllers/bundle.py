"""``/iota/bundle/export`` and ``/iota/bundle/import``: bundles over HTTP (the CLI's side).

Both take ``Authorization: Bearer <Odoo API key>`` (``auth='bearer'``: a key
of ``res.users.apikeys``, scope ``rpc``) and act as the key's user, without
sudo: export needs an IOTA Scripts developer, import an administrator of the
target company (``models/iota_script_bundle.py``). On a server with several
databases, the client picks one first with ``/web/login?db=NAME`` (the
session cookie then names it), as Odoo's own clients do.

* ``POST /iota/bundle/export`` with a JSON body ``{"company_id": id|null,
  "keys": [key, ...]|null}``: the zip (``application/zip``). No keys: every
  script of the company.
* ``POST /iota/bundle/import?company_id=&dry_run=1&on_conflict=skip`` with the
  zip as the body: the preview as JSON (``dry_run``), or the import's result.

Errors answer ``{"error": {"code", "message"}}`` with 400 (a refused bundle,
a conflict, bad input), 403 (``access_denied``) or 404 (``company_not_found``).
"""

import json

from odoo import http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

from ..models.iota_script_bundle import BundleImportError
from ..tools.gateway_http import SECURITY_HEADERS

MAX_BUNDLE_BYTES = 512 * 1024 * 1024
_STATUS = {"access_denied": 403, "company_not_found": 404}


def _json(payload, status=200):
    return http.Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        headers=dict(SECURITY_HEADERS),
        content_type="application/json; charset=utf-8",
    )


def _error(code, message):
    return _json({"error": {"code": code, "message": message}}, _STATUS.get(code, 400))


def _int_or_none(value):
    if value in (None, "", "null"):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(value)


class IotaBundleController(http.Controller):
    @http.route(
        "/iota/bundle/export",
        type="http",
        auth="bearer",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def iota_bundle_export(self, **kw):
        try:
            body = json.loads(request.httprequest.get_data() or b"{}")
            if not isinstance(body, dict):
                raise ValueError(body)
            company_id = _int_or_none(body.get("company_id"))
            keys = body.get("keys")
            if keys is not None and not (
                isinstance(keys, list) and all(isinstance(k, str) for k in keys)
            ):
                raise ValueError(keys)
        except ValueError:
            return _error("invalid_argument", 'The body must be {"company_id": id, "keys": [...]}.')
        Bundle = request.env["iota.script.bundle"]
        try:
            company = Bundle._target_company(company_id)
            if keys is None:
                data = Bundle._export_company(company)
            else:
                scripts = (
                    request.env["iota.script"]
                    .with_context(active_test=False, allowed_company_ids=[company.id])
                    .search([("company_id", "=", company.id), ("key", "in", keys)])
                )
                missing = sorted(set(keys) - set(scripts.mapped("key")))
                if missing:
                    return _error("not_found", f"No script {', '.join(missing)} in {company.name}.")
                data = Bundle._export_bundle(scripts, company)
        except BundleImportError as e:
            return _error(e.code, e.args[0])
        except AccessError as e:
            return _error("access_denied", e.args[0])
        return http.Response(
            data,
            status=200,
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": 'attachment; filename="iota-scripts-bundle.zip"',
            },
            content_type="application/zip",
        )

    @http.route(
        "/iota/bundle/import",
        type="http",
        auth="bearer",
        methods=["POST"],
        csrf=False,
        save_session=False,
        max_content_length=MAX_BUNDLE_BYTES,
    )
    def iota_bundle_import(self, company_id=None, dry_run=None, on_conflict="refuse", **kw):
        try:
            company_id = _int_or_none(company_id)
        except ValueError:
            return _error("invalid_argument", "company_id must be a number.")
        if on_conflict not in ("refuse", "skip"):
            return _error("invalid_argument", "on_conflict must be refuse or skip.")
        data = request.httprequest.get_data()
        try:
            result = request.env["iota.script.bundle"]._import_bundle(
                data,
                company_id,
                on_conflict=on_conflict,
                dry_run=dry_run in ("1", "true"),
            )
        except BundleImportError as e:
            request.env.cr.rollback()
            return _error(e.code, e.args[0])
        except (AccessError, UserError) as e:
            request.env.cr.rollback()
            code = "access_denied" if isinstance(e, AccessError) else "invalid_record"
            return _error(code, e.args[0])
        return _json(result)
