"""A module a script may import: an approved npm bundle or a library script.

``Module(specifier, code, sha256)`` checks the code against its hash when it
is made, so a bundle altered in storage is refused at load with
``integrity_error`` before any runner sees it. The object is immutable: a
caller may keep it (per hash) and hand it to every run, which then costs no
hashing (see ``Engine.run(modules=...)``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ScriptError

__all__ = ["Module", "bundle_hash", "valid_specifier"]

#: npm names (``date-fns``, ``@scope/name``) and library scripts (``lib:key``).
_SPECIFIER = re.compile(
    r"^(?:lib:[a-z0-9][a-z0-9_.-]{0,99}|(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]{0,213})$"
)


def bundle_hash(code: str) -> str:
    """The hash a module is stored and looked up by: sha256 of its UTF-8 text, hex."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def valid_specifier(spec: str) -> bool:
    """Whether ``spec`` is an npm package name or ``lib:<key>``."""
    return isinstance(spec, str) and bool(_SPECIFIER.match(spec))


@dataclass(frozen=True)
class Module:
    """``specifier`` (what scripts import), ``code`` (an ES module), its ``sha256``."""

    specifier: str
    code: str = field(repr=False)
    sha256: str

    def __post_init__(self) -> None:
        if not valid_specifier(self.specifier):
            raise ScriptError("invalid_argument", f"{self.specifier!r} is not a module name")
        if bundle_hash(self.code) != self.sha256:
            raise ScriptError(
                "integrity_error",
                f"the stored bundle of '{self.specifier}' does not match its hash {self.sha256[:12]}…;"
                " it was altered after approval: approve the package again",
            )

    def wire(self, with_code: bool = True) -> dict[str, Any]:
        """The module as the runner receives it (the code once per runner: it keeps it by hash)."""
        out: dict[str, Any] = {"spec": self.specifier, "hash": self.sha256}
        if with_code:
            out["code"] = self.code
        return out
