"""``/iota/api/openapi.json``: the OpenAPI 3.1 document of the endpoints a caller may see.

Per company (``?company=ID``) and per version (``?version=v1``). The
document itself is built by ``iota.script.endpoint._iota_openapi``; this
controller decides which endpoints go in, from who is calling (see
:meth:`IotaApiOpenapiController.iota_api_openapi`).
"""

from odoo import SUPERUSER_ID, http
from odoo.http import request

from ..tools.gateway_http import API_VERSION, DIGITS, SECURITY_HEADERS, ApiError
from .main import _response, bearer_credentials


class IotaApiOpenapiController(http.Controller):
    @http.route(
        "/iota/api/openapi.json",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
    )
    def iota_api_openapi(self, company=None, version=None, **kw):
        """The OpenAPI 3.1 document of the published endpoints (``?company=ID&version=v1``).

        What a caller sees depends on who it is (only endpoints whose
        "In OpenAPI Document" box is ticked and whose script is active):

        * anonymous: the ``public`` endpoints of ``company``, and only when that
          company chose to list them (``res.company.iota_api_public_listing``);
          without ``company``, or for any other company, an empty document;
        * a session user or an API-key caller (``Authorization: Bearer``, 401
          when the key is wrong): the endpoints of its own companies that it
          may call (public ones, and the others unless they require a group it
          lacks); ``company`` must be one of its companies (403 otherwise).

        Endpoints of another company and non-public endpoints never reach an
        anonymous caller; the document never holds secrets, user names or
        record ids. ``company`` must be ASCII digits (400 otherwise).
        """
        headers = {"Vary": "Origin, Authorization, Cookie", **SECURITY_HEADERS}
        try:
            doc = self._iota_openapi_document(company, version)
        except ApiError as e:
            headers.update(e.headers)
            return _response(e.status, {"error": {"code": e.code, "message": e.message}}, headers)
        return _response(200, doc, headers)

    def _iota_openapi_document(self, company, version):
        env = request.env(user=SUPERUSER_ID, su=True)
        domain = [
            ("publish_openapi", "=", True),
            ("script_id.active", "=", True),
            ("script_id.state", "=", "active"),
        ]
        if company:
            # ASCII digits that fit an id: "²" passes str.isdigit() and breaks int()
            if not DIGITS.match(str(company)) or int(company) > 2**31 - 1:
                raise ApiError(400, "invalid_argument", "company must be an id")
            domain.append(("company_id", "=", int(company)))
        if version:
            if not API_VERSION.match(version):
                raise ApiError(400, "invalid_argument", "version must look like v1")
            domain.append(("api_version", "=", version))
        user = self._iota_openapi_caller(env)
        if user is None:
            # anonymous: only the public endpoints of the company asked for, if it lists them
            domain += [
                ("auth_mode", "=", "public"),
                ("company_id", "=", int(company) if company else 0),
                ("company_id.iota_api_public_listing", "=", True),
            ]
        else:
            companies = user.company_ids.ids
            if company and int(company) not in companies:
                raise ApiError(403, "forbidden", "You do not belong to this company.")
            domain += [
                ("company_id", "in", companies),
                "|",
                "|",
                ("auth_mode", "=", "public"),
                ("group_id", "=", False),
                ("group_id", "in", user.groups_id.ids),
            ]
        endpoints = env["iota.script.endpoint"].search(domain)
        return endpoints._iota_openapi(version)

    def _iota_openapi_caller(self, env):
        """The calling user (API key first, then session), or None when anonymous."""
        if request.httprequest.headers.get("Authorization"):
            uid, _key = bearer_credentials(env)
            if not uid:
                raise ApiError(
                    401,
                    "unauthenticated",
                    "The API key is not valid: Authorization: Bearer <key>.",
                    {"WWW-Authenticate": "Bearer"},
                )
        else:
            uid = request.session.uid
        user = env["res.users"].browse(uid or ())
        if not user or not user.active or user._is_public():
            return None
        return user
