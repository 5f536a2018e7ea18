"""``/iota/metrics``: the Prometheus scrape (text format), behind a bearer token.

* No ``metrics_token`` (site setting: environment or configuration file,
  never a system parameter, see ``tools/settings.py``) -> 404, as if the
  route did not exist; nothing is collected then.
* ``Authorization: Bearer <token>`` missing or wrong -> 401 (compared in
  constant time); no session is read or written (``auth="none"``).
* Else 200: the series of every process of the server (prefork workers
  included, ``tools/observability/metrics_store.py``) and the queue and
  dead-letter gauges of the database Odoo picks for the request (the only
  one, or the one ``--db-filter`` picks for the host name: one scrape target
  per database). Every series: ``docs/metrics.md``.
"""

import hmac

from odoo import http
from odoo.http import request

from ..tools.gateway_http import SECURITY_HEADERS
from ..tools.observability import metrics
from ..tools.settings import get_setting


class IotaMetricsController(http.Controller):
    @http.route(
        "/iota/metrics",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
    )
    def iota_metrics(self, **kw):
        token = get_setting(None, "metrics_token")
        if not token:
            return request.not_found()
        given = request.httprequest.headers.get("Authorization") or ""
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credentials.strip().encode(), token.encode()
        ):
            return http.Response(
                "401 Unauthorized\n",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="iota_scripts"', **SECURITY_HEADERS},
                content_type="text/plain; charset=utf-8",
            )
        # text format 0.0.4: what every Prometheus 2.x reads (our names are plain ASCII)
        from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

        body = metrics.scrape(request.env.cr)
        return http.Response(
            body,
            status=200,
            headers=dict(SECURITY_HEADERS),
            content_type=CONTENT_TYPE_PLAIN_0_0_4,
        )
