"""Secret masking: the values a run read through ``sdk.secrets.get`` never leave it.

The engine keeps one :class:`SecretMask` per run. Each value that a
``secrets.get`` host call answers is added to it (:meth:`SecretMask.add`),
and from then on every log line (before it is stored or streamed), the
result and the error of the run carry ``[secret:name]`` where the value was,
also inside longer text, in object keys and in nested structures.

Trap: the mask works on decoded text, never on JSON text, where a value with a
quote or a non-ASCII character is escaped and would no longer match.
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import ScriptError

__all__ = ["SecretMask"]


class SecretMask:
    """The secret values of one run and their names. Empty: every method is the identity."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._order: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, name: str, value: Any) -> None:
        """Masks ``value`` (a string) as ``[secret:name]`` from now on; the empty string never."""
        if not isinstance(value, str) or not value or value in self._values:
            return
        self._values[value] = f"[secret:{name}]"
        # longest first: a secret that contains another is replaced whole
        self._order = sorted(self._values, key=len, reverse=True)

    def text(self, text: str) -> str:
        for value in self._order:
            if value in text:
                text = text.replace(value, self._values[value])
        return text

    def data(self, value: Any) -> Any:
        """``value`` (decoded JSON) with every string and key masked; the same object when empty."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        return value

    def json(self, text: bytes) -> bytes:
        """JSON text with its strings masked (decoded, masked, encoded again)."""
        if not self._values:
            return text
        return orjson.dumps(self.data(orjson.loads(text)))

    def error(self, error: ScriptError) -> ScriptError:
        if not self._values:
            return error
        return ScriptError(
            error.code,
            self.text(error.message),
            line=error.line,
            column=error.column,
            stack=self.text(error.stack) if error.stack else error.stack,
        )
