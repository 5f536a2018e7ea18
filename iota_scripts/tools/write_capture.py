"""The write diff of a piece of work: what the ORM wrote, created and deleted.

A :class:`WriteCapture` is made active on a cursor (:func:`capturing`) around
the work to observe: a dry-run of a script (``run/dry_run.py``) or the Python
server action that a shadowed migration keeps running
(``models/iota_script_shadow.py``). While it is active, the ``base`` model's
``write``, ``create`` and ``unlink`` (``models/base_write_capture.py``)
report to it, whoever calls them: ``sdk.db``, a business method the script
called, an automation rule its write triggered, the Python action itself.

How the diff is made
--------------------
* The first time a record is written, every field of it that the diff shows
  (stored, not binary, no secret, not a log field) is read: its *before*.
  :meth:`WriteCapture.diff` reads the same fields again: fields whose value
  differs are the *write diff*, so stored computed fields that followed the
  write show too, and two writes of one field show once (first before, last
  after). Call :meth:`~WriteCapture.diff` before the work is rolled back.
* Created records are listed with their values at :meth:`~WriteCapture.diff`
  time; a record created and deleted within the work shows nowhere.
* Deleted records are listed with their name, read before the delete.

Records of the bookkeeping models (``IGNORED_PREFIXES``: the scripts' own
records, chatter, bus, ``ir.*``) are left out: both sides of a shadow
comparison write them, and they say nothing about what the work did.

Values are read as superuser, then shown only as far as the *viewer* (the
environment given to :meth:`WriteCapture.diff`: the person who asked for the
dry-run, or whose save a shadow run followed) may read them: records they
cannot read are counted in ``hidden``, fields they cannot read are left out.
Secret fields (``sdk_host/policy.py``'s ``SENSITIVE_FIELDS``) are never read.

Thread: the capture belongs to the cursor's thread, like the cursor.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ..sdk_host.args import to_json
from ..sdk_host.policy import SENSITIVE_FIELDS

_logger = logging.getLogger(__name__)

#: Models whose records the diff leaves out (bookkeeping, see the docstring).
IGNORED_PREFIXES = (
    "iota.script",
    "mail.",
    "bus.",
    "ir.",
    "base.automation",
    "res.users.log",
    "res.users.settings",
)
#: Log fields every model has: they change on every write.
LOG_FIELDS = frozenset(
    {"write_date", "write_uid", "create_date", "create_uid", "__last_update", "display_name"}
)
#: Most records one capture follows; later ones are counted, not diffed.
MAX_RECORDS = 2000
_CURSOR_KEY = "iota_scripts.write_capture"


def ignored(model_name: str) -> bool:
    return model_name.startswith(IGNORED_PREFIXES)


def _shown_fields(model: Any) -> list[str]:
    return [
        name
        for name, field in model._fields.items()
        if field.store
        and field.type not in ("binary", "one2many")
        and name not in LOG_FIELDS
        and not SENSITIVE_FIELDS.search(name)
    ]


def _value(record: Any, name: str) -> Any:
    field = record._fields[name]
    value = field.convert_to_read(record[name], record, use_display_name=True)
    return to_json(value)


def _values(record: Any, names: list[str]) -> dict[str, Any]:
    return {name: _value(record, name) for name in names}


class WriteCapture:
    """What the ORM wrote, created and deleted while this capture was active."""

    def __init__(self) -> None:
        #: (model, id) -> {field: value before the first write}
        self.before: dict[tuple[str, int], dict[str, Any]] = {}
        self.created: dict[tuple[str, int], None] = {}  # ordered set
        self.deleted: dict[tuple[str, int], str] = {}
        self.overflow = 0
        self.hidden = 0

    def _room(self) -> bool:
        if len(self.before) + len(self.created) + len(self.deleted) < MAX_RECORDS:
            return True
        self.overflow += 1
        return False

    def on_write(self, records: Any) -> None:
        if ignored(records._name):
            return
        todo = records.sudo().filtered(
            lambda r: (r._name, r.id) not in self.before and (r._name, r.id) not in self.created
        )
        names = _shown_fields(records)
        for record in todo:
            if self._room():
                self.before[(record._name, record.id)] = _values(record, names)

    def on_create(self, records: Any) -> None:
        if ignored(records._name):
            return
        for record in records:
            if self._room():
                self.created[(record._name, record.id)] = None

    def on_unlink(self, records: Any) -> None:
        if ignored(records._name):
            return
        for record in records.sudo():
            key = (record._name, record.id)
            if self.created.pop(key, 1) is None:
                continue  # created and deleted within the work: shows nowhere
            self.before.pop(key, None)
            if self._room():
                self.deleted[key] = record.display_name or f"{record._name},{record.id}"

    def diff(self, viewer: Any) -> dict[str, Any]:
        """``{writes, created, deleted, overflow, hidden}`` as JSON values, as far as
        ``viewer`` (an environment) may read them (see the module docstring).

        ``writes``: ``[{model, id, name, changes: {field: [before, after]}}]``;
        ``created``: ``[{model, id, name, values}]``; ``deleted``: ``[{model, id, name}]``."""
        env = viewer(su=True)
        self.hidden = 0
        writes = []
        for (model, rid), before in self.before.items():
            record = self._visible(viewer, env[model].browse(rid))
            if not record:
                continue
            changes = {}
            for name, old in before.items():
                if not record._fields[name].is_accessible(viewer):
                    continue
                new = _value(record, name)
                if new != old:
                    changes[name] = [old, new]
            if changes:
                writes.append(
                    {"model": model, "id": rid, "name": record.display_name, "changes": changes}
                )
        created = []
        for model, rid in self.created:
            record = self._visible(viewer, env[model].browse(rid))
            if record:
                names = [
                    n for n in _shown_fields(record) if record._fields[n].is_accessible(viewer)
                ]
                values = _values(record, names)
                created.append(
                    {
                        "model": model,
                        "id": rid,
                        "name": record.display_name,
                        "values": {k: v for k, v in values.items() if v not in (False, None, [])},
                    }
                )
        deleted = [{"model": m, "id": i, "name": n} for (m, i), n in self.deleted.items()]
        return {
            "writes": writes,
            "created": created,
            "deleted": deleted,
            "overflow": self.overflow,
            "hidden": self.hidden,
        }

    def _visible(self, viewer: Any, record: Any) -> Any:
        """``record`` (superuser) when it exists and ``viewer`` may read it; else empty."""
        record = record.exists()
        if record and not record.with_env(viewer)._filtered_access("read"):
            self.hidden += 1
            return record.browse()
        return record


def current(cr: Any) -> WriteCapture | None:
    """The capture active on ``cr``, if any."""
    return cr.cache.get(_CURSOR_KEY)


@contextlib.contextmanager
def capturing(cr: Any, capture: WriteCapture) -> Iterator[WriteCapture]:
    """Makes ``capture`` the active capture of ``cr`` for the block (nests)."""
    previous = cr.cache.get(_CURSOR_KEY)
    cr.cache[_CURSOR_KEY] = capture
    try:
        yield capture
    finally:
        if previous is None:
            cr.cache.pop(_CURSOR_KEY, None)
        else:
            cr.cache[_CURSOR_KEY] = previous


def report(capture: WriteCapture | None, method: str, records: Any) -> None:
    """Tells the active capture about ``records`` (``on_write`` and friends).

    A capture that fails to read is logged and never breaks the write it
    observes: the user's save goes on."""
    if capture is None or not records:
        return
    try:
        # its own savepoint: a read that fails leaves the transaction usable
        with records.env.cr.savepoint(flush=False):
            getattr(capture, method)(records)
    except Exception:
        _logger.exception("the write capture failed on %s %s", records._name, records.ids[:20])
