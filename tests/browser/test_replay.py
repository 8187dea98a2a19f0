"""Replay of a stored session on the same widgets, clearly not live and silent; the alarm
tone's "Silence 2 min"; the wake-lock indicator; a clinician's per-patient limits."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.helpers import StreamTap, alert_message, course, send_readings, start_session
from tests.conftest import login
from tests.support import Clinic

pytestmark = pytest.mark.browser


def last_values(readings: list[dict[str, Any]]) -> dict[str, Any]:
    last: dict[str, Any] = {}
    for reading in readings:
        for vital in ("sbp", "dbp", "map", "hr", "spo2"):
            if vital in reading:
                last[vital] = reading[vital]
    return last


async def stored_session(clinic: Clinic) -> tuple[int, dict[str, Any], dict[str, Any], int]:
    """An ended IV ketamine session whose BP climbs past the alarm limits; returns
    (chair id, session, last values, number of alerts the engine raised)."""
    token, _, chair_id = await clinic.add_device("Chair 3")
    nurse = await login(clinic, "nurse")
    try:
        session = await start_session(
            nurse, chair_id, "RP-7", "iv-ketamine", timedelta(minutes=35), clinic
        )
        readings = course(40, rise=70, bp_every_min=3, until_ago_s=60)
        await send_readings(clinic, token, readings)
        response = await nurse.post(f"/api/sessions/{session['id']}/end")
        assert response.status_code == 200, response.text
        session = response.json()
        alerts = (await nurse.get("/api/alerts", params={"session_id": session["id"]})).json()
    finally:
        await nurse.aclose()
    return chair_id, session, last_values(readings), len(alerts)


async def test_a_stored_session_replays_at_600x_on_the_tile_and_chart_labelled_replay(
    clinic: Clinic, screens, screenshots: Path
) -> None:
    chair_id, session, last, alert_count = await stored_session(clinic)
    screen = await screens((1920, 1080))
    await screen.login_by_api("clinician")
    page = await screen.open()
    await expect(page.locator("#wake-lock")).to_have_text(
        re.compile(r"screen (stays on|may sleep)")
    )

    await page.locator("#replay-link").click()
    banner = page.locator("#replay-view .replay-banner")
    await expect(banner).to_contain_text("REPLAY — not live")
    row = page.locator(f".sessions-table tr[data-session-id='{session['id']}']")
    await expect(row).to_contain_text("RP-7")
    await expect(row).to_contain_text("Chair 3")
    await expect(row).to_contain_text("IV ketamine")
    await page.screenshot(path=screenshots / "replay-list-1920x1080.png")
    await row.get_by_role("link", name="▶ Replay").click()

    player = page.locator("#replay-view .replay-player")
    await expect(player).to_have_attribute("data-state", "ready")
    await expect(banner).to_contain_text(re.compile(r"session of .*2\d{3}.* · Chair 3 · RP-7"))
    tile = player.locator(".tile")
    await expect(tile.locator("[data-vital=bp] .value")).to_have_text("—")
    await expect(tile.locator(".tile-action")).to_be_hidden()
    await player.get_by_role("button", name="600×").click()
    await player.get_by_role("button", name="▶ Play").click()
    await expect(player).to_have_attribute("data-state", "playing")
    await expect(player.locator(".replay-status")).to_contain_text("Playing at 600×")
    await expect(player).to_have_attribute("data-state", "ended", timeout=15_000)

    await expect(tile.locator("[data-vital=bp] .value")).to_have_text(
        f"{last['sbp']}/{last['dbp']}"
    )
    await expect(tile.locator("[data-vital=bp] .map")).to_have_text(f"MAP {last['map']}")
    await expect(tile.locator("[data-vital=hr] .value")).to_have_text(str(last["hr"]))
    await expect(tile.locator("[data-vital=spo2] .value")).to_have_text(str(last["spo2"]))
    await expect(tile.locator(".monitor")).not_to_contain_text("live")
    traces = await page.evaluate(
        "() => document.querySelector('.replay-chart').data.map(t => [t.name, t.y.length, t.y.at(-1)])"
    )
    assert traces[0][0] == "SBP" and traces[0][2] == last["sbp"], traces
    assert traces[2][0] == "HR" and traces[2][2] == last["hr"], traces
    assert all(length > 5 for _, length, _ in traces), traces
    assert alert_count > 0  # the engine raised alerts as BP climbed past 160 and 180
    log = player.locator(".replay-log li")
    assert await log.count() >= alert_count
    await expect(log.filter(has_text=re.compile(r"SBP .* · raised")).first).to_be_visible()
    await expect(tile).not_to_have_css("animation-name", "flash-high")
    await page.wait_for_timeout(300)
    await page.screenshot(path=screenshots / "replay-1920x1080.png")

    # The live screen's own state is untouched and not confused with the replay.
    await expect(page.locator("#live-state")).to_have_text("● LIVE")
    await expect(page.locator("#not-live-banner")).to_be_hidden()
    await expect(page.locator("#tiles")).to_be_hidden()
    tones = await page.evaluate("() => window.chairside.sound.tones")
    assert tones == 0  # a replay never sounds
    await player.get_by_role("button", name="⟲ Restart").click()
    await expect(tile.locator("[data-vital=bp] .value")).to_have_text("—")
    # The session started 95 min ago; readings run from 41 to 1 min ago, BP rising to 194.
    await player.locator(".replay-seek").fill(str(80 * 60 * 1000))
    await expect(tile.locator("[data-vital=bp] .value")).to_have_text(re.compile(r"^1[56]\d/"))

    await page.locator("#replay-link").click()  # now "Back to live"
    await expect(page.locator("#replay-view")).to_be_hidden()
    await expect(page.locator(f".tile[data-chair-id='{chair_id}']")).to_be_visible()
    await expect(page.locator("#replay-link")).to_have_text("⟲ Replay")


async def test_silence_pauses_the_tone_for_two_minutes_until_a_new_alert(
    clinic: Clinic, screens
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 1")
    nurse = await login(clinic, "nurse")
    session = await start_session(nurse, chair_id, "AB")
    await nurse.aclose()
    screen = await screens()
    await screen.login_by_api("clinician")
    tap = StreamTap()
    await tap.attach(screen.page)
    page = await screen.open()
    silence = page.locator("#silence")
    await page.locator("#sound-toggle").click()
    await expect(page.locator("#sound-toggle")).to_have_attribute("data-sound", "on")
    await expect(silence).to_have_text("⊘ Silence 2 min")

    tap.inject(alert_message(id=9101, chair_id=chair_id, session_id=session["id"]))
    await page.wait_for_function("() => window.chairside.sound.tones >= 1")
    await silence.click()
    await expect(silence).to_have_attribute("data-silenced", "true")
    await expect(silence).to_contain_text(re.compile(r"silenced [12]:\d\d"))
    before = await page.evaluate("() => window.chairside.sound.tones")
    await page.wait_for_timeout(5600)  # a high alarm repeats every 5 s
    assert await page.evaluate("() => window.chairside.sound.tones") == before
    await expect(page.locator("#alert-list [data-alert-id='9101']")).to_be_visible()
    tile = page.locator(f".tile[data-chair-id='{chair_id}']")
    await expect(tile).to_have_attribute("data-priority", "high")

    tap.inject(
        alert_message(
            id=9102, chair_id=chair_id, session_id=session["id"], message="SpO₂ 86 < 88 %"
        )
    )
    await expect(silence).to_have_attribute("data-silenced", "false")
    await page.wait_for_function(f"() => window.chairside.sound.tones > {before}")
    await silence.click()
    await expect(silence).to_have_attribute("data-silenced", "true")
    await silence.click()  # resume by hand
    await expect(silence).to_have_text("⊘ Silence 2 min")


async def test_a_clinician_sets_per_patient_limits_and_the_limit_line_moves(
    clinic: Clinic, screens
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 1")
    nurse = await login(clinic, "nurse")
    session = await start_session(nurse, chair_id, "AB")
    try:
        pages = {}
        for name in ("clinician", "nurse"):
            screen = await screens()
            await screen.login_by_api(name)
            pages[name] = await screen.open()
            await pages[name].locator(f".tile[data-chair-id='{chair_id}'] .chair-name").click()
            await expect(pages[name].locator(".detail-chart .main-svg").first).to_be_visible()
        await expect(pages["nurse"].locator(".limits-form")).to_have_count(0)

        page = pages["clinician"]
        shapes = "() => document.querySelector('.detail-chart').layout.shapes.map(s => s.y0)"
        assert 180 in await page.evaluate(shapes)
        form = page.locator(".limits-form")
        requests: list[str] = []
        page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
        await form.locator("input[name=sbp_critical]").fill("170")
        await form.get_by_role("button", name="Save limits").click()
        await expect(form.locator("[role=status]")).to_have_text("Saved.")
        assert any(
            r.startswith("PUT") and r.endswith(f"/api/sessions/{session['id']}/limits")
            for r in requests
        ), requests
        stored = (await nurse.get(f"/api/sessions/{session['id']}")).json()
        assert stored["limit_overrides"]["sbp_critical"]["threshold"] == 170
        await page.wait_for_function(f"() => ({shapes})().includes(170)")
        assert 180 not in await page.evaluate(shapes)
    finally:
        await nurse.aclose()
