"""Every REST input is bounded by its column and by the OpenAPI schema: numbers too large for a
column, negative limits, times that are not ISO 8601 with a zone and text a database cannot
store are refused with a 422 naming the parameter (never a 500 that drops the connection), on
SQLite and on PostgreSQL; errors have the documented shapes; OPTIONS and unknown methods say
which methods a path has."""

from __future__ import annotations

from typing import Any

import httpx

from app.main import create_app
from app.models.schemas import INT4_MAX, INT8_MAX
from app.settings import Settings
from tests.support import Clinic, one_database_is_enough

# (method, path with {id}, body, the parameter, the column's largest value)
PATH_IDS = [
    ("GET", "/api/sessions/{id}", None, "session_id", INT4_MAX),
    ("POST", "/api/sessions/{id}/dose", None, "session_id", INT4_MAX),
    ("PUT", "/api/sessions/{id}/limits", {"limit_overrides": {}}, "session_id", INT4_MAX),
    ("PUT", "/api/sessions/{id}/nibp-interval", {"nibp_interval_s": 300}, "session_id", INT4_MAX),
    ("POST", "/api/sessions/{id}/end", None, "session_id", INT4_MAX),
    ("GET", "/api/sessions/{id}/export", None, "session_id", INT4_MAX),
    ("GET", "/api/sessions/{id}/readings", None, "session_id", INT4_MAX),
    ("GET", "/api/alerts/{id}/history", None, "alert_id", INT8_MAX),
    ("POST", "/api/alerts/{id}/ack", None, "alert_id", INT8_MAX),
    ("POST", "/api/devices/{id}/revoke", None, "device_id", INT4_MAX),
    ("POST", "/api/users/{id}/unlock", None, "user_id", INT4_MAX),
]
# (path, query parameter)
FILTER_IDS = [
    ("/api/sessions", "chair_id"),
    ("/api/alerts", "chair_id"),
    ("/api/alerts", "session_id"),
    ("/api/audit", "target_id"),
]
# (path, largest limit)
LIMITS = [
    ("/api/sessions", 1000),
    ("/api/alerts", 5000),
    ("/api/audit", 1000),
    ("/api/sessions/{id}/readings", 20_000),
]


def refused_at(response: httpx.Response, *loc: str | int) -> dict[str, Any]:
    """The validation issue at ``loc``, after checking that the answer is a 422 list."""
    assert response.status_code == 422, (response.request.url, response.text)
    issues = response.json()["detail"]
    assert isinstance(issues, list), response.text
    found = [issue for issue in issues if tuple(issue["loc"]) == loc]
    assert found, (loc, response.text)
    return found[0]


async def test_ids_beyond_their_column_are_422_and_in_range_unknown_ids_404(
    clinic: Clinic, admin: httpx.AsyncClient
) -> None:
    for method, path, body, name, largest in PATH_IDS:
        for too_large in (largest + 1, 2**64, 10**30):
            response = await admin.request(method, path.format(id=too_large), json=body)
            refused_at(response, "path", name)
        for not_an_id in (0, -1):
            response = await admin.request(method, path.format(id=not_an_id), json=body)
            refused_at(response, "path", name)
        response = await admin.request(method, path.format(id=largest), json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "not_found"
    # The same client, so the same keep-alive connection: still there after all of that.
    assert (await admin.get("/api/health")).status_code == 200


async def test_id_filters_and_body_ids_beyond_int4_are_422(clinic: Clinic, admin) -> None:
    for path, name in FILTER_IDS:
        refused_at(await admin.get(path, params={name: INT4_MAX + 1}), "query", name)
        assert (await admin.get(path, params={name: INT4_MAX})).json() == []
    body = {"chair_id": INT4_MAX + 1, "protocol": "spravato", "patient_label": "AB"}
    refused_at(await admin.post("/api/sessions", json=body), "body", "chair_id")
    body["chair_id"] = INT4_MAX
    assert (await admin.post("/api/sessions", json=body)).status_code == 404


async def test_limits_outside_their_range_are_422(clinic: Clinic, admin) -> None:
    _, _, chair_id = await clinic.add_device()
    body = {"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"}
    session_id = (await admin.post("/api/sessions", json=body)).json()["id"]
    for path, largest in LIMITS:
        url = path.format(id=session_id)
        for bad in (-1, 0, largest + 1, -(2**70)):
            refused_at(await admin.get(url, params={"limit": bad}), "query", "limit")
        assert (await admin.get(url, params={"limit": largest})).status_code == 200


NOT_ISO_8601_WITH_A_ZONE = [
    "0.5",
    "1700000000",
    "2026-11-24T10:00:00",
    "2026-11-24",
    "yesterday",
    "10:00:00Z",
]


async def test_a_time_that_is_not_iso_8601_with_a_zone_is_422_naming_it(
    clinic: Clinic, nurse
) -> None:
    _, _, chair_id = await clinic.add_device()
    body = {"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"}
    for value in NOT_ISO_8601_WITH_A_ZONE:
        refused = await nurse.post("/api/sessions", json={**body, "started_at": value})
        assert "time zone" in refused_at(refused, "body", "started_at")["msg"]
    session_id = (await nurse.post("/api/sessions", json=body)).json()["id"]
    dose = f"/api/sessions/{session_id}/dose"
    for value in NOT_ISO_8601_WITH_A_ZONE:
        for path in ("/api/alerts", f"/api/sessions/{session_id}/readings"):
            for name in ("start", "end"):
                issue = refused_at(await nurse.get(path, params={name: value}), "query", name)
                assert "ISO 8601 with a time zone" in issue["msg"], value
        refused_at(await nurse.post(dose, json={"at": value}), "body", "at")
    # A JSON number is no time either (pydantic alone would read it as seconds since 1970).
    refused_at(await nurse.post(dose, json={"at": 0}), "body", "at")
    assert (await nurse.get(f"/api/sessions/{session_id}")).json()["dose_at"] is None


async def test_a_time_outside_the_years_a_database_stores_is_422(clinic: Clinic, nurse) -> None:
    for value in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"):
        issue = refused_at(
            await nurse.get("/api/alerts", params={"start": value}), "query", "start"
        )
        assert "years 1-9999" in issue["msg"]
    accepted = await nurse.get("/api/alerts", params={"start": "2026-11-24T10:00:00+05:30"})
    assert accepted.status_code == 200


async def test_text_a_database_cannot_store_is_422_not_500(clinic: Clinic, admin) -> None:
    # A lone surrogate is valid in a JSON string and in no UTF-8 text; the 422 echoes it escaped.
    raw = b'{"name": "Chair \\ud800"}'
    headers = {"Content-Type": "application/json"}
    refused = await admin.post("/api/chairs", content=raw, headers=headers)
    assert refused_at(refused, "body", "name")["input"] == "Chair \\ud800"
    refused_at(await admin.post("/api/chairs", json={"name": "Chair\x001"}), "body", "name")
    refused_at(await admin.post("/api/devices", json={"chair": "C\x00"}), "body", "chair")
    refused_at(
        await admin.post("/api/auth/login", json={"name": "nurse\x00", "password": "x"}),
        "body",
        "name",
    )
    refused_at(
        await admin.get("/api/audit", params={"target_type": "ses\x00sion"}), "query", "target_type"
    )
    _, _, chair_id = await clinic.add_device()
    body = {"chair_id": chair_id, "protocol": "spravato", "patient_label": "A\x00B"}
    refused_at(await admin.post("/api/sessions", json=body), "body", "patient_label")
    assert (await admin.get("/api/chairs")).json()[0]["session"] is None


async def test_a_limit_override_of_infinity_is_422(clinic: Clinic, admin) -> None:
    _, _, chair_id = await clinic.add_device()
    body = {"chair_id": chair_id, "protocol": "spravato", "patient_label": "AB"}
    session_id = (await admin.post("/api/sessions", json=body)).json()["id"]
    # 1e999 is valid JSON that Python reads as infinity (and orjson would store as null).
    raw = b'{"limit_overrides": {"sbp_high": {"threshold": 1e999}}}'
    refused = await admin.put(
        f"/api/sessions/{session_id}/limits",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    refused_at(refused, "body", "limit_overrides", "sbp_high", "threshold")
    assert (await admin.get(f"/api/sessions/{session_id}")).json()["limit_overrides"] == {}


async def test_a_monitor_at_a_chair_with_a_64_character_name_gets_a_label_that_fits(
    clinic: Clinic, admin
) -> None:
    name = "C" * 64  # "<name> monitor" would not fit the label column (PostgreSQL said 500)
    created = await admin.post("/api/devices", json={"chair": name})
    assert created.status_code == 201, created.text
    assert created.json()["label"] == name


async def test_error_answers_have_the_documented_shapes(clinic: Clinic, nurse) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as anonymous:
        unauthorized = await anonymous.get("/api/chairs")
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"detail": "log in first", "code": "unauthorized"}
    forbidden = await nurse.get("/api/devices")
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"
    missing = await nurse.get("/api/sessions/7")
    assert missing.json() == {"detail": "no session with id 7", "code": "not_found"}
    no_route = await nurse.get("/api/no-such-thing")
    assert no_route.status_code == 404 and no_route.json()["code"] == "not_found"
    # 422: a list of issues for a request the schema refuses ...
    assert isinstance(
        (await nurse.get("/api/sessions", params={"limit": -1})).json()["detail"], list
    )
    # ... a sentence with its code when the service refuses values the schema allows.
    start, end = "2026-11-24T10:00:00Z", "2026-11-24T09:00:00Z"
    refused = await nurse.get("/api/alerts", params={"start": start, "end": end})
    assert refused.status_code == 422
    assert refused.json() == {"detail": "end must be after start", "code": "invalid_input"}


@one_database_is_enough
async def test_options_answers_204_with_every_method_of_the_path(clinic: Clinic) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as client:
        for path, methods in [
            ("/api/sessions", "GET, OPTIONS, POST"),
            ("/api/sessions/1", "GET, OPTIONS"),
            ("/api/sessions/1/end", "OPTIONS, POST"),
            ("/api/sessions/1/limits", "OPTIONS, PUT"),
            ("/", "GET, OPTIONS"),
            ("/static/js/api.js", "GET, HEAD, OPTIONS"),
        ]:
            answer = await client.options(path)
            assert answer.status_code == 204, (path, answer.text)
            assert answer.headers["allow"] == methods, path
            assert answer.content == b""
        assert (await client.options("/api/no-such-thing")).status_code == 404


@one_database_is_enough
async def test_a_method_the_path_does_not_have_is_405_with_allow(clinic: Clinic, nurse) -> None:
    for method, path, methods in [
        ("PATCH", "/api/sessions", "GET, OPTIONS, POST"),
        ("DELETE", "/api/sessions/1", "GET, OPTIONS"),
        ("GET", "/api/sessions/1/end", "OPTIONS, POST"),
        ("DELETE", "/static/js/api.js", "GET, HEAD, OPTIONS"),
    ]:
        answer = await nurse.request(method, path)
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.headers["allow"] == methods, (method, path)
        assert answer.json() == {"detail": "Method Not Allowed", "code": "method_not_allowed"}


def openapi_operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = create_app(Settings(database_url="sqlite:///:memory:", secret_key="x")).openapi()
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def test_the_openapi_documents_every_error_with_its_body() -> None:
    operations = openapi_operations()
    assert operations
    for method, path, operation in operations:
        responses = operation["responses"]
        where = f"{method} {path}"
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            assert "403" in responses, f"{where}: the Origin check's 403"
        if "requestBody" in operation:
            assert "400" in responses, f"{where}: a body that is not UTF-8"
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, where
        for status, response in responses.items():
            if status.startswith("4") or status.startswith("5"):
                assert "application/json" in response.get("content", {}), (where, status)
        if "422" in responses and path != "/api/auth/login":
            schema = responses["422"]["content"]["application/json"]["schema"]
            shapes = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["anyOf"]}
            assert shapes == {"ValidationErrorRead", "ErrorRead"}, where
        if path not in ("/api/health", "/api/auth/login"):
            assert "401" in responses, where
