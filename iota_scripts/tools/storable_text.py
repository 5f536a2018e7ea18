"""Text a script produced, made safe to store in PostgreSQL and to serve.

The engine already turns every lone surrogate a script makes into U+FFFD at
the bridge (``iota_scripts_sdk/prelude.js``, ``wellFormed``). What remains
is valid Unicode that PostgreSQL still refuses in ``text`` columns: NUL
(U+0000) makes psycopg2 raise before the statement is sent, and the commit
of the transaction that ran the script would fail with it (a record save, a
queue worker). Every script-produced string written to a text column goes
through :func:`storable_text` first; JSON text written with ``json.dumps``
escapes NUL itself and goes through it for lone surrogates (defence in
depth: a host function could return one).

The replacement is U+FFFD, the same as the engine's, so one rule holds
everywhere: what the script produced is kept, with each code unit that
cannot be stored shown as U+FFFD.
"""

from __future__ import annotations

from typing import Any

__all__ = ["header_value_error", "storable_text", "unicode_text"]

REPLACEMENT = "\ufffd"


def unicode_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD: encodable as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def storable_text(text: Any) -> Any:
    """``text`` fit for a PostgreSQL text column (lone surrogates and NUL -> U+FFFD).

    Anything that is not a ``str`` (None, False for an empty Odoo field) is
    returned as it is.
    """
    if not isinstance(text, str):
        return text
    text = unicode_text(text)
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    return text


def header_value_error(value: Any) -> str | None:
    """Why ``value`` cannot be an HTTP response header value, or None when it can.

    Header values are bytes on the wire; WSGI carries them as latin-1, and
    anything else fails inside the server after the script's transaction
    ended. Only visible ASCII, space and tab are accepted: no control
    characters (CR, LF, NUL) and nothing outside ASCII (encode such text in
    the value yourself, e.g. RFC 8187 percent-encoding).
    """
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > 4096:
        return "is longer than 4096 characters"
    for c in value:
        if not (" " <= c <= "~" or c == "\t"):
            return "may hold only visible ASCII characters, spaces and tabs"
    return None
