"""``/iota_scripts/version/<id>/signed.json``: one version as ``iota-scripts verify`` reads it.

A session route for the version form's **Export Signed** button: the source,
the capabilities, the ids and the signature (``iota.script.version.
_iota_signed_export``), never a key. Developers only (they read sources),
within the companies they may read the version in.
"""

import json

from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import request

from ..models.iota_script import GROUP_DEVELOPER
from ..tools.gateway_http import SECURITY_HEADERS


class IotaVersionController(http.Controller):
    @http.route(
        "/iota_scripts/version/<int:version_id>/signed.json",
        type="http",
        auth="user",
        methods=["GET"],
    )
    def iota_version_signed(self, version_id, **kw):
        version = request.env["iota.script.version"].browse(version_id)
        try:
            if not request.env.user.has_group(GROUP_DEVELOPER):
                raise AccessError("developers only")
            version.check_access("read")
            export = version._iota_signed_export()
        except (AccessError, MissingError):
            return request.not_found()
        name = f"{export['script']}-v{export['number']}.json"
        return http.Response(
            json.dumps(export, ensure_ascii=False, indent=1),
            status=200,
            headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
            content_type="application/json; charset=utf-8",
        )
