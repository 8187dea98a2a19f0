"""A busy clinic on a wall screen, a tablet and a chair's detail view, saved as screenshots
to look at (test-artifacts/screenshots/)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import (
    StreamTap,
    alert_message,
    course,
    iso,
    now,
    send_readings,
    start_session,
)
from tests.conftest import login
from tests.support import Clinic

pytestmark = pytest.mark.browser

# chair -> (protocol, patient, dose minutes ago or None, course options); None: no session
CLINIC: dict[str, Any] = {
    "Chair 1": ("spravato", "AB", 32, {"minutes": 45, "rise": 18}),
    "Chair 2": ("spravato", "CK-204", 41, {"minutes": 50, "rise": 46, "sbp": 126}),
    "Chair 3": (
        "iv-ketamine",
        "MR",
        35,
        {"minutes": 45, "rise": 62, "sbp": 124, "bp_every_min": 3},
    ),
    "Chair 4": ("spravato", "TS", None, {"minutes": 10}),
    "Chair 5": ("spravato", "LP-88", 95, {"minutes": 60, "bp_every_min": 100}),
    "Chair 6": ("iv-ketamine", "GH", 20, {"minutes": 30, "until_ago_s": 180}),
    "Chair 7": ("iv-ketamine", "NW", 105, {"minutes": 60}),
    "Chair 8": ("spravato", "EF", 55, {"minutes": 60, "hr": 112}),
    "Chair 9": ("spravato", "QZ", 12, {"minutes": 25, "rise": 8}),
    "Chair 10": ("iv-ketamine", "UV-3", 8, {"minutes": 20}),
    "Chair 11": None,
    "Chair 12": None,
}


async def build_clinic(clinic: Clinic) -> dict[str, tuple[int, int | None]]:
    """Chairs, sessions and an hour of readings; returns chair name -> (chair id, session id)."""
    nurse = await login(clinic, "nurse")
    made: dict[str, tuple[int, int | None]] = {}
    try:
        for name, plan in CLINIC.items():
            token, _, chair_id = await clinic.add_device(name)
            if plan is None:
                made[name] = (chair_id, None)
                continue
            protocol, label, dose_min, shape = plan
            session = await start_session(
                nurse,
                chair_id,
                label,
                protocol,
                None if dose_min is None else timedelta(minutes=dose_min),
                clinic,
            )
            made[name] = (chair_id, session["id"])
            readings = course(**shape)
            if name == "Chair 5":  # one BP 24 min ago: stale on the screen
                readings[-290] |= {"sbp": 138, "dbp": 86, "map": 103}
            await send_readings(clinic, token, readings)
    finally:
        await nurse.aclose()
    return made


def alerts_for(made: dict[str, tuple[int, int | None]]) -> list[str]:
    def at(name: str, **fields: Any) -> str:
        chair_id, session_id = made[name]
        return alert_message(chair_id=chair_id, session_id=session_id, **fields)

    ago = lambda minutes: iso(now() - timedelta(minutes=minutes))  # noqa: E731
    # Chosen ids stay clear of the engine's own alerts, which arrive beside these.
    return [
        at(
            "Chair 8",
            id=9081,
            priority="medium",
            rule="hr_high",
            vital="hr",
            value=124,
            message="HR 124 ≥ 120 /min for 15 s",
            state="acknowledged",
            acknowledged_by="clinician",
            acknowledged_at=ago(1),
            ack_note="anxious, re-check 5 min",
            raised_at=ago(6),
        ),
        at(
            "Chair 7",
            id=9071,
            priority="low",
            kind="advisory",
            rule="discharge_review",
            vital=None,
            value=None,
            message="Discharge review due (100 min after dose)",
            raised_at=ago(5),
        ),
    ]


async def show_clinic(
    screens: Any, viewport: tuple[int, int], alerts: list[str], user: str
) -> Page:
    screen = await screens(viewport)
    await screen.login_by_api(user)
    tap = StreamTap()
    await tap.attach(screen.page)
    page = await screen.open()
    for message in alerts:
        tap.inject(message)
    await expect(page.locator(".tile-chart .main-svg").first).to_be_visible()
    await page.wait_for_timeout(1500)  # charts filled from history, one tick of ages
    return page


async def test_clinic_screens_look_right(clinic: Clinic, screens, screenshots: Path) -> None:
    made = await build_clinic(clinic)
    alerts = alerts_for(made)

    wall = await show_clinic(screens, (1920, 1080), alerts, "clinician")
    await expect(wall.locator(".tile")).to_have_count(12)
    acknowledged = wall.locator(f".tile[data-chair-id='{made['Chair 8'][0]}']")
    await expect(acknowledged.locator(".tile-alert")).to_contain_text("MEDIUM")
    await expect(
        wall.locator(f".tile[data-chair-id='{made['Chair 5'][0]}'] [data-vital=bp]")
    ).to_have_attribute("data-freshness", "stale")
    await expect(
        wall.locator(f".tile[data-chair-id='{made['Chair 6'][0]}'] .monitor")
    ).to_contain_text("Monitor silent")
    await wall.screenshot(path=screenshots / "clinic-1920x1080.png")

    tablet = await show_clinic(screens, (1024, 768), alerts, "nurse")
    await tablet.screenshot(path=screenshots / "clinic-1024x768.png")
    await tablet.screenshot(path=screenshots / "clinic-1024x768-full.png", full_page=True)

    await wall.locator(f".tile[data-chair-id='{made['Chair 3'][0]}'] .chair-name").click()
    detail = wall.locator("#detail-view")
    await expect(detail.locator(".detail-title")).to_contain_text("Chair 3 · MR · IV ketamine")
    await expect(detail.locator(".readings-table tbody tr").first).to_be_visible()
    await expect(detail.locator(".detail-chart .main-svg").first).to_be_visible()
    await wall.wait_for_timeout(500)
    await wall.screenshot(path=screenshots / "chair-detail-1920x1080.png")
    await wall.go_back()
    await expect(detail).to_be_hidden()
