"""The API gateway: ``/iota/api/<version>/<path>`` runs endpoint scripts.

One route serves every endpoint; the endpoint is resolved from the database
at request time (``iota.script.endpoint._iota_resolve_spec``, ormcached). The order
of the checks is the contract:

1. path tricks (encoded dots or slashes, ``..``, empty segments) -> 400;
   the endpoint is chosen by method and path together: unknown path -> 404,
   a path served for other methods -> 405; CORS preflight;
2. authentication -> 401, group or company -> 403; session calls that are
   not programmatic same-origin calls -> 403 (``csrf_refused``); a session
   or API-key endpoint without an approved version -> 503 (``not_approved``);
3. rate limit per endpoint and client -> 429 (503 when Redis is down and
   the endpoint's policy is ``deny``);
4. body: size -> 413, media type -> 415, UTF-8, JSON, nesting -> 400,
   JSON Schemas -> 400; HMAC signature (needs the body) -> 401;
5. ``Idempotency-Key`` replay (POST);
6. the run, recorded as an execution (trigger ``endpoint``) with method,
   path, status and latency, written once after the answer is known, as the
   endpoint's recording policy says (every call, failures and a sample, or
   failures only; the calls it does not keep are counted). Script faults ->
   500 without internals, timeouts -> 504.

Every answer is JSON (errors are ``{"error": {"code", "message"}}``) and
carries ``Vary: Origin``, the security headers and, once the limiter ran,
``RateLimit-*``. Calls refused before step 6 are not recorded: a flood of
refused calls must not become a flood of database rows.

Security contracts (docs/guide/endpoints.md): HMAC signatures cover
``<X-Timestamp>\n<METHOD>\n<path>\n<query>\n<body>``; a script sets only
allowlisted response headers and ``X-App-*`` (both in ``tools/gateway_http.py``,
with the other pure HTTP rules); CORS origins match after ``tools/cors.py``
normalisation, and the answer names the configured origin; header and query
values parsed as numbers must be ASCII digits (400).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from odoo import SUPERUSER_ID, fields, http
from odoo.http import request
from odoo.tools import config

from ..run.request import RunRequest
from ..tools import cors, endpoint_path
from ..tools.gateway_http import (
    ALLOWED_REQUEST_HEADERS,
    API_VERSION,
    DIGITS,
    HIDDEN_HEADERS,
    IDEMPOTENCY_KEY,
    SECURITY_HEADERS,
    ApiError,
    answer,
    body_bytes,
    hmac_message,
    limiter,
    mask,
    parse_json,
    programmatic,
    request_target,
    validate,
)
from ..tools.observability import metrics, tracing
from ..tools.sentinel import as_engine
from ..tools.settings import ratelimit_redis_url

_logger = logging.getLogger(__name__)

MAX_STORED_BODY_CHARS = 16 * 1024
IDEMPOTENCY_TTL = timedelta(hours=24)

_proxy_warning_lock = threading.Lock()
_proxy_warned = False


def _warn_proxy_mode(hreq) -> None:
    """Logs once per process when requests come through a proxy that Odoo ignores.

    Without ``proxy_mode``, ``remote_addr`` is the proxy's address: every
    client shares one rate-limit bucket and one idempotency namespace."""
    global _proxy_warned
    if _proxy_warned or config.get("proxy_mode") or "X-Forwarded-For" not in hreq.headers:
        return
    with _proxy_warning_lock:
        if _proxy_warned:
            return
        _proxy_warned = True
    _logger.warning(
        "iota_scripts: requests carry X-Forwarded-For but proxy_mode is off: every client "
        "behind the proxy (%s) shares one endpoint rate limit. Start Odoo with --proxy-mode "
        "behind a reverse proxy (and never without one).",
        hreq.remote_addr,
    )


def bearer_credentials(env):
    """``(user id, key)`` of ``Authorization: Bearer <key>`` (an API key of
    scope ``rpc``, as ``auth='bearer'``), or ``(None, None)``."""
    header = request.httprequest.headers.get("Authorization") or ""
    match = re.match(r"^bearer\s+(\S+)$", header, re.IGNORECASE)
    if not match:
        return None, None
    key = match.group(1)
    uid = env["res.users.apikeys"]._check_credentials(scope="rpc", key=key)
    return (uid, key) if uid else (None, None)


def _response(status: int, payload, headers: dict, raw: bytes | None = None, content_type=None):
    response = http.Response(body_bytes(payload, raw), status=status)
    response.headers["Content-Type"] = content_type or "application/json; charset=utf-8"
    for name, value in headers.items():
        response.headers[name] = value
    return response


class IotaApiController(http.Controller):
    @http.route(
        "/iota/api/<string:version>/<path:subpath>",
        type="http",
        auth="none",
        csrf=False,
        save_session=False,
        # auth='none' routes default to a read-only cursor; runs write executions.
        readonly=False,
        max_content_length=lambda controller: controller._iota_max_content_length(),
    )
    def iota_api_dispatch(self, version, subpath, **kw):
        started = time.monotonic()
        headers = {"Vary": "Origin", **SECURITY_HEADERS}
        state = {
            "execution": None,
            "idempotency": None,
            "run_succeeded": False,
            "started": started,
            "answered": False,
            "endpoint_id": None,
        }
        with tracing.endpoint_span(request.httprequest) as state["span"]:  # W3C traceparent in
            try:
                response = self._iota_serve(version, subpath, headers, state)
            except ApiError as e:
                headers.update(e.headers)
                response = _response(
                    e.status, {"error": {"code": e.code, "message": e.message}}, headers
                )
            state["span"].answered(response.status_code)
        metrics.endpoint_answered(request.db, state["endpoint_id"], response.status_code)
        execution = state["execution"]
        if execution and not state["answered"]:
            # the run's row was written before its answer was known
            as_engine(execution).write(
                {
                    "http_status": response.status_code,
                    "latency_ms": round((time.monotonic() - started) * 1000, 3),
                }
            )
        if replay := state["idempotency"]:
            if response.status_code >= 500 and not state.get("run_succeeded"):
                # a failed attempt (its writes rolled back) may be retried with
                # the same key; a run that succeeded but whose answer was refused
                # (invalid_response) committed its effects: its 500 is replayed
                replay.unlink()
            else:
                replay.write(
                    {
                        "status": response.status_code,
                        "headers_json": json.dumps(
                            {
                                k: v
                                for k, v in response.headers.items()
                                if k.lower() not in ("content-length",)
                            }
                        ),
                        "body": response.get_data(),
                    }
                )
        return response

    def _iota_max_content_length(self):
        """Odoo reads ``request.form`` before any controller runs, and Werkzeug
        then drains a body longer than this limit to raise its own (HTML) 413.
        JSON is never parsed as a form, so for JSON the gateway applies the
        endpoint's cap itself, unread (413, ``Connection: close``); any other
        media type is refused (415) and may not be parsed beyond 1 MiB."""
        mimetype = request.httprequest.mimetype or ""
        if mimetype == "application/json" or mimetype.endswith("+json"):
            return None
        return 1024 * 1024

    # ---- the pipeline ------------------------------------------------------------------
    def _iota_serve(self, version, subpath, headers, state):
        hreq = request.httprequest
        environ = hreq.environ
        try:
            parts = endpoint_path.split_request_path(
                subpath, environ.get("RAW_URI") or environ.get("REQUEST_URI")
            )
        except endpoint_path.PathError as e:
            raise ApiError(400, "invalid_path", str(e)) from None
        if not API_VERSION.match(version):
            raise ApiError(404, "not_found", "No such endpoint.")
        _warn_proxy_mode(hreq)
        env = request.env(user=SUPERUSER_ID, su=True)
        method = hreq.method.upper()
        # Route on method and path together, as the collision check does: one
        # company's POST /items/{x} never turns another's GET /items/{id} into 405s.
        wanted = method
        if method == "OPTIONS":
            wanted = (hreq.headers.get("Access-Control-Request-Method") or "").upper() or None
        endpoint, params, methods = env["iota.script.endpoint"]._iota_resolve_spec(
            version, parts, wanted
        )
        if endpoint is None:
            if not methods:
                raise ApiError(404, "not_found", "No such endpoint.")
            raise ApiError(
                405,
                "method_not_allowed",
                f"{wanted} is not allowed here.",
                {"Allow": ", ".join(sorted(methods | {"OPTIONS"}))},
            )
        state["endpoint_id"] = endpoint.id
        state["span"].resolved(method, version, endpoint.segments, endpoint.id)
        script = env["iota.script"].browse(endpoint.script_id)
        # the cached columns (models/iota_script_run_cache.py), not the row
        current = dict(script._iota_run_fields(script.id))
        if not current.get("active") or current["state"] != "active" or not current["version_id"]:
            raise ApiError(404, "not_found", "No such endpoint.")
        if endpoint.deprecated:
            headers["Deprecation"] = "true"
        if endpoint.sunset_date:
            sunset = datetime.combine(
                endpoint.sunset_date, datetime.min.time(), tzinfo=timezone.utc
            )
            headers["Sunset"] = format_datetime(sunset, usegmt=True)

        # CORS: exact origins only; credentials only when asked; never "*".
        origin = hreq.headers.get("Origin")
        configured = cors.normalise(origin)
        origin_allowed = configured is not None and configured in endpoint.cors_origins
        if origin_allowed:
            # the configured spelling, never the header as the client wrote it
            headers["Access-Control-Allow-Origin"] = configured
            if endpoint.cors_allow_credentials:
                headers["Access-Control-Allow-Credentials"] = "true"
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        if method == "OPTIONS":
            if hreq.headers.get("Access-Control-Request-Method"):
                if not origin_allowed:
                    raise ApiError(403, "cors_denied", "This origin may not call this endpoint.")
                wanted = hreq.headers["Access-Control-Request-Method"].upper()
                if wanted not in methods:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        f"{wanted} is not allowed here.",
                        {"Allow": allow},
                    )
                headers.update(
                    {
                        "Access-Control-Allow-Methods": allow,
                        "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                        "Access-Control-Max-Age": "600",
                    }
                )
            headers["Allow"] = allow
            return _response(204, None, headers, raw=b"")
        if method not in methods:
            raise ApiError(
                405, "method_not_allowed", f"{method} is not allowed here.", {"Allow": allow}
            )

        user, client = self._iota_authenticate(endpoint, origin, origin_allowed)
        if endpoint.auth_mode in ("user", "api_key") and not endpoint.pinned_version_id:
            raise ApiError(
                503,
                "not_approved",
                "An IOTA Scripts administrator must approve this endpoint's script version.",
            )

        decision = limiter(
            ratelimit_redis_url(), endpoint.rate_limit_on_unavailable, endpoint.rate_limit_algorithm
        ).check(f"{request.db}:{endpoint.id}:{client}", endpoint.rate_limit_per_min, 60)
        headers.update(decision.headers())
        if not decision.allowed:
            metrics.ratelimit_refused(
                request.db, endpoint.id, "unavailable" if decision.degraded else "limited"
            )
            if decision.degraded:
                raise ApiError(
                    503, "rate_limit_unavailable", "The rate limiter is unavailable; retry later."
                )
            raise ApiError(429, "rate_limited", "Too many requests; retry later.")

        raw, text, value = self._iota_read_body(endpoint)
        if endpoint.auth_mode == "hmac":
            self._iota_check_signature(endpoint, raw, client)
        validators = endpoint.validators

        query = {}
        for name in hreq.args:
            values = hreq.args.getlist(name)
            query[name] = values[0] if len(values) == 1 else values
        if "query_schema" in validators:
            validate(validators["query_schema"], query, "query")
        if "body_schema" in validators and method in ("POST", "PUT", "PATCH"):
            validate(validators["body_schema"], value, "body")

        if method == "POST" and (key := hreq.headers.get("Idempotency-Key")) is not None:
            if replayed := self._iota_idempotency(endpoint, client, key, raw, headers, state):
                return replayed

        return self._iota_run(
            endpoint, script, user, method, subpath, params, query, text, value, headers, state
        )

    def _iota_authenticate(self, endpoint, origin, origin_allowed):
        """``(run-as user, rate-limit client key)`` or ApiError 401/403."""
        hreq = request.httprequest
        env = request.env(user=SUPERUSER_ID, su=True)
        peer = f"ip:{hreq.remote_addr}"  # X-Forwarded-For applies only with proxy_mode
        mode = endpoint.auth_mode
        company = env["res.company"].browse(endpoint.company_id)
        if mode in ("public", "hmac"):
            return company._iota_scripts_runner_user(), peer
        if mode == "user":
            # Odoo already dropped a session whose token does not check out.
            uid = request.session.uid
            if (
                origin
                and not origin_allowed
                and cors.normalise(origin) != cors.normalise(hreq.host_url)
            ):
                # A cookie-authenticated call from a foreign page (CSRF).
                raise ApiError(403, "cors_denied", "This origin may not call this endpoint.")
            if not programmatic(hreq.headers):
                # A link or an <img> (no Origin on a same-origin GET) would run
                # the script as whoever is logged in.
                raise ApiError(
                    403,
                    "csrf_refused",
                    "Session calls must be programmatic: send X-Requested-With "
                    "(or call with fetch() from this site).",
                )
            if not uid:
                raise ApiError(401, "unauthenticated", "Log in first (Odoo session).")
            user = env["res.users"].browse(uid)
            client = f"user:{uid}"
        else:
            uid, key = bearer_credentials(env)
            if not uid:
                raise ApiError(
                    401,
                    "unauthenticated",
                    "A valid API key is required: Authorization: Bearer <key>.",
                    {"WWW-Authenticate": "Bearer"},
                )
            user = env["res.users"].browse(uid)
            client = f"key:{uid}:{key[:8]}"
        if not user.active or user._is_public():
            raise ApiError(401, "unauthenticated", "This user may not call endpoints.")
        if endpoint.group_id and endpoint.group_id not in user.groups_id.ids:
            raise ApiError(403, "forbidden", "You are not allowed to call this endpoint.")
        if company not in user.company_ids:
            raise ApiError(403, "forbidden", "You are not allowed to call this endpoint.")
        return user, client

    def _iota_read_body(self, endpoint):
        """``(raw bytes, text, parsed JSON)`` of the body, capped and checked."""
        hreq = request.httprequest
        cap = endpoint.max_body_bytes
        length = hreq.content_length
        if length is not None and length > cap:
            # the body stays unread: the connection must not be reused
            raise ApiError(
                413,
                "payload_too_large",
                f"The body is larger than {cap} bytes.",
                {"Connection": "close"},
            )
        if "chunked" in (hreq.headers.get("Transfer-Encoding") or "").lower():
            # Werkzeug 2.2 reads a chunked body whole (no cap) and Odoo hides
            # the WSGI stream: only bodies with a Content-Length are read.
            raise ApiError(
                411,
                "length_required",
                "Send the body with a Content-Length.",
                {"Connection": "close"},
            )
        if not length:
            return b"", None, None
        if hreq.mimetype != "application/json" and not hreq.mimetype.endswith("+json"):
            raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
        # cached: Odoo replays the whole request after a serialization failure
        # (service.model.retrying) and the stream cannot be read twice
        raw = hreq.get_data(cache=True)
        if len(raw) > cap:
            raise ApiError(413, "payload_too_large", f"The body is larger than {cap} bytes.")
        if not raw:
            return b"", None, None
        text, value = parse_json(raw)
        return raw, text, value

    def _iota_check_signature(self, endpoint, raw, client):
        hreq = request.httprequest
        stamp = hreq.headers.get("X-Timestamp") or ""
        signature = (hreq.headers.get("X-Signature") or "").strip()
        if not stamp or not signature.startswith("sha256="):
            raise ApiError(
                401, "bad_signature", "X-Timestamp and X-Signature: sha256=<hex> are required."
            )
        if not DIGITS.match(stamp):
            raise ApiError(
                400, "invalid_timestamp", "X-Timestamp must be Unix seconds in ASCII digits."
            )
        if abs(time.time() - int(stamp)) > endpoint.hmac_max_skew_sec:
            raise ApiError(401, "bad_signature", "The timestamp is too old or in the future.")
        # never in the cached spec: read from the row, as superuser
        record = request.env["iota.script.endpoint"].sudo().browse(endpoint.id)
        secret = record.hmac_secret or ""
        path, query = request_target(hreq.environ)
        message = hmac_message(stamp, hreq.method.upper(), path, query, raw)
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if not secret or not hmac.compare_digest(expected, signature[7:].lower()):
            raise ApiError(401, "bad_signature", "The signature does not match.")
        Replay = request.env["iota.script.endpoint.replay"].sudo()
        if not Replay._iota_reserve(record, "signature", "hmac", expected):
            raise ApiError(401, "replayed", "This signature was already used.")

    def _iota_idempotency(self, endpoint, client, key, raw, headers, state):
        """The stored answer when ``key`` was seen; otherwise reserve it (returns None)."""
        if not IDEMPOTENCY_KEY.match(key):
            raise ApiError(
                400,
                "invalid_idempotency_key",
                "Idempotency-Key: 1 to 255 visible ASCII characters.",
            )
        digest = hashlib.sha256(raw).hexdigest()
        Replay = request.env["iota.script.endpoint.replay"].sudo()
        domain = [
            ("endpoint_id", "=", endpoint.id),
            ("kind", "=", "idempotency"),
            ("client", "=", client),
            ("key", "=", key),
        ]
        seen = Replay.search(domain, limit=1)
        if seen and seen.create_date < fields.Datetime.now() - IDEMPOTENCY_TTL:
            seen.unlink()
            seen = Replay.browse()
        if seen:
            if seen.request_sha256 != digest:
                raise ApiError(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with another body.",
                )
            if not seen.status:
                raise ApiError(
                    409,
                    "idempotency_in_progress",
                    "A request with this Idempotency-Key is running.",
                )
            stored = json.loads(seen.headers_json or "{}")
            stored.update({k: v for k, v in headers.items() if k.lower().startswith("ratelimit")})
            stored["Idempotency-Replayed"] = "true"
            return _response(
                seen.status,
                None,
                stored,
                raw=seen.body or b"",
                content_type=stored.get("Content-Type"),
            )
        state["idempotency"] = Replay._iota_reserve(
            Replay.env["iota.script.endpoint"].browse(endpoint.id),
            "idempotency",
            client,
            key,
            digest,
        )
        if not state["idempotency"]:
            raise ApiError(
                409, "idempotency_in_progress", "A request with this Idempotency-Key is running."
            )
        return None

    def _iota_run(
        self, endpoint, script, user, method, subpath, params, query, text, value, headers, state
    ):
        hreq = request.httprequest
        req_headers = {
            name.lower(): val
            for name, val in hreq.headers.items()
            if name.lower() not in HIDDEN_HEADERS
        }
        path = f"/{subpath}"
        extra_vals = {
            "endpoint_id": endpoint.id,
            "http_method": method,
            "http_path": f"/iota/api/{endpoint.api_version}{path}"[:2048],
        }
        if endpoint.store_request_body and text is not None:
            stored = json.dumps(mask(value), ensure_ascii=False)
            extra_vals["request_body"] = stored[:MAX_STORED_BODY_CHARS]
            extra_vals["request_body_truncated"] = len(stored) > MAX_STORED_BODY_CHARS
        run = RunRequest(
            script,
            {"type": "endpoint", "endpoint_id": endpoint.id, "method": method, "path": path},
            run_as=user,
            # runs as the caller: the version an administrator approved, not the current one
            pinned_version_id=(
                endpoint.pinned_version_id if endpoint.auth_mode in ("user", "api_key") else None
            ),
            request={
                "method": method,
                "path": path,
                "params": params,
                "query": query,
                "headers": req_headers,
                "body": text,
                "json": value,
            },
            execution_values=extra_vals,
            caller=self._iota_caller(endpoint, user),
            record_policy=(endpoint.record_policy, endpoint.record_sample_every),
            answer=lambda result, execution_id: self._iota_answer_run(
                endpoint, result, execution_id, headers, state
            ),
        )
        # Pinning the company spares a read of the user's row (env.company) in
        # create(); the user belongs to it (checked by _iota_authenticate).
        execution = (
            request.env["iota.script.execution"]
            .with_user(user)
            .with_context(allowed_company_ids=[endpoint.company_id])
            ._run(run)
        )
        state["execution"] = execution
        if "answer" not in state:
            # the run did not start (scripts disabled, the script just archived)
            raise ApiError(503, "unavailable", "Scripts are not running on this server.")
        # the run ended: its answer was made before its execution was written
        if isinstance(state["answer"], ApiError):
            raise state["answer"]
        return state["answer"]

    def _iota_caller(self, endpoint, user):
        """Who the call came from, for a gradual rollout to send them to the
        same version each time: the user when the call authenticates one,
        else the client's address (``proxy_mode`` applies)."""
        if endpoint.auth_mode in ("user", "api_key"):
            return f"user:{user.id}"
        return f"ip:{request.httprequest.remote_addr}"

    def _iota_answer_run(self, endpoint, result, execution_id, headers, state):
        """Makes the HTTP answer of a run that ended and keeps it in
        ``state["answer"]`` (a response, or the ApiError to raise); returns
        the execution's ``http_status`` and ``latency_ms``. Called by the
        run path before it writes the execution (``RunRequest.answer``);
        ``result`` is ``None`` when the run could not start."""
        try:
            if result is None:
                # recorded before the run started: the run-as user may not work there
                raise ApiError(403, "forbidden", "You are not allowed to call this endpoint.")
            if not result.ok:
                code = result.error.code if result.error else "internal_error"
                if code in ("timeout", "cpu_limit"):
                    raise ApiError(504, "timeout", "The script did not answer in time.")
                raise ApiError(
                    500, "script_error", f"The script failed (execution {execution_id})."
                )
            state["run_succeeded"] = True
            answer = self._iota_answer(endpoint, result.result, headers)
            status = answer.status_code
        except ApiError as e:
            answer, status = e, e.status
        state["answer"], state["answered"] = answer, True
        return {
            "http_status": status,
            "latency_ms": round((time.monotonic() - state["started"]) * 1000, 3),
        }

    def _iota_answer(self, endpoint, value, headers):
        """Maps a script's return value to a response (see the module docstring)."""
        out = answer(value, endpoint.validators.get("response_schema"))
        headers.update(out.headers)
        if out.status == 204:
            return _response(204, None, headers, raw=b"")
        return _response(
            out.status, out.payload, headers, raw=out.raw, content_type=out.content_type
        )
