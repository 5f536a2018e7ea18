"""Response decoding: the body (capped, gzip/deflate included), the headers and the text.

:func:`read_body` reads at most ``max_response_bytes + 1`` *decoded* bytes within the total
deadline: a decompression bomb is only inflated up to the cap, with memory bounded by one
network chunk (:class:`_Decoder`). Too much leaves as ``response_too_large``, a body
shorter than its ``Content-Length`` as ``http_error``; a corrupt stream raises
``zlib.error``, which ``client.py`` maps to ``http_error``.
"""

from __future__ import annotations

import http.client
import re
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ScriptError
from .connection import READ_CHUNK
from .deadline import remaining

if TYPE_CHECKING:
    from .policy import HttpPolicy

_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:\-]+)""", re.IGNORECASE)


def _looks_like_zlib(head: bytes) -> bool:
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf * 256 + flg) % 31 == 0


class _Decoder:
    """Incremental gzip/deflate decoder that never inflates more than it is asked for.

    ``decompress(data, max_length)`` keeps the unprocessed input in ``unconsumed_tail``, so a
    bomb is only inflated up to the cap, with memory bounded by one network chunk.
    """

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._obj: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if kind == "gzip" else None
        self._head = b""
        self._done = False

    @classmethod
    def for_encoding(cls, content_encoding: str) -> _Decoder | None:
        """A decoder for gzip/deflate; None for identity and unknown codings (raw bytes)."""
        if content_encoding in ("gzip", "x-gzip"):
            return cls("gzip")
        if content_encoding == "deflate":
            return cls("deflate")
        return None

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode *data*, producing at most *room* bytes (room > 0)."""
        if self._done:
            return b""
        if self._obj is None:
            # "deflate" is zlib-wrapped per RFC, but many servers send raw deflate: sniff.
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            wbits = zlib.MAX_WBITS if _looks_like_zlib(data) else -zlib.MAX_WBITS
            self._obj = zlib.decompressobj(wbits)
        out = bytearray()
        while data and len(out) < room:
            piece = self._obj.decompress(data, room - len(out))
            out += piece
            if self._obj.eof:
                rest = self._obj.unused_data
                if self._kind == "gzip" and rest[:2] == b"\x1f\x8b":  # concatenated members
                    self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
                    continue
                self._done = True  # trailing garbage is ignored, like browsers do
                break
            tail = self._obj.unconsumed_tail
            if not piece and len(tail) >= len(data):
                break  # no progress possible (needs more input)
            data = tail
        return bytes(out)


def _too_large(host: str, limit: int) -> ScriptError:
    return ScriptError(
        "response_too_large", f"the response from {host} is larger than {limit} bytes"
    )


def read_body(
    response: http.client.HTTPResponse, policy: HttpPolicy, deadline: float, host: str
) -> bytes:
    """Read the body: at most max_response_bytes+1 decoded bytes, within the deadline.

    http.client stops at Content-Length, so a server sending more than it declared cannot
    push past it; one sending less and keeping the socket open hits the deadline; one
    sending less and closing is reported (http.client itself silently returns short data).
    """
    limit = policy.max_response_bytes
    encoding = (response.getheader("content-encoding") or "").strip().lower()
    decoder = _Decoder.for_encoding(encoding)
    if decoder is None and response.length is not None and response.length > limit:
        raise _too_large(host, limit)  # declared too big: fail before reading anything
    # Compressed input is not decoded output, but it is never much larger; bounding the
    # wire bytes too stops an endless stream of empty deflate blocks.
    wire_limit = 2 * limit + READ_CHUNK
    out = bytearray()
    wire = 0
    while True:
        remaining(deadline)
        # read1: return what one recv brought (a plain read() would wait for a full chunk).
        chunk = response.read1(READ_CHUNK)
        if not chunk:
            break
        wire += len(chunk)
        if decoder is None:
            out += chunk
        else:
            out += decoder.decode(chunk, limit + 1 - len(out))
        if len(out) > limit or wire > wire_limit:
            raise _too_large(host, limit)
    if response.length:  # bytes still owed according to Content-Length
        raise ScriptError("http_error", f"the response from {host} ended early")
    return bytes(out)


def response_headers(message: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names, obsolete line folding unfolded, repeated headers joined with ", "."""
    headers: dict[str, str] = {}
    for name, value in message:
        key = name.lower()
        clean = re.sub(r"[\r\n]+[ \t]*", " ", value).strip()  # unfold obsolete line folding
        headers[key] = f"{headers[key]}, {clean}" if key in headers else clean
    return headers


def decode_text(data: bytes, content_type: str | None) -> str:
    """The body as text: the Content-Type charset when it is a text codec, else UTF-8.

    Undecodable bytes are replaced, never raised.
    """
    match = _CHARSET_RE.search(content_type or "")
    if match:
        try:
            # bytes.decode refuses non-text codecs ("base64", "zip") with LookupError.
            return data.decode(match.group(1), errors="replace")
        except LookupError:
            pass
    return data.decode("utf-8", errors="replace")
