"""The frames between the engine and its runners (``_protocol``), on real pipes."""

from __future__ import annotations

import fcntl
import os
import threading

import pytest

from iota_scripts_sdk._protocol import MAX_FRAME_BYTES, FrameReader, ProtocolError, write_frame

F_SETPIPE_SZ = 1031


def _frames(parts_list: list[tuple[bytes, ...]], pipe_size: int = 4096) -> list[bytes]:
    """Writes each parts tuple as one frame into a small pipe while a reader
    thread decodes them: a frame larger than the pipe crosses in many reads."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, pipe_size)
    got: list[bytes] = []

    def read() -> None:
        reader = FrameReader(r)
        while True:
            frame = reader.next()
            if frame is not None:
                got.append(frame)
                continue
            if not reader.feed():
                return

    t = threading.Thread(target=read)
    t.start()
    try:
        for parts in parts_list:
            write_frame(w, *parts)
    finally:
        os.close(w)
        t.join(10)
        os.close(r)
    return got


def test_frames_written_in_parts_arrive_whole_and_in_order():
    big = bytes(range(256)) * 1200  # 300 KiB through a 4 KiB pipe
    frames = [
        (b'{"op":"done"}\n', memoryview(big)[7:200_007]),
        (b'{"op":"log"}',),
        (b"", b"a", b"", b"bc"),
        (big,),
    ]
    assert _frames(frames) == [
        b'{"op":"done"}\n' + big[7:200_007],
        b'{"op":"log"}',
        b"abc",
        big,
    ]


def test_a_frame_over_the_limit_is_refused_before_it_is_read():
    r, w = os.pipe()
    try:
        os.write(w, (MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"x")
        reader = FrameReader(r)
        assert reader.feed()
        with pytest.raises(ProtocolError):
            reader.next()
    finally:
        os.close(r)
        os.close(w)
