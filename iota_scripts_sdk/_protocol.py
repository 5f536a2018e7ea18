"""Framing between the engine and its runner processes.

A frame is a 4-byte big-endian length, then that many bytes: a JSON header
(UTF-8, never a raw newline), optionally followed by a newline and a tail of
raw JSON text that passes through unparsed: ``run`` carries the ctx JSON, a
newline and the input JSON; ``reply`` its payload; ``done`` the result.
Frames from the runner splice JSON text produced inside V8 verbatim (the
prelude's serialiser only produces valid JSON, valid Unicode), so nothing is
parsed twice: the runner hands tails to V8 as strings, the host parses a
result only when asked (``RunResult.result``).

Host -> runner: ``run``, ``reply``, ``check``, ``exit``.
Runner -> host: ``ready``, ``call``, ``log``, ``done``, ``checked``.
"""

from __future__ import annotations

import io
import os
import struct

__all__ = ["MAX_FRAME_BYTES", "FrameReader", "ProtocolError", "widen_pipe", "write_frame"]

#: Larger frames mean a broken or hostile runner; the host kills it.
MAX_FRAME_BYTES = 64 * 1024 * 1024

_HEADER = struct.Struct(">I")
#: What one read asks for when no large frame is under way.
_CHUNK_BYTES = 65536


class ProtocolError(Exception):
    """The peer sent something that is not a frame."""


def widen_pipe(fd: int) -> None:
    """Asks for a 1 MiB pipe buffer (F_SETPIPE_SZ), so that a frame of a few
    hundred KiB crosses in one write instead of 64 KiB turns of writer and
    reader. Best effort: the default stays when the system refuses."""
    import fcntl

    try:
        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ (Linux)
    except OSError:
        pass


def write_frame(fd: int, *parts: bytes | memoryview) -> None:
    """Writes one frame whose payload is ``parts`` in order, with ``os.writev``.

    A large payload (a run's input, a result) is never copied into one buffer
    with its header. Raises OSError when the pipe is gone.
    """
    views = [memoryview(_HEADER.pack(sum(len(p) for p in parts)))]
    views += [memoryview(p) for p in parts if len(p)]
    while views:
        n = os.writev(fd, views)
        while n:
            if n >= len(views[0]):
                n -= len(views.pop(0))
            else:
                views[0] = views[0][n:]
                n = 0


class FrameReader:
    """Incremental frame decoder over a file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = bytearray()
        # Reads land in one reused buffer: os.read would allocate its whole
        # request and shrink it per read, and on a thread other than the main
        # one glibc hands the freed top of its arena back to the kernel, so
        # every read page-faulted fresh zeroed pages (the runner reads on
        # V8's thread). Closing this object leaves ``fd`` open.
        self._file = io.FileIO(fd, "rb", closefd=False)
        self._chunk = memoryview(bytearray(_CHUNK_BYTES))

    def feed(self) -> bool:
        """Reads what is available (one read). False at end of file."""
        want = _CHUNK_BYTES
        if len(self._buf) >= 4:
            (size,) = _HEADER.unpack_from(self._buf)
            want = max(want, min(size + 4 - len(self._buf), MAX_FRAME_BYTES))
        if want > _CHUNK_BYTES:
            # within a large frame whose size is known, the rest of it at once
            chunk = os.read(self.fd, want)
            if not chunk:
                return False
            self._buf += chunk
            return True
        n = self._file.readinto(self._chunk)
        if not n:
            return False
        self._buf += self._chunk[:n]
        return True

    def next(self) -> bytes | None:
        """The next complete frame's payload, or None when more bytes are needed."""
        if len(self._buf) < 4:
            return None
        (size,) = _HEADER.unpack_from(self._buf)
        if size > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {size} bytes is over the limit")
        if len(self._buf) < 4 + size:
            return None
        # one copy (a slice of the bytearray, then bytes(), would be two)
        with memoryview(self._buf) as view:
            payload = bytes(view[4 : 4 + size])
        del self._buf[: 4 + size]
        return payload
