"""The discharge checklist through a real server: pre-filled from the session's readings,
observations and alerts; signed by a clinician only, who must confirm each item the data did
not show met; the signature ends the session (the alert engine closes its alerts), is audited
and kept; a second signature, an unknown item and an unknown session get a clear error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.browser.helpers import backdate_session, iso, now, send_readings
from tests.support import Clinic, Device, device_connect
from tests.test_records import treated_session, wait_for

ITEMS = [
    "monitoring_time",
    "bp_trending_down",
    "bp_below_limit",
    "sedation_resolved",
    "dissociation_resolved",
    "respiratory_resolved",
    "no_open_alert",
]


@contextlib.asynccontextmanager
async def monitor_kept_on(clinic: Clinic, token: str) -> AsyncIterator[None]:
    """The chair's monitor stays connected and sends its vitals every second meanwhile, as at
    a real bedside (no lost-monitor alert opens while the test reads the checklist)."""
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        stop = asyncio.Event()

        async def beat() -> None:
            seq = 10**6
            while not stop.is_set():
                vitals = {"hr": 74, "spo2": 98, "rr": 14, "etco2": 38}
                await device.reading(seq=seq, ts=iso(now()), **vitals)
                seq += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            stop.set()
            await task


async def rising_session(clinic: Clinic, nurse: httpx.AsyncClient) -> tuple[int, int]:
    """A patient 50 min after the dose whose BP is still rising, to 166/96 (an open sbp_high
    alert), with no observation yet: not ready. Returns (session id, chair id)."""
    token, _, chair_id = await clinic.add_device("Chair 7")
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "MR"}
    )
    session_id = created.json()["id"]
    await backdate_session(clinic, session_id, timedelta(minutes=65))
    dose_at = now().replace(microsecond=0) - timedelta(minutes=50)
    bp = {-10: (128, 80), 10: (140, 88), 20: (150, 92), 30: (158, 95), 40: (166, 96)}
    readings: list[dict[str, Any]] = []
    for seq, minute in enumerate(sorted(bp), start=1):
        sbp, dbp = bp[minute]
        at = dose_at + timedelta(minutes=minute)
        readings.append(
            {"type": "reading", "seq": seq, "ts": iso(at), "sbp": sbp, "dbp": dbp, "hr": 76}
            | {"map": round((sbp + 2 * dbp) / 3), "spo2": 98}
        )
    await send_readings(clinic, token, readings[:1])
    dosed = await nurse.post(f"/api/sessions/{session_id}/dose", json={"at": iso(dose_at)})
    assert dosed.status_code == 200, dosed.text
    await send_readings(clinic, token, readings[1:])
    await wait_for(nurse, session_id, "sbp_high")
    return session_id, chair_id


def by_id(checklist: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in checklist["items"]}


async def test_a_session_ready_to_leave_has_every_item_met_from_its_data(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    session = await treated_session(clinic, nurse, clinician)
    async with monitor_kept_on(clinic, session.token):
        answer = await nurse.get(f"/api/sessions/{session.id}/discharge")
    assert answer.status_code == 200, answer.text
    checklist = answer.json()
    assert checklist["session_id"] == session.id
    assert checklist["signed"] is None
    assert checklist["can_sign"] is False  # a nurse reads it; a clinician signs
    assert [item["id"] for item in checklist["items"]] == ITEMS
    items = by_id(checklist)
    assert {i: items[i]["ok"] for i in ITEMS} == dict.fromkeys(ITEMS, True), items
    assert items["monitoring_time"]["detail"] == ("130 min since the dose; at least 2 h (spravato)")
    last_four = [session.bp[at][0] for at in sorted(session.bp)[-4:]]
    assert items["bp_trending_down"]["detail"].startswith(
        "SBP " + " → ".join(str(v) for v in last_four) + " mmHg: the last is not above the median"
    )
    sbp, dbp = session.bp[max(session.bp)]
    assert items["bp_below_limit"]["detail"] == (
        f"last BP {sbp}/{dbp} mmHg; limit below 160/100 (sbp_high, dbp_high)"
    )
    assert items["sedation_resolved"]["detail"] == (
        "last MOAA/S 5: Responds readily to name spoken in normal tone"
    )
    assert items["dissociation_resolved"]["detail"] == "last dissociation: none"
    assert items["respiratory_resolved"]["detail"] == "last respiratory: normal"
    # A clinician may sign it as it stands: nothing needs confirming.
    assert (await clinician.get(f"/api/sessions/{session.id}/discharge")).json()["can_sign"]
    signed = await clinician.post(f"/api/sessions/{session.id}/discharge", json={})
    assert signed.status_code == 200, signed.text
    assert [i["confirmed"] for i in signed.json()["signed"]["items"]] == [False] * len(ITEMS)


async def test_a_nurse_cannot_sign_and_nothing_changes(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    session_id, _ = await rising_session(clinic, nurse)
    refused = await nurse.post(f"/api/sessions/{session_id}/discharge", json={"confirm": ITEMS})
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "this needs the clinician role or higher",
        "code": "forbidden",
    }
    assert (await nurse.get(f"/api/sessions/{session_id}")).json()["ended_at"] is None
    assert (await nurse.get(f"/api/sessions/{session_id}/discharge")).json()["signed"] is None


async def test_items_not_met_must_be_confirmed_then_the_signature_ends_the_session(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    session_id, _ = await rising_session(clinic, nurse)
    checklist = (await clinician.get(f"/api/sessions/{session_id}/discharge")).json()
    assert checklist["can_sign"] is True
    items = by_id(checklist)
    assert items["monitoring_time"]["ok"] is False
    assert items["monitoring_time"]["detail"] == "50 min since the dose; at least 2 h (spravato)"
    assert items["bp_trending_down"] == {
        "id": "bp_trending_down",
        "label": "BP trending down",
        "ok": False,
        "detail": "SBP 140 → 150 → 158 → 166 mmHg: the last is above the median (150) of the 3 "
        "before",
    }
    assert items["bp_below_limit"]["ok"] is False
    assert items["bp_below_limit"]["detail"].startswith("last BP 166/96 mmHg")
    for finding in ("sedation_resolved", "dissociation_resolved", "respiratory_resolved"):
        assert items[finding]["ok"] is None  # no observation: Chairside cannot tell
    assert items["no_open_alert"]["ok"] is False
    assert "SBP 166 ≥ 160 mmHg (medium, active)" in items["no_open_alert"]["detail"]

    # Signing past an unconfirmed item is refused, naming each; the session stays open.
    partly = ["monitoring_time", "bp_trending_down", "sedation_resolved"]
    refused = await clinician.post(
        f"/api/sessions/{session_id}/discharge", json={"confirm": partly}
    )
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert refused.json()["code"] == "invalid_input"
    assert detail.startswith("not signed: confirm each item Chairside did not find met")
    for item_id in ("bp_below_limit", "dissociation_resolved", "respiratory_resolved"):
        assert item_id in detail
    assert "monitoring_time" not in detail
    assert (await nurse.get(f"/api/sessions/{session_id}")).json()["ended_at"] is None

    before = datetime.now(UTC)
    signed = await clinician.post(
        f"/api/sessions/{session_id}/discharge",
        json={"confirm": ITEMS, "note": "Seen by Dr K; BP reviewed, leaves with escort"},
    )
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["can_sign"] is False
    assert body["signed"]["by"] == "clinician"
    assert body["signed"]["note"] == "Seen by Dr K; BP reviewed, leaves with escort"
    at = datetime.fromisoformat(body["signed"]["at"])
    assert before <= at <= datetime.now(UTC)
    kept = {i["id"]: (i["ok"], i["confirmed"]) for i in body["signed"]["items"]}
    assert kept["bp_below_limit"] == (False, True)
    assert kept["sedation_resolved"] == (None, True)

    # The session has ended at the signature; the engine closes its open alert.
    session = (await nurse.get(f"/api/sessions/{session_id}")).json()
    assert datetime.fromisoformat(session["ended_at"]) == at
    for _ in range(100):
        alerts = (await nurse.get("/api/alerts", params={"session_id": session_id})).json()
        if all(a["state"] == "resolved" for a in alerts):
            break
        await asyncio.sleep(0.1)
    assert [a["state"] for a in alerts if a["rule"] == "sbp_high"] == ["resolved"]

    # Audited under the clinician's name, with what the data showed and what was confirmed.
    trail = (
        await clinician.get(
            "/api/audit", params={"target_type": "session", "target_id": session_id}
        )
    ).json()
    actions = [(e["action"], e["actor"]) for e in trail]
    assert ("session.discharge", "clinician") in actions
    assert ("session.end", "clinician") in actions
    (event,) = [e for e in trail if e["action"] == "session.discharge"]
    assert event["detail"]["confirmed"] == ITEMS
    assert event["detail"]["items"]["bp_below_limit"] is False
    assert event["detail"]["note"] == "Seen by Dr K; BP reviewed, leaves with escort"

    # Read back later: the checklist as it was signed.
    again = (await nurse.get(f"/api/sessions/{session_id}/discharge")).json()
    assert again["signed"] == body["signed"]
    assert again["items"] == [
        {k: v for k, v in item.items() if k != "confirmed"} for item in body["signed"]["items"]
    ]


async def test_a_second_signature_or_one_after_the_end_is_409(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    session_id, _ = await rising_session(clinic, nurse)
    first = await admin.post(f"/api/sessions/{session_id}/discharge", json={"confirm": ITEMS})
    assert first.status_code == 200, first.text
    second = await clinician.post(f"/api/sessions/{session_id}/discharge", json={"confirm": ITEMS})
    assert second.status_code == 409
    assert second.json()["detail"].startswith(f"session {session_id} was signed out by admin at ")
    # A session a nurse ended without the checklist cannot be signed afterwards.
    _, _, chair_id = await clinic.add_device("Chair 8")
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "EN"}
    )
    other = created.json()["id"]
    assert (await nurse.post(f"/api/sessions/{other}/end")).status_code == 200
    late = await clinician.post(f"/api/sessions/{other}/discharge", json={"confirm": ITEMS})
    assert late.status_code == 409
    assert late.json() == {
        "detail": f"session {other} has ended; a discharge is signed before it ends",
        "code": "conflict",
    }
    assert (await nurse.get(f"/api/sessions/{other}/discharge")).json()["signed"] is None
    discharges = await clinic.query("SELECT session_id FROM discharge")
    assert [row[0] for row in discharges] == [session_id]


async def test_an_unknown_item_is_422_and_an_unknown_session_404(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    session_id, _ = await rising_session(clinic, nurse)
    wrong = await clinician.post(
        f"/api/sessions/{session_id}/discharge", json={"confirm": [*ITEMS, "pupils_equal"]}
    )
    assert wrong.status_code == 422
    assert wrong.json() == {
        "detail": "unknown checklist item 'pupils_equal'; the items are " + ", ".join(ITEMS),
        "code": "invalid_input",
    }
    assert (await nurse.get(f"/api/sessions/{session_id}")).json()["ended_at"] is None
    for answer in (
        await nurse.get("/api/sessions/999999/discharge"),
        await clinician.post("/api/sessions/999999/discharge", json={"confirm": []}),
    ):
        assert answer.status_code == 404
        assert answer.json() == {"detail": "no session with id 999999", "code": "not_found"}
    unknown_field = await clinician.post(
        f"/api/sessions/{session_id}/discharge", json={"confirmed": ITEMS}
    )
    assert unknown_field.status_code == 422
    assert unknown_field.json()["detail"][0]["loc"] == ["body", "confirmed"]


async def test_iv_ketamine_counts_infusion_and_60_min_and_says_what_it_cannot_tell(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 9")
    created = await nurse.post(
        "/api/sessions",
        json={"chair_id": chair_id, "protocol": "iv-ketamine", "patient_label": "IV1"},
    )
    session_id = created.json()["id"]
    await backdate_session(clinic, session_id, timedelta(minutes=120))
    dose_at = now() - timedelta(minutes=90, seconds=30)
    await nurse.post(f"/api/sessions/{session_id}/dose", json={"at": iso(dose_at)})
    items = by_id((await clinician.get(f"/api/sessions/{session_id}/discharge")).json())
    assert items["monitoring_time"]["ok"] is False
    assert items["monitoring_time"]["detail"] == (
        "90 min since the dose; at least 100 min (iv-ketamine)"
    )
    assert items["bp_trending_down"] == {
        "id": "bp_trending_down",
        "label": "BP trending down",
        "ok": None,
        "detail": "a trend needs at least two BP readings",
    }
    assert items["bp_below_limit"]["ok"] is None
    assert items["bp_below_limit"]["detail"] == "no BP reading in this session"
    assert items["sedation_resolved"]["detail"] == "no sedation score (MOAA/S) recorded"


async def test_the_checklist_contract_is_in_the_openapi(nurse: httpx.AsyncClient) -> None:
    schema = (await nurse.get("/openapi.json")).json()
    path = schema["paths"]["/api/sessions/{session_id}/discharge"]
    assert set(path) == {"get", "post"}
    components = schema["components"]["schemas"]
    assert set(components["DischargeRead"]["properties"]) == {
        "session_id",
        "items",
        "can_sign",
        "signed",
    }
    assert set(components["DischargeSign"]["properties"]) == {"confirm", "note"}
    assert set(components["SignedItem"]["properties"]) == {
        "id",
        "label",
        "ok",
        "detail",
        "confirmed",
    }
    report = schema["paths"]["/api/sessions/{session_id}/report.pdf"]["get"]
    assert "application/pdf" in report["responses"]["200"]["content"]
