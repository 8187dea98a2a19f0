"""Errors a user or device can cause; the API layer turns them into precise HTTP answers."""

from __future__ import annotations

from datetime import datetime


class ServiceError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class InvalidInput(ServiceError):
    status_code = 422
    code = "invalid_input"


class Unavailable(ServiceError):
    status_code = 503
    code = "unavailable"


def check_time_range(start: datetime | None, end: datetime | None) -> None:
    """A query's time range: both ends with a zone, the end after the start."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2026-11-24T10:00:00Z)")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("end must be after start")
