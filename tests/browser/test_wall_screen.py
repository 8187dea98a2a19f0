"""The clinic screen as a nurse reads it at a wall 3 m away, on a laptop and on a tablet: every
value in full at every size and chair count, the alert list in reach, the sound state across
the screen when alerts wait in silence, one clock format. Screenshots are saved to look at
(test-artifacts/screenshots/)."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, RestartableServer
from tests.browser.helpers import (
    StreamTap,
    alert_message,
    iso,
    now,
    send_readings,
    start_session,
)
from tests.browser.layout import cut_off_text
from tests.browser.scene import Made, build_clinic, injected_alerts
from tests.conftest import login
from tests.support import PASSWORD, Clinic

pytestmark = pytest.mark.browser

WALL, LAPTOP, TABLET = (1920, 1080), (1366, 768), (768, 1024)
CLOCK_24H = re.compile(r"^\d{2}:\d{2}$")
CLOCK_12H = re.compile(r"^\d{1,2}:\d{2}\s?[AP]M$")


async def show_clinic(
    screens: Any, viewport: tuple[int, int], alerts: list[str], user: str = "clinician"
) -> Page:
    screen = await screens(viewport)
    await screen.login_by_api(user)
    tap = StreamTap()
    await tap.attach(screen.page)
    page = await screen.open()
    for message in alerts:
        tap.inject(message)
    await expect(page.locator(".tile-chart .main-svg").first).to_be_visible()
    await page.wait_for_timeout(1500)  # charts filled from history, one tick of ages and fits
    return page


async def assert_nothing_cut_off(page: Page, what: str) -> None:
    problems = await cut_off_text(page)
    assert problems == [], f"{what}: " + "\n".join(problems)


async def tiles_all_in_view(page: Page) -> bool:
    return bool(
        await page.evaluate(
            "() => { const t = document.getElementById('tiles');"
            " return t.scrollHeight <= t.clientHeight + 1; }"
        )
    )


# A few chairs, the most a laptop shows without scrolling, the most a wall shows: between them
# every layout rule (columns, tile shrink, scrolling rows, the tablet drawer) is met.
@pytest.mark.parametrize("chairs", [4, 8, 24])
async def test_every_value_shows_in_full_on_a_wall_a_laptop_and_a_tablet(
    chairs: int, clinic: Clinic, screens, screenshots: Path
) -> None:
    made = await build_clinic(clinic, chairs)
    alerts = injected_alerts(made)

    wall = await show_clinic(screens, WALL, alerts)
    await expect(wall.locator(".tile")).to_have_count(chairs)
    await assert_nothing_cut_off(wall, f"wall, {chairs} chairs")
    # A wall screen shows every chair and the alert list beside them, with nothing to scroll.
    assert await tiles_all_in_view(wall), f"{chairs} chairs do not fit the wall screen"
    await expect(wall.locator("#alerts")).to_be_visible()
    await expect(wall.locator("#alert-summary")).to_be_hidden()
    await wall.screenshot(path=screenshots / f"wall-{chairs}-chairs-1920x1080.png")

    laptop = await show_clinic(screens, LAPTOP, alerts)
    await assert_nothing_cut_off(laptop, f"laptop, {chairs} chairs")
    await expect(laptop.locator("#alerts")).to_be_visible()
    if chairs <= 8:  # more than that on a laptop: rows of readable tiles that scroll
        assert await tiles_all_in_view(laptop), f"{chairs} chairs do not fit 1366x768"
    await laptop.screenshot(path=screenshots / f"laptop-{chairs}-chairs-1366x768.png")

    # A tablet: the strip under the header counts the alerts by priority; the list is a
    # drawer over the tiles, one tap away however many chairs there are.
    tablet = await show_clinic(screens, TABLET, alerts, "nurse")
    await assert_nothing_cut_off(tablet, f"tablet, {chairs} chairs")
    strip = tablet.locator("#alert-summary")
    await expect(strip).to_be_visible()
    highs = await tablet.locator("#alert-list .alert-item.prio-high").count()
    assert highs >= 1
    await expect(strip).to_contain_text(f"▲ {highs} HIGH")
    await expect(strip).to_have_attribute("data-priority", "high")
    await expect(tablet.locator("#alerts")).to_be_hidden()
    await tablet.screenshot(path=screenshots / f"tablet-{chairs}-chairs-768x1024.png")
    await strip.click()
    await expect(tablet.locator("#alerts")).to_be_visible()
    await expect(tablet.locator("#alert-list .alert-item").first).to_be_in_viewport()
    acknowledged = tablet.locator("#alert-list [data-alert-id='9011']")
    await acknowledged.scroll_into_view_if_needed()  # the drawer scrolls on its own
    await expect(acknowledged).to_be_in_viewport()
    await expect(tablet.locator("#alert-summary")).to_be_in_viewport()
    await assert_nothing_cut_off(tablet, f"tablet alert drawer, {chairs} chairs")
    await tablet.screenshot(path=screenshots / f"tablet-{chairs}-chairs-alerts-768x1024.png")
    await tablet.locator("#alerts-close").click()
    await expect(tablet.locator("#alerts")).to_be_hidden()


async def test_the_busy_clinic_reads_right_on_the_wall_and_in_a_chairs_detail(
    clinic: Clinic, screens, screenshots: Path, repo_root: Path
) -> None:
    made = await build_clinic(clinic)
    wall = await show_clinic(screens, WALL, injected_alerts(made))

    def tile(name: str) -> Any:
        return wall.locator(f".tile[data-chair-id='{made[name][0]}']")

    acked = wall.locator("#alert-list [data-alert-id='9081']")
    await expect(acked.locator(".alert-ack-state")).to_contain_text("Acknowledged by clinician")
    await expect(acked.locator(".alert-ack-state")).to_contain_text("anxious, re-check 5 min")
    await expect(tile("Chair 5").locator("[data-vital=bp]")).to_have_attribute(
        "data-freshness", "stale"
    )
    await expect(tile("Chair 6").locator(".monitor")).to_contain_text("Monitor silent")
    # The acknowledged high keeps the chair red, without flashing, and says who and when.
    await expect(tile("Chair 1")).to_have_attribute("data-priority", "high")
    await expect(tile("Chair 1")).not_to_have_class(re.compile(r"\balarming\b"))
    await expect(tile("Chair 1").locator(".tile-alert")).to_contain_text("▲ HIGH")
    await expect(tile("Chair 1").locator(".tile-alert-ack")).to_have_text(
        re.compile(r"^✓ ack clinician \d{2}:\d{2}$")
    )
    # The escalated medium looks escalated, on the tile and in the list.
    await expect(tile("Chair 9")).to_have_class(re.compile(r"\bescalated\b"))
    await expect(tile("Chair 9").locator(".tile-alert")).to_contain_text("◆◆ MEDIUM · ESCALATED")
    escalated = wall.locator("#alert-list [data-alert-id='9091']")
    await expect(escalated.locator(".badge")).to_have_text("◆◆ MEDIUM · ESCALATED")
    await expect(escalated).to_contain_text("not acknowledged in time")
    # Most severe first: the acknowledged high above every medium.
    order = await wall.locator("#alert-list .alert-item").evaluate_all(
        "items => items.map(i => i.dataset.alertId)"
    )
    assert order.index("9011") < order.index("9091") < order.index("9081"), order
    await wall.screenshot(path=screenshots / "clinic-1920x1080.png")

    await tile("Chair 3").locator(".chair-name").click()
    detail = wall.locator("#detail-view")
    await expect(detail.locator(".detail-title")).to_contain_text("Chair 3 · MR · IV ketamine")
    await expect(detail.locator(".readings-table tbody tr").first).to_be_visible()
    await expect(detail.locator(".detail-chart .main-svg").first).to_be_visible()
    await wall.wait_for_timeout(500)
    await assert_nothing_cut_off(wall, "detail view")
    await wall.screenshot(path=screenshots / "chair-detail-1920x1080.png")
    await wall.go_back()
    await expect(detail).to_be_hidden()

    tablet = await show_clinic(screens, TABLET, injected_alerts(made), "nurse")
    await tablet.locator(f".tile[data-chair-id='{made['Chair 2'][0]}'] .chair-name").click()
    await expect(tablet.locator("#detail-view .readings-table tbody tr").first).to_be_visible()
    await tablet.wait_for_timeout(500)
    await assert_nothing_cut_off(tablet, "detail view on a tablet")
    await tablet.screenshot(path=screenshots / "chair-detail-768x1024.png")
    await tablet.evaluate("() => { location.hash = '#replay'; }")
    await expect(tablet.locator(".sessions-table tbody tr").first).to_be_visible()
    await assert_nothing_cut_off(tablet, "stored sessions on a tablet")
    await tablet.evaluate(f"() => {{ location.hash = '#replay/{made['Chair 3'][1]}'; }}")
    await expect(tablet.locator(".replay-chart .main-svg").first).to_be_visible()
    await assert_nothing_cut_off(tablet, "a replay on a tablet")
    # One column on a tablet: the replay's tile, chart and log one below the other.
    boxes = [
        await tablet.locator(selector).bounding_box()
        for selector in (".replay-tile", ".replay-chart", ".replay-log")
    ]
    assert all(boxes), boxes
    for upper, lower in itertools.pairwise(boxes):
        assert upper and lower and upper["y"] + upper["height"] <= lower["y"] + 1, boxes


async def test_each_vital_shows_its_own_alarm_state_and_an_acknowledgement_keeps_it(
    clinic: Clinic, screens
) -> None:
    """Real engine alerts: a high on BP, acknowledged; then a medium on HR."""
    token, _, chair_id = await clinic.add_device("Chair 1")
    nurse = await login(clinic, "nurse")
    await start_session(nurse, chair_id, "AB")
    await nurse.aclose()
    screen = await screens(LAPTOP)
    await screen.login_by_api("clinician")
    page = await screen.open()
    await send_readings(
        clinic,
        token,
        [{"type": "reading", "seq": 1, "ts": iso(now()), "sbp": 186, "dbp": 96, "map": 126}],
    )
    tile = page.locator(f".tile[data-chair-id='{chair_id}']")
    bp = tile.locator("[data-vital=bp]")
    await expect(bp).to_have_attribute("data-alarm", "high")
    await expect(bp.locator(".alarm-mark")).to_have_text("▲")
    await expect(bp.locator(".beyond-mark")).to_have_text("↑")
    assert "180" in (await bp.locator(".beyond-mark").get_attribute("title") or "")
    await expect(tile.locator("[data-vital=hr]")).to_have_attribute("data-alarm", "none")

    item = page.locator("#alert-list .alert-item").filter(has_text="SBP 186").first
    await item.locator(".ack-button").click()
    await item.locator(".ack-note").fill("repeat cuff in 5 min")
    await item.get_by_role("button", name="Confirm").click()
    await expect(item).to_contain_text("Acknowledged by clinician")
    # Acknowledged: silent and steady, still red, still marked on the value.
    await expect(tile).to_have_attribute("data-priority", "high")
    await expect(tile).to_have_class(re.compile(r"\backnowledged\b"))
    await expect(tile).not_to_have_class(re.compile(r"\balarming\b"))
    await expect(tile.locator(".tile-alert-ack")).to_contain_text("✓ ack clinician")
    await expect(bp).to_have_attribute("data-alarm", "high")

    # HR 128 for 20 s: the engine's hr_high (medium) on the HR number alone.
    start = now().timestamp() - 20
    await send_readings(
        clinic,
        token,
        [
            {"type": "reading", "seq": 2 + i, "ts": iso_at(start + i), "hr": 128, "spo2": 97}
            for i in range(21)
        ],
    )
    hr = tile.locator("[data-vital=hr]")
    await expect(hr).to_have_attribute("data-alarm", "medium")
    await expect(hr.locator(".alarm-mark")).to_have_text("◆")
    await expect(tile).to_have_attribute("data-priority", "high")  # the high stays on top
    await expect(tile.locator(".tile-alert-more")).to_have_text("+1 more (1 unacknowledged)")
    colour = await hr.locator(".value").evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(250, 204, 21)"  # the medium alarm colour, not the HR green


def iso_at(t: float) -> str:
    return iso(datetime.fromtimestamp(t, UTC))


async def an_alert_waits(screens: Any, clinic: Clinic, viewport=LAPTOP) -> tuple[Page, Any]:
    _, _, chair_id = await clinic.add_device("Chair 1")
    nurse = await login(clinic, "nurse")
    session = await start_session(nurse, chair_id, "AB")
    await nurse.aclose()
    screen = await screens(viewport)
    await screen.login_by_api("nurse")
    tap = StreamTap()
    await tap.attach(screen.page)
    page = await screen.open()
    tap.inject(alert_message(id=9201, chair_id=chair_id, session_id=session["id"]))
    return page, tap


async def test_a_screen_nobody_clicked_says_across_its_width_that_its_alarms_are_silent(
    clinic: Clinic, screens, screenshots: Path
) -> None:
    page, _ = await an_alert_waits(screens, clinic)
    banner = page.locator("#sound-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("ALARM SOUND BLOCKED BY THE BROWSER")
    await expect(banner).to_contain_text("1 unacknowledged alert")
    await expect(banner).to_have_attribute("data-priority", "high")
    width = await banner.evaluate("e => e.getBoundingClientRect().width")
    assert width == LAPTOP[0]
    await page.screenshot(path=screenshots / "sound-blocked-1366x768.png")

    await page.keyboard.press("s")  # one key: the browser lets sound start now
    await expect(page.locator("#sound-toggle")).to_have_attribute("data-sound", "on")
    await expect(banner).to_be_hidden()
    await page.wait_for_function("() => window.chairside.sound.tones >= 1")

    await page.locator("#silence").click()
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text(re.compile(r"ALARM TONE SILENCED [12]:\d\d"))
    first = await page.locator("#sound-banner-text").text_content() or ""
    await expect(page.locator("#sound-banner-text")).not_to_have_text(first)  # it counts down
    await expect(banner).to_contain_text("ALARM TONE SILENCED")
    await page.locator("#sound-banner-fix").click()
    await expect(banner).to_be_hidden()
    await expect(page.locator("#silence")).to_have_attribute("data-silenced", "false")

    await page.locator("#sound-toggle").click()  # switched off on purpose: still said
    await expect(banner).to_contain_text("ALARM SOUND IS OFF ON THIS SCREEN")
    await page.locator("#sound-banner-fix").click()
    await expect(banner).to_be_hidden()


async def test_typing_s_in_a_note_does_not_touch_the_sound(clinic: Clinic, screens) -> None:
    page, _ = await an_alert_waits(screens, clinic)
    await expect(page.locator("#sound-banner")).to_be_visible()
    await page.evaluate(
        "() => { const i = document.createElement('input'); i.id = 'probe';"
        " document.body.append(i); }"
    )
    await page.locator("#probe").focus()
    await page.keyboard.type("ss")
    await page.wait_for_timeout(300)
    await expect(page.locator("#sound-banner")).to_be_visible()
    await expect(page.locator("#sound-toggle")).to_have_attribute("data-sound", "off")


async def test_no_banner_without_waiting_alerts_and_none_where_the_browser_allows_sound(
    clinic: Clinic, screens, live_server: RestartableServer
) -> None:
    screen = await screens(LAPTOP)
    await screen.login_by_api("nurse")
    page = await screen.open()
    await expect(page.locator("#sound-toggle")).to_have_attribute("data-sound", "off")
    await expect(page.locator("#sound-banner")).to_be_hidden()

    # A kiosk started to allow sound: alarms sound with nobody having clicked.
    async with async_playwright() as playwright:
        kiosk = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            context = await kiosk.new_context(viewport={"width": 1920, "height": 1080})
            response = await context.request.post(
                f"{live_server.url}/api/auth/login", data={"name": "nurse", "password": PASSWORD}
            )
            assert response.ok
            wall = await context.new_page()
            await wall.goto(live_server.url + "/")
            await expect(wall.locator("#live-state")).to_have_attribute("data-live", "true")
            await expect(wall.locator("#sound-toggle")).to_have_attribute("data-sound", "on")
            await expect(wall.locator("#sound-banner")).to_be_hidden()
        finally:
            await kiosk.close()


def with_clock(clock: str) -> Any:
    def rewrite(message: str) -> str:
        data = json.loads(message)
        if data.get("type") == "snapshot":
            assert data["clock"] == "24h"  # the server's default
            data["clock"] = clock
        return json.dumps(data)

    return rewrite


async def chart_ticks(page: Page) -> list[str]:
    ticks: list[str] = await page.locator(".tile-chart .xtick text").evaluate_all(
        "ts => ts.map(t => t.textContent)"
    )
    return ticks


async def test_one_clock_format_in_the_header_tables_charts_and_alert_cards(
    clinic: Clinic, screens
) -> None:
    made = await build_clinic(clinic, 4)
    alerts = injected_alerts(made)
    for clock, pattern in (("24h", CLOCK_24H), ("12h", CLOCK_12H)):
        screen = await screens(WALL)
        await screen.login_by_api("clinician")
        tap = StreamTap(rewrite=with_clock(clock))
        await tap.attach(screen.page)
        page = await screen.open()
        for message in alerts:
            tap.inject(message)
        await expect(page.locator(".tile-chart .xtick text").first).to_be_visible()
        await page.wait_for_timeout(1200)
        await expect(page.locator("#clock")).to_have_text(pattern)
        ticks = await chart_ticks(page)
        assert ticks and all(pattern.match(t.replace("\u00a0", " ")) for t in ticks), ticks
        ack = page.locator(f".tile[data-chair-id='{made['Chair 1'][0]}'] .tile-alert-ack")
        stamp = (await ack.text_content() or "").removeprefix("✓ ack clinician ")
        assert pattern.match(stamp.replace("\u202f", " ")), stamp
        await page.locator(f".tile[data-chair-id='{made['Chair 2'][0]}'] .chair-name").click()
        first_row = page.locator("#detail-view .readings-table tbody tr td").first
        await expect(first_row).to_be_visible()
        seconds = pattern.pattern.replace(r":\d{2}", r":\d{2}:\d{2}", 1)
        text = (await first_row.text_content() or "").replace("\u202f", " ")
        assert re.match(seconds, text), text


async def test_the_acknowledgement_note_is_wide_enough_for_a_sentence(
    clinic: Clinic, screens
) -> None:
    made = await build_clinic_for_note(clinic)
    for viewport in (WALL, LAPTOP, TABLET):
        page = await show_clinic(screens, viewport, [made], "clinician")
        if viewport == TABLET:
            await page.locator("#alert-summary").click()
        item = page.locator("#alert-list [data-alert-id='9301']")
        await item.locator(".ack-button").click()
        note = item.locator(".ack-note")
        sentence = "Patient anxious, cuff repeated on the other arm; re-check in 5 min"
        await note.fill(sentence)
        box = await note.evaluate(
            "n => ({w: n.clientWidth, sw: n.scrollWidth, h: n.clientHeight, sh: n.scrollHeight})"
        )
        assert box["w"] >= 240, (viewport, box)
        assert box["sw"] <= box["w"] and box["sh"] <= box["h"] + 1, (viewport, box)


async def build_clinic_for_note(clinic: Clinic) -> str:
    made: Made = await build_clinic(clinic, 1)
    chair_id, session_id = made["Chair 1"]
    return alert_message(id=9301, chair_id=chair_id, session_id=session_id)
