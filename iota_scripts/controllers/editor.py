"""The script studio's routes: the Monaco editor page and its JSON helpers.

* ``GET /iota_scripts/editor`` serves the page the ``iota_scripts_monaco``
  field shows in an iframe. Monaco (``static/lib/monaco``) runs only there,
  so its AMD ``define``/``require`` never reach Odoo's window (Ace, Chart.js).
  The page carries a strict Content-Security-Policy (``EDITOR_CSP``): no
  ``eval``, no inline script; workers from this origin only. Monaco comes
  from npm (``third_party.json``, placed by ``npm ci``): when one of its
  files is missing, or differs from its sha256, the page answers 503 with a
  message naming ``npm ci``, and the field falls back to the basic code
  editor saying why.
* ``/iota_scripts/editor/typings`` (JSON): the engine's ``sdk.d.ts`` and the
  live-schema declarations the current user may read (cached per user and
  registry, see ``iota.script._iota_editor_typings``).
* ``/iota_scripts/editor/check`` (JSON): why a source would be refused at
  save, as editor markers (1-based line and column); for a source that
  parses, warnings on field names its ``sdk.db`` reads do not find
  (``tools/field_refs.py``).

All three require the IOTA Scripts developer group: sources are theirs only.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from iota_scripts_sdk import ScriptError, placed_file_state, typescript
from markupsafe import escape
from odoo import _, http
from odoo.exceptions import AccessError, UserError
from odoo.http import request
from werkzeug.exceptions import Forbidden

from ..models.iota_script import GROUP_DEVELOPER
from ..tools.field_refs import unknown_fields
from ..tools.settings import scripts_enabled

_logger = logging.getLogger(__name__)

#: The editor page's policy (documented in docs/guide/studio-reference.md).
EDITOR_CSP = (
    "default-src 'none'; "
    "script-src 'self'; "
    "worker-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "base-uri 'none'; "
    "form-action 'none'; "
    "frame-ancestors 'self'"
)

MONACO_VS = "/iota_scripts/static/lib/monaco/min/vs"

_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>IOTA Scripts editor</title>
<link rel="stylesheet" href="{MONACO_VS}/editor/editor.main.css">
<link rel="stylesheet" href="/iota_scripts/static/editor/editor_frame.css">
</head>
<body>
<div id="o_iota_scripts_editor" data-vs="{MONACO_VS}"></div>
<script src="{MONACO_VS}/loader.js"></script>
<script src="/iota_scripts/static/editor/editor_frame.js"></script>
</body>
</html>
"""

_MISSING_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>IOTA Scripts editor</title>
<link rel="stylesheet" href="/iota_scripts/static/editor/editor_frame.css">
</head>
<body>
<div id="o_iota_scripts_editor" class="o_iota_scripts_editor_missing" data-error="{message}">
<p>{message}</p>
</div>
<script src="/iota_scripts/static/editor/editor_frame.js"></script>
</body>
</html>
"""

#: Where the ``to`` paths of ``third_party.json`` start (tests point it elsewhere).
ADDON_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _monaco_files() -> tuple[tuple[str, str], ...]:
    """``(to, sha256)`` of Monaco's files, from this addon's ``third_party.json``
    (read once per process: it changes only with the addon's code)."""
    spec = json.loads((Path(__file__).resolve().parent.parent / "third_party.json").read_text())
    return tuple((f["to"], f["sha256"]) for f in spec["packages"]["monaco-editor"]["files"])


def monaco_not_installed() -> tuple[list[str], list[str]]:
    """``(missing, altered)``: Monaco's files (``third_party.json``) that are not
    placed under :data:`ADDON_ROOT`, and those whose sha256 differs from the one
    declared there (a partial copy, a file edited in place); ``([], [])`` when
    installed as ``npm ci`` placed it.

    The engine's check of acorn (``placed_file_state``): a page load costs a
    ``stat`` per file, and the 10 MB are hashed once per process, and again
    after a change."""
    out: dict[str, list[str]] = {"missing": [], "altered": [], "ok": []}
    for to, sha256 in _monaco_files():
        out[placed_file_state(ADDON_ROOT / to, sha256)].append(to)
    return out["missing"], out["altered"]


#: Largest source the check route accepts (the save check refuses far less).
MAX_CHECK_CHARS = 8 * 1024 * 1024


def _require_developer():
    if not request.env.user.has_group(GROUP_DEVELOPER):
        raise AccessError(_("Only IOTA Scripts developers may use the script editor."))


class IotaScriptsEditor(http.Controller):
    @http.route("/iota_scripts/editor", type="http", auth="user", methods=["GET"])
    def editor_page(self, **_kwargs):
        if not request.env.user.has_group(GROUP_DEVELOPER):
            raise Forbidden()
        page, status = _PAGE, 200
        missing, altered = monaco_not_installed()
        if missing or altered:
            if missing:
                _logger.warning(
                    "Monaco is not installed: %s missing (run npm ci)", ", ".join(missing)
                )
                message = _(
                    "The Monaco editor is not installed on this server: run `npm ci` in the "
                    "IOTA Scripts folder, then reload this page."
                )
            else:
                _logger.warning(
                    "Monaco is altered: %s differ from their sha256 (run npm ci)",
                    ", ".join(altered),
                )
                message = _(
                    "The Monaco editor on this server differs from the version "
                    "package-lock.json pins: run `npm ci` in the IOTA Scripts folder, then "
                    "reload this page."
                )
            page, status = _MISSING_PAGE.format(message=escape(message)), 503
        return request.make_response(
            page,
            status=status,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Security-Policy": EDITOR_CSP,
                "X-Frame-Options": "SAMEORIGIN",
                "Referrer-Policy": "same-origin",
                "Cache-Control": "no-store",
            },
        )

    @http.route("/iota_scripts/editor/typings", type="json", auth="user")
    def editor_typings(self):
        _require_developer()
        typings = request.env["iota.script"]._iota_editor_typings()
        return {
            "libs": [
                {"path": "file:///iota/sdk.d.ts", "content": typescript()},
                {"path": "file:///iota/models.d.ts", "content": typings["dts"]},
                # the company's approved npm packages: their .d.ts, else their exports
                *request.env["iota.script.package"]._iota_editor_libs(),
            ],
            "models": typings["models"],
            "truncated": typings["truncated"],
            "signature": typings["signature"],
        }

    @http.route("/iota_scripts/editor/check", type="json", auth="user")
    def editor_check(self, source=None, library=False):
        """``library``: the source is a library script's (named exports, no default export)."""
        _require_developer()
        if not isinstance(source, str) or len(source) > MAX_CHECK_CHARS:
            return {
                "markers": [
                    {"message": _("The source must be text."), "line": None, "column": None}
                ]
            }
        library = library is True
        scripts = request.env["iota.script"].with_context(iota_scripts_library=library)
        problem = scripts._source_problem(source)
        if problem:
            return {"markers": [problem]}
        # a source that parses: the company's policy rules (errors: the save
        # would be refused), and field names its models do not have (warnings)
        return {
            "markers": policy_markers(request.env, source, library)
            + unknown_fields(request.env, source)
        }

    @http.route("/iota_scripts/editor/capabilities", type="json", auth="user")
    def editor_capabilities(self, source=None):
        """The capabilities a draft uses, by AST: ``{"capabilities", "unresolved"}``
        (``iota.script._iota_suggest``), or ``{"error"}`` when it does not parse."""
        _require_developer()
        if not isinstance(source, str) or len(source) > MAX_CHECK_CHARS:
            return {"error": _("The source must be text.")}
        try:
            return request.env["iota.script"]._iota_suggest(source)
        except UserError as e:
            return {"error": str(e.args[0])}


def policy_markers(env, source, library=False):
    """Error markers for the policy rules of the user's company that ``source`` breaks.

    The rules that apply to every script (tag-scoped rules are checked at
    save, where the script's tags are known).
    """
    if not scripts_enabled():
        return []
    Rules = env["iota.script.policy.rule"]
    try:
        violations = Rules._iota_violations(
            source, env.company, env["iota.script.tag"], library=library
        )
    except ScriptError:
        return []  # the source does not parse: _source_problem said so
    return [{"line": v.line, "column": v.column, "message": v.message} for v in violations]
