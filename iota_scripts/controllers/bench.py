"""The benchmark's baseline: a plain ``type='http'`` route returning the same JSON.

It exists only in a server started with ``IOTA_SCRIPTS_BENCH_BASELINE=1``
(``bench/endpoints.py`` does that); production servers never register it.
"""

import os

from odoo import http
from odoo.http import request

if os.environ.get("IOTA_SCRIPTS_BENCH_BASELINE") == "1":

    class IotaBenchBaseline(http.Controller):
        @http.route(
            "/iota/bench/plain",
            type="http",
            auth="none",
            methods=["GET"],
            csrf=False,
            save_session=False,
        )
        def iota_bench_plain(self):
            return request.make_json_response({"ok": True})
