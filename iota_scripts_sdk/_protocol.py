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

A large ``run`` or ``done`` frame may cross in a :class:`SharedArea`
instead of the pipe: its length then has the top bit set, and its payload
is in the sender's area of a memfd both processes map. A pipe moves such a
payload in page-sized turns of the kernel; the area is one copy on each
side (a records run's 150 KB each way: 270 to 330 us less here).
"""

from __future__ import annotations

import io
import mmap
import os
import struct

__all__ = [
    "MAX_FRAME_BYTES",
    "FrameReader",
    "ProtocolError",
    "SharedArea",
    "widen_pipe",
    "write_frame",
]

#: Larger frames mean a broken or hostile runner; the host kills it.
MAX_FRAME_BYTES = 64 * 1024 * 1024

_HEADER = struct.Struct(">I")
#: The length's top bit: the payload is in the sender's shared area.
_SHARED = 1 << 31
#: Smaller payloads take the pipe: one write, nothing to gain.
SHARED_MIN_BYTES = 32 * 1024
#: Each direction's area; a larger payload takes the pipe.
SHARED_AREA_BYTES = 2 * 1024 * 1024
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


class SharedArea:
    """A memfd that a host and its runner both map: one area per direction.

    The host makes it (:meth:`create`) and its runner inherits the
    descriptor (:meth:`attach`). A sender may use its area for one frame
    only when the receiver has taken the previous one off the area before
    it can answer: the host for ``run`` frames (the next one follows the
    run's ``done``), the runner for ``done`` frames. Replies to host calls,
    which can queue up, always take the pipe. The receiver copies a payload
    out once (``FrameReader.next``) and checks its length: the sender's
    bytes are never trusted in place.
    """

    def __init__(self, fd: int, host: bool) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, 2 * SHARED_AREA_BYTES)
        view = memoryview(self._map)
        to_runner, to_host = view[:SHARED_AREA_BYTES], view[SHARED_AREA_BYTES:]
        #: where this side writes, and where it reads
        self.out, self.into = (to_runner, to_host) if host else (to_host, to_runner)
        self._into_at = SHARED_AREA_BYTES if host else 0

    def find_into(self, sub: bytes, size: int) -> int:
        """Where ``sub`` first occurs in the first ``size`` bytes of ``into``; -1 if nowhere."""
        at = self._map.find(sub, self._into_at, self._into_at + size)
        return at if at == -1 else at - self._into_at

    @classmethod
    def create(cls) -> SharedArea | None:
        """The host's side; None where memfd is missing. The descriptor is
        close-on-exec: a runner gets it through ``pass_fds`` alone."""
        try:
            fd = os.memfd_create("iota-frames", os.MFD_CLOEXEC)
        except (AttributeError, OSError):
            return None
        try:
            os.ftruncate(fd, 2 * SHARED_AREA_BYTES)
            return cls(fd, host=True)
        except OSError:
            os.close(fd)
            return None

    @classmethod
    def attach(cls, fd: int) -> SharedArea:
        """The runner's side of the host's area; the descriptor is closed (the map stays)."""
        try:
            return cls(fd, host=False)
        finally:
            os.close(fd)

    def close_fd(self) -> None:
        """Closes the descriptor once the runner has it; the map stays."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def write_frame(fd: int, *parts: bytes | memoryview, area: SharedArea | None = None) -> None:
    """Writes one frame whose payload is ``parts`` in order, with ``os.writev``.

    A large payload (a run's input, a result) is never copied into one buffer
    with its header. With ``area`` (see :class:`SharedArea` for when a
    sender may pass it), a payload of ``SHARED_MIN_BYTES`` up to the area's
    size goes there, and the pipe carries only its length. Raises OSError
    when the pipe is gone.
    """
    size = sum(len(p) for p in parts)
    if area is not None and SHARED_MIN_BYTES <= size <= len(area.out):
        at = 0
        for p in parts:
            area.out[at : at + len(p)] = p
            at += len(p)
        views = [memoryview(_HEADER.pack(size | _SHARED))]
    else:
        views = [memoryview(_HEADER.pack(size))]
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

    def __init__(self, fd: int, area: SharedArea | None = None) -> None:
        self.fd = fd
        #: where the peer's shared frames arrive (see SharedArea)
        self.area = area
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
            if not size & _SHARED:
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

    def next_message(self) -> tuple[bytes, bytes] | None:
        """The next complete frame split at its first newline: (header, tail),
        each copied once (a 150 KB result frame cut with ``bytes.partition``
        is copied twice, and a fresh copy of that size costs page faults
        when the allocator has handed the last one back). The tail is b""
        when the frame has no newline. None when more bytes are needed.
        """
        if len(self._buf) < 4:
            return None
        (size,) = _HEADER.unpack_from(self._buf)
        if size & _SHARED:
            area, size = self._shared(size)
            del self._buf[:4]
            nl = area.find_into(b"\n", size)
            if nl == -1:
                return bytes(area.into[:size]), b""
            return bytes(area.into[:nl]), bytes(area.into[nl + 1 : size])
        if not self._complete(size):
            return None
        nl = self._buf.find(b"\n", 4, 4 + size)
        with memoryview(self._buf) as view:
            if nl == -1:
                parts = bytes(view[4 : 4 + size]), b""
            else:
                parts = bytes(view[4:nl]), bytes(view[nl + 1 : 4 + size])
        del self._buf[: 4 + size]
        return parts

    def _shared(self, size: int) -> tuple[SharedArea, int]:
        """The area a shared frame of header ``size`` is in, and its length."""
        size &= ~_SHARED
        if self.area is None or size > len(self.area.into):
            raise ProtocolError(f"shared frame of {size} bytes with no area to hold it")
        return self.area, size

    def _complete(self, size: int) -> bool:
        if size > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {size} bytes is over the limit")
        return len(self._buf) >= 4 + size

    def next(self) -> bytes | None:
        """The next complete frame's payload, or None when more bytes are needed."""
        if len(self._buf) < 4:
            return None
        (size,) = _HEADER.unpack_from(self._buf)
        if size & _SHARED:
            area, size = self._shared(size)
            del self._buf[:4]
            return bytes(area.into[:size])
        if not self._complete(size):
            return None
        # one copy (a slice of the bytearray, then bytes(), would be two)
        with memoryview(self._buf) as view:
            payload = bytes(view[4 : 4 + size])
        del self._buf[: 4 + size]
        return payload
