"""What the endpoint form gives a caller: the full URL, its OpenAPI entry and a ready ``curl`` line.

Display only (never stored, nothing secret): the URL is ``web.base.url`` plus
the endpoint's path; the ``curl`` line shows the headers its auth mode needs
with placeholders (``$KEY``, ``$SIGNATURE``), never a key or the HMAC secret.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlencode

from odoo import api, fields, models


class IotaScriptEndpoint(models.Model):
    _inherit = "iota.script.endpoint"

    full_url = fields.Char(string="Full URL", compute="_compute_try_it")
    openapi_url = fields.Char(string="OpenAPI Entry", compute="_compute_try_it")
    curl_example = fields.Text(string="Try It", compute="_compute_try_it")

    @api.depends("url", "methods", "auth_mode", "api_version", "company_id")
    def _compute_try_it(self):
        base = (self.env["ir.config_parameter"].sudo().get_param("web.base.url") or "").rstrip("/")
        for endpoint in self:
            endpoint.full_url = f"{base}{endpoint.url or ''}"
            query = {"version": endpoint.api_version or "", "company": endpoint.company_id.id or ""}
            endpoint.openapi_url = f"{base}/iota/api/openapi.json?{urlencode(query)}"
            endpoint.curl_example = endpoint._curl_line()

    def _curl_line(self) -> str:
        """One ``curl`` call of the endpoint's first method; ``$KEY`` and friends stay shell variables."""
        method = (self.methods or "GET").split(",")[0].strip() or "GET"
        # fixed strings of ours, in double quotes so that the shell expands $KEY
        headers = {
            "api_key": ['-H "Authorization: Bearer $KEY"'],
            "user": ['-H "X-Requested-With: XMLHttpRequest"', '-b "session_id=$SESSION"'],
            "hmac": ['-H "X-Timestamp: $TS"', '-H "X-Signature: sha256=$SIGNATURE"'],
        }.get(self.auth_mode, [])
        if method in ("POST", "PUT", "PATCH"):
            headers += ['-H "Content-Type: application/json"', "-d '{}'"]
        return " ".join(["curl", "-X", method, *headers, shlex.quote(self.full_url or "")])
