"""The clinic screen in a real Chromium: login, live tiles, NOT LIVE and catch-up, roles."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import expect

from tests.browser.helpers import StreamTap, alert_message, iso, now, send_readings, start_session
from tests.conftest import login
from tests.support import Clinic

pytestmark = pytest.mark.browser


async def test_login_form_opens_the_clinic_view(clinic: Clinic, screens) -> None:
    await clinic.add_device("Chair 1")
    screen = await screens()
    page = screen.page
    await page.goto(screen.base_url + "/")
    await expect(page.locator("#login-form")).to_be_visible()
    await page.fill("#login-name", "nurse")
    await page.fill("#login-password", "wrong password")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Wrong name or password.")
    from tests.support import PASSWORD

    await page.fill("#login-password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#clinic-view")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("● LIVE")
    await expect(page.locator("#user-badge")).to_have_text("nurse · nurse")
    await expect(page.locator(".tile .chair-name")).to_have_text(["Chair 1"])
    await expect(page.locator("#rule-set")).to_contain_text("Default rules")


async def test_a_monitor_reading_appears_in_its_own_tile_within_a_second(
    clinic: Clinic, screens
) -> None:
    await clinic.add_device("Chair 1")
    token, _, chair_id = await clinic.add_device("Chair 2")
    screen = await screens()
    await screen.login_by_api("nurse")
    page = await screen.open()
    tile = page.locator(f".tile[data-chair-id='{chair_id}']")
    other = page.locator(".tile").filter(has_text="Chair 1")
    await expect(tile.locator("[data-vital=bp] .value")).to_have_text("—")
    sent = time.monotonic()
    await send_readings(
        clinic,
        token,
        [
            {
                "type": "reading",
                "seq": 1,
                "ts": iso(now()),
                "sbp": 141,
                "dbp": 92,
                "map": 108,
                "hr": 77,
                "spo2": 96,
            }
        ],
    )
    await expect(tile.locator("[data-vital=bp] .value")).to_have_text("141/92", timeout=1000)
    assert time.monotonic() - sent < 1.5
    await expect(tile.locator("[data-vital=bp] .map")).to_have_text("MAP 108")
    await expect(tile.locator("[data-vital=hr] .value")).to_have_text("77")
    await expect(tile.locator("[data-vital=spo2] .value")).to_have_text("96")
    await expect(tile.locator("[data-vital=bp]")).to_have_attribute("data-freshness", "fresh")
    await expect(other.locator("[data-vital=bp] .value")).to_have_text("—")


async def test_a_stale_blood_pressure_is_struck_through_with_its_age(
    clinic: Clinic, screens
) -> None:
    from datetime import timedelta

    token, _, chair_id = await clinic.add_device("Chair 1")
    old = now() - timedelta(minutes=25)
    await send_readings(
        clinic,
        token,
        [{"type": "reading", "seq": 1, "ts": iso(old), "sbp": 150, "dbp": 95, "map": 113}],
    )
    screen = await screens()
    await screen.login_by_api("nurse")
    page = await screen.open()
    bp = page.locator(f".tile[data-chair-id='{chair_id}'] [data-vital=bp]")
    await expect(bp).to_have_attribute("data-freshness", "stale")
    await expect(bp.locator(".age")).to_have_text("⚠ 25 min old")
    decoration = await bp.locator(".value").evaluate("e => getComputedStyle(e).textDecorationLine")
    assert decoration == "line-through"


async def test_losing_the_server_shows_not_live_and_it_comes_back_with_what_it_missed(
    clinic: Clinic, screens
) -> None:
    token, _, chair_id = await clinic.add_device("Chair 1")
    screen = await screens()
    await screen.login_by_api("nurse")
    page = await screen.open()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    banner = page.locator("#not-live-banner")
    await expect(banner).to_be_hidden()

    server = clinic.server
    stopped = time.monotonic()
    await asyncio.to_thread(server.stop)
    await expect(banner).to_be_visible(timeout=5000)
    assert time.monotonic() - stopped < 5
    await expect(banner).to_contain_text("NOT LIVE")
    await expect(page.locator("#live-state")).to_have_text("✕ NOT LIVE")
    opacity = await page.locator("#tiles").evaluate("e => getComputedStyle(e).opacity")
    assert float(opacity) < 0.5

    await asyncio.to_thread(server.start)
    await send_readings(
        clinic,
        token,
        [{"type": "reading", "seq": 1, "ts": iso(now()), "sbp": 133, "dbp": 81, "map": 98}],
    )
    tile = page.locator(f".tile[data-chair-id='{chair_id}']")
    await expect(page.locator("#live-state")).to_have_text("● LIVE", timeout=15_000)
    await expect(banner).to_be_hidden()
    await expect(tile.locator("[data-vital=bp] .value")).to_have_text("133/81")
    assert any("since=" in url for url in sockets), sockets


async def test_a_silent_stream_without_heartbeats_is_not_live_within_five_seconds(
    clinic: Clinic, screens
) -> None:
    await clinic.add_device("Chair 1")
    screen = await screens()
    await screen.login_by_api("nurse")
    muted = asyncio.Event()

    async def relay(ws) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: None if muted.is_set() else ws.send(message))

    await screen.page.route_web_socket("**/ws/dashboard*", relay)
    page = await screen.open()
    muted.set()
    since = time.monotonic()
    await expect(page.locator("#not-live-banner")).to_be_visible(timeout=5000)
    assert time.monotonic() - since < 5.5
    muted.clear()
    await expect(page.locator("#live-state")).to_have_text("● LIVE", timeout=15_000)


async def test_only_clinicians_get_an_acknowledge_button(clinic: Clinic, screens) -> None:
    _, _, chair_id = await clinic.add_device("Chair 1")
    nurse_client = await login(clinic, "nurse")
    session = await start_session(nurse_client, chair_id, "AB")
    await nurse_client.aclose()
    alert = alert_message(id=9007, chair_id=chair_id, session_id=session["id"])
    pages = {}
    for name in ("nurse", "clinician"):
        screen = await screens()
        await screen.login_by_api(name)
        tap = StreamTap()
        await tap.attach(screen.page)
        pages[name] = await screen.open()
        tap.inject(alert)
    for page in pages.values():
        item = page.locator("#alert-list [data-alert-id='9007']")
        await expect(item).to_contain_text("▲ HIGH")
        await expect(item).to_contain_text("SBP 184 ≥ 180 mmHg")
        tile = page.locator(f".tile[data-chair-id='{chair_id}']")
        await expect(tile).to_have_attribute("data-priority", "high")
        await expect(tile.locator(".tile-alert")).to_contain_text("▲ HIGH")
    await expect(pages["nurse"].locator(".ack-button")).to_have_count(0)
    await expect(pages["nurse"].locator("#alert-list")).to_contain_text("a clinician acknowledges")
    await expect(pages["clinician"].locator(".ack-button")).to_have_count(1)


async def test_a_nurse_starts_a_session_from_the_tile(clinic: Clinic, screens) -> None:
    _, _, chair_id = await clinic.add_device("Chair 1")
    screen = await screens()
    await screen.login_by_api("nurse")
    page = await screen.open()
    tile = page.locator(f".tile[data-chair-id='{chair_id}']")
    await tile.get_by_role("button", name="Start session").click()
    dialog = page.locator("#session-dialog")
    await dialog.locator("select[name=protocol]").select_option("iv-ketamine")
    await dialog.locator("input[name=patient_label]").fill("  ")
    await dialog.get_by_role("button", name="Start session").click()
    await expect(dialog.locator(".form-error")).to_contain_text("patient_label")
    await dialog.locator("input[name=patient_label]").fill("JD-17")
    await dialog.locator("input[name=nibp_interval_min]").fill("10")
    await dialog.get_by_role("button", name="Start session").click()
    await expect(dialog).to_be_hidden()
    assert await clinic.query("SELECT nibp_interval_s FROM treatment_session") == [(600,)]
    await expect(tile.locator(".patient")).to_have_text("JD-17")
    await expect(tile.locator(".protocol")).to_have_text("IV ketamine")
    await expect(tile.locator(".tile-timer")).to_have_text("Not dosed yet")
    await tile.get_by_role("button", name="Mark dose").click()
    await dialog.get_by_role("button", name="Mark dose now").click()
    await expect(tile.locator(".tile-timer")).to_contain_text("discharge review at 100 min")
