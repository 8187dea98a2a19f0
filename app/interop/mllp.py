"""MLLP framing: ``<VT>`` message ``<FS><CR>`` over TCP, with a size limit and timeouts.

Reading is strict where a lenient reader would hang: bytes before a start block, a frame over
the size limit, a peer that goes quiet in the middle of a frame or between frames all end in a
``FramingError`` (or ``None`` for a clean close), which the listener answers or closes on.
"""

from __future__ import annotations

import asyncio

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
READ_CHUNK = 64 * 1024


class FramingError(Exception):
    """The stream is not (or no longer) MLLP; ``partial`` is what the broken frame held."""

    def __init__(self, reason: str, partial: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial


class FrameReader:
    """Reads one MLLP frame at a time from a stream, keeping what follows for the next one."""

    def __init__(
        self, reader: asyncio.StreamReader, max_bytes: int, idle_s: float, frame_s: float
    ) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self.max_bytes = max_bytes
        self.idle_s = idle_s  # how long a connection may be silent between messages
        self.frame_s = frame_s  # how long one message may take to arrive once started

    async def _more(self, within_s: float) -> bytes:
        async with asyncio.timeout(within_s):
            return await self._reader.read(READ_CHUNK)

    async def read(self) -> bytes | None:
        """The next message (without its framing), or None when the peer closed between
        messages. Raises ``FramingError`` on anything else."""
        while not self._buffer:
            try:
                chunk = await self._more(self.idle_s)
            except TimeoutError:
                raise FramingError(f"no message for {self.idle_s:g} s") from None
            if not chunk:
                return None
            self._buffer += chunk
        if self._buffer[:1] != START_BLOCK:
            raise FramingError("data before the MLLP start block (0x0B)", bytes(self._buffer[:200]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.frame_s
        searched = 1
        while (end := self._buffer.find(END_BLOCK, searched)) < 0:
            if len(self._buffer) - 1 > self.max_bytes:
                raise FramingError(
                    f"message over the {self.max_bytes} byte limit", bytes(self._buffer[1:4096])
                )
            searched = max(1, len(self._buffer) - 1)
            remaining = deadline - loop.time()
            try:
                chunk = await self._more(max(remaining, 0))
            except TimeoutError:
                raise FramingError(
                    f"message not complete within {self.frame_s:g} s", bytes(self._buffer[1:4096])
                ) from None
            if not chunk:
                raise FramingError("connection closed inside a message", bytes(self._buffer[1:]))
            self._buffer += chunk
        if end - 1 > self.max_bytes:
            raise FramingError(
                f"message over the {self.max_bytes} byte limit", bytes(self._buffer[1:4096])
            )
        message = bytes(self._buffer[1:end])
        del self._buffer[: end + len(END_BLOCK)]
        return message


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK
