"""The audit trail's chain: canonical form, hashing and verification (no Odoo).

What it is
----------
The addon's audit trail (``iota.script.audit``, one chain per database) is
a list of entries, each sealed with the sha256 of a canonical serialisation
of its fields *and of the previous entry's hash*. Changing, removing or
inserting one entry in SQL changes a hash that a later entry (or the chain's
head, stored apart) still names, so :func:`verify` finds it. The addon and
``iota-scripts audit verify`` share this module: both check the same bytes.

Entries are mappings with the keys of :data:`FIELDS` plus ``id`` (the row,
for messages), ``prev_hash`` and ``hash``. ``seq`` counts sealed entries
from 1 without holes (the row ids do: a rolled-back transaction spends
them); an entry whose ``seq`` is None is *pending*: written by a committed
transaction, not chained yet (see the model for why sealing happens after
commit). ``changes`` is the JSON text as stored (field names and
non-sensitive values; never a source body or a secret's value).

What it cannot see: an attacker who rewrites every hash from the altered
entry to the end *and* the head. Export the chain (``iota-scripts audit
export``) and keep the last hash elsewhere to catch that too.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FIELDS",
    "GENESIS",
    "Break",
    "Report",
    "canonical",
    "entry_hash",
    "seal",
    "verify",
]

#: The hash a chain starts from (the ``prev_hash`` of entry 1).
GENESIS = "0" * 64

#: The hashed fields, in their canonical order.
FIELDS = (
    "seq",
    "logged_at",
    "user_id",
    "user_name",
    "company_id",
    "action",
    "res_model",
    "res_id",
    "res_name",
    "changes",
)

#: Bumped if the canonical form ever changes (then verify knows both).
_FORMAT = "iota-audit-1"

#: Reasons a chain breaks (``Break.reason``).
HASH_MISMATCH = "hash mismatch"
BROKEN_LINK = "broken link"
GAP = "gap"


def _at(value: Any) -> str | None:
    """``logged_at`` as ``YYYY-MM-DD HH:MM:SS`` (UTC, whole seconds), from a datetime or that string."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)[:19].replace("T", " ")


def _int(value: Any) -> int | None:
    return None if value is None or value is False else int(value)


def _text(value: Any) -> str | None:
    return None if value is None or value is False else str(value)


def canonical(entry: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes hashed for ``entry`` chained after ``prev_hash``.

    A JSON array (order fixed, no key sorting to get wrong), compact, UTF-8.
    """
    values = [
        _FORMAT,
        _int(entry.get("seq")),
        _at(entry.get("logged_at")),
        _int(entry.get("user_id")),
        _text(entry.get("user_name")),
        _int(entry.get("company_id")),
        _text(entry.get("action")),
        _text(entry.get("res_model")),
        _int(entry.get("res_id")),
        _text(entry.get("res_name")),
        _text(entry.get("changes")),
        prev_hash,
    ]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(entry: Mapping[str, Any], prev_hash: str) -> str:
    """The sha256 (hex) that seals ``entry`` after ``prev_hash``."""
    return hashlib.sha256(canonical(entry, prev_hash)).hexdigest()


def seal(
    entries: Iterable[Mapping[str, Any]], head_seq: int, head_hash: str
) -> list[tuple[Any, int, str, str]]:
    """Chains pending ``entries`` (in that order) after the head ``(head_seq, head_hash)``.

    Returns ``(id, seq, prev_hash, hash)`` per entry; the last one is the new head.
    """
    out = []
    seq, prev = head_seq, head_hash
    for entry in entries:
        seq += 1
        digest = entry_hash({**entry, "seq": seq}, prev)
        out.append((entry.get("id"), seq, prev, digest))
        prev = digest
    return out


@dataclass(frozen=True)
class Break:
    """The first entry where the chain does not hold."""

    id: Any
    seq: int | None
    at: str | None
    reason: str  # HASH_MISMATCH, BROKEN_LINK or GAP
    detail: str

    def __str__(self) -> str:
        return f"entry {self.id} (seq {self.seq}, {self.at}): {self.reason}: {self.detail}"


@dataclass(frozen=True)
class Report:
    """What :func:`verify` found: ``ok`` when no entry breaks the chain."""

    count: int
    pending: int
    head_seq: int
    head_hash: str
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None

    def to_dict(self) -> dict[str, Any]:
        broken = self.first_break
        return {
            "ok": self.ok,
            "entries": self.count,
            "pending": self.pending,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_break": None
            if broken is None
            else {
                "id": broken.id,
                "seq": broken.seq,
                "at": broken.at,
                "reason": broken.reason,
                "detail": broken.detail,
            },
        }


def verify(
    entries: Iterable[Mapping[str, Any]],
    head: tuple[int, str] | None = None,
) -> Report:
    """Checks the chain; the report names the first broken entry, if any.

    ``entries`` in any order (sorted here by ``seq``; pending ones, ``seq``
    None, are counted apart). ``head`` is the chain's head as stored
    (``seq``, ``hash``); given, entries missing at the end are a ``gap``.
    Per entry, in this order: its ``seq`` follows the previous one (else
    ``gap``: entries were deleted), its ``prev_hash`` is the previous
    entry's hash (else ``broken link``), its ``hash`` is that of its fields
    (else ``hash mismatch``: the entry was edited).
    """
    sealed = []
    pending = 0
    for entry in entries:
        if entry.get("seq") is None:
            pending += 1
        else:
            sealed.append(entry)
    sealed.sort(key=lambda e: int(e["seq"]))
    prev_seq, prev_hash = 0, GENESIS
    first: Break | None = None
    for entry in sealed:
        seq = int(entry["seq"])

        def broken(reason: str, detail: str, entry: Mapping[str, Any] = entry) -> Break:
            return Break(
                entry.get("id"), _int(entry.get("seq")), _at(entry.get("logged_at")), reason, detail
            )

        if seq != prev_seq + 1:
            first = broken(GAP, f"expected seq {prev_seq + 1}, found {seq}")
            break
        if entry.get("prev_hash") != prev_hash:
            first = broken(BROKEN_LINK, "prev_hash is not the previous entry's hash")
            break
        if entry.get("hash") != entry_hash(entry, prev_hash):
            first = broken(HASH_MISMATCH, "the entry's fields do not match its hash")
            break
        prev_seq, prev_hash = seq, str(entry["hash"])
    if first is None and head is not None:
        head_seq, head_hash = int(head[0]), str(head[1])
        if (head_seq, head_hash) != (prev_seq, prev_hash):
            last = sealed[-1] if sealed else {}
            first = Break(
                last.get("id"),
                prev_seq or None,
                _at(last.get("logged_at")),
                GAP,
                f"the chain ends at seq {prev_seq} but its head is at seq {head_seq}"
                " (entries were removed from the end)",
            )
    return Report(len(sealed), pending, prev_seq, prev_hash, first)
