"""SSRF-safe HTTP client behind ``sdk.http.fetch``.

Scripts are untrusted, so every request they make is treated as hostile input aimed at the
host's network. :func:`fetch` guarantees, for every hop of a request (the first one and each
redirect):

* only ``http`` and ``https`` URLs, without userinfo, are accepted;
* the host name is checked against :attr:`HttpPolicy.allow_hosts` *before* it is resolved;
* the name is resolved exactly once, **every** resolved address must be a global unicast
  address outside an explicit deny list (loopback, RFC 1918, link-local and cloud metadata,
  CGNAT, NAT64, 6to4, ULA, multicast, documentation ranges...), and the socket is connected
  to that pinned, validated address -- never to the name again, so DNS rebinding between the
  check and the connect is impossible;
* TLS is verified against the host *name* (not the pinned IP);
* one total deadline covers DNS, connect, TLS, every redirect and the body;
* the decoded body is capped, gzip/deflate included (no decompression bombs);
* environment proxies (``HTTP_PROXY`` & co.) are never consulted; only
  :attr:`HttpPolicy.proxy_url` is used, through a CONNECT tunnel to the pinned address.

Every failure leaves as :class:`~iota_scripts_sdk.errors.ScriptError` with one of the codes
``invalid_argument``, ``argument_too_large``, ``scheme_not_allowed``, ``destination_blocked``,
``too_many_redirects``, ``response_too_large``, ``timeout`` or ``http_error``. Messages are
short and written for script authors: they never contain a traceback, an exception repr or
a local path.

Only the standard library is used (``http.client``, ``socket``, ``ssl``...): Odoo pins old
versions of ``requests``/``urllib3`` and we do not want to depend on them.

Where things are (imports point down this list, never up; only type hints name HttpPolicy
from below it):

* ``client.py``: :func:`fetch` and :class:`HttpResponse`, the redirect loop, and the one
  place where low-level exceptions become ScriptErrors;
* ``policy.py``: :class:`HttpPolicy`, validated on construction;
* ``decoding.py``: the body (capped, gzip/deflate), response headers and text;
* ``connection.py``: resolving once, the pinned (and TLS) connections, the egress proxy;
* ``request.py``: the script's arguments, URLs, redirects and the headers of each hop;
* ``addresses.py``: **the SSRF core**: host normalisation, the allow-list, the deny list;
* ``deadline.py``: the total deadline shared by every blocking step.
"""

from __future__ import annotations

from .client import HttpResponse, fetch
from .policy import HttpPolicy

__all__ = ["HttpPolicy", "HttpResponse", "fetch"]
