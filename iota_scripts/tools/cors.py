"""Origins of CORS and of session calls: one normal form, compared exactly.

An origin is ``scheme://host[:port]``. Two spellings name the same origin
when they are equal after :func:`normalise`: scheme and host lower-cased,
the default port dropped (``:443`` for https, ``:80`` for http), one
trailing ``/`` dropped. Nothing else is forgiven: no wildcard, no
sub-domain match, no path, another port or scheme is another origin.

Endpoints store their allowed origins normalised, and the gateway answers
``Access-Control-Allow-Origin`` with the stored (configured) spelling,
never with the header as the client wrote it.
"""

from __future__ import annotations

import re

_ORIGIN = re.compile(
    r"^(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?/?$", re.IGNORECASE
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalise(origin: str | None) -> str | None:
    """The normal form of ``origin``, or None when it is not an exact origin."""
    match = _ORIGIN.match((origin or "").strip())
    if not match:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if port is not None:
        if not 0 < int(port) < 65536:
            return None
        port = str(int(port))
    if port and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"
