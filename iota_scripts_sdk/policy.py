"""Policy rules: what a company forbids in its scripts' source, checked on the AST.

A rule is data (the Odoo addon keeps them as records per company). The
engine checks a source against a list of rules with the parser it already
runs inside V8 (acorn, in the runner's compiler context: ``compiler.js``,
``__iota_policy``), so the editor and the server check exactly the same
thing: :meth:`iota_scripts_sdk.Engine.check_policies`.

Kinds (``PolicyRule.kind``) and their ``value``:

==================  =============================================================
``identifier``      a name (``eval``, ``Function``): any reference or binding
``member``          a dotted path (``sdk.http``, ``Reflect.construct``): member
                    chains with dots or string-literal brackets, and
                    destructuring (``const {http} = sdk``)
``syntax``          one of :data:`SYNTAX`: ``with``, ``label``, ``debugger``,
                    ``generator``, ``class``, ``for-in``, ``var``, ``delete``
``max_depth``       how many blocks and functions may nest (a positive integer)
``max_bytes``       the largest source, in UTF-8 bytes (a positive integer)
``default_export``  the default export is a function (value unused)
``jsdoc_header``    the source starts with a ``/** ... */`` comment (value unused)
==================  =============================================================

The AST cannot see computed access (``sdk["ht" + "tp"]``), so a ``member``
rule on an sdk path also refuses the call at run time: :func:`denied_calls`
gives ``Engine.run``'s ``deny`` mapping, and the host answers
``access_denied`` naming the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ScriptError

__all__ = ["KINDS", "SYNTAX", "PolicyRule", "PolicyViolation", "denied_calls"]

KINDS = (
    "identifier",
    "member",
    "syntax",
    "max_depth",
    "max_bytes",
    "default_export",
    "jsdoc_header",
)
SYNTAX = ("with", "label", "debugger", "generator", "class", "for-in", "var", "delete")
_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


@dataclass(frozen=True)
class PolicyRule:
    """One rule: its ``name`` is what a violation quotes ("... by policy 'NAME'")."""

    name: str
    kind: str
    value: str | int | None = None

    def __post_init__(self) -> None:
        def bad(why: str) -> ScriptError:
            return ScriptError("invalid_argument", f"policy rule {self.name!r}: {why}")

        if not isinstance(self.name, str) or not self.name.strip():
            raise ScriptError("invalid_argument", "a policy rule needs a name")
        if self.kind not in KINDS:
            raise bad(f"unknown kind {self.kind!r} (one of {', '.join(KINDS)})")
        v = self.value
        if self.kind == "identifier" and not (isinstance(v, str) and _NAME.match(v)):
            raise bad(f"{v!r} is not an identifier")
        if self.kind == "member" and not (
            isinstance(v, str) and "." in v and all(_NAME.match(p) for p in v.split("."))
        ):
            raise bad(f"{v!r} is not a dotted path like 'sdk.http'")
        if self.kind == "syntax" and v not in SYNTAX:
            raise bad(f"unknown syntax {v!r} (one of {', '.join(SYNTAX)})")
        if self.kind in ("max_depth", "max_bytes") and not (
            isinstance(v, int) and not isinstance(v, bool) and v > 0
        ):
            raise bad(f"{self.kind} needs a positive integer, got {v!r}")

    def describe(self, found: str) -> str:
        """What a violation of this rule says, without its position."""
        if self.kind in ("identifier", "member"):
            return f"`{self.value}` is not allowed by policy '{self.name}'"
        if self.kind == "syntax":
            return f"`{self.value}` is not allowed by policy '{self.name}'"
        if self.kind == "max_depth":
            return f"nesting depth {found} is more than {self.value}, the limit of policy '{self.name}'"
        if self.kind == "max_bytes":
            return f"the source is {found} bytes, more than {self.value}, the limit of policy '{self.name}'"
        if self.kind == "default_export":
            return f"the default export must be a function (policy '{self.name}')"
        return f"the source must start with a /** ... */ comment (policy '{self.name}')"


@dataclass(frozen=True)
class PolicyViolation:
    """A rule that a source breaks, where (1-based; line 1, column 1 for the whole source)."""

    rule: PolicyRule
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}, column {self.column}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


def violations_from(
    rules: list[PolicyRule], source: str, answer: Mapping[str, Any]
) -> list[PolicyViolation]:
    """The violations of the compiler's answer, plus the size rules (Python's count of bytes)."""
    out = []
    size = len(source.encode("utf-8", "surrogatepass"))
    for rule in rules:
        if rule.kind == "max_bytes" and size > int(rule.value or 0):
            out.append(PolicyViolation(rule, 1, 1, rule.describe(str(size))))
    for v in answer.get("violations", []):
        rule = rules[int(v["rule"])]
        out.append(
            PolicyViolation(rule, int(v["line"]), int(v["column"]), rule.describe(str(v["found"])))
        )
    return out


def denied_calls(rules: Iterable[PolicyRule]) -> dict[str, str]:
    """``{sdk path without "sdk.": why}`` for ``Engine.run(deny=...)``.

    From the ``member`` rules on ``sdk.*`` paths: ``sdk.http`` denies every
    ``http.*`` call, ``sdk.db.unlink`` that one call.
    """
    out = {}
    for rule in rules:
        if rule.kind == "member" and isinstance(rule.value, str) and rule.value.startswith("sdk."):
            out[rule.value.removeprefix("sdk.")] = f"policy '{rule.name}'"
    return out
