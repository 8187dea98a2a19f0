"""A busy clinic for the screen tests: chairs in every state, and alerts the engine would not
raise by itself within a test (an acknowledged one, an escalated one, a long advisory)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.browser.helpers import alert_message, course, iso, now, send_readings, start_session
from tests.conftest import login
from tests.support import Clinic

# chair -> (protocol, patient, dose minutes ago or None, course options); None: no session
CLINIC: dict[str, Any] = {
    "Chair 1": ("spravato", "AB", 32, {"minutes": 45, "rise": 18}),
    "Chair 2": ("spravato", "CK-204", 41, {"minutes": 50, "rise": 46, "sbp": 126}),
    "Chair 3": (
        "iv-ketamine",
        "MR",
        35,
        {"minutes": 45, "rise": 62, "sbp": 124, "bp_every_min": 3},
    ),
    "Chair 4": ("spravato", "TS", None, {"minutes": 10}),
    "Chair 5": ("spravato", "LP-88", 95, {"minutes": 60, "bp_every_min": 100}),
    "Chair 6": ("iv-ketamine", "GH", 20, {"minutes": 30, "until_ago_s": 180}),
    "Chair 7": ("iv-ketamine", "NW", 105, {"minutes": 60}),
    "Chair 8": ("spravato", "EF", 55, {"minutes": 60, "hr": 112}),
    "Chair 9": ("spravato", "QZ", 12, {"minutes": 25, "rise": 8}),
    "Chair 10": ("iv-ketamine", "UV-3", 8, {"minutes": 20}),
    "Chair 11": None,
    "Chair 12": None,
}
# Beyond twelve, chairs with a short ordinary course (a 24-chair clinic).
EXTRA = ("spravato", "XY", 25, {"minutes": 15})

Made = dict[str, tuple[int, int | None]]


def plan(chairs: int) -> dict[str, Any]:
    names = list(CLINIC)[:chairs]
    out = {name: CLINIC[name] for name in names}
    for n in range(len(CLINIC) + 1, chairs + 1):
        protocol, label, dose, shape = EXTRA
        out[f"Chair {n}"] = (protocol, f"{label}-{n}", dose, shape)
    return out


async def build_clinic(clinic: Clinic, chairs: int = 12) -> Made:
    """Chairs, sessions and up to an hour of readings; returns chair name -> (chair id,
    session id). Chair 5's last BP is 24 min old (stale on the screen)."""
    nurse = await login(clinic, "nurse")
    made: Made = {}
    sends = []
    try:
        for name, what in plan(chairs).items():
            token, _, chair_id = await clinic.add_device(name)
            if what is None:
                made[name] = (chair_id, None)
                continue
            protocol, label, dose_min, shape = what
            session = await start_session(
                nurse,
                chair_id,
                label,
                protocol,
                None if dose_min is None else timedelta(minutes=dose_min),
                clinic,
            )
            made[name] = (chair_id, session["id"])
            readings = course(**shape)
            if name == "Chair 5":
                readings[-290] |= {"sbp": 138, "dbp": 86, "map": 103}
            sends.append(send_readings(clinic, token, readings))
        await asyncio.gather(*sends)
    finally:
        await nurse.aclose()
    return made


def ago(minutes: float) -> str:
    return iso(now() - timedelta(minutes=minutes))


def injected_alerts(made: Made) -> list[str]:
    """An acknowledged medium (Chair 8), a long advisory (Chair 7), an acknowledged high
    (Chair 1) and an escalated medium (Chair 9); in a smaller clinic, on the chairs it has
    (an alert of a chair with no session would not show). Ids stay clear of the engine's own."""
    in_session = [name for name, (_, session_id) in made.items() if session_id is not None]

    def at(name: str, **fields: Any) -> str:
        if name not in in_session:
            name = in_session[int(name.split()[-1]) % len(in_session)]
        chair_id, session_id = made[name]
        return alert_message(chair_id=chair_id, session_id=session_id, **fields)

    alerts = [
        at(
            "Chair 8",
            id=9081,
            priority="medium",
            rule="hr_high",
            vital="hr",
            value=124,
            message="HR 124 ≥ 120 /min for 15 s",
            state="acknowledged",
            acknowledged_by="clinician",
            acknowledged_at=ago(1),
            ack_note="anxious, re-check 5 min",
            raised_at=ago(6),
        ),
        at(
            "Chair 7",
            id=9071,
            priority="low",
            kind="advisory",
            rule="discharge_review",
            vital=None,
            value=None,
            message="Discharge review due (100 min after the dose): BP settled, SBP 128 "
            "within 20 mmHg of baseline 122",
            raised_at=ago(5),
        ),
    ]
    alerts.append(
        at(
            "Chair 9",
            id=9091,
            priority="medium",
            rule="sbp_high",
            vital="sbp",
            value=166,
            message="SBP 166 ≥ 160 mmHg",
            raised_at=ago(3),
            escalated_at=ago(1),
            event="escalated",
        )
    )
    alerts.append(
        at(
            "Chair 1",
            id=9011,
            priority="high",
            rule="sbp_critical",
            vital="sbp",
            value=186,
            message="SBP 186 ≥ 180 mmHg",
            state="acknowledged",
            acknowledged_by="clinician",
            acknowledged_at=ago(2),
            raised_at=ago(4),
        )
    )
    return alerts
