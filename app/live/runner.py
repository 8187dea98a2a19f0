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
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import alerts as engine
from app.hub import RESYNC, Hub
from app.live import store as engine_store
from app.live.feed import LiveSession, engine_reading, epoch
from app.live.lease import RedisLease
from app.live.store import AckRequest, Outcome
from app.models import Reading
from app.services import alerts as alert_store
from app.services import audit
from app.services.errors import Conflict, NotFound, ServiceError, Unavailable

log = logging.getLogger(__name__)
ACK_REQUESTS, ACK_RESULTS = "alert-acks", "alert-ack-results"
REMOTE_ACK_TIMEOUT_S = 10.0
LEAD, FOLLOW = object(), object()
RulesFor = Callable[[str, dict[str, Any]], engine.RuleSet]
SNAPSHOT_EVERY_S = 15.0
# Periodic snapshots are spread over batches so that many sessions never stall the loop at once.
SNAPSHOT_MIN_RATE = 10.0  # per second, however few sessions are open


class AlertRunner:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        hub: Hub,
        rules_for: RulesFor,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
        lease: RedisLease | None = None,
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
        # Without a lease this process is the only one: it always runs the engine.
        self._lease = lease
        self.leading = lease is None
        self._remote_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._allowance, self._allowance_at = 0.0, clock()
        self._save_order: deque[tuple[float, int]] = deque()
        # Sessions whose set-up (rules) the database does not hold yet, or with a monitor event
        # to store: stored with the next batch, so a restart never brings back limits a
        # clinician has changed, and an export holds every monitor event the engine got.
        self._setup_due: set[int] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="alerts-listen"),
            asyncio.create_task(self._tick(), name="alerts-tick"),
        ]
        await self._subscribed.wait()
        if self.leading:
            await self._restore()
        else:
            self._tasks.append(asyncio.create_task(self._campaign(), name="alerts-lease"))
        self._tasks.append(asyncio.create_task(self._work(), name="alerts-work"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.leading:
            with contextlib.suppress(Exception):
                await self._persist({}, snapshot_all=True)
        if self._lease is not None:
            with contextlib.suppress(Exception):
                await self._lease.release()

    async def reload(self) -> None:
        """Forget what is in memory and restore every open session from the database (after
        the database was changed behind the runner's back, e.g. restored from a backup)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._inbox.put(done)
        await done

    async def acknowledge(
        self, alert_id: int, actor: audit.Actor, note: str | None
    ) -> dict[str, Any]:
        """Acknowledge through the engine (this worker's, or the leading worker's through the
        hub); returns the alert as the dashboard sees it."""
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self.leading:
            await self._inbox.put(AckRequest(alert_id, actor, note, done))
            return await done
        request_id = secrets.token_hex(8)
        self._remote_acks[request_id] = done
        try:
            await self._hub.publish(
                ACK_REQUESTS,
                {
                    "type": "ack-request",
                    "request_id": request_id,
                    "alert_id": alert_id,
                    "actor": {"name": actor.name, "user_id": actor.user_id, "role": actor.role},
                    "note": note,
                },
            )
            async with asyncio.timeout(REMOTE_ACK_TIMEOUT_S):
                return await done
        except TimeoutError:
            raise Unavailable("no worker running the alert engine answered; try again") from None
        finally:
            self._remote_acks.pop(request_id, None)

    # -- leadership (several workers) ------------------------------------------------------

    async def _campaign(self) -> None:
        """Hold the lease while alive; take over (restoring from the database) when it is free."""
        assert self._lease is not None
        while True:
            try:
                held = await (self._lease.renew() if self.leading else self._lease.acquire())
            except Exception:
                log.exception("alert engine lease check failed")
                held = False
            if held != self.leading:
                log.info("this worker %s the alert engine", "runs" if held else "no longer runs")
                await self._inbox.put(LEAD if held else FOLLOW)
                self.leading = held
            await asyncio.sleep(self._lease.renew_every_s)

    # -- inputs ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        topics = ("readings", "sessions", "devices", "observations", ACK_REQUESTS, ACK_RESULTS)
        async with self._hub.subscribe(*topics, maxsize=100_000) as sub:
            self._subscribed.set()
            async for message in sub:
                if message.get("type") == "ack-result":
                    waiting = self._remote_acks.get(message["request_id"])
                    if waiting is not None and not waiting.done():
                        _settle(waiting, message)
                    continue
                await self._inbox.put(message)
        # Fell behind (never expected): rebuild from the database rather than miss a reading.
        log.error("alert runner fell behind the hub; restoring from the database")
        await self._inbox.put(RESYNC)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            await self._inbox.put(engine.Tick(self._clock()))

    async def _work(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            while not self._inbox.empty() and len(batch) < 5000:
                batch.append(self._inbox.get_nowait())
            events: Outcome = {}
            acks: list[AckRequest] = []
            for item in batch:
                if item is RESYNC:
                    self._tasks.append(asyncio.create_task(self._listen()))
                    await self._restore()
                    continue
                if isinstance(item, asyncio.Future):  # reload(): what came before is moot
                    events.clear()
                    if self.leading:
                        await self._restore()
                    item.set_result(None)
                    continue
                if item is LEAD:
                    await self._restore()
                    continue
                if item is FOLLOW:
                    self._live = {}
                    continue
                if not self.leading:
                    continue  # another worker runs the engine
                if isinstance(item, dict) and item.get("type") == "ack-request":
                    item = self._remote_request(item)
                try:
                    if isinstance(item, AckRequest):
                        acks.append(item)
                    await self._apply(item, events)
                except Exception as exc:
                    if isinstance(item, AckRequest):
                        item.done.set_exception(exc)
                    else:
                        log.exception("alert engine input failed: %r", item)
            try:
                # Alerts first: the periodic saves of other sessions wait until they are out.
                published = await self._persist(events, periodic=not events)
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
            if events:
                try:
                    await self._persist({})
                except Exception:
                    log.exception("storing engine state failed; restoring from the database")
                    with contextlib.suppress(Exception):
                        await self._restore()

    async def _apply(self, item: Any, out: Outcome) -> None:
        def record(live: LiveSession, events: list[engine.AlertEvent]) -> None:
            # State changed without events is stored by the periodic snapshot.
            if events:
                out.setdefault(live.session_id, []).extend((e, None) for e in events)

        if isinstance(item, engine.Tick):
            for live in self._live.values():
                record(live, live.tick(item.t))
        elif isinstance(item, AckRequest):
            await self._apply_ack(item, out)
        elif item.get("type") == "readings":
            for one in item["readings"]:
                target = self._live.get(one.get("session_id") or -1)
                fresh = target is not None and one["id"] > target.last_reading_id
                if target is not None and fresh and not target.state.ended:
                    target.last_reading_id = one["id"]
                    record(target, target.reading(engine_reading(one)))
        elif item.get("type") == "session":
            await self._apply_session(item["session"], record)
        elif item.get("type") == "observation":
            seen = item["observation"]
            target = self._live.get(seen["session_id"])
            fresh = target is not None and seen["id"] > target.last_observation_id
            if target is not None and fresh and not target.state.ended:
                record(target, target.observation(seen))
                # Stored with this batch, whatever it raised: a restart then knows of it.
                self._setup_due.add(target.session_id)
        elif item.get("type") in ("connected", "disconnected", "rejected"):
            target = self._for_chair(item["chair_id"])
            if target is not None:
                record(target, target.device(item, self._clock()))
                # Stored with this batch (with the state that saw it), whatever it raised.
                self._setup_due.add(target.session_id)

    def _remote_request(self, message: dict[str, Any]) -> AckRequest:
        """An acknowledgement forwarded by another worker; its outcome goes back by the hub."""
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        request_id = message["request_id"]

        def reply(result: asyncio.Future[dict[str, Any]]) -> None:
            answer: dict[str, Any] = {"type": "ack-result", "request_id": request_id}
            error = result.exception()
            if error is None:
                answer |= {"ok": True, "alert": result.result()}
            else:
                status = error.status_code if isinstance(error, ServiceError) else 503
                answer |= {"ok": False, "status": status, "detail": str(error)}
            task = asyncio.create_task(self._hub.publish(ACK_RESULTS, answer))
            self._tasks.append(task)

        done.add_done_callback(reply)
        actor = audit.Actor(**message["actor"])
        return AckRequest(message["alert_id"], actor, message.get("note"), done)

    async def _apply_ack(self, ack: AckRequest, out: Outcome) -> None:
        async with self._db() as db:
            alert = await alert_store.get_alert(db, ack.alert_id)
        live = self._live.get(alert.session_id)
        if live is None or live.state.ended or alert.state == "resolved":
            raise Conflict(f"alert {ack.alert_id} is already resolved")
        # On the readings' clock the acknowledgement happens at the replay's present.
        now = live.last_t if live.readings_clock and live.last_t else self._clock()
        try:
            events = live.step(engine.Acknowledge(now, alert.alert_no, ack.actor.name, ack.note))
        except engine.AcknowledgeError as exc:
            raise Conflict(str(exc)) from exc
        out.setdefault(live.session_id, []).extend((e, ack) for e in events)

    async def _apply_session(
        self,
        session: dict[str, Any],
        record: Callable[[LiveSession, list[engine.AlertEvent]], None],
    ) -> None:
        session_id = session["id"]
        live = self._live.get(session_id)
        if session.get("ended_at"):
            if live is not None and not live.state.ended:
                end = live.last_t if live.readings_clock and live.last_t else self._clock()
                record(live, live.step(engine.SessionEnded(end)))
            return
        readings_clock = session.get("engine_clock") == "readings"
        if live is None:
            started = epoch(session["started_at"]) or self._clock()
            setup = engine.SessionSetup(
                protocol=session["protocol"],
                # On the wall clock the engine watches from now: a session dated back (opened
                # late) must not count the time before it was opened as "no data".
                started_at=started if readings_clock else max(started, self._clock()),
                dose_at=None,
                rules=self._rules_for(session["protocol"], session.get("limit_overrides") or {}),
                nibp_cycle_s=session.get("nibp_interval_s"),
            )
            live = LiveSession(
                session_id, session["chair_id"], engine.new_state(setup), readings_clock
            )
            live.last_reading_id = await self._newest_reading_id()
            live.saved_at = self._clock()  # stored with this batch (its set-up is new)
            self._live[session_id] = live
            self._save_order.append((live.saved_at, session_id))
            self._setup_due.add(session_id)
        dose_at = epoch(session.get("dose_at"))
        if dose_at is not None and not live.dose_known:
            record(live, live.dose(dose_at))
        rules = self._rules_for(live.state.setup.protocol, session.get("limit_overrides") or {})
        if rules.to_dict() != live.state.setup.rules.to_dict():
            live.change_rules(rules)
            self._setup_due.add(live.session_id)
        if live.change_nibp_cycle(session.get("nibp_interval_s")):
            self._setup_due.add(live.session_id)

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
        self, events: Outcome, snapshot_all: bool = False, periodic: bool = True
    ) -> list[dict[str, Any]]:
        """Store events and the states behind them in one transaction; the messages to publish.
        A session whose state changed without events is stored every SNAPSHOT_EVERY_S (bounding
        what a restart replays; ``periodic``), or at once with ``snapshot_all``; one whose
        set-up the database lacks (new, or new limits) at once."""
        now = self._clock()
        changed = [self._live[sid] for sid in events if sid in self._live]
        if snapshot_all:
            changed += [
                s
                for s in self._live.values()
                if (s.dirty or not s.setup_stored) and s.session_id not in events
            ]
        elif periodic:
            changed += self._due_snapshots(now, events)
        if self._setup_due:
            have = {live.session_id for live in changed}
            changed += [self._live[s] for s in self._setup_due if s in self._live and s not in have]
        if not changed:
            return []
        async with self._db() as db:
            messages = await engine_store.store_outcome(db, changed, events)
            await db.commit()
        self._setup_due.clear()
        for live in changed:
            live.dirty = False
            live.setup_stored = True
            live.saved_at = now
            if live.state.ended:
                self._live.pop(live.session_id, None)
            else:
                self._save_order.append((now, live.session_id))
        return messages

    def _due_snapshots(self, now: float, events: Outcome) -> list[LiveSession]:
        """Sessions whose last save is SNAPSHOT_EVERY_S old, oldest first, as many as the
        steady rate allows. ``_save_order`` lists (saved_at, session) in the order of saving,
        so this looks at the due ones only, not at every open session."""
        order = self._save_order
        due: list[LiveSession] = []
        allowance = self._snapshot_allowance(now)
        while order and len(due) < allowance and now - order[0][0] >= SNAPSHOT_EVERY_S:
            saved_at, session_id = order.popleft()
            live = self._live.get(session_id)
            if live is None or live.saved_at != saved_at or session_id in events:
                continue  # ended, or saved again since (a later entry stands for it)
            if live.dirty:
                due.append(live)
            else:  # nothing changed: look again in another period
                live.saved_at = now
                order.append((now, session_id))
        self._allowance -= len(due)
        return due

    def _snapshot_allowance(self, now: float) -> int:
        """How many periodic snapshots this batch may write: a steady rate (every session once
        per SNAPSHOT_EVERY_S) rather than bursts that would stall the loop."""
        rate = max(SNAPSHOT_MIN_RATE, len(self._live) / SNAPSHOT_EVERY_S)
        elapsed = now - self._allowance_at
        self._allowance_at = now
        self._allowance = min(rate, self._allowance + elapsed * rate)
        return int(self._allowance)

    async def _restore(self) -> None:
        """Every open session's engine from its stored state, then the readings since."""
        async with self._db() as db:
            restored, replayed = await engine_store.restore_sessions(db, self._rules_for)
        self._live = restored
        events: Outcome = {sid: [(e, None) for e in new] for sid, new in replayed.items() if new}
        for live in self._live.values():
            new = live.tick(self._clock())
            if new:
                events.setdefault(live.session_id, []).extend((e, None) for e in new)
        published = await self._persist(events, snapshot_all=True)
        now = self._clock()
        self._save_order.clear()  # every state is stored now: each due again in a period
        for live in self._live.values():
            live.saved_at = now
            self._save_order.append((now, live.session_id))
        for message in published:
            await self._hub.publish("alerts", message)
        log.info("alert engine restored %d open sessions", len(self._live))


def _settle(waiting: asyncio.Future[dict[str, Any]], result: dict[str, Any]) -> None:
    """Complete a forwarded acknowledgement with the leading worker's answer."""
    if result.get("ok"):
        waiting.set_result(result["alert"])
        return
    kinds: dict[int, type[ServiceError]] = {404: NotFound, 409: Conflict}
    waiting.set_exception(kinds.get(result.get("status", 503), Unavailable)(result["detail"]))
