"""A change sent from another site's page is refused (403) and changes nothing, whatever the
cookie; the server's own pages, allowed origins and clients that are not browsers (no Origin,
no Referer) go through. Every answer carries Referrer-Policy, every page its CSP."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request

from app.api.origins import cross_site_origin, normalised
from tests.support import Clinic, one_database_is_enough

EVIL = "http://evil.example"


async def test_a_cross_site_post_is_refused_and_changes_nothing(clinic: Clinic, admin) -> None:
    for headers in (
        {"Origin": EVIL},
        {"Referer": f"{EVIL}/attack.html"},
        {"Origin": "null"},  # a sandboxed frame, for one
        {"Origin": EVIL, "Sec-Fetch-Site": "same-origin"},  # Origin decides when it names one
        {"Origin": clinic.server.url.replace("127.0.0.1", "localhost")},  # another origin
    ):
        refused = await admin.post("/api/chairs", json={"name": "Chair X"}, headers=headers)
        assert refused.status_code == 403, (headers, refused.text)
        assert refused.json()["code"] == "cross_site_request"
        assert "may not change anything here" in refused.json()["detail"]
    refused = await admin.post("/api/chairs", json={"name": "Chair X"}, headers={"Origin": EVIL})
    assert EVIL in refused.json()["detail"]
    assert (await admin.get("/api/chairs")).json() == []
    assert (await admin.get("/api/audit", params={"target_type": "chair"})).json() == []


async def test_every_state_changing_method_is_checked_and_reads_are_not(
    clinic: Clinic, admin, nurse
) -> None:
    _, device_id, chair_id = await clinic.add_device()
    body = {"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"}
    session_id = (await nurse.post("/api/sessions", json=body)).json()["id"]
    foreign = {"Origin": EVIL}
    for client, method, path, payload in [
        (nurse, "POST", f"/api/sessions/{session_id}/end", None),
        (nurse, "PUT", f"/api/sessions/{session_id}/nibp-interval", {"nibp_interval_s": 600}),
        (admin, "POST", f"/api/devices/{device_id}/revoke", None),
        (nurse, "POST", "/api/auth/logout", None),
        (nurse, "PATCH", "/api/sessions", None),
        (nurse, "DELETE", f"/api/sessions/{session_id}", None),
    ]:
        refused = await client.request(method, path, json=payload, headers=foreign)
        assert refused.status_code == 403, (method, path, refused.text)
    session = (await nurse.get(f"/api/sessions/{session_id}", headers=foreign)).json()
    assert session["ended_at"] is None and session["nibp_interval_s"] is None
    assert (await admin.get("/api/devices")).json()[0]["revoked_at"] is None
    assert (await nurse.get("/api/auth/me")).status_code == 200  # not logged out


@one_database_is_enough
async def test_a_cross_site_login_is_refused(clinic: Clinic) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as client:
        body = {"name": "nurse", "password": "correct-horse-9"}
        refused = await client.post("/api/auth/login", json=body, headers={"Origin": EVIL})
        assert refused.status_code == 403 and "set-cookie" not in refused.headers


async def test_same_origin_and_header_less_changes_go_through(clinic: Clinic, admin) -> None:
    own = clinic.server.url
    for n, headers in enumerate(
        [
            {"Origin": own},
            {"Origin": own, "Referer": f"{EVIL}/x"},  # Origin, when there, decides
            {"Referer": f"{own}/#chair-1"},
            {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
            {},  # curl, the command line, a simulated monitor
        ]
    ):
        made = await admin.post("/api/chairs", json={"name": f"Chair {n}"}, headers=headers)
        assert made.status_code == 201, (headers, made.text)
    assert len((await admin.get("/api/chairs")).json()) == 5


def request(method: str, headers: dict[str, str], host: str = "clinic.example:8000") -> Request:
    raw = [(b"host", host.encode())] + [
        (k.lower().encode(), v.encode()) for k, v in headers.items()
    ]
    scope = {"type": "http", "method": method, "scheme": "http", "path": "/api/chairs"}
    return Request({**scope, "headers": raw, "query_string": b"", "server": ("x", 8000)})


@pytest.mark.parametrize(
    ("method", "headers", "allowed", "refused"),
    [
        ("POST", {"Origin": "https://screens.example"}, ["https://screens.example"], None),
        ("POST", {"Origin": "https://screens.example:443"}, ["https://SCREENS.example"], None),
        (
            "PUT",
            {"Origin": "https://other.example"},
            ["https://screens.example"],
            "https://other.example",
        ),
        ("GET", {"Origin": EVIL}, [], None),
        ("OPTIONS", {"Origin": EVIL}, [], None),
        ("DELETE", {"Referer": "http://clinic.example:8000/x"}, [], None),
        ("DELETE", {"Referer": "about:blank"}, [], "about:blank"),
        ("POST", {"Origin": "null", "Sec-Fetch-Site": "cross-site"}, [], "null"),
    ],
)
def test_the_origin_rule(
    method: str, headers: dict[str, str], allowed: list[str], refused: str | None
) -> None:
    assert cross_site_origin(request(method, headers), allowed) == refused


def test_origins_compare_without_default_ports_and_case() -> None:
    assert normalised("HTTP://Clinic.Example:80") == "http://clinic.example"
    assert normalised("https://clinic.example:8443") == "https://clinic.example:8443"
    assert normalised("http://[::1]:8000") == "http://[::1]:8000"
    assert normalised("null") == "null"


@one_database_is_enough
async def test_every_answer_has_referrer_policy_and_every_page_a_csp(clinic: Clinic, nurse) -> None:
    answers = {
        "dashboard": await nurse.get("/"),
        "docs": await nurse.get("/docs"),
        "static": await nurse.get("/static/js/api.js"),
        "json": await nurse.get("/api/chairs"),
        "error": await nurse.get("/api/sessions/7"),
        "options": await nurse.options("/api/sessions"),
        "refused": await nurse.post("/api/sessions", json={}, headers={"Origin": EVIL}),
    }
    for name, answer in answers.items():
        assert answer.headers["referrer-policy"] == "no-referrer", name
        assert answer.headers["x-content-type-options"] == "nosniff", name
    for name in ("dashboard", "docs"):
        assert answers[name].headers["content-type"].startswith("text/html"), name
        policy = answers[name].headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, name
