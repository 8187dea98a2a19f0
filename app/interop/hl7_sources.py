"""HL7 sources that sent messages no device is bound to, for the admin to bind with one action.

Kept in memory: it is a worklist, not a record; a source that keeps sending comes back within
one reporting cycle after a restart. Bounded, so a scanner sending junk with ever new
identifiers cannot grow it without end. With several workers (a Redis hub), what one worker
hears or binds goes to the others over the hub, so every worker answers with the same list.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.hub import Hub
from app.interop.pcd01 import Identifier

log = logging.getLogger(__name__)
MAX_UNBOUND = 200
TOPIC = "hl7-sources"  # between workers only: no screen subscribes to it


@dataclass(slots=True)
class UnboundSource:
    identifiers: tuple[Identifier, ...]
    peer: str
    first_seen: datetime
    last_seen: datetime
    messages: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "identifiers": [{"kind": i.kind, "value": i.value} for i in self.identifiers],
            "peer": self.peer,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "messages": self.messages,
        }


class UnboundSources:
    def __init__(self, limit: int = MAX_UNBOUND, hub: Hub | None = None) -> None:
        self._limit = limit
        self._by_key: OrderedDict[tuple[Identifier, ...], UnboundSource] = OrderedDict()
        self._hub = hub
        self._origin = secrets.token_hex(8)  # this worker, to skip its own messages

    async def heard(self, identifiers: tuple[Identifier, ...], peer: str, now: datetime) -> None:
        """A message from an unbound source was refused here: listed, and told the others."""
        self.seen(identifiers, peer, now)
        ids = [[i.kind, i.value] for i in identifiers]
        await self._share(
            {"event": "heard", "identifiers": ids, "peer": peer, "at": now.isoformat()}
        )

    async def bound(self, value: str) -> None:
        """A device was bound to ``value`` through this worker: forgotten, and told the others."""
        self.forget(value)
        await self._share({"event": "bound", "value": value})

    async def found(self, values: tuple[str, ...]) -> None:
        """A listed source's message found its device (bound elsewhere, e.g. by
        ``chairside device add``): it is unbound no more, here and at the other workers."""
        for value in values:
            if any(i.value == value for key in self._by_key for i in key):
                await self.bound(value)

    async def follow(self) -> None:
        """Apply what the other workers hear and bind, for as long as the server runs."""
        if self._hub is None:
            return
        async with self._hub.subscribe(TOPIC) as feed:
            async for message in feed:
                if message.get("origin") == self._origin:
                    continue
                try:
                    self._apply(message)
                except (KeyError, TypeError, ValueError):  # one odd message stops nothing
                    log.warning("HL7: a worker's message about sources was not understood")

    def _apply(self, message: dict[str, Any]) -> None:
        if message.get("event") == "heard":
            ids = tuple(Identifier(kind, value) for kind, value in message["identifiers"])
            self.seen(ids, message["peer"], datetime.fromisoformat(message["at"]))
        elif message.get("event") == "bound":
            self.forget(message["value"])

    async def _share(self, message: dict[str, Any]) -> None:
        if self._hub is None:
            return
        try:
            await self._hub.publish(TOPIC, {**message, "origin": self._origin})
        except Exception:  # a worklist: the answer to the monitor must not wait on it
            log.warning("HL7: the other workers were not told of an unbound source", exc_info=True)

    def seen(self, identifiers: tuple[Identifier, ...], peer: str, now: datetime) -> None:
        entry = self._by_key.get(identifiers)
        if entry is None:
            self._by_key[identifiers] = UnboundSource(identifiers, peer, now, now)
            while len(self._by_key) > self._limit:
                self._by_key.popitem(last=False)
            return
        entry.last_seen, entry.peer = now, peer
        entry.messages += 1
        self._by_key.move_to_end(identifiers)

    def forget(self, value: str) -> None:
        """A device was bound to ``value``: every source carrying it is no longer unbound."""
        for key in [k for k in self._by_key if any(i.value == value for i in k)]:
            del self._by_key[key]

    def clear(self) -> None:
        """Forget every source (the clinic's devices were replaced behind the server's back)."""
        self._by_key.clear()

    def listing(self) -> list[dict[str, Any]]:
        """Most recently heard first."""
        return [entry.to_json() for entry in reversed(self._by_key.values())]
