"""What every screen is told in its snapshot to draw the clinic the same way: the clinic's clock
format and the rule set's value limits (the tile marks a value beyond one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings
from tests.conftest import login
from tests.support import Clinic, LiveServer
from tests.test_dashboard_stream import dashboard_connect, next_of


async def snapshot_of(clinic: Clinic) -> dict:
    nurse = await login(clinic, "nurse")
    try:
        async with dashboard_connect(clinic, nurse) as conn:
            return await next_of(conn, "snapshot")
    finally:
        await nurse.aclose()


async def test_the_snapshot_gives_the_24_hour_clock_and_the_default_limits(
    clinic: Clinic,
) -> None:
    snapshot = await snapshot_of(clinic)
    assert snapshot["clock"] == "24h"
    assert snapshot["clinic_name"] is None  # the screens say "Chairside"
    limits = {(x["rule"]): x for x in snapshot["limits"]["spravato"]}
    assert limits["sbp_critical"] == {
        "rule": "sbp_critical",
        "vital": "sbp",
        "condition": "above",
        "threshold": 180,
        "priority": "high",
    }
    assert limits["spo2_critical"]["condition"] == "below"
    assert limits["spo2_critical"]["threshold"] == 88
    # Only limits on a value: no technical rule, no advisory, no rise over a baseline.
    assert "no_data" not in limits and "sbp_rise" not in limits
    assert "predose_bp_elevated" not in limits


async def test_a_clinic_on_the_12_hour_clock_and_its_own_limits(
    clinic: Clinic, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "protocol": "iv-ketamine",
                "rules": [
                    {"id": "hr_high", "threshold": 110},
                    {"id": "hr_low", "enabled": False},
                ],
            }
        )
    )
    settings = clinic.settings.model_copy(
        update={"clock": "12h", "rules_file": rules, "clinic_name": "Harbour Clinic"}
    )
    server = LiveServer(settings).start()
    try:
        snapshot = await snapshot_of(Clinic(server=server, settings=settings))
    finally:
        server.stop()
    assert snapshot["clock"] == "12h"
    assert snapshot["clinic_name"] == "Harbour Clinic"
    iv = {x["rule"]: x for x in snapshot["limits"]["iv-ketamine"]}
    assert iv["hr_high"]["threshold"] == 110
    assert "hr_low" not in iv  # switched off: nothing to mark


def test_a_clock_setting_other_than_24h_or_12h_is_refused_by_name(monkeypatch) -> None:
    monkeypatch.setenv("CHAIRSIDE_CLOCK", "am/pm")
    with pytest.raises(ValidationError) as failure:
        Settings()
    assert "clock" in str(failure.value)
    assert "'24h' or '12h'" in str(failure.value)
