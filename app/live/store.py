"""Storing the live alert engine: its events as alert rows, its state per open session, what
it was told about each monitor, and the restore of every open session after a restart."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app import alerts as engine
from app.live.feed import LiveSession, engine_reading
from app.models import EngineSnapshot, MonitorEvent, Observation, Reading, TreatmentSession
from app.models.base import utcnow
from app.services import alerts as alert_store
from app.services import audit
from app.services.sessions import RulesFor


@dataclass(slots=True)
class AckRequest:
    """A clinician's acknowledgement on its way through the engine."""

    alert_id: int
    actor: audit.Actor
    note: str | None
    done: asyncio.Future[dict[str, Any]] = field(repr=False)


# Events of one batch, per session, each with the acknowledgement that caused it (if any).
Outcome = dict[int, list[tuple[engine.AlertEvent, AckRequest | None]]]


async def store_outcome(
    db: AsyncSession, changed: list[LiveSession], events: Outcome
) -> list[dict[str, Any]]:
    """Add the events and each changed session's state to the caller's transaction; returns
    the dashboard messages to publish once it commits."""
    rows: list[tuple[Any, str]] = []
    for live in changed:
        for event, ack in events.get(live.session_id, []):
            acked = ack is not None and event.event == "acknowledged"
            user_id = ack.actor.user_id if acked and ack is not None else None
            row = await alert_store.apply_event(db, live.session_id, live.chair_id, event, user_id)
            if acked and ack is not None:
                detail = {"note": ack.note, "rule": row.rule, "session_id": live.session_id}
                audit.record(db, ack.actor, "alert.acknowledge", "alert", row.id, detail)
            rows.append((row, event.event))
    _add_monitor_events(db, changed)
    await save_states(db, changed)
    names = await alert_store.user_names(
        db, {r.acknowledged_by for r, _ in rows if r.acknowledged_by}
    )
    return [
        {
            "type": "alert",
            "alert": alert_store.alert_payload(row, names.get(row.acknowledged_by or -1), name),
        }
        for row, name in rows
    ]


def _add_monitor_events(db: AsyncSession, changed: list[LiveSession]) -> None:
    """The monitor events each session's engine got since its last save (with that state)."""
    for live in changed:
        for item in live.monitor_inputs:
            db.add(
                MonitorEvent(
                    session_id=live.session_id,
                    at=alert_store.engine_time(item.at),
                    event=item.event,
                    code=item.code,
                    last_reading_id=item.last_reading_id,
                )
            )
        # Dropped with the state if the transaction fails: the runner restores both then.
        live.monitor_inputs.clear()


async def save_states(db: AsyncSession, changed: list[LiveSession]) -> None:
    """Every changed session's state (ended ones deleted): with its set-up where the row lacks
    it (an upsert), else the state alone (an update: the rule set is most of the bytes)."""
    ended = [live.session_id for live in changed if live.state.ended]
    if ended:
        await db.execute(delete(EngineSnapshot).where(EngineSnapshot.session_id.in_(ended)))
    now = utcnow()
    new = [
        {
            "session_id": live.session_id,
            "state": live.to_snapshot(),
            "setup": live.setup_snapshot(),
            "last_reading_id": live.last_reading_id,
            "updated_at": now,
        }
        for live in changed
        if not live.state.ended and not live.setup_stored
    ]
    if new:
        await db.execute(_upsert(db.get_bind().dialect.name), new)
    known = [
        {
            "b_session_id": live.session_id,
            "b_state": live.to_snapshot(),
            "b_last_reading_id": live.last_reading_id,
            "b_updated_at": now,
        }
        for live in changed
        if not live.state.ended and live.setup_stored
    ]
    if known:
        await db.execute(_update_state(), known)


@functools.cache
def _upsert(dialect: str) -> Any:
    """The snapshot upsert, built once per dialect: building it makes an ``excluded`` alias of
    the table each time, a cycle of objects the garbage collector then has to find."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(EngineSnapshot)
    return stmt.on_conflict_do_update(
        index_elements=["session_id"],
        set_={
            "state": stmt.excluded.state,
            "setup": stmt.excluded.setup,
            "last_reading_id": stmt.excluded.last_reading_id,
            "updated_at": stmt.excluded.updated_at,
        },
    )


@functools.cache
def _update_state() -> Any:
    """A stored session's state, its set-up left as stored (built once, as ``_upsert``)."""
    table = cast(Table, EngineSnapshot.__table__)
    return (
        update(table)
        .where(table.c.session_id == bindparam("b_session_id"))
        .values(
            state=bindparam("b_state"),
            last_reading_id=bindparam("b_last_reading_id"),
            updated_at=bindparam("b_updated_at"),
        )
    )


async def restore_sessions(
    db: AsyncSession, rules_for: RulesFor
) -> tuple[dict[int, LiveSession], dict[int, list[engine.AlertEvent]]]:
    """Every open session's engine as stored, then fed the readings stored after it; with the
    events those readings cause (none of them was stored: events and state go together)."""
    sessions = await db.scalars(select(TreatmentSession).where(TreatmentSession.ended_at.is_(None)))
    restored: dict[int, LiveSession] = {}
    replayed: dict[int, list[engine.AlertEvent]] = {}
    for session in sessions:
        live = await _stored_or_new(db, session, rules_for)
        events: list[engine.AlertEvent] = []
        # A dose the stored state does not know yet goes in where it belongs among the
        # readings: the readings measured before it make the pre-dose baseline.
        dose_at = session.dose_at.timestamp() if session.dose_at and not live.dose_known else None
        rows = await db.execute(
            select(Reading.__table__)
            .where(Reading.session_id == session.id, Reading.id > live.last_reading_id)
            .order_by(Reading.id)
        )
        # Observations the stored state has not seen go in among the readings as they arrived.
        unseen = list(
            await db.scalars(
                select(Observation)
                .where(Observation.session_id == session.id)
                .where(Observation.id > live.last_observation_id)
                .order_by(Observation.id)
            )
        )
        for row in rows.mappings():
            while unseen and unseen[0].recorded_at <= row["received_at"]:
                events += live.observation(_observation_input(unseen.pop(0)))
            reading = engine_reading({**row, "ts": row["measured_at"]})
            if dose_at is not None and reading.t > dose_at:
                events += live.dose(dose_at)
                dose_at = None
            events += live.reading(reading)
            live.last_reading_id = row["id"]
        if dose_at is not None:
            events += live.dose(dose_at)
        for observation in unseen:
            events += live.observation(_observation_input(observation))
        restored[session.id] = live
        replayed[session.id] = events
    return restored, replayed


def _observation_input(observation: Observation) -> dict[str, Any]:
    """A stored observation in the form the live feed takes it (its stream payload)."""
    return {
        "id": observation.id,
        "at": observation.at,
        "moaas": observation.moaas,
        "dissociation": observation.dissociation,
        "respiratory": observation.respiratory,
    }


async def _stored_or_new(
    db: AsyncSession, session: TreatmentSession, rules_for: RulesFor
) -> LiveSession:
    readings_clock = session.engine_clock == "readings"
    snapshot = await db.get(EngineSnapshot, session.id)
    if snapshot is not None:
        live = LiveSession.from_snapshot(
            session.id,
            session.chair_id,
            readings_clock,
            snapshot.state,
            snapshot.setup,
            snapshot.last_reading_id,
        )
        # An interval changed after this state was stored (the runner stopped before it saw
        # the change) is the session's now: the set-up follows it, and is stored anew.
        live.change_nibp_cycle(session.nibp_interval_s)
        return live
    setup = engine.SessionSetup(
        protocol=session.protocol,
        started_at=session.started_at.timestamp(),
        dose_at=None,
        rules=rules_for(session.protocol, session.limit_overrides or {}),
        nibp_cycle_s=session.nibp_interval_s,
    )
    return LiveSession(session.id, session.chair_id, engine.new_state(setup), readings_clock)
