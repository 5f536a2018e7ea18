"""JSON Schemas that users save: checked at save, compiled without any network.

Endpoint schemas (body, query, response) and scripts' ``input_schema`` are
Draft 2020-12 schemas. ``jsonschema`` (even 4.26) still fetches a remote
``$ref`` (``"$ref": "http://..."``) when it validates, through a deprecated
fallback, so a schema could make the server call any URL, loopback included.

Two guards:

* at save, :func:`check` refuses every ``$ref``/``$dynamicRef`` that is not
  local (does not start with ``#``): :class:`SchemaError` with code
  ``remote_reference``;
* at run time, :func:`validator` compiles with :data:`REGISTRY`, whose
  ``retrieve`` refuses every URI: a remote reference of a row saved before
  the check existed fails to resolve (``referencing.exceptions.Unresolvable``)
  instead of being fetched.
"""

from __future__ import annotations

import jsonschema
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

__all__ = ["REGISTRY", "SchemaError", "Unresolvable", "check", "remote_references", "validator"]

#: Keywords whose string value is a URI reference to another schema.
REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


class SchemaError(ValueError):
    """A schema that is refused; ``code`` is stable (``invalid_schema``, ``remote_reference``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _refuse(uri: str):
    raise NoSuchResource(ref=uri)


#: Resolves references inside the schema itself; retrieves nothing.
REGISTRY = Registry(retrieve=_refuse)


def remote_references(schema) -> list[str]:
    """The references of ``schema`` that point outside it (iterative walk)."""
    found: list[str] = []
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in REF_KEYWORDS and isinstance(value, str):
                    if not value.startswith("#"):
                        found.append(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def check(schema) -> None:
    """Raises :class:`SchemaError` unless ``schema`` is a valid, self-contained schema."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except (RecursionError, jsonschema.SchemaError) as e:
        message = e.message if isinstance(e, jsonschema.SchemaError) else "nested too deeply"
        raise SchemaError("invalid_schema", str(message)[:300]) from None
    if remote := remote_references(schema):
        raise SchemaError(
            "remote_reference",
            f"references must point inside the schema ('#/$defs/...'); "
            f"{remote[0][:200]!r} is remote and is never fetched",
        )


def validator(schema) -> jsonschema.Draft202012Validator:
    """A compiled validator that never retrieves a reference (see the module docstring)."""
    return jsonschema.Draft202012Validator(schema, registry=REGISTRY)
