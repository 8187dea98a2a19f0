"""REST API through a real server: login, role checks on every endpoint, sessions, devices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support import Clinic, Device, device_connect, one_database_is_enough

# (method, path, smallest role allowed). Bodies are valid where a body is needed, so a 403 can
# only come from the role check.
ENDPOINTS = [
    ("GET", "/api/chairs", "nurse"),
    ("GET", "/api/sessions", "nurse"),
    ("POST", "/api/sessions", "nurse"),
    ("GET", "/api/sessions/{session}", "nurse"),
    ("GET", "/api/sessions/{session}/readings", "nurse"),
    ("POST", "/api/sessions/{session}/dose", "nurse"),
    ("PUT", "/api/sessions/{session}/limits", "clinician"),
    ("PUT", "/api/sessions/{session}/nibp-interval", "nurse"),
    ("POST", "/api/sessions/{session}/end", "nurse"),
    ("GET", "/api/audit", "clinician"),
    ("POST", "/api/chairs", "admin"),
    ("GET", "/api/devices", "admin"),
    ("POST", "/api/devices", "admin"),
    ("POST", "/api/devices/{device}/revoke", "admin"),
    ("GET", "/api/users", "admin"),
    ("POST", "/api/users", "admin"),
    ("GET", "/api/auth/me", "nurse"),
]
RANK = {"nurse": 1, "clinician": 2, "admin": 3}


async def _ids(clinic: Clinic, admin: httpx.AsyncClient) -> dict[str, int]:
    _, device_id, chair_id = await clinic.add_device("Chair 9")
    other_chair = (await admin.post("/api/chairs", json={"name": "Chair 10"})).json()["id"]
    session = await admin.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "JD"}
    )
    return {"session": session.json()["id"], "device": device_id, "chair": other_chair}


def _body(method: str, path: str, ids: dict[str, int]) -> dict | None:
    bodies = {
        "/api/sessions": {
            "chair_id": ids["chair"],
            "protocol": "iv-ketamine",
            "patient_label": "X1",
        },
        "/api/sessions/{session}/limits": {"limit_overrides": {}},
        "/api/sessions/{session}/nibp-interval": {"nibp_interval_s": 600},
        "/api/chairs": {"name": "Chair 77"},
        "/api/devices": {"chair": "Chair 78"},
        "/api/users": {"name": "newuser", "role": "nurse", "password": "long-enough-1"},
    }
    return bodies.get(path) if method in ("POST", "PUT") else None


@pytest.mark.parametrize("role", ["nurse", "clinician", "admin"])
async def test_each_endpoint_admits_exactly_the_roles_it_should(
    clinic: Clinic, admin: httpx.AsyncClient, nurse, clinician, role: str
) -> None:
    ids = await _ids(clinic, admin)
    client = {"nurse": nurse, "clinician": clinician, "admin": admin}[role]
    for method, path, minimum in ENDPOINTS:
        url = path.format(**ids)
        response = await client.request(method, url, json=_body(method, path, ids))
        if RANK[role] >= RANK[minimum]:
            assert response.status_code < 400, (method, url, role, response.text)
        else:
            assert response.status_code == 403, (method, url, role, response.text)
            assert minimum in response.json()["detail"]


@one_database_is_enough
async def test_every_endpoint_refuses_a_request_without_login(clinic: Clinic) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as anonymous:
        for method, path, _ in ENDPOINTS:
            url = path.format(session=1, device=1)
            response = await anonymous.request(method, url, json={})
            assert response.status_code == 401, (method, url, response.text)


async def test_login_cookie_is_httponly_and_samesite(clinic: Clinic) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as client:
        response = await client.post(
            "/api/auth/login", json={"name": "nurse", "password": "correct-horse-9"}
        )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


async def test_wrong_password_is_refused_and_logout_ends_the_login(clinic: Clinic, nurse) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as client:
        bad = await client.post("/api/auth/login", json={"name": "nurse", "password": "nope"})
    assert bad.status_code == 401
    cookie = nurse.cookies.get("chairside_login")
    assert (await nurse.post("/api/auth/logout")).status_code == 204
    async with httpx.AsyncClient(base_url=clinic.server.url) as replay:
        replay.cookies.set("chairside_login", cookie)
        assert (await replay.get("/api/chairs")).status_code == 401


async def test_session_flow_start_dose_end_is_audited(clinic: Clinic, admin, nurse) -> None:
    _, _, chair_id = await clinic.add_device("Chair 1")
    started = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"}
    )
    assert started.status_code == 201
    session_id = started.json()["id"]
    chairs = (await nurse.get("/api/chairs")).json()
    assert chairs[0]["session"]["patient_label"] == "AB"
    second = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "CD"}
    )
    assert second.status_code == 409 and "already has an open session" in second.json()["detail"]
    dosed = await nurse.post(f"/api/sessions/{session_id}/dose")
    assert dosed.json()["dose_at"] is not None
    again = await nurse.post(f"/api/sessions/{session_id}/dose")
    assert again.status_code == 409
    assert (await nurse.post(f"/api/sessions/{session_id}/end")).json()["ended_at"] is not None
    audit = (await admin.get("/api/audit", params={"target_type": "session"})).json()
    assert [(e["actor"], e["action"]) for e in reversed(audit)] == [
        ("nurse", "session.start"),
        ("nurse", "session.dose"),
        ("nurse", "session.end"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chair_id": 1, "protocol": "ketamine-po", "patient_label": "AB"}, "protocol"),
        ({"chair_id": 1, "protocol": "spravato", "patient_label": "  "}, "patient_label"),
        ({"chair_id": 1, "protocol": "spravato", "patient_label": "AB", "bed": 3}, "bed"),
        (
            {"chair_id": 1, "protocol": "spravato", "patient_label": "AB", "nibp_interval_s": 30},
            "nibp_interval_s",
        ),
    ],
)
async def test_bad_session_request_names_the_field_and_creates_nothing(
    clinic: Clinic, nurse, body: dict, field: str
) -> None:
    response = await nurse.post("/api/sessions", json=body)
    assert response.status_code == 422
    assert field in response.text
    assert (await nurse.get("/api/sessions")).json() == []


async def test_dose_time_in_the_future_is_refused(clinic: Clinic, nurse) -> None:
    _, _, chair_id = await clinic.add_device()
    session = (
        await nurse.post(
            "/api/sessions",
            json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"},
        )
    ).json()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await nurse.post(f"/api/sessions/{session['id']}/dose", json={"at": future})
    assert response.status_code == 422 and "future" in response.json()["detail"]
    assert (await nurse.get(f"/api/sessions/{session['id']}")).json()["dose_at"] is None


async def test_device_token_is_shown_once_and_works(clinic: Clinic, admin) -> None:
    created = await admin.post("/api/devices", json={"chair": "Chair 5"})
    assert created.status_code == 201
    token = created.json()["token"]
    listed = (await admin.get("/api/devices")).json()
    assert all("token" not in d for d in listed)
    async with device_connect(clinic.server, token) as conn:
        now = datetime.now(UTC).isoformat()
        assert (await Device(conn).reading(seq=1, ts=now, hr=70))["type"] == "ack"
    chairs = (await admin.get("/api/chairs")).json()
    assert chairs[0]["name"] == "Chair 5"
    assert chairs[0]["latest"]["hr"]["value"] == 70
    assert chairs[0]["device_last_seen_at"] is not None


async def test_readings_time_range_filters_and_needs_a_zone(clinic: Clinic, nurse) -> None:
    token, _, chair_id = await clinic.add_device()
    session = (
        await nurse.post(
            "/api/sessions",
            json={"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"},
        )
    ).json()
    base = datetime.now(UTC) - timedelta(minutes=10)
    async with device_connect(clinic.server, token) as conn:
        device = Device(conn)
        for n in range(10):
            at = (base + timedelta(minutes=n)).isoformat()
            await device.reading(seq=n, ts=at, hr=60 + n)
    url = f"/api/sessions/{session['id']}/readings"
    window = {
        "start": (base + timedelta(minutes=3)).isoformat(),
        "end": (base + timedelta(minutes=6)).isoformat(),
    }
    rows = (await nurse.get(url, params=window)).json()
    assert [r["hr"] for r in rows] == [63, 64, 65]
    naive = await nurse.get(url, params={"start": "2026-11-24T10:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.text
    assert naive.json()["detail"][0]["loc"] == ["query", "start"]


async def test_health_answers_without_login(clinic: Clinic) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as client:
        body = (await client.get("/api/health")).json()
    assert body["status"] == "ok" and body["database"] is True


async def test_a_session_opened_late_can_be_dated_back_but_not_into_the_future(
    clinic: Clinic, nurse
) -> None:
    _, _, chair_id = await clinic.add_device()
    body = {"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    refused = await nurse.post("/api/sessions", json={**body, "started_at": future})
    assert refused.status_code == 422 and "future" in refused.json()["detail"]
    too_old = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    refused = await nurse.post("/api/sessions", json={**body, "started_at": too_old})
    assert refused.status_code == 422 and "ago" in refused.json()["detail"]
    assert (await nurse.get("/api/sessions")).json() == []
    earlier = datetime.now(UTC) - timedelta(minutes=30)
    created = await nurse.post("/api/sessions", json={**body, "started_at": earlier.isoformat()})
    assert created.status_code == 201
    assert datetime.fromisoformat(created.json()["started_at"]) == earlier
    # The dose can then be marked at its real time, after the start.
    dose = (earlier + timedelta(minutes=20)).isoformat()
    dosed = await nurse.post(f"/api/sessions/{created.json()['id']}/dose", json={"at": dose})
    assert dosed.status_code == 200
