"""Write diffs (``tools/write_capture.py``) shown as HTML and compared.

:func:`to_html` renders a diff (or a dry-run report, which holds one) as a
small table for form views: the dry-run dialog of a server action and the
shadow comparison. :func:`same_writes` is the comparison of shadow mode: two
diffs match when they change the same fields of the same records to the same
values, create the same records (model and values, ids aside: a dry-run's
ids are rolled back) and delete the same records.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from markupsafe import Markup


def _short(value: Any) -> str:
    if value is False or value is None:
        return "∅"
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
        return value[1]  # many2one: [id, name]
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _rows(diff: dict[str, Any]) -> list[Markup]:
    rows = []
    for w in diff.get("writes") or []:
        for field, (before, after) in sorted(w["changes"].items()):
            rows.append(
                Markup(
                    "<tr class='o_iota_scripts_diff_change'><td>{} #{} {}</td><td>{}</td>"
                    "<td class='text-danger'>{}</td><td class='text-success'>{}</td></tr>"
                ).format(w["model"], w["id"], w["name"] or "", field, _short(before), _short(after))
            )
    for c in diff.get("created") or []:
        rows.append(
            Markup(
                "<tr class='o_iota_scripts_diff_created'><td>{}</td><td colspan='3'>{} {}</td></tr>"
            ).format(c["model"], "created", c["name"] or "")
        )
    for d in diff.get("deleted") or []:
        rows.append(
            Markup(
                "<tr class='o_iota_scripts_diff_deleted'><td>{} #{}</td><td colspan='3'>{} {}</td></tr>"
            ).format(d["model"], d["id"], "deleted", d["name"] or "")
        )
    return rows


def to_html(diff: dict[str, Any] | None) -> Markup:
    """The diff (and a report's captured calls) as an HTML table; a line when empty."""
    if not diff:
        return Markup("")
    rows = _rows(diff)
    calls = [
        Markup("<li>{} {} {}</li>").format("not sent:", h["method"], h["url"])
        for h in diff.get("http") or []
    ]
    calls += [
        Markup("<li>{} {}</li>").format("not emitted: event", e["type"])
        for e in diff.get("events") or []
    ]
    calls += [
        Markup("<li>{} {}</li>").format("not queued: script", q["key"])
        for q in diff.get("enqueued") or []
    ]
    if not rows and not calls:
        return Markup("<p class='text-muted o_iota_scripts_diff_empty'>No change.</p>")
    table = Markup("")
    if rows:
        table = Markup(
            "<table class='table table-sm o_iota_scripts_diff'><thead><tr><th>Record</th>"
            "<th>Field</th><th>Before</th><th>After</th></tr></thead><tbody>{}</tbody></table>"
        ).format(Markup("").join(rows))
    if calls:
        table += Markup("<ul class='o_iota_scripts_diff_calls'>{}</ul>").format(
            Markup("").join(calls)
        )
    return table


def _key(diff: dict[str, Any]) -> tuple[Any, ...]:
    def frozen(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    writes = frozenset(
        (w["model"], w["id"], field, frozen(after))
        for w in diff.get("writes") or []
        for field, (_before, after) in w["changes"].items()
    )
    created = Counter((c["model"], frozen(c["values"])) for c in diff.get("created") or [])
    deleted = frozenset((d["model"], d["id"]) for d in diff.get("deleted") or [])
    return writes, created, deleted


def same_writes(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """True when the two write diffs change, create and delete the same (see the docstring)."""
    return _key(one) == _key(other)
