"""The discharge checklist: what a session's data says about each discharge criterion, and the
clinician's signature that ends the session.

Chairside pre-fills; the clinician decides. Each item is ``ok`` true (the data shows it met),
false (the data shows it not met) or null (the data cannot tell). Signing takes every item: one
Chairside did not find met must be named in ``confirm``, so a clinician never signs past it
without having looked at it. The signature is kept with the checklist as it was at that moment.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import RuleError, RuleSet
from app.alerts.messages import bp, duration, number
from app.models import Discharge, Reading, TreatmentSession
from app.models.base import utcnow
from app.models.observation import MOAAS_WORDS
from app.services import alerts, audit, sessions
from app.services.errors import Conflict, InvalidInput
from app.services.observations import list_observations
from app.services.readings import iso

# The items in the order a clinician reads them; the labels as the dialog and the record show
# them. The REMS asks for sedation, dissociation and respiratory depression to have resolved,
# hence three observation items.
LABELS = {
    "monitoring_time": "Monitoring time after the dose reached",
    "bp_trending_down": "BP trending down",
    "bp_below_limit": "BP below the discharge limit",
    "sedation_resolved": "Sedation resolved (MOAA/S 5)",
    "dissociation_resolved": "Dissociation resolved",
    "respiratory_resolved": "Breathing normal",
    "no_open_alert": "No open alert",
}
ITEM_IDS = tuple(LABELS)
# How many BP readings before the last one the trend compares it with.
TREND_WINDOW = 3
# The discharge BP limit is the clinic's medium-alert limit: a patient whose BP would raise
# sbp_high or dbp_high (160/100 in the default rule sets) is not below it.
LIMIT_RULES = ("sbp_high", "dbp_high")


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    ok: bool | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": LABELS[self.id], "ok": self.ok, "detail": self.detail}


async def checklist(
    db: AsyncSession, session_id: int, rules: RuleSet, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every item as the session's data shows it now, or at its end once it has ended
    (NotFound: no such session)."""
    session = await sessions.get_session(db, session_id)
    now = now or session.ended_at or utcnow()
    bp_readings = await _bp_readings(db, session_id)
    observations = await list_observations(db, session_id)
    open_alerts = await alerts.list_alerts(db, active=True, session_id=session_id, limit=1000)

    def last(finding: str) -> Any:
        values = [getattr(o, finding) for o in observations if getattr(o, finding) is not None]
        return values[-1] if values else None

    items = [
        _monitoring_time(session, rules, now),
        _bp_trend(bp_readings),
        _bp_limit(bp_readings, rules),
        _sedation(last("moaas")),
        _finding("dissociation", last("dissociation"), "none"),
        _finding("respiratory", last("respiratory"), "normal"),
        _no_open_alert(open_alerts),
    ]
    return [item.to_dict() for item in items]


async def _bp_readings(db: AsyncSession, session_id: int) -> list[Reading]:
    """The session's last few NIBP readings, oldest first."""
    query = (
        select(Reading)
        .where(Reading.session_id == session_id, Reading.sbp.is_not(None))
        .order_by(Reading.measured_at.desc(), Reading.id.desc())
        .limit(TREND_WINDOW + 1)
    )
    return list(reversed((await db.scalars(query)).all()))


def _monitoring_time(session: TreatmentSession, rules: RuleSet, now: datetime) -> Item:
    """At least the discharge review's time after the dose: 2 h (Spravato REMS), 40 min
    infusion + 60 min (IV ketamine), as the rule set's discharge_review sets it."""
    try:
        needed = rules.get("discharge_review").threshold
    except RuleError:
        needed = None
    if needed is None:
        return Item("monitoring_time", None, "the rule set sets no discharge review time")
    if session.dose_at is None:
        return Item(
            "monitoring_time",
            None,
            f"no dose marked: {duration(needed)} after it cannot be counted",
        )
    since = max(0.0, (now - session.dose_at).total_seconds())
    minutes = int(since // 60)
    detail = f"{minutes} min since the dose; at least {duration(needed)} ({session.protocol})"
    return Item("monitoring_time", since >= needed, detail)


def _bp_trend(readings: list[Reading]) -> Item:
    """Falling or flat: the last SBP is not above the median of the (up to) three before it."""
    values = [float(r.sbp) for r in readings if r.sbp is not None]
    if len(values) < 2:
        return Item("bp_trending_down", None, "a trend needs at least two BP readings")
    previous, latest = values[:-1], values[-1]
    median = statistics.median(previous)
    shown = " → ".join(number(v) for v in values)
    relation = "not above" if latest <= median else "above"
    detail = (
        f"SBP {shown} mmHg: the last is {relation} the median ({number(median)}) "
        f"of the {len(previous)} before"
    )
    return Item("bp_trending_down", latest <= median, detail)


def _bp_limit(readings: list[Reading], rules: RuleSet) -> Item:
    """The last NIBP reading below the clinic's sbp_high and dbp_high limits."""
    try:
        sbp_limit, dbp_limit = (rules.get(rule_id).threshold for rule_id in LIMIT_RULES)
    except RuleError:
        return Item("bp_below_limit", None, "the rule set has no sbp_high/dbp_high limit")
    if not readings or sbp_limit is None or dbp_limit is None:
        return Item("bp_below_limit", None, "no BP reading in this session")
    last = readings[-1]
    sbp, dbp = last.sbp, last.dbp
    detail = (
        f"last BP {bp(sbp, dbp)} mmHg; limit below {bp(sbp_limit, dbp_limit)} (sbp_high, dbp_high)"
    )
    if (sbp is not None and sbp >= sbp_limit) or (dbp is not None and dbp >= dbp_limit):
        return Item("bp_below_limit", False, detail)
    if sbp is None or dbp is None:
        return Item("bp_below_limit", None, detail + "; the last reading lacks a value")
    return Item("bp_below_limit", True, detail)


def _sedation(moaas: int | None) -> Item:
    if moaas is None:
        return Item("sedation_resolved", None, "no sedation score (MOAA/S) recorded")
    words = MOAAS_WORDS.get(moaas, "")
    return Item("sedation_resolved", moaas == 5, f"last MOAA/S {moaas}: {words}")


def _finding(name: str, value: str | None, resolved: str) -> Item:
    item_id = f"{name}_resolved"
    if value is None:
        return Item(item_id, None, f"no {name} finding recorded")
    return Item(item_id, value == resolved, f"last {name}: {value}")


def _no_open_alert(open_alerts: list[Any]) -> Item:
    """No unresolved physiological or technical alert. Advisories are reminders (the discharge
    review due is the one this checklist answers), so they are named but not counted."""
    counted = [a for a in open_alerts if a.kind != "advisory"]
    reminders = len(open_alerts) - len(counted)
    if counted:
        shown = "; ".join(f"{a.message} ({a.priority}, {a.state})" for a in counted)
        return Item("no_open_alert", False, f"open: {shown}")
    detail = "no physiological or technical alert open"
    if reminders:
        detail += f" ({reminders} open advisor{'y' if reminders == 1 else 'ies'} not counted)"
    return Item("no_open_alert", True, detail)


async def signed(db: AsyncSession, session_id: int) -> Discharge | None:
    discharge: Discharge | None = await db.scalar(
        select(Discharge).where(Discharge.session_id == session_id)
    )
    return discharge


async def signed_payload(db: AsyncSession, discharge: Discharge) -> dict[str, Any]:
    """The signature as the API and the record show it: who, when, the note, the items."""
    names = await alerts.user_names(db, {discharge.signed_by})
    return {
        "by": names.get(discharge.signed_by, f"user {discharge.signed_by}"),
        "at": iso(discharge.signed_at),
        "note": discharge.note,
        "items": discharge.checklist,
    }


async def discharge_view(
    db: AsyncSession, session_id: int, rules: RuleSet, may_sign: bool
) -> dict[str, Any]:
    """The checklist of a session: as signed, or as the data shows it now. ``can_sign``: the
    session is open and unsigned and the caller's role may sign (``may_sign``)."""
    session = await sessions.get_session(db, session_id)
    done = await signed(db, session_id)
    if done is not None:
        payload = await signed_payload(db, done)
        return {
            "session_id": session_id,
            "items": done.checklist,
            "can_sign": False,
            "signed": payload,
        }
    items = await checklist(db, session_id, rules)
    can_sign = may_sign and session.ended_at is None
    return {"session_id": session_id, "items": items, "can_sign": can_sign, "signed": None}


async def sign(
    db: AsyncSession,
    session_id: int,
    rules: RuleSet,
    confirm: list[str],
    note: str | None,
    actor: audit.Actor,
) -> Discharge:
    """Sign the discharge and end the session, in the caller's transaction (audited).

    Conflict: already signed, or the session has ended. InvalidInput: an unknown item id, or an
    item Chairside did not find met that ``confirm`` does not name."""
    session = await sessions.get_session(db, session_id)
    done = await signed(db, session_id)
    if done is not None:
        by = (await signed_payload(db, done))["by"]
        raise Conflict(f"session {session_id} was signed out by {by} at {iso(done.signed_at)}")
    if session.ended_at is not None:
        raise Conflict(f"session {session_id} has ended; a discharge is signed before it ends")
    unknown = [item_id for item_id in confirm if item_id not in LABELS]
    if unknown:
        raise InvalidInput(
            f"unknown checklist item {unknown[0]!r}; the items are {', '.join(ITEM_IDS)}"
        )
    if actor.user_id is None:
        raise InvalidInput("a discharge is signed by a logged-in clinician")
    items = await checklist(db, session_id, rules)
    unconfirmed = [i for i in items if i["ok"] is not True and i["id"] not in confirm]
    if unconfirmed:
        shown = "; ".join(f"{i['id']} ({i['detail']})" for i in unconfirmed)
        raise InvalidInput(
            f"not signed: confirm each item Chairside did not find met, or wait: {shown}"
        )
    for item in items:
        item["confirmed"] = item["id"] in confirm
    await sessions.end_session(db, session_id, actor)
    assert session.ended_at is not None
    discharge = Discharge(
        session_id=session_id,
        signed_by=actor.user_id,
        signed_at=session.ended_at,
        checklist=items,
        note=note.strip() or None if note else None,
    )
    db.add(discharge)
    try:
        await db.flush()
    except IntegrityError as exc:  # another clinician's signature won the race
        raise Conflict(f"session {session_id} was signed out meanwhile") from exc
    audit.record(
        db,
        actor,
        "session.discharge",
        "session",
        session_id,
        {"items": {i["id"]: i["ok"] for i in items}, "confirmed": confirm, "note": discharge.note},
        at=session.ended_at,
    )
    return discharge
