"""What the gateway needs of an endpoint, read once and shared by every request.

``iota.script.endpoint._iota_route_table`` (ormcached per registry, cleared
by every write to an endpoint and signalled to the other workers) holds one
:class:`EndpointSpec` per active endpoint. A request then resolves its route,
checks methods, CORS, auth, limits and schemas without reading the endpoint
row, and without parsing or compiling its JSON Schemas again.

Specs are immutable and shared between threads. They hold ids, never
records (records belong to one environment), and never the HMAC secret
(read from the row when a signature is checked).
"""

from __future__ import annotations

from typing import Any

from iota_scripts_sdk.ratelimit import MAX_WINDOW_LIMIT

from . import json_schema

#: Fields copied as they are.
FIELDS = (
    "api_version",
    "auth_mode",
    "rate_limit_per_min",
    "rate_limit_algorithm",
    "rate_limit_on_unavailable",
    "max_body_bytes",
    "hmac_max_skew_sec",
    "deprecated",
    "sunset_date",
    "cors_allow_credentials",
    "store_request_body",
    "record_policy",
    "record_sample_every",
)
SCHEMAS = ("body_schema", "query_schema", "response_schema")


class EndpointSpec:
    """A frozen copy of an endpoint (see the module docstring)."""

    __slots__ = (
        "id",
        "script_id",
        "company_id",
        "group_id",
        "pinned_version_id",
        "methods",
        "segments",
        "cors_origins",
        "validators",
        *FIELDS,
    )

    def __init__(self, endpoint: Any) -> None:
        """``endpoint``: one ``iota.script.endpoint`` record (read as superuser)."""
        set_ = object.__setattr__
        set_(self, "id", endpoint.id)
        set_(self, "script_id", endpoint.script_id.id)
        set_(self, "company_id", endpoint.company_id.id)
        set_(self, "group_id", endpoint.group_id.id or 0)
        # caller modes run this version, not the script's current one (0: none approved)
        set_(self, "pinned_version_id", endpoint.pinned_version_id.id or 0)
        set_(self, "methods", endpoint._method_set())
        set_(self, "segments", endpoint._segments())
        set_(self, "cors_origins", frozenset(endpoint._cors_origins()))
        # Compiled once: Draft202012Validator(schema) walks the schema on creation.
        # The registry retrieves nothing: a remote $ref is never fetched.
        validators = {
            fname: json_schema.validator(endpoint._schema(fname, check=False))
            for fname in SCHEMAS
            if endpoint[fname]
        }
        set_(self, "validators", validators)
        for fname in FIELDS:
            set_(self, fname, endpoint[fname])
        if self.rate_limit_per_min > MAX_WINDOW_LIMIT:
            # Rows saved before the algorithm existed got the exact default with a
            # limit it cannot take (the constraint refuses new ones): stay smooth.
            set_(self, "rate_limit_algorithm", "gcra")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("EndpointSpec is immutable")
