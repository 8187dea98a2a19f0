"""Errors a user or device can cause; the API layer turns them into precise HTTP answers."""

from __future__ import annotations


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
