"""Which worker process runs the alert engine when several share a Redis hub: the holder of a
short lease in Redis, renewed while it lives. A worker that dies loses it within the TTL."""

from __future__ import annotations

import secrets
from typing import Any

# Renew only our own lease (another worker's must not be extended by us).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    def __init__(self, url: str, key: str = "chairside:alert-engine", ttl_s: float = 6.0) -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url)
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.holder = secrets.token_hex(8)

    @property
    def renew_every_s(self) -> float:
        return self.ttl_ms / 3000

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self.key, self.holder, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._redis.eval(_RENEW, 1, self.key, self.holder, self.ttl_ms))

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self.holder)
        await self._redis.aclose()
