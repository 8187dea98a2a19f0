"""The error answers each REST operation documents in the OpenAPI (its ``responses=``).

Two shapes (README, REST API): a request that does not match the schema gets FastAPI's list of
issues, one per field (``ValidationErrorRead``); every other error, a 422 that the service
refuses included, gets one sentence and a code (``ErrorRead``)."""

from __future__ import annotations

from typing import Any

from app.models.schemas import ErrorRead, ValidationErrorRead

Responses = dict[int | str, dict[str, Any]]

DESCRIPTIONS = {
    400: "the body cannot be read as JSON text (it is not UTF-8, for one)",
    401: "not logged in, or the login has ended",
    403: "the user's role does not allow this, or a browser sent it from a page of another "
    "origin (Origin or Referer; see README, Security)",
    404: "no such record: the id in the path, or one the request names",
    409: "what the record is now does not allow this (e.g. the session has ended, the chair "
    "has an open session, the name is taken)",
    422: "the request does not match the schema (`detail` is a list, one issue per field), or "
    "the service refuses its values (`detail` is a sentence, `code` invalid_input: e.g. a dose "
    "time in the future, a limit outside its bounds, a password the policy refuses)",
}


def errors(*statuses: int) -> Responses:
    """The OpenAPI ``responses`` of these error statuses, each with its body's schema."""
    documented: Responses = {}
    for status in statuses:
        model: Any = ValidationErrorRead | ErrorRead if status == 422 else ErrorRead
        documented[status] = {"model": model, "description": DESCRIPTIONS[status]}
    return documented
