"""The REST calls a simulated clinic makes, as staff would: log in, register monitors, run sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


class ClinicAPIError(Exception):
    """The server refused a call; the message says which and why."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class RegisteredMonitor:
    device_id: int
    chair_id: int
    token: str


def _check(response: httpx.Response, what: str) -> Any:
    if response.is_success:
        return response.json()
    raise ClinicAPIError(
        response.status_code, f"{what}: HTTP {response.status_code} {response.text[:300]}"
    )


class ClinicAPI:
    """A logged-in staff member's REST client (the login cookie lives in the client)."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def __aenter__(self) -> ClinicAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def login(self, name: str, password: str) -> None:
        response = await self.client.post(
            "/api/auth/login", json={"name": name, "password": password}
        )
        _check(response, f"log in as {name!r}")

    async def register_monitor(
        self, chair: str, hl7_source: str | None = None
    ) -> RegisteredMonitor:
        """A new device at ``chair`` (created if new); needs the admin role. ``hl7_source``:
        the identifier its HL7 messages carry, for a monitor that sends PCD-01."""
        request: dict[str, str] = {"chair": chair, "label": "simulator"}
        if hl7_source is not None:
            request["hl7_source"] = hl7_source
        body = _check(
            await self.client.post("/api/devices", json=request),
            f"register a monitor at {chair!r}",
        )
        return RegisteredMonitor(body["id"], body["chair_id"], body["token"])

    async def revoke_monitor(self, device_id: int) -> None:
        _check(
            await self.client.post(f"/api/devices/{device_id}/revoke"),
            f"revoke device {device_id}",
        )

    async def chair_statuses(self) -> list[dict[str, Any]]:
        """Every chair with its open session and latest vitals (``GET /api/chairs``)."""
        return list(_check(await self.client.get("/api/chairs"), "list chairs"))

    async def chair_id(self, name: str) -> int:
        chairs = _check(await self.client.get("/api/chairs"), "list chairs")
        for chair in chairs:
            if chair.get("name") == name:
                return int(chair["id"])
        raise ClinicAPIError(404, f"no chair named {name!r}")

    async def start_session(
        self,
        chair_id: int,
        protocol: str,
        patient_label: str,
        started_at: datetime | None = None,
        engine_clock: str = "wall",
        nibp_interval_s: int | None = None,
    ) -> int:
        """Start a session on the chair (dated back to ``started_at``), first ending one left
        open there."""
        body: dict[str, object] = {
            "chair_id": chair_id,
            "protocol": protocol,
            "patient_label": patient_label,
        }
        if started_at is not None:
            body["started_at"] = started_at.isoformat()
        if engine_clock != "wall":
            body["engine_clock"] = engine_clock
        if nibp_interval_s is not None:
            body["nibp_interval_s"] = nibp_interval_s
        response = await self.client.post("/api/sessions", json=body)
        if response.status_code == 409:
            still_open = _check(
                await self.client.get(
                    "/api/sessions", params={"chair_id": chair_id, "open": "true"}
                ),
                f"list open sessions of chair {chair_id}",
            )
            for session in still_open:
                await self.end_session(int(session["id"]))
            response = await self.client.post("/api/sessions", json=body)
        return int(_check(response, f"start a session on chair {chair_id}")["id"])

    async def mark_dose(self, session_id: int, at: datetime | None) -> datetime:
        """Mark the dose (at ``at``, or the server's now); returns the dose time it stored."""
        body = {"at": at.isoformat()} if at is not None else {}
        session = _check(
            await self.client.post(f"/api/sessions/{session_id}/dose", json=body),
            f"mark the dose of session {session_id}",
        )
        return datetime.fromisoformat(session["dose_at"])

    async def end_session(self, session_id: int) -> None:
        _check(
            await self.client.post(f"/api/sessions/{session_id}/end"),
            f"end session {session_id}",
        )

    async def record_observation(self, session_id: int, body: dict[str, Any]) -> None:
        """A nurse's observation (needs the nurse role or above)."""
        _check(
            await self.client.post(f"/api/sessions/{session_id}/observations", json=body),
            f"record an observation of session {session_id}",
        )

    async def newest_observation(self, session_id: int) -> datetime | None:
        """When the session's latest observation was made (None: none yet)."""
        listed = _check(
            await self.client.get(f"/api/sessions/{session_id}/observations"),
            f"list the observations of session {session_id}",
        )
        return max((datetime.fromisoformat(o["at"]) for o in listed), default=None)
