"""One INSERT for many rows of an engine-owned model, without the ORM's ``create``.

The event dispatcher writes a delivery and a queued execution per event, by
the hundred. The ORM's ``create`` costs most of that (per record: defaults,
cache bookkeeping, computed-field triggers), and the rows are plain: no
translated, company-dependent, binary or x2many columns are written.

:func:`insert_rows` does what ``create`` does for such rows, in one
statement: defaults are read once per call (``default_get``) for the columns
the values leave out, every value goes through its field's
``convert_to_column_insert``, and the log columns (``create_uid``,
``create_date``, ...) are set as the ORM sets them. What it does not do, and
why that is fine for the models that use it:

* no ``create`` override runs: callers check the engine sentinel themselves
  (only the engine path calls this);
* stored computed and related fields are not computed: the caller passes
  them (e.g. a delivery's ``event_type`` and ``hop``);
* caches of one2many fields pointing at the new rows (``script.execution_ids``)
  are invalidated for the caller's model, not updated.

Thread and transaction: the caller's cursor; nothing is committed.
"""

from __future__ import annotations

from typing import Any

#: Columns the ORM fills on every row.
_LOG_COLUMNS = ("create_uid", "write_uid", "create_date", "write_date")


def insert_rows(
    model: Any, vals_list: list[dict[str, Any]], returning: str = "id"
) -> list[tuple[Any, ...]]:
    """Inserts one row per dict of ``vals_list`` into ``model``'s table.

    Every dict has the same keys (stored, non-x2many fields of ``model``).
    Returns the ``returning`` columns of the new rows. PostgreSQL does not
    promise their order: return a column that tells the rows apart and map.
    """
    if not vals_list:
        return []
    cr = model.env.cr
    fields_ = model._fields
    given = list(vals_list[0])
    defaults = {
        name: value
        for name, value in model.default_get(
            [
                name
                for name, field in fields_.items()
                if field.store
                and field.column_type
                and not field.compute
                and name not in given
                and name not in _LOG_COLUMNS
                and name != "id"
            ]
        ).items()
        if name in fields_
    }
    columns = [*given, *defaults]
    converters = [fields_[name] for name in columns]
    record = model.browse()
    rows = []
    for vals in vals_list:
        full = {**defaults, **vals}
        rows.append(
            [field.convert_to_column_insert(full[field.name], record, full) for field in converters]
        )
    uid = model.env.uid
    now = "now() at time zone 'UTC'"
    placeholders = "(" + ", ".join(["%s"] * (len(columns) + 2)) + f", {now}, {now})"
    values_sql = ", ".join(cr.mogrify(placeholders, [*row, uid, uid]).decode() for row in rows)
    quoted = ", ".join(f'"{name}"' for name in (*columns, *_LOG_COLUMNS))
    cr.execute(
        # names from the model's fields, values mogrified
        f'INSERT INTO "{model._table}" ({quoted}) VALUES {values_sql} '  # noqa: S608 - see above
        f"RETURNING {returning}"
    )
    return cr.fetchall()
