"""Publish/subscribe hub for live fan-out: in-process by default, Redis across workers.

One small interface (``publish``, ``subscribe``) with swappable backends. Every subscriber has
its own bounded queue; one that falls behind is dropped with a ``resync`` notice instead of
slowing the publisher (ingest must never wait for a dashboard).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

Message = dict[str, Any]
RESYNC: Message = {"type": "resync", "reason": "subscriber fell behind"}


class Subscription:
    """One subscriber's bounded queue; iterate it to receive messages."""

    def __init__(self, topics: tuple[str, ...], maxsize: int) -> None:
        self.topics = topics
        self.lagged = False
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)

    def offer(self, message: Message) -> bool:
        """Queue a message without waiting; False (and a resync marker) if the queue is full."""
        if self.lagged:
            return False
        try:
            self._queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            self.lagged = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)
            return False

    async def get(self) -> Message:
        return await self._queue.get()

    def close(self) -> None:
        """Drop whatever is still queued: an ended subscriber's messages are freed at once."""
        while not self._queue.empty():
            self._queue.get_nowait()

    def drain(self, limit: int) -> list[Message]:
        """What is already queued (up to ``limit``), without waiting."""
        out: list[Message] = []
        while len(out) < limit and not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            message = await self._queue.get()
            yield message
            if message is RESYNC:
                return


class Hub(Protocol):
    async def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(
        self, *topics: str, maxsize: int = 1000
    ) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    def subscriber_count(self, topic: str) -> int: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _LocalFanout:
    """Delivery to this process's subscribers; shared by both backends."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}

    def deliver(self, topic: str, message: Message) -> None:
        for sub in list(self._subscribers.get(topic, ())):
            if not sub.offer(message):
                log.warning("hub subscriber on %s fell behind; told to resync", topic)
                self.remove(sub)

    def add(self, sub: Subscription) -> None:
        for topic in sub.topics:
            self._subscribers.setdefault(topic, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        for topic in sub.topics:
            self._subscribers.get(topic, set()).discard(sub)

    def has_topic(self, topic: str) -> bool:
        return bool(self._subscribers.get(topic))

    def count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))


class MemoryHub:
    """Fan-out inside one process."""

    def __init__(self) -> None:
        self._local = _LocalFanout()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, topic: str, message: Message) -> None:
        self._local.deliver(topic, message)

    def subscriber_count(self, topic: str) -> int:
        return self._local.count(topic)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str, maxsize: int = 1000) -> AsyncIterator[Subscription]:
        sub = Subscription(topics, maxsize)
        self._local.add(sub)
        try:
            yield sub
        finally:
            self._local.remove(sub)
            sub.close()


class RedisHub:
    """Fan-out across worker processes and hosts through Redis pub/sub."""

    def __init__(self, url: str, prefix: str = "chairside:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._prefix = prefix
        self._local = _LocalFanout()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._redis.ping()
        await self._pubsub.psubscribe(self._prefix + "*")
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()

    async def publish(self, topic: str, message: Message) -> None:
        await self._redis.publish(self._prefix + topic, orjson.dumps(message))

    def subscriber_count(self, topic: str) -> int:
        """This process's subscribers to ``topic``."""
        return self._local.count(topic)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str, maxsize: int = 1000) -> AsyncIterator[Subscription]:
        sub = Subscription(topics, maxsize)
        self._local.add(sub)
        try:
            yield sub
        finally:
            self._local.remove(sub)
            sub.close()

    async def _read(self) -> None:
        while True:
            try:
                async for raw in self._pubsub.listen():
                    if raw.get("type") != "pmessage":
                        continue
                    topic = raw["channel"].decode()[len(self._prefix) :]
                    if self._local.has_topic(topic):
                        self._local.deliver(topic, orjson.loads(raw["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep fan-out alive across a Redis blip; subscribers resync
                log.exception("redis hub reader failed; retrying in 1 s")
                await asyncio.sleep(1)


def create_hub(redis_url: str | None, prefix: str = "chairside:") -> Hub:
    return RedisHub(redis_url, prefix) if redis_url else MemoryHub()
