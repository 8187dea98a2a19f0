"""HL7 sources that sent messages no device is bound to, for the admin to bind with one action.

Kept in memory (per server process): it is a worklist, not a record; a source that keeps
sending comes back within one reporting cycle after a restart. Bounded, so a scanner sending
junk with ever new identifiers cannot grow it without end.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.interop.pcd01 import Identifier

MAX_UNBOUND = 200


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
    def __init__(self, limit: int = MAX_UNBOUND) -> None:
        self._limit = limit
        self._by_key: OrderedDict[tuple[Identifier, ...], UnboundSource] = OrderedDict()

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

    def listing(self) -> list[dict[str, Any]]:
        """Most recently heard first."""
        return [entry.to_json() for entry in reversed(self._by_key.values())]
