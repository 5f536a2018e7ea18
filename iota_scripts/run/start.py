"""The first steps of a run: resolve the version and the user, open the execution.

Each step reads the :class:`~.request.RunRequest` and returns a value; a run
that must not start is *skipped*: an empty recordset, or, for a claimed
queued run, that run recorded as abandoned with the reason. A manual run
raises a ``UserError`` instead, so the person who pressed Run sees why.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from iota_scripts_sdk import ScriptError
from odoo import _, fields
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..sdk_host.db import RUN_CONTEXT_KEY, scope_records
from ..tools.ormcache import cached_call
from ..tools.sentinel import as_engine
from ..tools.storable_text import storable_text
from .pending import PendingExecution
from .request import RunRequest

#: Stored input, result and logs are cut at this many characters of JSON.
MAX_STORED_CHARS = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Started:
    """A run whose execution exists (or is reserved, ``pending``) and may now run.

    ``run_env`` is the environment ``sdk.db`` runs in: the run-as user, no
    superuser, the script's company only. ``start_vals`` are written with the
    outcome (a queued run's start). ``records_ctx`` is ``ctx.records``.
    """

    script: Any
    version: Any
    user: Any
    run_env: Any
    company_name: str
    execution: Any
    pending: PendingExecution | None
    start_vals: dict[str, Any]
    records_ctx: dict[str, Any] | None


def capped(value: Any, cap: int = MAX_STORED_CHARS) -> tuple[str, bool]:
    """``value`` as JSON text of at most ``cap`` characters, and whether it was cut."""
    text = storable_text(json.dumps(value, ensure_ascii=False, default=str))
    if len(text) <= cap:
        return text, False
    return text[:cap], True


def input_values(value: Any) -> dict[str, Any]:
    """The execution's stored input: ``value`` as capped JSON text."""
    text, cut = capped(value)
    return {"input_json": text, "input_truncated": cut}


def skip(Execution: Any, req: RunRequest, reason: str) -> Any:
    """A run that does not start: the claimed queued run records why; else nothing."""
    if req.queued:
        return req.queued._abandon(f"not run: {reason}")
    return Execution.browse()


def resolve_version(Execution: Any, req: RunRequest, script: Any) -> tuple[Any, str | None]:
    """``(version, None)`` to run, or ``(None, reason)`` when the run is skipped."""
    manual = req.loud
    if not script.active or (script.state != "active" and not (manual and script.state == "draft")):
        if manual:
            raise UserError(_("Script %s is archived or disabled.", script.display_name))
        return None, "the script is archived or disabled"
    version = script.version_id
    if req.pinned_version_id and (req.trigger["type"] == "endpoint" or req.dry_run is not None):
        # an endpoint that runs as its caller runs the version an administrator
        # approved (models/iota_script_endpoint.py), never a newer one; a
        # dry-run may try any version of the script
        version = Execution.env["iota.script.version"].sudo().browse(req.pinned_version_id)
        if version.script_id != script:
            version = version.browse()
    else:
        # a gradual rollout may send this run to the candidate (iota_script_rollout.py)
        version = script._iota_route(req, Execution.env.uid) or version
    if not version:
        if manual:
            raise UserError(
                _("Script %s has no published version yet.", script.display_name)
                if script.version_ids
                else _("Script %s has no source yet.", script.display_name)
            )
        return None, "the script has no published version"
    return version, None


def run_as_user(req: RunRequest, script: Any) -> Any:
    return req.run_as or script.run_as_user_id or script.company_id._iota_scripts_runner_user()


def refusal(script: Any, user: Any) -> ScriptError | None:
    """Why ``user`` may not run ``script`` now (``access_denied``), or None.

    Checked at the start of every run, never only when the script was saved
    or the run queued: a run-as user archived, or taken out of the script's
    company, since then runs nothing more. (A change during a run applies
    from the next run: the run's transaction keeps what it saw at its start.)
    """
    if not user.active and not _archived_by_design(script, user):
        return ScriptError("access_denied", f"the run-as user {user.login} is archived")
    # _get_company_ids is ormcached (cleared when a user's companies change).
    if script.company_id.id not in cached_call(user, "_get_company_ids"):
        return ScriptError(
            "access_denied",
            f"the run-as user {user.login} may not work in {script.company_id.name}",
        )
    return None


def _archived_by_design(script: Any, user: Any) -> bool:
    """The users that are archived so that no one logs in as them, and that
    runs use on purpose: the company's runner user, the public user (public
    endpoints), the superuser."""
    company = script.company_id
    return (
        user.id == company._iota_scripts_runner_uid(company.id)
        or user._is_public()
        or user._is_superuser()
    )


#: Columns of the run's version that the run path reads (the source, what
#: pipeline.capabilities_of checks, the npm pins), fetched by run_env's one query.
_VERSION_COLUMNS = ("source", "number", "sha256", "script_id", "capabilities_json", "package_pins")
#: Columns of the script's company that every run reads besides its name
#: (signature.refusal, pipeline.capabilities_of, units.meter).
_COMPANY_COLUMNS = (
    "iota_scripts_require_signed",
    "iota_capabilities_required",
    "iota_scripts_units_daily_pool",
)


def run_env(Execution: Any, script: Any, user: Any, reserve_id: bool = False, version: Any = None):
    """``(run env, company name, reserved execution id or None)`` in one query, or none.

    With ``reserve_id``, an id is drawn from the executions' sequence for a
    run written once (:class:`~.pending.PendingExecution`). With ``version``,
    the columns of it that the run reads come along. Everything read goes into
    the transaction's ORM cache, where it was not already: the next run of
    the same transaction (a queue group) finds it there and sends no query.
    The cache is the ORM's own, so a write earlier in the transaction is what
    the run sees, and a commit empties it."""
    env = Execution.env
    cache = env.cache
    company = script.company_id
    fields_ = _RunEnvFields(env)
    if version is not None and _cached(cache, version, fields_.version):
        version = None
    if (
        not reserve_id
        and version is None
        and _cached(cache, user, fields_.user)
        and _cached(cache, company, fields_.company)
        and _cached(cache, user.partner_id, fields_.partner)
    ):
        lang, tz = (cache.get(user.partner_id, f) for f in fields_.partner)
        company_name, execution_id = cache.get(company, fields_.company[0]), None
    else:
        execution_id, lang, tz, company_name = _read_run_env(
            env, fields_, user, company, version, reserve_id
        )
    pinned = env(
        user=user.id,
        su=False,
        context={
            "allowed_company_ids": [company.id],
            "lang": lang or env.lang or "en_US",
            "tz": tz or "UTC",
            # access errors name no record (see models/ir_rule.py)
            RUN_CONTEXT_KEY: True,
        },
    )
    if reserve_id and execution_id is None:  # the user's row is gone: draw it alone
        env.cr.execute("SELECT nextval('iota_script_execution_id_seq')")
        execution_id = env.cr.fetchone()[0]
    return pinned, company_name or company.name, execution_id


class _RunEnvFields:
    """The fields run_env reads, by model: its query's columns are made from them."""

    def __init__(self, env: Any) -> None:
        self.user = [env["res.users"]._fields[f] for f in ("partner_id", "active")]
        self.partner = [env["res.partner"]._fields[f] for f in ("lang", "tz")]
        Company = env["res.company"]
        self.company = [Company._fields[f] for f in ("name", *_COMPANY_COLUMNS)]
        Version = env["iota.script.version"]
        self.version = [Version._fields[f] for f in _VERSION_COLUMNS]
        self.version_script = Version._fields["script_id"]


def _read_run_env(
    env: Any, fields_: _RunEnvFields, user: Any, company: Any, version: Any, reserve_id: bool
):
    """``(execution id, lang, tz, company name)``, read in one query and put into the cache.

    Reading user.lang through the ORM fetches every column of res_users and
    then of res_partner, and the first read of a company setting every
    res_company column, on each endpoint call: one round trip brings what
    the run path reads. The columns are the fields of ``fields_`` (each
    flushed first, by ``execute_query``), in that order."""
    # (alias, record, fields); the partner is known once the row is read
    groups = [
        ("u", user, fields_.user),
        ("p", None, fields_.partner),
        ("c", company, fields_.company),
    ]
    if version is not None:
        groups.append(("v", version, fields_.version))
    columns = SQL(", ").join(
        SQL.identifier(alias, f.name, to_flush=f) for alias, _, fs in groups for f in fs
    )
    rows = env.execute_query(
        SQL(
            """SELECT %s, %s
                 FROM res_users u JOIN res_partner p ON p.id = u.partner_id
                      JOIN res_company c ON c.id = %s
                      LEFT JOIN iota_script_version v ON v.id = %s
                WHERE u.id = %s""",
            SQL("nextval('iota_script_execution_id_seq')") if reserve_id else None,
            columns,
            company.id,
            version.id if version is not None else None,
            user.id,
        )
    )
    if not rows:
        return None, None, None, None
    row, at, read = rows[0], 1, {}
    for alias, record, fs in groups:
        read[alias] = values = row[at : at + len(fs)]
        at += len(fs)
        if record is None:  # the partner: fields_.user starts with partner_id
            record = env["res.partner"].browse(read["u"][0])
        # a version id that matches no row reads as NULLs: nothing to cache
        if alias != "v" or values[fs.index(fields_.version_script)] is not None:
            _fill(env.cache, record, fs, values)
    lang, tz = read["p"]
    return row[0], lang, tz, read["c"][0]  # fields_.company starts with name


def _cached(cache: Any, record: Any, fields_: list[Any]) -> bool:
    return all(cache.contains(record, f) for f in fields_)


def _fill(cache: Any, record: Any, fields_: list[Any], values: tuple[Any, ...]) -> None:
    """Puts the column values of ``record`` into the cache, where it has none
    (a value there may be a write not flushed yet: it wins)."""
    for field, value in zip(fields_, values, strict=True):
        if not cache.contains(record, field):
            cache.set(record, field, value)


def visible_records(req: RunRequest, script: Any, user: Any, env: Any) -> tuple[Any, str | None]:
    """``(ctx.records or None, None)``, or ``(None, reason)`` when the run is skipped.

    Only the records the run-as user can read in the script's company go to
    the script; a queued run may find its records deleted."""
    if req.records is None:
        return None, None
    records = req.records.exists()
    visible = (
        scope_records(records.with_env(env)._filtered_access("read"), script.company_id)
        if user.company_ids & script.company_id
        else records.browse()
    )
    if records and not visible and not req.loud:
        # The records belong to another company, or the run-as user cannot
        # read them: this script has no business with them.
        return None, "the run-as user cannot read the records"
    return {"model": records._name, "ids": visible.ids}, None


def open_execution(Execution: Any, req: RunRequest, script: Any, version: Any, generation: int):
    """The run's execution: the claimed queued one, a new row (manual, live) or a
    reserved one written with the outcome. Returns ``(Started, None)``, or
    ``(None, reason)`` when the run is skipped."""
    user = run_as_user(req, script)
    written_once = not req.queued and not req.loud and req.live is None
    env, company_name, execution_id = run_env(
        Execution, script, user, reserve_id=written_once, version=version
    )
    records_ctx, reason = visible_records(req, script, user, env)
    if reason:
        return None, reason
    res_ids = records_ctx and json.dumps(records_ctx["ids"])
    now = fields.Datetime.now()
    if req.queued:
        # written with the outcome (one UPDATE): a worker that dies mid-run rolls both back
        start_vals = {
            "version_id": version.id,
            "channel": script._iota_channel(version),
            "user_id": user.id,
            "date_start": now,
        }
        start_vals["res_ids"] = res_ids
        return Started(
            script, version, user, env, company_name, req.queued, None, start_vals, records_ctx
        ), None
    vals = {
        "script_id": script.id,
        "version_id": version.id,
        "channel": script._iota_channel(version),
        "company_id": script.company_id.id,
        "user_id": user.id,
        "triggered_by_id": Execution.env.uid,
        "trigger": req.trigger["type"],
        "trigger_json": json.dumps(req.trigger),
        "generation": generation,
        "res_model": records_ctx and records_ctx["model"],
        "res_ids": res_ids,
        "state": "running",
        "date_start": now,
        **req.execution_values,
    }
    pending = None
    if not written_once:
        execution = as_engine(Execution).create({**vals, **input_values(req.input)})
    else:
        policy = req.record_policy or (script.record_policy, script.record_sample_every)
        pending = PendingExecution(
            Execution,
            {**vals, "id": execution_id},
            policy,
            functools.partial(input_values, req.input),
        )
        execution = pending.record
    return Started(
        script, version, user, env, company_name, execution, pending, {}, records_ctx
    ), None
