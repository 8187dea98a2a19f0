"""An alert raised by a late reading (a monitor's catch-up batch) says when the reading was
measured as well as when the alert was raised; an alert from a fresh reading says neither."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.helpers import iso, now, send_readings, start_session
from tests.conftest import login
from tests.support import Clinic

pytestmark = pytest.mark.browser


async def test_an_alert_from_a_catch_up_batch_shows_its_measurement_time_and_that_it_came_late(
    clinic: Clinic, screens, screenshots: Path
) -> None:
    late_token, _, late_chair = await clinic.add_device("Chair 1")
    fresh_token, _, fresh_chair = await clinic.add_device("Chair 2")
    nurse = await login(clinic, "nurse")
    await start_session(nurse, late_chair, "LT")
    await start_session(nurse, fresh_chair, "FR")
    await nurse.aclose()
    screen = await screens((1280, 800))
    await screen.login_by_api("clinician")
    page = await screen.open()
    measured = now() - timedelta(minutes=6)
    batch = [
        {"seq": 1, "ts": iso(measured), "sbp": 163, "dbp": 92, "map": 116},
        {"seq": 2, "ts": iso(measured + timedelta(minutes=3)), "sbp": 166, "dbp": 94, "map": 118},
    ]
    await send_readings(clinic, late_token, [{"type": "reading", **r} for r in batch])
    fresh = [{"type": "reading", "seq": 1, "ts": iso(now()), "sbp": 165, "dbp": 90, "map": 115}]
    await send_readings(clinic, fresh_token, fresh)

    alerts = page.locator("#alert-list .alert-item")
    late = alerts.filter(has_text="LT")
    await expect(late.locator(".alert-measured")).to_be_visible()
    await expect(late.locator(".alert-measured")).to_contain_text("Measured 6 min ago")
    await expect(late.locator(".alert-measured")).to_contain_text("arrived 6 min late")
    await expect(late.locator(".alert-time")).to_have_text(re.compile(r"^\d\ss ago$"))
    on_time = alerts.filter(has_text="FR")
    await expect(on_time.locator(".alert-message")).to_contain_text("SBP 165")
    await expect(on_time.locator(".alert-measured")).to_be_hidden()
    await page.screenshot(path=str(screenshots / "late-alert.png"))
