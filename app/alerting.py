"""Runs the pure alert engine live: hub messages and a one-second ticker in, alerts out.

One task owns every open session's engine state and applies inputs in arrival order, so the
engine is never stepped concurrently. Each batch of inputs is followed by one transaction that
stores the alert events it caused together with the engine state that produced them; only after
that commit are the events published to the dashboards. A restart restores each open session
from its stored state and replays the readings stored after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import alerts as engine
from app.hub import RESYNC, Hub
from app.models import EngineSnapshot, Reading, TreatmentSession
from app.models.base import utcnow
from app.services import alerts as alert_store
from app.services import audit
from app.services.errors import Conflict, Unavailable
from app.wire import parse_ts

log = logging.getLogger(__name__)
RulesFor = Callable[[str, dict[str, Any]], engine.RuleSet]
SNAPSHOT_EVERY_S = 15.0


@dataclass(slots=True)
class LiveSession:
    session_id: int
    chair_id: int
    state: engine.EngineState
    last_reading_id: int = 0
    dirty: bool = False


@dataclass(slots=True)
class AckRequest:
    alert_id: int
    actor: audit.Actor
    note: str | None
    done: asyncio.Future[dict[str, Any]] = field(repr=False)


def _ts(value: str | datetime | None) -> float | None:
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_ts(value)
    return parsed.timestamp() if parsed else None


class AlertRunner:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        hub: Hub,
        rules_for: RulesFor,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
    ) -> None:
        self._db = sessionmaker
        self._hub = hub
        self._rules_for = rules_for
        self._clock = clock
        self._tick_s = tick_s
        self._live: dict[int, LiveSession] = {}
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="alerts-listen"),
            asyncio.create_task(self._tick(), name="alerts-tick"),
        ]
        await self._subscribed.wait()
        await self._restore()
        self._tasks.append(asyncio.create_task(self._work(), name="alerts-work"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._persist({}, snapshot_all=True)

    async def acknowledge(
        self, alert_id: int, actor: audit.Actor, note: str | None
    ) -> dict[str, Any]:
        """Acknowledge through the engine; returns the alert as the dashboard sees it."""
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        await self._inbox.put(AckRequest(alert_id, actor, note, done))
        return await done

    # -- inputs ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        async with self._hub.subscribe("readings", "sessions", "devices", maxsize=100_000) as sub:
            self._subscribed.set()
            async for message in sub:
                await self._inbox.put(message)
        # Fell behind (never expected): rebuild from the database rather than miss a reading.
        log.error("alert runner fell behind the hub; restoring from the database")
        await self._inbox.put(RESYNC)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            await self._inbox.put(engine.Tick(self._clock()))

    async def _work(self) -> None:
        last_snapshot = self._clock()
        while True:
            batch = [await self._inbox.get()]
            while not self._inbox.empty() and len(batch) < 5000:
                batch.append(self._inbox.get_nowait())
            events: dict[int, list[tuple[engine.AlertEvent, AckRequest | None]]] = {}
            acks: list[AckRequest] = []
            for item in batch:
                if item is RESYNC:
                    self._tasks.append(asyncio.create_task(self._listen()))
                    await self._restore()
                    continue
                try:
                    if isinstance(item, AckRequest):
                        acks.append(item)
                    await self._apply(item, events)
                except Exception as exc:
                    if isinstance(item, AckRequest):
                        item.done.set_exception(exc)
                    else:
                        log.exception("alert engine input failed: %r", item)
            snapshot_all = self._clock() - last_snapshot >= SNAPSHOT_EVERY_S
            if snapshot_all:
                last_snapshot = self._clock()
            try:
                published = await self._persist(events, snapshot_all)
            except Exception:
                # Nothing of this batch was stored. The stored state plus the stored readings
                # reproduce it exactly, so reload from the database rather than lose an alert.
                log.exception("storing alert events failed; restoring from the database")
                for ack in acks:
                    if not ack.done.done():
                        ack.done.set_exception(
                            Unavailable("the acknowledgement was not stored; try again")
                        )
                with contextlib.suppress(Exception):
                    await self._restore()
                continue
            for message in published:
                await self._hub.publish("alerts", message)
            for ack in acks:
                if not ack.done.done():
                    match = [m["alert"] for m in published if m["alert"]["id"] == ack.alert_id]
                    ack.done.set_result(match[-1] if match else {})

    async def _apply(
        self, item: Any, out: dict[int, list[tuple[engine.AlertEvent, AckRequest | None]]]
    ) -> None:
        def feed(live: LiveSession, value: Any, ack: AckRequest | None = None) -> None:
            live.state, new = engine.step(live.state, value)
            live.dirty = True
            out.setdefault(live.session_id, []).extend((e, ack) for e in new)

        if isinstance(item, engine.Tick):
            for live in self._live.values():
                if not live.state.ended:  # ended this batch; dropped once stored
                    feed(live, item)
        elif isinstance(item, AckRequest):
            await self._apply_ack(item, feed)
        elif item.get("type") == "reading":
            target = self._live.get(item.get("session_id") or -1)
            if (
                target is not None
                and not target.state.ended
                and item["id"] > target.last_reading_id
            ):
                target.last_reading_id = item["id"]
                feed(target, _engine_reading(item))
        elif item.get("type") == "session":
            await self._apply_session(item["session"], feed)
        elif item.get("type") in ("connected", "disconnected", "rejected"):
            target = self._for_chair(item["chair_id"])
            if target is not None:
                feed(target, _device_input(item, self._clock()))

    async def _apply_ack(self, ack: AckRequest, feed: Callable[..., None]) -> None:
        async with self._db() as db:
            alert = await alert_store.get_alert(db, ack.alert_id)
        live = self._live.get(alert.session_id)
        if live is None or alert.state == "resolved":
            raise Conflict(f"alert {ack.alert_id} is already resolved")
        try:
            feed(
                live,
                engine.Acknowledge(self._clock(), alert.alert_no, ack.actor.name, ack.note),
                ack,
            )
        except engine.AcknowledgeError as exc:
            raise Conflict(str(exc)) from exc

    async def _apply_session(self, session: dict[str, Any], feed: Callable[..., None]) -> None:
        session_id = session["id"]
        live = self._live.get(session_id)
        if session.get("ended_at"):
            if live is not None and not live.state.ended:
                feed(live, engine.SessionEnded(self._clock()))
            return
        if live is None:
            # The engine watches from now: a session dated back (opened late) must not count
            # the time before it was opened as "no data" or "BP overdue".
            setup = engine.SessionSetup(
                protocol=session["protocol"],
                started_at=max(_ts(session["started_at"]) or 0.0, self._clock()),
                dose_at=None,
                rules=self._rules_for(session["protocol"], session.get("limit_overrides") or {}),
            )
            live = LiveSession(session_id, session["chair_id"], engine.new_state(setup))
            self._live[session_id] = live
            live.last_reading_id = await self._newest_reading_id()
        dose_at = _ts(session.get("dose_at"))
        if dose_at is not None and live.state.dose_at is None and live.state.pending_dose is None:
            feed(live, engine.DoseMarked(dose_at))
        rules = self._rules_for(live.state.setup.protocol, session.get("limit_overrides") or {})
        if rules.to_dict() != live.state.setup.rules.to_dict():
            # New per-patient limits: the same state under the new rule set.
            data = engine.state_to_dict(live.state)
            data["setup"]["rules"] = rules.to_dict()
            live.state = engine.state_from_dict(data)
            live.dirty = True

    def _for_chair(self, chair_id: int) -> LiveSession | None:
        return next(
            (s for s in self._live.values() if s.chair_id == chair_id and not s.state.ended), None
        )

    async def _newest_reading_id(self) -> int:
        async with self._db() as db:
            newest: int | None = await db.scalar(
                select(Reading.id).order_by(Reading.id.desc()).limit(1)
            )
            return newest or 0

    # -- storage ---------------------------------------------------------------------------

    async def _persist(
        self,
        events: dict[int, list[tuple[engine.AlertEvent, AckRequest | None]]],
        snapshot_all: bool,
    ) -> list[dict[str, Any]]:
        """Store events and the states behind them in one transaction; the messages to publish."""
        changed = [
            s for s in self._live.values() if s.session_id in events or (snapshot_all and s.dirty)
        ]
        if not changed and not events:
            return []
        rows: list[tuple[Any, str, AckRequest | None]] = []
        async with self._db() as db:
            for live in changed:
                for event, ack in events.get(live.session_id, []):
                    user_id = ack.actor.user_id if ack and event.event == "acknowledged" else None
                    row = await alert_store.apply_event(
                        db, live.session_id, live.chair_id, event, user_id
                    )
                    if ack is not None and event.event == "acknowledged":
                        audit.record(
                            db,
                            ack.actor,
                            "alert.acknowledge",
                            "alert",
                            row.id,
                            {"note": ack.note, "rule": row.rule, "session_id": live.session_id},
                        )
                    rows.append((row, event.event, ack))
                await self._save_state(db, live)
            names = await alert_store.user_names(
                db, {r.acknowledged_by for r, _, _ in rows if r.acknowledged_by}
            )
            await db.commit()
        for live in changed:
            live.dirty = False
            if live.state.ended:
                self._live.pop(live.session_id, None)
        return [
            {
                "type": "alert",
                "alert": alert_store.alert_payload(row, names.get(row.acknowledged_by or -1), name),
            }
            for row, name, _ in rows
        ]

    @staticmethod
    async def _save_state(db: AsyncSession, live: LiveSession) -> None:
        if live.state.ended:
            await db.execute(
                delete(EngineSnapshot).where(EngineSnapshot.session_id == live.session_id)
            )
            return
        snapshot = await db.get(EngineSnapshot, live.session_id)
        data = engine.state_to_dict(live.state)
        if snapshot is None:
            db.add(
                EngineSnapshot(
                    session_id=live.session_id,
                    state=data,
                    last_reading_id=live.last_reading_id,
                    updated_at=utcnow(),
                )
            )
        else:
            snapshot.state = data
            snapshot.last_reading_id = live.last_reading_id
            snapshot.updated_at = utcnow()

    async def _restore(self) -> None:
        """Every open session's engine from its stored state, then the readings since."""
        restored: dict[int, LiveSession] = {}
        async with self._db() as db:
            sessions = list(
                await db.scalars(
                    select(TreatmentSession).where(TreatmentSession.ended_at.is_(None))
                )
            )
            events: dict[int, list[tuple[engine.AlertEvent, AckRequest | None]]] = {}
            for session in sessions:
                live, replayed = await self._restore_one(db, session)
                restored[session.id] = live
                events[session.id] = [(e, None) for e in replayed]
        self._live = restored
        now = engine.Tick(self._clock())
        for live in self._live.values():
            live.state, new = engine.step(live.state, now)
            events.setdefault(live.session_id, []).extend((e, None) for e in new)
        for message in await self._persist(events, snapshot_all=True):
            await self._hub.publish("alerts", message)
        log.info("alert engine restored %d open sessions", len(self._live))

    async def _restore_one(
        self, db: AsyncSession, session: TreatmentSession
    ) -> tuple[LiveSession, list[engine.AlertEvent]]:
        """A session's engine as it was, plus the events of readings it had not yet seen
        (none of those were stored: events and state are stored together)."""
        overrides = session.limit_overrides or {}
        snapshot = await db.get(EngineSnapshot, session.id)
        if snapshot is not None:
            state = engine.state_from_dict(snapshot.state)
            live = LiveSession(session.id, session.chair_id, state, snapshot.last_reading_id)
        else:
            setup = engine.SessionSetup(
                protocol=session.protocol,
                started_at=session.started_at.timestamp(),
                dose_at=session.dose_at.timestamp() if session.dose_at else None,
                rules=self._rules_for(session.protocol, overrides),
            )
            live = LiveSession(session.id, session.chair_id, engine.new_state(setup))
        events: list[engine.AlertEvent] = []
        if session.dose_at and live.state.dose_at is None and live.state.pending_dose is None:
            live.state, new = engine.step(
                live.state, engine.DoseMarked(session.dose_at.timestamp())
            )
            events += new
        replay = await db.execute(
            select(Reading.__table__)
            .where(Reading.session_id == session.id, Reading.id > live.last_reading_id)
            .order_by(Reading.id)
        )
        for row in replay.mappings():
            message = {**row, "ts": row["measured_at"]}
            live.state, new = engine.step(live.state, _engine_reading(message))
            events += new
            live.last_reading_id = row["id"]
            live.dirty = True
        return live, events


def _device_input(message: dict[str, Any], now: float) -> engine.Input:
    if message["type"] == "connected":
        return engine.DeviceConnected(now)
    if message["type"] == "disconnected":
        return engine.DeviceDisconnected(now)
    return engine.ReadingRejected(now, str(message.get("code", "")))


def _engine_reading(message: dict[str, Any]) -> engine.Reading:
    t = _ts(message["ts"])
    assert t is not None
    return engine.Reading(
        t=t,
        sbp=message.get("sbp"),
        dbp=message.get("dbp"),
        map=message.get("map"),
        hr=message.get("hr"),
        spo2=message.get("spo2"),
    )
