"""The Alert Reporter: every alert event, in order, to the hospital's Alert Manager (IHE PCD-04
over MLLP), with a watchdog, and what the Alert Manager reports back stored with the alert.

It listens to the hub's ``alerts`` topic (what the engine publishes after each commit), the
way a dashboard does, so the engine never waits for it: events go into a bounded in-memory
queue and leave it only when the Alert Manager has confirmed them (``CA``). An Alert Manager
that refuses the connection or does not confirm within the confirm timeout makes forwarding
"unavailable": every screen is told (a ``forwarding`` message on the hub), the connection is
dropped and opened again with back-off, and the queued events are sent, oldest first, once it
confirms again. When the queue is full the oldest event is dropped, and the screens say so.

With several workers each runs a reporter, but only the one running the alert engine (the
lease holder) connects; the others keep the leader's ``forwarding`` state for their screens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.hub import Hub
from app.interop import pcd04
from app.models import Alert, AlertEvent, Chair, Device, TreatmentSession
from app.models.base import utcnow
from app.services import alerts as alert_store
from app.settings import Settings, alert_manager_address

log = logging.getLogger(__name__)
START, END = b"\x0b", b"\x1c\x0d"
MAX_MESSAGE_BYTES = 1 << 20  # an answer larger than this is not an Alert Manager's
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 15.0
HUB_QUEUE = 10_000


@dataclass
class Pending:
    """One alert event waiting for the Alert Manager; its MSH-10 stays the same on every
    attempt, so an Alert Manager that got it before a lost confirmation can tell."""

    alert: dict[str, Any]
    event: str
    control_id: str


class Unconfirmed(Exception):
    """The Alert Manager did not confirm a message (silence, a refusal, a closed link)."""


class AlertReporter:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        hub: Hub,
        leading: Callable[[], bool],
    ) -> None:
        assert settings.alert_manager
        self._address = settings.alert_manager
        self._host, self._port = alert_manager_address(settings.alert_manager)
        self._watchdog_s = settings.alert_manager_watchdog_s
        self._confirm_s = settings.alert_manager_confirm_s
        self._clinic = settings.clinic_name
        self._db = sessionmaker
        self._hub = hub
        self._leading = leading
        self._queue: deque[Pending] = deque()
        self._queue_max = settings.alert_manager_queue
        self._dropped = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._notices: set[asyncio.Task[None]] = set()
        self._status: dict[str, Any] = {
            "state": "connecting",
            "detail": f"connecting to the Alert Manager at {self._address}",
            "since": _iso_now(),
        }
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: dict[str, asyncio.Future[pcd04.Ack]] = {}
        self._where: dict[int, pcd04.Where] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="pcd04-listen"),
            asyncio.create_task(self._run(), name="pcd04-send"),
        ]
        await self._subscribed.wait()

    async def stop(self) -> None:
        """Say goodbye (the reference's last watchdog, alarm state inactive), then stop."""
        writer = self._writer
        if writer is not None and self._status["state"] == "ok":
            with contextlib.suppress(Exception):
                now = utcnow()
                text = pcd04.watchdog_message(
                    pcd04.new_control_id(), now, self._confirm_s, self._clinic, active=False
                )
                writer.write(_frame(text))
                await asyncio.wait_for(writer.drain(), 1.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        """Forwarding as the screens show it: ``{"state": "ok" | "unavailable" | "connecting",
        "detail": text, "since": ISO time of the change}``."""
        return dict(self._status)

    # -- events in ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            async with self._hub.subscribe("alerts", maxsize=HUB_QUEUE) as sub:
                self._subscribed.set()
                async for message in sub:
                    self._take(message)
            # Fell behind the hub (thousands of events at once): say what was lost, go on.
            log.error("alert reporter fell behind the hub; some alert events were not forwarded")
            self._dropped += 1
            await self._set("unavailable", "alert events came faster than they could be queued")

    def _take(self, message: dict[str, Any]) -> None:
        if message.get("type") == "forwarding":
            if not self._leading():
                self._status = {k: v for k, v in message.items() if k != "type"}
            return
        alert = message.get("alert")
        if message.get("type") != "alert" or message.get("forwarded") or alert is None:
            return
        event = alert.get("event")
        if event not in pcd04.PHASES or not self._leading():
            return
        if len(self._queue) >= self._queue_max:
            self._queue.popleft()
            self._dropped += 1
            reason = f"the Alert Manager at {self._address} does not take them in time"
            task = asyncio.create_task(self._set("unavailable", reason))
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)
        self._queue.append(Pending(alert, event, pcd04.new_control_id()))
        self._wake.set()

    # -- the connection ----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while True:
            if not self._leading():
                await asyncio.sleep(1.0)
                continue
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self._host, self._port, limit=MAX_MESSAGE_BYTES),
                    self._confirm_s,
                )
            except (OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                await self._set(
                    "unavailable", f"cannot reach the Alert Manager at {self._address}: {reason}"
                )
            else:
                self._writer = writer
                answers = asyncio.create_task(self._answers(reader, writer), name="pcd04-read")
                try:
                    await self._serve(writer)
                except (Unconfirmed, OSError) as exc:
                    await self._set("unavailable", str(exc))
                except Exception:
                    log.exception("alert reporter failed; reconnecting")
                    await self._set("unavailable", "alarm forwarding failed; reconnecting")
                finally:
                    self._writer = None
                    answers.cancel()
                    await asyncio.gather(answers, return_exceptions=True)
                    writer.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(writer.wait_closed(), 1.0)
                    self._fail_waiting("the connection to the Alert Manager closed")
                if self._status["state"] == "ok":
                    backoff = BACKOFF_FIRST_S
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _serve(self, writer: asyncio.StreamWriter) -> None:
        """Watchdog first (it proves the Alert Manager answers), then the queue in order;
        another watchdog whenever ``watchdog_s`` pass without a confirmed message."""
        await self._watchdog(writer)
        confirmed_at = time.monotonic()
        while self._leading():
            if self._queue:
                head = self._queue[0]
                text = pcd04.alert_message(
                    head.alert,
                    head.event,
                    await self._where_of(head.alert),
                    head.control_id,
                    utcnow(),
                )
                ack = await self._exchange(writer, text, head.control_id)
                if self._queue and self._queue[0] is head:
                    self._queue.popleft()
                if ack.accepted:
                    await self._set(
                        "ok", f"alarms are forwarded to the Alert Manager at {self._address}"
                    )
                else:
                    log.error("the Alert Manager refused alert event %s: %s", head, ack.text)
                confirmed_at = time.monotonic()
                continue
            self._wake.clear()
            idle = self._watchdog_s - (time.monotonic() - confirmed_at)
            if idle <= 0:
                await self._watchdog(writer)
                confirmed_at = time.monotonic()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), idle)

    async def _watchdog(self, writer: asyncio.StreamWriter) -> None:
        control_id = pcd04.new_control_id()
        text = pcd04.watchdog_message(control_id, utcnow(), self._confirm_s, self._clinic)
        ack = await self._exchange(writer, text, control_id)
        if not ack.accepted:
            raise Unconfirmed(
                f"the Alert Manager at {self._address} refused the watchdog ({ack.code}: "
                f"{ack.text or 'no reason given'})"
            )
        await self._set("ok", f"alarms are forwarded to the Alert Manager at {self._address}")

    async def _exchange(
        self, writer: asyncio.StreamWriter, text: str, control_id: str
    ) -> pcd04.Ack:
        waiting: asyncio.Future[pcd04.Ack] = asyncio.get_running_loop().create_future()
        self._waiting[control_id] = waiting
        try:
            writer.write(_frame(text))
            await asyncio.wait_for(writer.drain(), self._confirm_s)
            return await asyncio.wait_for(waiting, self._confirm_s)
        except TimeoutError:
            raise Unconfirmed(
                f"the Alert Manager at {self._address} did not confirm within {self._confirm_s:g} s"
            ) from None
        finally:
            self._waiting.pop(control_id, None)

    def _fail_waiting(self, reason: str) -> None:
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(Unconfirmed(reason))

    async def _answers(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """What the Alert Manager sends: confirmations, and delivery statuses (answered AA)."""
        try:
            while True:
                text = await _read_frame(reader)
                try:
                    answer = pcd04.parse_answer(text)
                except pcd04.MessageError as exc:
                    log.warning("unexpected message from the Alert Manager: %s", exc)
                    continue
                if isinstance(answer, pcd04.Ack):
                    waiting = self._waiting.get(answer.control_id)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(answer)
                    continue
                try:
                    await self._store_status(answer)
                except Exception:
                    # Not acknowledged: the Alert Manager may send it again.
                    log.exception("storing the Alert Manager's delivery status failed")
                    continue
                writer.write(_frame(pcd04.ack_for(text, utcnow())))
        except (OSError, EOFError, asyncio.IncompleteReadError, pcd04.MessageError) as exc:
            self._fail_waiting(f"the Alert Manager at {self._address} closed the link ({exc})")

    # -- the database ------------------------------------------------------------------------

    async def _where_of(self, alert: dict[str, Any]) -> pcd04.Where:
        """The chair, its monitor and the patient label of the alert's session (cached)."""
        session_id = alert["session_id"]
        known = self._where.get(session_id)
        if known is not None:
            return known
        async with self._db() as db:
            chair = await db.get(Chair, alert["chair_id"])
            session = await db.get(TreatmentSession, session_id)
            device = await db.scalar(
                select(Device)
                .where(Device.chair_id == alert["chair_id"], Device.revoked_at.is_(None))
                .order_by(Device.id.desc())
                .limit(1)
            )
        where = pcd04.Where(
            chair=chair.name if chair else f"Chair {alert['chair_id']}",
            patient_label=session.patient_label if session else None,
            equipment=_equipment_id(device),
            clinic=self._clinic,
        )
        if len(self._where) > 1000:
            self._where.clear()
        self._where[session_id] = where
        return where

    async def _store_status(self, status: pcd04.DeliveryStatus) -> None:
        """Keep the Alert Manager's word with the alert and show it on the alert's card."""
        ids = pcd04.parse_filler(status.filler)
        if ids is None:
            log.warning("delivery status for an alarm Chairside did not send: %s", status.filler)
            return
        async with self._db() as db:
            alert = await db.scalar(
                select(Alert).where(Alert.session_id == ids[0], Alert.alert_no == ids[1])
            )
            if alert is None:
                log.warning("delivery status for an unknown alert: %s", status.filler)
                return
            alert.forward_status = status.status[:64]
            alert.forward_status_at = utcnow()
            last = await db.scalar(
                select(AlertEvent.event)
                .where(AlertEvent.alert_id == alert.id)
                .order_by(AlertEvent.id.desc())
                .limit(1)
            )
            names = await alert_store.user_names(
                db, {alert.acknowledged_by} if alert.acknowledged_by else set()
            )
            await db.commit()
            payload = alert_store.alert_payload(alert, names.get(alert.acknowledged_by or -1), last)
        # ``forwarded``: this reporter's own news, not an engine event to forward again.
        await self._hub.publish("alerts", {"type": "alert", "alert": payload, "forwarded": True})

    async def _set(self, state: str, detail: str) -> None:
        """Tell every screen when forwarding changes; an outage names the events it lost (the
        count starts again once the Alert Manager confirms)."""
        if state == "ok":
            self._dropped = 0
        elif self._dropped:
            detail = f"{detail}; {self._dropped} alert event(s) dropped, not forwarded"
        if self._status.get("state") == state and self._status.get("detail") == detail:
            return
        if state == "unavailable" and self._status.get("state") != "unavailable":
            log.warning("alarm forwarding unavailable: %s", detail)
        self._status = {"state": state, "detail": detail, "since": _iso_now()}
        with contextlib.suppress(Exception):
            await self._hub.publish("alerts", {"type": "forwarding", **self._status})


def _equipment_id(device: Device | None) -> str | None:
    """The monitor as the Alert Manager knows it: its HL7 source where it has one."""
    if device is None:
        return None
    return device.hl7_source or f"device-{device.id}"


def _frame(text: str) -> bytes:
    return START + text.encode() + END


async def _read_frame(reader: asyncio.StreamReader) -> str:
    try:
        block = await reader.readuntil(END)
    except asyncio.LimitOverrunError:
        raise pcd04.MessageError("a message from the Alert Manager is too large") from None
    start = block.find(START)
    if start < 0:
        raise pcd04.MessageError("a block from the Alert Manager lacks the MLLP start byte")
    return block[start + 1 : -len(END)].decode(errors="replace")


def _iso_now() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")
