"""The pub/sub hub: memory and Redis backends behave alike; a slow subscriber never blocks."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.exceptions

from app.hub import RESYNC, Hub, MemoryHub, RedisHub
from tests.support import unavailable

REDIS_URL = os.environ.get("CHAIRSIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["memory", "redis"])
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[Hub]:
    if request.param == "memory":
        hub: Hub = MemoryHub()
    else:
        hub = RedisHub(REDIS_URL, prefix=f"chairside-test-{uuid.uuid4().hex[:8]}:")
    try:
        await hub.start()
    except (OSError, redis.exceptions.ConnectionError) as exc:
        unavailable(f"Redis at {REDIS_URL}", exc)
    yield hub
    await hub.stop()


async def test_every_subscriber_gets_every_message_of_its_topics(hub: Hub) -> None:
    async with hub.subscribe("readings") as one, hub.subscribe("readings", "alerts") as two:
        await asyncio.sleep(0.05)  # let Redis register the subscription
        await hub.publish("readings", {"type": "reading", "id": 1})
        await hub.publish("alerts", {"type": "alert", "id": 2})
        await hub.publish("other", {"type": "x"})
        assert await asyncio.wait_for(one.get(), 2) == {"type": "reading", "id": 1}
        got = [await asyncio.wait_for(two.get(), 2) for _ in range(2)]
    assert got == [{"type": "reading", "id": 1}, {"type": "alert", "id": 2}]


async def test_a_subscriber_that_falls_behind_is_told_to_resync_and_publish_never_waits(
    hub: Hub,
) -> None:
    async with hub.subscribe("readings", maxsize=5) as slow, hub.subscribe("readings") as fast:
        await asyncio.sleep(0.05)
        for n in range(20):
            await hub.publish("readings", {"id": n})
        received = [await asyncio.wait_for(fast.get(), 2) for _ in range(20)]
        assert [m["id"] for m in received] == list(range(20))
        assert await asyncio.wait_for(slow.get(), 2) is RESYNC
