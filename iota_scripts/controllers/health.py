"""``/iota/health/live`` and ``/iota/health/ready``: probes for load balancers and orchestrators.

* ``live``: this Odoo process answers HTTP. Always 200 ``{"status": "ok"}``;
  it touches no database, no Redis, no runner.
* ``ready``: this process can serve scripts of the database: ``database``,
  ``redis`` (when configured), ``runners`` (a trivial script within 1 s) and
  ``queue`` (the oldest due queued run has waited less than
  ``health_queue_lag_sec``). 200 when every check is ``ok`` or ``skipped``,
  else 503. Each check says its ``state`` and how long it took (``ms``).

The database is the one Odoo picks for the request (the only one, or the
one ``--db-filter`` picks for the host name; the same as ``/iota/metrics``),
or the ``db`` query parameter when ``--db-filter`` allows it. Both answer
under ``--workers``: each worker runs its own checks with its own runners.

Anonymous callers see states and times only: no versions, host names,
URLs or error texts. A caller holding the metrics bearer token
(``metrics_token``) also gets each check's ``detail`` (an exception's class
name, the queue lag).
"""

import hmac

from odoo import SUPERUSER_ID, api, http
from odoo.http import request
from odoo.modules.registry import Registry

from ..tools.gateway_http import SECURITY_HEADERS
from ..tools.observability import health
from ..tools.settings import get_setting


def _json(payload, status):
    return request.make_json_response(
        payload, headers=list(SECURITY_HEADERS.items()), status=status
    )


def _has_metrics_token():
    token = get_setting(None, "metrics_token")
    if not token:
        return False
    scheme, _, credentials = (request.httprequest.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def _database():
    """The database to check: ``?db=`` when the server serves it, else the request's."""
    wanted = (request.httprequest.args.get("db") or "").strip()
    if wanted:
        # db_list applies --db-filter (and -d): never a database the server does not serve
        return wanted if wanted in http.db_list(force=True) else None
    return request.db


class IotaHealthController(http.Controller):
    @http.route(
        "/iota/health/live",
        type="http",
        auth="none",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def iota_health_live(self, **kw):
        return _json({"status": "ok"}, 200)

    @http.route(
        "/iota/health/ready",
        type="http",
        auth="none",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def iota_health_ready(self, **kw):
        checks = {}
        dbname = _database()
        if dbname is None:
            checks["database"] = {"state": health.FAIL, "ms": 0.0, "detail": "no such database"}
        else:
            checks.update(self._database_checks(dbname))
        checks["redis"] = health.timed(health.check_redis)
        checks["runners"] = health.timed(health.check_runners)
        ready = all(c["state"] != health.FAIL for c in checks.values())
        if not _has_metrics_token():
            for check in checks.values():
                check.pop("detail", None)
        return _json({"status": "ok" if ready else "fail", "checks": checks}, 200 if ready else 503)

    def _database_checks(self, dbname):
        """``database`` and ``queue``: on the request's cursor, or one of their own for ``?db=``."""
        if dbname == request.db and request.env is not None:
            return _checks_on(request.env.cr)
        try:
            cursor = Registry(dbname).cursor()
        except Exception as e:  # noqa: BLE001 - reported as a failed check, never raised
            failed = {"state": health.FAIL, "ms": 0.0, "detail": e.__class__.__name__}
            return {"database": failed, "queue": dict(failed)}
        with cursor as cr:
            checks = _checks_on(cr)
            cr.rollback()  # read only
        return checks


def _checks_on(cr):
    def guarded(check):
        # a failed query must not abort the transaction the request goes on with
        def run():
            with cr.savepoint(flush=False):
                return check()

        return health.timed(run)

    checks = {"database": guarded(lambda: health.check_database(cr))}
    if checks["database"]["state"] != health.OK:
        checks["queue"] = {"state": health.FAIL, "ms": 0.0, "detail": "no database"}
        return checks
    threshold = get_setting(api.Environment(cr, SUPERUSER_ID, {}), "health_queue_lag_sec")
    checks["queue"] = guarded(lambda: health.check_queue(cr, threshold))
    return checks
