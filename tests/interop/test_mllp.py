"""MLLP framing read from a stream: frames split or joined as TCP delivers them, and every
way a peer can break the framing ends in an error, never a wait without end."""

from __future__ import annotations

import asyncio

import pytest

from app.interop.mllp import FrameReader, FramingError, frame


async def reader_of(*chunks: bytes, close: bool = True, limit: int = 1000) -> FrameReader:
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    if close:
        stream.feed_eof()
    return FrameReader(stream, limit, idle_s=0.2, frame_s=0.2)


async def test_frames_joined_and_split_come_out_one_message_each() -> None:
    one, two = frame(b"MSH|one\r"), frame(b"MSH|two\r")
    joined = await reader_of(one + two[:3], two[3:])
    assert await joined.read() == b"MSH|one\r"
    assert await joined.read() == b"MSH|two\r"
    assert await joined.read() is None  # closed between messages: a clean end


@pytest.mark.parametrize(
    ("chunks", "close", "reason"),
    [
        ((b"MSH|no start block\r\x1c\r",), True, "before the MLLP start block"),
        ((b"\x0b" + b"x" * 1001 + b"\x1c\r",), True, "over the 1000 byte limit"),
        ((b"\x0b" + b"x" * 1500,), False, "over the 1000 byte limit"),
        ((b"\x0bMSH|half",), True, "closed inside a message"),
        ((b"\x0bMSH|half",), False, "not complete within 0.2 s"),
        ((), False, "no message for 0.2 s"),
    ],
)
async def test_broken_framing_is_an_error_not_a_hang(
    chunks: tuple[bytes, ...], close: bool, reason: str
) -> None:
    frames = await reader_of(*chunks, close=close)
    with pytest.raises(FramingError) as broken:
        await asyncio.wait_for(frames.read(), 2)
    assert reason in broken.value.reason
