"""Failed-login counts per account and per client address, kept by the `limits` library in a
moving window: in memory, or in Redis (``CHAIRSIDE_REDIS_URL``) where every worker shares them."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.services.errors import Unavailable
from app.settings import Settings


class ThrottleUnavailable(Unavailable):
    """The shared store of failed logins (Redis) did not answer: no login is checked blind."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A login refused before its password is checked."""

    reason: Literal["account", "address"]
    retry_after_s: int
    since: float  # epoch seconds of the oldest failure still counted


@dataclass(frozen=True, slots=True)
class Failure:
    """What one more failed login locked (each lock is reported once, when it starts)."""

    account_locked: bool
    address_locked: bool


class LoginThrottle:
    """An account locks after ``account_failures`` failed logins within ``window_s`` seconds; an
    address is refused after ``address_failures`` (0: no address limit). A lock ends when its
    oldest failure is ``window_s`` old; attempts refused meanwhile are not counted."""

    def __init__(
        self,
        storage: Storage,
        account_failures: int,
        address_failures: int,
        window_s: int,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._account = RateLimitItemPerSecond(account_failures, window_s, namespace="account")
        self._address = (
            RateLimitItemPerSecond(address_failures, window_s, namespace="address")
            if address_failures
            else None
        )
        self.account_failures = account_failures
        self.address_failures = address_failures
        self.window_s = window_s
        self._close = close

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        numbers = (
            settings.login_account_failures,
            settings.login_address_failures,
            settings.login_window_s,
        )
        if not settings.redis_url:
            return cls(MemoryStorage(), *numbers)
        import redis.asyncio as redis

        # Our own pool, so that stopping closes its connections.
        pool = redis.ConnectionPool.from_url(settings.redis_url)
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=settings.redis_prefix + "login",
            wrap_exceptions=True,
            connection_pool=pool,  # type: ignore[arg-type]  # documented; typed too narrowly
        )
        return cls(storage, *numbers, close=pool.disconnect)

    async def close(self) -> None:
        if self._close is not None:
            await self._close()

    async def refuse_address(self, address: str) -> Refusal | None:
        """A refusal if this address has failed too often, else None."""
        if self._address is None:
            return None
        try:
            if await self._limiter.test(self._address, address):
                return None
            return await self._refusal("address", self._address, address)
        except StorageError as exc:
            raise ThrottleUnavailable(_UNAVAILABLE) from exc

    async def admit_account(self, name: str) -> Refusal | None:
        """Count this attempt against the account before its password is checked, so that
        parallel guesses cannot slip past the limit (a success clears the count); None admits it."""
        try:
            if await self._limiter.hit(self._account, name):
                return None
            return await self._refusal("account", self._account, name)
        except StorageError as exc:
            raise ThrottleUnavailable(_UNAVAILABLE) from exc

    async def failed(self, name: str, address: str) -> Failure:
        """The admitted attempt failed: count it against the address too."""
        try:
            account_locked = not await self._limiter.test(self._account, name)
            address_locked = False
            if self._address is not None and await self._limiter.hit(self._address, address):
                address_locked = not await self._limiter.test(self._address, address)
            return Failure(account_locked, address_locked)
        except StorageError as exc:
            raise ThrottleUnavailable(_UNAVAILABLE) from exc

    async def unlock(self, name: str) -> bool:
        """Forget the account's failures (a success, or an admin); True if it was locked."""
        try:
            locked = not await self._limiter.test(self._account, name)
            await self._limiter.clear(self._account, name)
            return locked
        except StorageError as exc:
            raise ThrottleUnavailable(_UNAVAILABLE) from exc

    async def _refusal(
        self, reason: Literal["account", "address"], item: RateLimitItem, key: str
    ) -> Refusal:
        stats = await self._limiter.get_window_stats(item, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Refusal(reason, retry_after, stats.reset_time - self.window_s)


_UNAVAILABLE = "logins cannot be checked now: the store of failed logins is not reachable"
