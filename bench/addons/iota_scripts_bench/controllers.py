"""The baseline of ``bench/endpoints.py``: a plain Odoo controller.

It answers what the benchmark's public endpoint answers (``{"ok": true}``)
with the same auth mode (``auth='public'``: the request gets the public
user's environment, as a public endpoint's call does), and nothing else.
This module lives in ``bench/addons`` and is installed only in the
benchmark's own database: the product addon ships no benchmark route.
"""

from odoo import http
from odoo.http import request


class IotaBenchBaseline(http.Controller):
    @http.route(
        "/iota_bench/plain",
        type="http",
        auth="public",
        methods=["GET"],
        csrf=False,
        save_session=False,
    )
    def iota_bench_plain(self):
        return request.make_json_response({"ok": True})
