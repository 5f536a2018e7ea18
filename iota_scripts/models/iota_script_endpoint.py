"""HTTP endpoints: a script published under ``/iota/api/<version>/<path>``.

An endpoint binds a script to an API version (``v1``), a path template with
parameters (``/orders/{id}``), a set of methods and an auth mode:

* ``public``: anyone; runs as the company's least-privilege runner user
  (``res.company._iota_scripts_runner_user``), never as the author;
* ``user``: an Odoo session (cookie); runs as the session user. Only
  programmatic same-origin calls (see ``controllers/main.py``);
* ``api_key``: ``Authorization: Bearer <Odoo API key>`` (``res.users.apikeys``,
  scope ``rpc``, as ``auth='bearer'``); runs as the key's user;
* ``hmac``: third-party webhooks signing timestamp, method, path, query and
  body with a per-endpoint secret (``X-Timestamp``, ``X-Signature:
  sha256=<hex>``); runs as the runner user. A signature is accepted once.

The two *caller modes* (``user``, ``api_key``) run code with the rights of
whoever calls, an administrator included. So only IOTA administrators may
create such an endpoint, turn one into it, or change one at all, and the
endpoint runs the script version an administrator approved
(``pinned_version_id``), not the script's current version: a Developer's
new version reaches it only when an administrator approves it again
(:meth:`action_approve_current_version`).

``group_id`` additionally requires a group of the calling user (user and
api_key modes). Paths are refused at save when the same request (method and
path) could reach two endpoints, of any company (see
:mod:`..tools.endpoint_path`); the gateway routes on method and path
together, so endpoints whose methods differ never change each other's
answers. A collision with another company's endpoint names nothing of it.

Routing is read from the database at request time through
``_iota_route_table`` (ormcached per registry, one frozen
:class:`..tools.endpoint_spec.EndpointSpec` per endpoint); every create,
write and unlink clears the cache, which Odoo signals to the other workers.
"""

from __future__ import annotations

import json
import re
import secrets

from iota_scripts_sdk.ratelimit import MAX_WINDOW_LIMIT
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..tools import cors, endpoint_path, json_schema
from ..tools.endpoint_spec import EndpointSpec
from ..tools.ormcache import ormcache
from .iota_script import GROUP_ADMIN, GROUP_DEVELOPER

_VERSION = r"^v[1-9][0-9]{0,2}$"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_BODY_BYTES_CEILING = 16 * 1024 * 1024
#: Auth modes that run the script as the caller (see the module docstring).
CALLER_MODES = frozenset({"user", "api_key"})
# the module of the gateway controller (controllers/main.py), by name only
GATEWAY_MODULE = "odoo.addons.iota_scripts.controllers.main"


class IotaScriptEndpoint(models.Model):
    _name = "iota.script.endpoint"
    _inherit = ["iota.script.guarded.trigger", "iota.script.audited"]
    _iota_audit_values = frozenset({"active", "path", "auth_mode", "pinned_version_id"})

    def _iota_audit_action(self, vals):
        # the administrator's approval of a version for session / API-key endpoints
        if set(vals) == {"pinned_version_id"} and vals["pinned_version_id"]:
            return "approve"
        return super()._iota_audit_action(vals)

    _iota_clears_cache = True  # the route table (_iota_route_table)
    _description = "Script HTTP Endpoint"
    _order = "api_version, path, id"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    active = fields.Boolean(default=True)
    script_id = fields.Many2one(
        "iota.script", required=True, index=True, ondelete="cascade", check_company=True
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    api_version = fields.Char(string="API Version", required=True, default="v1")
    path = fields.Char(
        required=True,
        help="Path under /iota/api/<version>, with parameters in braces: /orders/{id}. "
        "Literal segments are stored in lower case.",
    )
    methods = fields.Char(
        required=True, default="GET", help="Comma-separated: GET, POST, PUT, PATCH, DELETE."
    )
    auth_mode = fields.Selection(
        [
            ("public", "Public (runs as the company's scripts user)"),
            ("user", "Odoo session"),
            ("api_key", "API key (Bearer)"),
            ("hmac", "HMAC signature (webhooks)"),
        ],
        required=True,
        default="api_key",
    )
    group_id = fields.Many2one(
        "res.groups",
        string="Required Group",
        # "set null" would silently open the endpoint to every caller
        ondelete="restrict",
        help="Session and API-key callers must belong to this group (403 otherwise).",
    )
    rate_limit_per_min = fields.Integer(
        string="Rate Limit (per minute per client)", required=True, default=60
    )
    rate_limit_algorithm = fields.Selection(
        [
            ("sliding_window", "Exact (sliding window)"),
            ("gcra", "Smooth (GCRA, allows bursts)"),
        ],
        string="Rate Limit Algorithm",
        required=True,
        default="sliding_window",
        help="Exact: never more than the limit in any 60 seconds (at most 100000 per minute). "
        "Smooth: a burst of the limit, then one request per 60/limit seconds; up to about "
        "twice the limit within one minute.",
    )
    rate_limit_on_unavailable = fields.Selection(
        [
            ("deny", "Refuse requests (503)"),
            ("local", "Per-process limit"),
            ("allow", "Allow without limit"),
        ],
        string="When Redis Is Down",
        required=True,
        default="deny",
    )
    max_body_bytes = fields.Integer(string="Body Cap (bytes)", required=True, default=1024 * 1024)
    body_schema = fields.Text(string="Request Body JSON Schema")
    query_schema = fields.Text(
        string="Query JSON Schema", help="Validated against the query as an object of strings."
    )
    response_schema = fields.Text(string="Response JSON Schema")
    cors_origins = fields.Text(
        string="CORS Allowed Origins",
        help="Exact origins, one per line: https://app.example.com. Empty: no CORS.",
    )
    cors_allow_credentials = fields.Boolean(string="CORS With Credentials")
    deprecated = fields.Boolean()
    sunset_date = fields.Date()
    store_request_body = fields.Boolean(
        help="Keep request bodies (capped) on the executions. Off by default: they may hold personal data."
    )
    hmac_secret = fields.Char(
        string="HMAC Secret",
        groups=GROUP_DEVELOPER,
        copy=False,
        default=lambda self: secrets.token_urlsafe(32),
    )
    hmac_max_skew_sec = fields.Integer(string="HMAC Max Clock Skew (s)", default=300)
    pinned_version_id = fields.Many2one(
        "iota.script.version",
        string="Approved Version",
        readonly=True,
        copy=False,
        # versions go only with their script, and so does the endpoint; "restrict"
        # could refuse that one DELETE (checked before the endpoint's cascade).
        # Without an approval the gateway answers 503 not_approved: never a newer version.
        ondelete="set null",
        help="Session and API-key endpoints run this version of the script, approved by an "
        "IOTA Scripts administrator; newer versions wait for a new approval.",
    )
    publish_openapi = fields.Boolean(string="In OpenAPI Document", default=True)
    description = fields.Text()
    url = fields.Char(compute="_compute_name", store=True)

    @api.depends("api_version", "path", "methods")
    def _compute_name(self):
        for endpoint in self:
            endpoint.name = (
                f"{endpoint.methods or ''} /{endpoint.api_version or ''}{endpoint.path or ''}"
            )
            endpoint.url = f"/iota/api/{endpoint.api_version or ''}{endpoint.path or ''}"

    # ---- normalisation --------------------------------------------------------------
    @api.model
    def _normalise_vals(self, vals):
        if vals.get("path"):
            try:
                vals["path"] = endpoint_path.openapi_path(
                    endpoint_path.parse_template(vals["path"])
                )
            except endpoint_path.PathError as e:
                raise ValidationError(
                    _("Invalid path %(path)r: %(why)s", path=vals["path"], why=e)
                ) from None
        if vals.get("cors_origins"):
            # stored normalised; a line that is no origin stays as typed, for the constraint
            vals["cors_origins"] = "\n".join(
                cors.normalise(line) or line.strip()
                for line in vals["cors_origins"].splitlines()
                if line.strip()
            )
        if vals.get("api_version"):
            vals["api_version"] = vals["api_version"].strip().lower()
        if vals.get("methods"):
            wanted = {m.strip().upper() for m in vals["methods"].split(",") if m.strip()}
            rank = {m: i for i, m in enumerate(METHODS)}
            vals["methods"] = ",".join(sorted(wanted, key=lambda m: (rank.get(m, 99), m)))
        return vals

    def _method_set(self) -> frozenset[str]:
        self.ensure_one()
        return frozenset(m for m in (self.methods or "").split(",") if m)

    def _segments(self) -> tuple[str, ...]:
        self.ensure_one()
        return endpoint_path.parse_template(self.path)

    # ---- constraints ----------------------------------------------------------------
    @api.constrains("api_version")
    def _check_api_version(self):
        for endpoint in self:
            if not re.match(_VERSION, endpoint.api_version or ""):
                raise ValidationError(
                    _("The API version must look like v1, v2, ... (got %r).", endpoint.api_version)
                )

    @api.constrains("methods")
    def _check_methods(self):
        for endpoint in self:
            methods = endpoint._method_set()
            if not methods or methods - set(METHODS):
                raise ValidationError(
                    _(
                        "Methods must be among %(all)s (got %(got)r).",
                        all=", ".join(METHODS),
                        got=endpoint.methods,
                    )
                )

    @api.constrains("path", "api_version", "methods", "active")
    def _check_path_collisions(self):
        """Refuses endpoints of any company (searched as superuser) that some request,
        method and path, would reach as well: the gateway routes on both
        (:meth:`_iota_resolve_spec`). Another company's endpoint is not named."""
        every = self.sudo().with_context(active_test=False).search([("active", "=", True)])
        for endpoint in self.filtered("active"):
            segments = endpoint._segments()
            for other in every:
                if other.id == endpoint.id or other.api_version != endpoint.api_version:
                    continue
                if not (other._method_set() & endpoint._method_set()):
                    continue
                if endpoint_path.overlap(segments, other._segments()):
                    # paths are one namespace: say that it is taken, not by what
                    same_company = other.company_id == endpoint.company_id
                    raise ValidationError(
                        _(
                            "%(path)s (%(version)s) collides with an existing endpoint %(other)s: "
                            "some request would match both; choose another path.",
                            path=endpoint.path,
                            version=endpoint.api_version,
                            other=other.name if same_company else _("of another company"),
                        )
                    )
            endpoint._check_core_route(segments)

    def _check_core_route(self, segments):
        """Refuses a path that an Odoo route other than the gateway would serve."""
        if "iota_scripts" not in self.env.registry._init_modules:
            # This module's own data files (the demo endpoint) load before Odoo's routing
            # map holds the gateway's route, so every path would look like a core route's.
            return
        sample = "/".join("x" if endpoint_path.is_param(s) else s for s in segments)
        full = f"/iota/api/{self.api_version}/{sample}"
        adapter = self.env["ir.http"].routing_map().bind("localhost")
        try:
            rule_endpoint, _args = adapter.match(full, method="GET")
        except Exception:  # noqa: BLE001 - NotFound, MethodNotAllowed, RequestRedirect
            raise ValidationError(_("%s collides with a core route.", full)) from None
        func = getattr(rule_endpoint, "original_endpoint", None) or getattr(
            rule_endpoint, "func", None
        )
        owner = getattr(func, "__self__", None) or getattr(rule_endpoint, "__self__", None)
        name = getattr(func, "__name__", "")
        # the gateway is recognised by name, not by importing its controller:
        # models never depend on controllers (the controller class Odoo routes to
        # may be a subclass made by another addon; its MRO still has ours)
        ours = (
            any(klass.__module__ == GATEWAY_MODULE for klass in type(owner).__mro__)
            if owner is not None
            else False
        )
        if name != "iota_api_dispatch" and not ours:
            raise ValidationError(_("%s collides with a core route.", full))

    @api.constrains(
        "rate_limit_per_min", "rate_limit_algorithm", "max_body_bytes", "hmac_max_skew_sec"
    )
    def _check_limits(self):
        for endpoint in self:
            if not 1 <= endpoint.rate_limit_per_min <= 1_000_000:
                raise ValidationError(
                    _("The rate limit must be from 1 to 1000000 requests per minute.")
                )
            if (
                endpoint.rate_limit_algorithm == "sliding_window"
                and endpoint.rate_limit_per_min > MAX_WINDOW_LIMIT
            ):
                raise ValidationError(
                    _(
                        "The exact (sliding window) rate limit takes at most %s requests per "
                        "minute; choose the smooth algorithm for more.",
                        MAX_WINDOW_LIMIT,
                    )
                )
            if not 0 <= endpoint.max_body_bytes <= MAX_BODY_BYTES_CEILING:
                raise ValidationError(
                    _("The body cap must be from 0 to %s bytes.", MAX_BODY_BYTES_CEILING)
                )
            if not 1 <= endpoint.hmac_max_skew_sec <= 3600:
                raise ValidationError(_("The HMAC clock skew must be from 1 to 3600 seconds."))

    @api.constrains("body_schema", "query_schema", "response_schema")
    def _check_schemas(self):
        for endpoint in self:
            for fname in ("body_schema", "query_schema", "response_schema"):
                if endpoint[fname]:
                    endpoint._schema(fname)

    @api.constrains("cors_origins")
    def _check_cors_origins(self):
        for endpoint in self:
            for origin in endpoint._cors_origins():
                if cors.normalise(origin) != origin:
                    raise ValidationError(
                        _(
                            "%r is not an exact origin (scheme://host[:port], no path, no '*').",
                            origin,
                        )
                    )

    @api.constrains("script_id", "company_id")
    def _check_script_company(self):
        for endpoint in self:
            if endpoint.script_id.company_id != endpoint.company_id:
                raise ValidationError(_("An endpoint belongs to its script's company."))

    @api.constrains("pinned_version_id", "script_id")
    def _check_pinned_version(self):
        for endpoint in self:
            pinned = endpoint.sudo().pinned_version_id
            if pinned and pinned.script_id != endpoint.script_id:
                raise ValidationError(_("The approved version must be a version of the script."))

    # ---- caller modes: administrators only (see the module docstring) -------------------
    def _is_iota_admin(self):
        return self.env.su or self.env.user.has_group(GROUP_ADMIN)

    def _check_caller_mode_rights(self, vals):
        """AccessError unless an administrator creates, enters or changes a caller mode,
        or sets the approved version. ``self`` is the endpoints written (empty on create)."""
        if self._is_iota_admin():
            return
        if (
            vals.get("auth_mode", "api_key" if not self else None) in CALLER_MODES
            or any(e.auth_mode in CALLER_MODES for e in self)
            or "pinned_version_id" in vals
        ):
            raise AccessError(
                _(
                    "Only IOTA Scripts administrators may publish or change endpoints that run "
                    "as their caller (Odoo session or API key); choose Public or HMAC, or ask "
                    "an administrator."
                )
            )

    def _pin_current_version(self):
        """Approves the script's current version for the caller-mode endpoints of ``self``."""
        for endpoint in self:
            if endpoint.auth_mode in CALLER_MODES:
                version = endpoint.script_id.sudo().version_id
                super(IotaScriptEndpoint, endpoint).write({"pinned_version_id": version.id})
            elif endpoint.pinned_version_id:
                super(IotaScriptEndpoint, endpoint).write({"pinned_version_id": False})

    def action_approve_current_version(self):
        """Button (administrators): session and API-key endpoints run the script's current
        version from now on."""
        if not self._is_iota_admin():
            raise AccessError(_("Only IOTA Scripts administrators may approve versions."))
        # publishing to callers: the company's policy rules as they are now
        self.script_id._check_policies()
        self._pin_current_version()
        self.env.registry.clear_cache()
        return True

    # ---- CRUD: normalise and invalidate the route cache -------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self.browse()._check_caller_mode_rights(vals)
            self._normalise_vals(vals)
            if vals.get("script_id") and "company_id" not in vals:
                vals["company_id"] = self.env["iota.script"].browse(vals["script_id"]).company_id.id
        # a privileged script: iota_script_guarded_trigger.py
        records = super().create(vals_list)
        for record, vals in zip(records, vals_list, strict=True):
            if "pinned_version_id" not in vals:
                record._pin_current_version()
        return records

    def write(self, vals):
        self._check_caller_mode_rights(vals)
        self._normalise_vals(vals)
        res = super().write(vals)
        if {"auth_mode", "script_id"} & set(vals) and "pinned_version_id" not in vals:
            # an administrator who points the endpoint elsewhere approves what it runs
            self._pin_current_version()
        return res

    # ---- request-time helpers (called by the controller) -------------------------------
    @api.model
    @ormcache("api_version")
    def _iota_route_table(self, api_version):
        """``(EndpointSpec, ...)`` of the active endpoints of a version (see
        ``tools/endpoint_spec.py``; cleared by every create, write and unlink)."""
        # the cache is shared: the first caller's context (active_test=False
        # would let archived endpoints in) must not decide what it holds
        rows = (
            self.sudo().with_context(active_test=True).search([("api_version", "=", api_version)])
        )
        return tuple(EndpointSpec(e) for e in rows)

    @api.model
    def _iota_resolve_spec(self, api_version, parts, method=None):
        """``(spec, params, allowed_methods)`` of the endpoint serving ``method`` on
        ``parts``; spec is None when no endpoint serves that method there.

        Routing uses method and path together, as the collision check does:
        ``GET /items/{id}`` of one company and ``POST /items/{x}`` of another
        each get their own requests. ``allowed_methods`` are the methods of the
        path (for 405 and ``Allow``). Without ``method``, the first endpoint
        of the path is returned."""
        allowed = set()
        for spec in self._iota_route_table(api_version):
            params = endpoint_path.match(spec.segments, parts)
            if params is not None:
                if method is None or method in spec.methods:
                    return spec, params, spec.methods
                allowed |= spec.methods
        return None, None, frozenset(allowed)

    @api.model
    def _iota_resolve(self, api_version, parts, method=None):
        """``(endpoint, params, allowed_methods)``; endpoint is empty when nothing matches."""
        spec, params, methods = self._iota_resolve_spec(api_version, parts, method)
        return self.sudo().browse(spec and spec.id), params, methods

    def _schema(self, fname, check=True):
        """The parsed JSON Schema of ``fname``; ValidationError when it is not JSON or,
        with ``check`` (at save), not a valid, self-contained schema.

        The gateway and the OpenAPI document read without ``check``: a row saved
        before a check existed must not take every endpoint of its version down
        (its validator retrieves nothing, see ``tools/json_schema.py``)."""
        self.ensure_one()
        label = self._fields[fname].string
        try:
            schema = json.loads(self[fname])
        except (ValueError, RecursionError) as e:
            raise ValidationError(
                _("%(field)s is not a valid JSON Schema: %(why)s", field=label, why=str(e)[:300])
            ) from None
        if not check:
            return schema
        try:
            json_schema.check(schema)
        except json_schema.SchemaError as e:
            raise ValidationError(
                _(
                    "%(field)s is not a valid JSON Schema (%(code)s): %(why)s",
                    field=label,
                    code=e.code,
                    why=e,
                )
            ) from None
        return schema

    def _cors_origins(self) -> list[str]:
        """The allowed origins as stored (normalised at save, see ``tools/cors.py``)."""
        self.ensure_one()
        lines = (self.cors_origins or "").splitlines()
        return [cors.normalise(o) or o.strip() for o in lines if o.strip()]

    def _iota_openapi(self, version=None):
        """An OpenAPI 3.1 document describing ``self`` (paths prefixed by version unless given)."""
        error = {"$ref": "#/components/schemas/Error"}
        doc = {
            "openapi": "3.1.0",
            "info": {"title": "IOTA Scripts API", "version": version or "all"},
            "servers": [{"url": f"/iota/api/{version}" if version else "/iota/api"}],
            "paths": {},
            "components": {
                "schemas": {
                    "Error": {
                        "type": "object",
                        "required": ["error"],
                        "properties": {
                            "error": {
                                "type": "object",
                                "required": ["code", "message"],
                                "properties": {
                                    "code": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            }
                        },
                    }
                },
                "securitySchemes": {
                    "api_key": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An Odoo API key.",
                    },
                    "user": {"type": "apiKey", "in": "cookie", "name": "session_id"},
                    "hmac": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-Signature",
                        "description": "sha256=<hex HMAC-SHA256, with the endpoint secret, of "
                        "'<X-Timestamp>\\n<METHOD>\\n<path>\\n<query>\\n<body>'>",
                    },
                },
            },
        }
        for endpoint in self.sorted(lambda e: (e.api_version, e.path)):
            segments = endpoint._segments()
            key = endpoint.path if version else f"/{endpoint.api_version}{endpoint.path}"
            item = doc["paths"].setdefault(key, {})
            parameters = [
                {"name": s[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                for s in segments
                if endpoint_path.is_param(s)
            ]
            if endpoint.query_schema:
                query = endpoint._schema("query_schema", check=False)
                required = set(query.get("required") or [])
                for name, schema in (query.get("properties") or {}).items():
                    parameters.append(
                        {
                            "name": name,
                            "in": "query",
                            "required": name in required,
                            "schema": schema,
                        }
                    )
            response_schema = (
                endpoint._schema("response_schema", check=False) if endpoint.response_schema else {}
            )
            responses = {
                "200": {
                    "description": "The script's answer",
                    "content": {"application/json": {"schema": response_schema}},
                },
                "default": {
                    "description": "An error",
                    "content": {"application/json": {"schema": error}},
                },
            }
            for method in sorted(endpoint._method_set()):
                slug = re.sub(r"[^a-z0-9]+", "_", endpoint.path.lower()).strip("_")
                operation = {
                    "operationId": f"{method.lower()}_{endpoint.api_version}_{slug}",
                    "summary": endpoint.script_id.name,
                    "description": endpoint.description or "",
                    "parameters": parameters,
                    "responses": responses,
                    "security": []
                    if endpoint.auth_mode == "public"
                    else [{endpoint.auth_mode: []}],
                }
                if method in ("POST", "PUT", "PATCH"):
                    body = (
                        endpoint._schema("body_schema", check=False) if endpoint.body_schema else {}
                    )
                    operation["requestBody"] = {
                        "required": bool(endpoint.body_schema),
                        "content": {"application/json": {"schema": body}},
                    }
                if endpoint.deprecated:
                    operation["deprecated"] = True
                item[method.lower()] = operation
        return doc

    def action_rotate_hmac_secret(self):
        for endpoint in self:
            endpoint.hmac_secret = secrets.token_urlsafe(32)
