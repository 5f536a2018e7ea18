"""The frames between the engine and its runners (``_protocol``), on real pipes."""

from __future__ import annotations

import fcntl
import os
import threading

import pytest

from iota_scripts_sdk._protocol import (
    MAX_FRAME_BYTES,
    SHARED_AREA_BYTES,
    SHARED_MIN_BYTES,
    FrameReader,
    ProtocolError,
    SharedArea,
    write_frame,
)

F_SETPIPE_SZ = 1031


def _frames(
    parts_list: list[tuple[bytes, ...]],
    pipe_size: int = 4096,
    areas: tuple[SharedArea, SharedArea] | None = None,
) -> list[bytes]:
    """Writes each parts tuple as one frame into a small pipe while a reader
    thread decodes them: a frame larger than the pipe crosses in many reads.
    With ``areas`` (the writer's and the reader's side of one SharedArea),
    the writer waits for each frame to be read before the next, as the host
    and its runner do."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, pipe_size)
    got: list[bytes] = []
    taken = threading.Semaphore(0)

    def read() -> None:
        reader = FrameReader(r, areas[1] if areas else None)
        while True:
            frame = reader.next()
            if frame is not None:
                got.append(frame)
                taken.release()
                continue
            if not reader.feed():
                return

    t = threading.Thread(target=read)
    t.start()
    try:
        for parts in parts_list:
            write_frame(w, *parts, area=areas[0] if areas else None)
            if areas:
                assert taken.acquire(timeout=10)
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


def _area_pair() -> tuple[SharedArea, SharedArea]:
    """A host's area and the runner's side of it (the runner's own descriptor, as after exec)."""
    host = SharedArea.create()
    assert host is not None, "memfd_create is missing on this machine"
    runner = SharedArea.attach(os.dup(host.fd))
    host.close_fd()
    return host, runner


def test_large_frames_cross_in_the_shared_area_both_ways_and_small_ones_in_the_pipe():
    host, runner = _area_pair()
    big = bytes(range(256)) * 600  # 150 KiB: over SHARED_MIN_BYTES
    small = b'{"op":"log"}'
    too_big = b"x" * (SHARED_AREA_BYTES + 1)  # over the area: the pipe
    frames = [
        (b'{"op":"run"}\n', memoryview(big)[3:]),
        (small,),
        (big,),
        (b"y" * SHARED_MIN_BYTES,),
        (too_big,),
    ]
    expected = [b'{"op":"run"}\n' + big[3:], small, big, b"y" * SHARED_MIN_BYTES, too_big]
    # host -> runner, then runner -> host (the other half of the same memfd)
    assert _frames(frames, areas=(host, runner)) == expected
    assert _frames(frames, areas=(runner, host)) == expected
    # what the pipe carried: a large frame's length alone, a small one whole
    r, w = os.pipe()
    try:
        write_frame(w, big, area=host)
        assert os.read(r, 1 << 20) == ((1 << 31) | len(big)).to_bytes(4, "big")
        write_frame(w, small, area=host)
        assert os.read(r, 1 << 20) == len(small).to_bytes(4, "big") + small
    finally:
        os.close(r)
        os.close(w)


def test_a_shared_frame_is_copied_out_before_the_sender_writes_again():
    host, runner = _area_pair()
    r, w = os.pipe()
    try:
        first = b"a" * 100_000
        write_frame(w, first, area=host)
        reader = FrameReader(r, runner)
        assert reader.feed()
        frame = reader.next()
        host.out[:100_000] = b"b" * 100_000  # the host's next frame
        assert frame == first
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("area", [True, False], ids=["over the area", "no area"])
def test_a_forged_shared_frame_is_refused(area):
    """A runner that claims a shared frame larger than the area, or where
    the host has none, is a broken runner: named, never read past the map."""
    host, _runner = _area_pair()
    r, w = os.pipe()
    try:
        size = SHARED_AREA_BYTES + 1 if area else 100
        os.write(w, ((1 << 31) | size).to_bytes(4, "big"))
        reader = FrameReader(r, host if area else None)
        assert reader.feed()
        with pytest.raises(ProtocolError, match="shared frame"):
            reader.next()
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("shared", [True, False], ids=["shared area", "pipe"])
def test_a_message_splits_at_its_first_newline_and_its_tail_outlives_the_area(shared):
    """``next_message`` gives what ``bytes.partition(b"\\n")`` of the frame
    gives, with no newline, a newline last, or more newlines in the tail,
    in both directions of the area (each reads its own half)."""
    host, runner = _area_pair()
    tail = b'{"a":"x\\ny"}\n' + bytes(range(256)) * 200  # over SHARED_MIN_BYTES
    payloads = [
        b'{"op":"done"}\n' + tail,
        b'{"op":"done"}',
        b'{"op":"done"}\n',
        b"\n" + tail,
    ]
    for sender, receiver in ((runner, host), (host, runner)):
        r, w = os.pipe()
        fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
        try:
            reader = FrameReader(r, receiver)
            for payload in payloads:
                write_frame(w, payload, area=sender if shared else None)
                got = None
                while got is None:
                    got = reader.next_message()
                    if got is None:
                        assert reader.feed()
                sender.out[: len(payload)] = b"z" * len(payload)  # the sender's next frame
                head, _, rest = payload.partition(b"\n")
                assert got == (head, rest)
                assert all(type(part) is bytes for part in got)
        finally:
            os.close(r)
            os.close(w)


def test_a_forged_shared_message_is_refused():
    host, _runner = _area_pair()
    r, w = os.pipe()
    try:
        os.write(w, ((1 << 31) | (SHARED_AREA_BYTES + 1)).to_bytes(4, "big"))
        reader = FrameReader(r, host)
        assert reader.feed()
        with pytest.raises(ProtocolError, match="shared frame"):
            reader.next_message()
    finally:
        os.close(r)
        os.close(w)
