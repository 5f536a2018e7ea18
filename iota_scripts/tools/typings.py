"""TypeScript declarations of the live Odoo schema, for the script editor.

``model_typings(env)`` renders ``interface IotaModels { "res.partner": {...} }``
(merged into the ``IotaModels`` of the engine's ``sdk.d.ts``), so that
``sdk.db.searchRead("res.pa`` completes model names, the field list completes
field names and the rows are typed.

Only what ``env.user`` may read is listed: models with read access
(``has_access('read')``), fields that ``fields_get`` returns to that user
(it drops fields whose ``groups`` the user lacks), minus the models and
secret-looking fields ``sdk.db`` refuses anyway (``sdk_host/db.py``).
Transient and abstract models are left out. The text is capped at
``MAX_TYPINGS_BYTES``: models past the cap are dropped (``truncated``).

Caching is the caller's business (``iota.script._iota_editor_typings``).
"""

from __future__ import annotations

import json
from typing import Any

from ..sdk_host.policy import DENIED_MODELS, SENSITIVE_FIELDS

#: Largest declaration text served to the editor (about 300 models of a
#: typical database fit; past it, the remaining models are left out).
MAX_TYPINGS_BYTES = 2 * 1024 * 1024

_SCALAR = {
    "char": "string | false",
    "text": "string | false",
    "html": "string | false",
    "date": "string | false",
    "datetime": "string | false",
    "binary": "string | false",
    "reference": "string | false",
    "boolean": "boolean",
    "integer": "number",
    "float": "number",
    "monetary": "number",
    "many2one": "[number, string] | false",
    "many2one_reference": "number",
    "one2many": "number[]",
    "many2many": "number[]",
    "json": "JsonValue",
    "properties": "JsonValue",
}


def _doc(text: str) -> str:
    """One JSDoc line: no comment terminator, no line breaks."""
    return " ".join(text.replace("*/", "*\u2215").split())[:300]


def _ts_type(desc: dict[str, Any]) -> str:
    if desc.get("type") == "selection" and isinstance(desc.get("selection"), list):
        keys = [json.dumps(k) for k, _label in desc["selection"] if isinstance(k, str)][:50]
        return " | ".join([*keys, "false"]) if keys else "string | false"
    return _SCALAR.get(desc.get("type", ""), "unknown")


def _model_block(name: str, fields: dict[str, dict[str, Any]]) -> str:
    lines = [f"  /** {_doc(name)} */", f"  {json.dumps(name)}: {{"]
    for fname in sorted(fields):
        if SENSITIVE_FIELDS.search(fname):
            continue
        desc = fields[fname]
        about = f"{desc.get('string') or fname} ({desc.get('type')}"
        if desc.get("relation"):
            about += f" → {desc['relation']}"
        about += ")"
        if desc.get("help"):
            about += f" · {desc['help']}"
        lines.append(f"    /** {_doc(about)} */")
        lines.append(f"    {json.dumps(fname)}: {_ts_type(desc)};")
    lines.append("  };")
    return "\n".join(lines)


def readable_models(env: Any) -> list[str]:
    """Names of the stored, non-transient models ``env.user`` may read."""
    names = []
    for name in sorted(env.registry.models):
        model = env[name]
        if model._abstract or model._transient or name in DENIED_MODELS:
            continue
        if model.has_access("read"):
            names.append(name)
    return names


def model_typings(env: Any) -> dict[str, Any]:
    """``{"dts": str, "models": int, "truncated": bool}`` for ``env.user``."""
    head = "// The models and fields you may read in this database (generated).\n"
    blocks: list[str] = []
    size = len(head) + 32
    truncated = False
    for name in readable_models(env):
        fields = env[name].fields_get(
            attributes=["type", "string", "relation", "selection", "help"]
        )
        block = _model_block(name, fields)
        size += len(block.encode()) + 1
        if size > MAX_TYPINGS_BYTES:
            truncated = True
            break
        blocks.append(block)
    dts = head + "interface IotaModels {\n" + "\n".join(blocks) + "\n}\n"
    return {"dts": dts, "models": len(blocks), "truncated": truncated}
