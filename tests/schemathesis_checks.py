"""A Schemathesis check for tests/test_schemathesis.py, loaded as its hooks file.

Schemathesis's own ``positive_data_acceptance`` fails any 422 to a request that matches the
schema. Chairside answers 422 in two shapes (README, REST API): a list of issues when the
request does not match the schema, and a sentence with ``code`` invalid_input when the service
refuses values the schema cannot express (an end before the start, a backdate of days, a
password the policy refuses). This check fails the first kind only: a request that matches the
schema and is refused as not matching it is a schema that says less than the server checks."""

from __future__ import annotations

from typing import Any

import schemathesis

# What a request that matches the schema may get besides a success: no login or the wrong
# role, no such record, a state that refuses it, a login throttle, no alert engine worker.
ALSO_ACCEPTABLE = {401, 403, 404, 409, 429, 503}


@schemathesis.check
def valid_request_passes_validation(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if 200 <= status < 300 or status in ALSO_ACCEPTABLE:
        return None
    if status == 422 and _service_refusal(response):
        return None
    raise AssertionError(
        f"a request that matches the schema was answered {status}: {response.text[:300]}"
    )


def _service_refusal(response: schemathesis.Response) -> bool:
    try:
        body: Any = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("detail"), str)
