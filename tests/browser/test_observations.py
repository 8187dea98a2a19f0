"""The nurse's observations and the discharge in a real Chromium: a sedation score recorded on a
tile in a few taps shows on every screen, in the chair's detail and in the export; a deep score
turns the chair red; a chair with a capnograph shows RR and EtCO2 in full at every size; the
clinician signs the discharge checklist and the session ends. Screenshots are saved to look at
(test-artifacts/screenshots/)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import (
    breathing,
    course,
    observe,
    send_readings,
    start_session,
)
from tests.browser.layout import cut_off_text
from tests.browser.scene import build_clinic
from tests.conftest import login
from tests.support import Clinic

pytestmark = pytest.mark.browser

WALL, LAPTOP, TABLET = (1920, 1080), (1366, 768), (768, 1024)


async def clinic_screen(screens: Any, viewport: tuple[int, int], user: str) -> Page:
    screen = await screens(viewport)
    await screen.login_by_api(user)
    page = await screen.open()
    await expect(page.locator(".tile-chart .main-svg").first).to_be_visible()
    return page


async def assert_nothing_cut_off(page: Page, what: str) -> None:
    problems = await cut_off_text(page)
    assert problems == [], f"{what}: " + "\n".join(problems)


async def one_chair(clinic: Clinic, name: str = "Chair 1", label: str = "AB") -> tuple[int, int]:
    """A chair in session, dosed 20 min ago, with 25 min of readings; (chair id, session id)."""
    token, _, chair_id = await clinic.add_device(name)
    nurse = await login(clinic, "nurse")
    try:
        session = await start_session(
            nurse, chair_id, label, dose_ago=timedelta(minutes=20), clinic=clinic
        )
    finally:
        await nurse.aclose()
    await send_readings(clinic, token, course(25))
    return chair_id, session["id"]


async def test_a_sedation_score_recorded_on_a_tile_shows_on_every_screen_and_in_the_export(
    clinic: Clinic, screens, screenshots: Path
) -> None:
    chair_id, session_id = await one_chair(clinic)
    wall = await clinic_screen(screens, WALL, "nurse")
    tablet = await clinic_screen(screens, TABLET, "clinician")
    tile = wall.locator(f".tile[data-chair-id='{chair_id}']")
    await expect(tile.locator(".tile-obs")).to_be_hidden()

    # Three taps: Observe, the score, Save (a dissociation level is one more).
    await tile.get_by_role("button", name="Observe").click()
    dialog = wall.locator("#observe-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("h2")).to_have_text("Observe — Chair 1 · AB")
    scores = dialog.locator(".choice.moaas")
    await expect(scores).to_have_text(
        [
            "5Responds readily to name spoken in normal tone",
            "4Lethargic response to name spoken in normal tone",
            "3Responds only after name is called loudly and/or repeatedly",
            "2Responds only after mild prodding or shaking",
            "1Responds only after painful trapezius squeeze",
            "0No response after painful trapezius squeeze",
        ]
    )
    save = dialog.get_by_role("button", name="Save observation")
    await expect(save).to_be_disabled()  # nothing chosen yet
    await dialog.get_by_role("button", name=re.compile(r"^4 ?Lethargic")).click()
    await (
        dialog.get_by_role("group", name="Dissociation").get_by_role("button", name="Mild").click()
    )
    await expect(
        dialog.get_by_role("group", name="Dissociation").get_by_role("button", name="Mild")
    ).to_have_attribute("aria-pressed", "true")
    await assert_nothing_cut_off(wall, "observation dialog on a wall")
    await wall.screenshot(path=screenshots / "observe-dialog-1920x1080.png")
    await save.click()
    await expect(dialog).to_be_hidden()
    await expect(tile.locator(".tile-obs")).to_have_text(
        re.compile(r"^MOAA/S 4 · dissoc\. mild · \d+\u00a0s ago$")
    )

    # The other screen, a clinician's tablet, has it within a moment of the stream.
    other = tablet.locator(f".tile[data-chair-id='{chair_id}']")
    await expect(other.locator(".tile-obs")).to_contain_text("MOAA/S 4 · dissoc. mild")
    await expect(other.locator(".tile-chart")).to_have_attribute("data-observations", "1")
    await other.locator(".chair-name").click()
    detail = tablet.locator("#detail-view")
    item = detail.locator(".observation-item")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text(
        "MOAA/S 4 — Lethargic response to name spoken in normal tone"
    )
    await expect(item).to_contain_text("Dissociation: mild")
    await expect(item).to_contain_text("by nurse")
    await expect(item.locator(".obs-time")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))
    await expect(detail.locator(".detail-chart")).to_have_attribute("data-observations", "1")
    await tablet.wait_for_timeout(500)
    await assert_nothing_cut_off(tablet, "detail view with an observation on a tablet")
    await tablet.screenshot(path=screenshots / "observation-detail-768x1024.png")

    # From the detail view too, on a tablet: breathing, a note.
    await detail.get_by_role("button", name="Observe").click()
    dialog = tablet.locator("#observe-dialog")
    await dialog.get_by_role("button", name=re.compile(r"^5 ?Responds readily")).click()
    await dialog.get_by_role("group", name="Breathing").get_by_role("button", name="Normal").click()
    await dialog.get_by_label("Note").fill("awake, chatting")
    await assert_nothing_cut_off(tablet, "observation dialog on a tablet")
    await tablet.screenshot(path=screenshots / "observe-dialog-768x1024.png")
    await dialog.get_by_role("button", name="Save observation").click()
    await expect(item).to_have_count(2)
    await expect(item.first).to_contain_text("awake, chatting")
    await expect(tile.locator(".tile-obs")).to_contain_text("MOAA/S 5 · resp. normal")

    # The replay of the session shows them where they fell, in its log, tile and chart.
    await wall.evaluate(f"() => {{ location.hash = '#replay/{session_id}'; }}")
    player = wall.locator("#replay-view .replay-player")
    await expect(player).to_have_attribute("data-state", "ready")
    await player.locator(".replay-seek").evaluate(
        "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }"
    )
    observed = player.locator(".replay-log li.observation-event")
    await expect(observed).to_have_count(2)
    await expect(observed.last).to_contain_text("MOAA/S 4 · dissoc. mild · by nurse")
    await expect(player.locator(".tile .tile-obs")).to_contain_text("MOAA/S 5 · resp. normal")
    await expect(player.locator(".replay-chart")).to_have_attribute("data-observations", "2")
    await wall.wait_for_timeout(300)
    await wall.screenshot(path=screenshots / "observations-replay-1920x1080.png")

    nurse = await login(clinic, "nurse")
    try:
        record = (await nurse.get(f"/api/sessions/{session_id}/export")).json()
    finally:
        await nurse.aclose()
    assert [
        (o["moaas"], o["dissociation"], o["respiratory"], o["recorded_by"], o["note"])
        for o in record["observations"]
    ] == [(4, "mild", None, "nurse", None), (5, None, "normal", "clinician", "awake, chatting")]


async def test_a_deep_sedation_score_turns_the_chair_red_with_a_high_alert(
    clinic: Clinic, screens, screenshots: Path
) -> None:
    chair_id, _ = await one_chair(clinic, "Chair 2", "CK")
    page = await clinic_screen(screens, LAPTOP, "clinician")
    tile = page.locator(f".tile[data-chair-id='{chair_id}']")
    await tile.get_by_role("button", name="Observe").click()
    dialog = page.locator("#observe-dialog")
    await dialog.get_by_role("button", name=re.compile(r"^1 ?Responds only after painful")).click()
    await dialog.get_by_role("button", name="Save observation").click()
    await expect(tile).to_have_attribute("data-priority", "high")
    await expect(tile.locator(".tile-alert")).to_contain_text("▲ HIGH")
    await expect(tile.locator(".tile-alert")).to_contain_text("MOAA/S")
    await expect(tile.locator(".tile-obs")).to_have_attribute("data-alarm", "high")
    item = page.locator("#alert-list .alert-item.prio-high")
    await expect(item).to_contain_text("MOAA/S")
    await page.wait_for_timeout(300)
    await assert_nothing_cut_off(page, "a chair with a deep sedation alert")
    await page.screenshot(path=screenshots / "sedation-alert-1366x768.png")


async def test_rr_and_etco2_show_in_full_on_a_wall_a_laptop_and_a_tablet(
    clinic: Clinic, screens, screenshots: Path
) -> None:
    """A 12-chair clinic where three monitors have a capnograph (one breathing slowly, under
    the low RR limit) and several chairs have an observation: every tile still fits."""
    made = await build_clinic(clinic, 12)
    nurse = await login(clinic, "nurse")
    capnographs = {"Chair 1": (15, 38), "Chair 3": (6, 54), "Chair 9": (12, 41)}
    try:
        for name, (rr, etco2) in capnographs.items():
            token = await clinic_token(clinic, made[name][0])
            await send_readings(clinic, token, breathing(3, rr=rr, etco2=etco2))
        for name, findings in {
            "Chair 1": {"moaas": 5, "dissociation": "none"},
            "Chair 2": {"moaas": 4, "dissociation": "moderate", "respiratory": "normal"},
            "Chair 3": {"moaas": 3, "respiratory": "depressed", "dissociation": "severe"},
            "Chair 8": {"dissociation": "mild"},
        }.items():
            await observe(nurse, made[name][1], **findings)
    finally:
        await nurse.aclose()

    for viewport, user in ((WALL, "clinician"), (LAPTOP, "clinician"), (TABLET, "nurse")):
        page = await clinic_screen(screens, viewport, user)
        slow = page.locator(f".tile[data-chair-id='{made['Chair 3'][0]}']")
        await expect(slow.locator(".resp")).to_be_visible()
        await expect(slow.locator("[data-vital=rr] .value")).to_have_text("6")
        await expect(slow.locator("[data-vital=etco2] .value")).to_have_text("54")
        # Beyond their limits (RR ≤ 8, EtCO2 ≥ 50): an arrow says which way.
        await expect(slow.locator("[data-vital=rr] .beyond-mark")).to_have_text("↓")
        await expect(slow.locator("[data-vital=etco2] .beyond-mark")).to_have_text("↑")
        await expect(slow.locator(".tile-obs")).to_contain_text("MOAA/S 3")
        plain = page.locator(f".tile[data-chair-id='{made['Chair 2'][0]}']")
        await expect(plain.locator(".resp")).to_be_hidden()  # no capnograph: as before
        await expect(plain.locator(".tile-obs")).to_contain_text("dissoc. moderate")
        await expect(slow.locator(".tile-chart")).to_have_attribute("data-capnography", "true")
        await page.wait_for_timeout(1500)  # one tick of ages and fits
        size = f"{viewport[0]}x{viewport[1]}"
        await assert_nothing_cut_off(page, f"capnography tiles at {size}")
        await page.screenshot(path=screenshots / f"capnography-12-chairs-{size}.png")
        if viewport == WALL:
            alarm = slow.locator("[data-vital=rr]")
            await expect(alarm).to_have_attribute("data-alarm", re.compile("medium|high"))
            await slow.locator(".chair-name").click()
            detail = page.locator("#detail-view")
            await expect(detail.locator(".readings-table thead")).to_contain_text("EtCO₂")
            await expect(detail.locator(".detail-chart")).to_have_attribute(
                "data-capnography", "true"
            )
            await page.wait_for_timeout(500)
            await assert_nothing_cut_off(page, "detail view with capnography")
            await page.screenshot(path=screenshots / "capnography-detail-1920x1080.png")


async def clinic_token(clinic: Clinic, chair_id: int) -> str:
    """A second monitor for a chair (its capnograph), with a token of its own."""
    names = await clinic.query("SELECT name FROM chair WHERE id = :c", c=chair_id)
    token, _, _ = await clinic.add_device(names[0][0])
    return token


async def test_a_clinician_signs_the_discharge_checklist_and_the_session_ends(
    clinic: Clinic, screens, screenshots: Path
) -> None:
    chair_id, session_id = await one_chair(clinic, "Chair 4", "DS")
    nurse = await login(clinic, "nurse")
    try:
        await observe(nurse, session_id, moaas=5, dissociation="none", respiratory="normal")
    finally:
        await nurse.aclose()

    # A nurse sees the checklist, read-only.
    tablet = await clinic_screen(screens, TABLET, "nurse")
    await tablet.locator(f".tile[data-chair-id='{chair_id}'] .chair-name").click()
    detail = tablet.locator("#detail-view")
    record = detail.get_by_role("link", name="Print record")
    await expect(record).to_have_attribute("href", f"/api/sessions/{session_id}/report.pdf")
    await detail.get_by_role("button", name="Discharge…").click()
    dialog = tablet.locator("#discharge-dialog")
    await expect(dialog.locator(".discharge-item")).to_have_count(7)
    await expect(dialog).to_contain_text("A clinician reviews and signs the discharge.")
    await expect(dialog.get_by_role("button", name=re.compile("Sign"))).to_have_count(0)
    await expect(dialog.locator("[data-item=sedation_resolved]")).to_have_attribute(
        "data-ok", "true"
    )
    await assert_nothing_cut_off(tablet, "discharge checklist on a tablet")
    await tablet.screenshot(path=screenshots / "discharge-nurse-768x1024.png")
    await dialog.get_by_role("button", name="Close").click()

    wall = await clinic_screen(screens, WALL, "clinician")
    tile = wall.locator(f".tile[data-chair-id='{chair_id}']")
    await tile.locator(".chair-name").click()
    await wall.locator("#detail-view").get_by_role("button", name="Discharge…").click()
    dialog = wall.locator("#discharge-dialog")
    sign = dialog.get_by_role("button", name="Sign discharge and end session")
    await expect(sign).to_be_visible()
    # 20 min after the dose the 2 h are not reached: the clinician has to tick that item.
    monitoring = dialog.locator("[data-item=monitoring_time]")
    await expect(monitoring).to_have_attribute("data-ok", "false")
    await expect(sign).to_be_disabled()
    for box in await dialog.locator("input[type=checkbox]:not(:checked)").all():
        await box.check()
    await dialog.get_by_label("Discharge note").fill("left with escort")
    await assert_nothing_cut_off(wall, "discharge checklist on a wall")
    await wall.screenshot(path=screenshots / "discharge-clinician-1920x1080.png")
    await sign.click()
    await expect(dialog).to_be_hidden()
    await expect(wall.locator("#detail-view .detail-title")).to_contain_text("no session")
    await wall.go_back()
    await expect(tile.locator(".protocol")).to_have_text("No session")
    # The nurse's screen hears of the end too.
    await tablet.go_back()
    await expect(tablet.locator(f".tile[data-chair-id='{chair_id}'] .protocol")).to_have_text(
        "No session"
    )
