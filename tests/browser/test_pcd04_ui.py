"""Alarm forwarding on the screen: the alert card says what the Alert Manager reported ("sent
to pager — delivered 10:42:05"), and a silent Alert Manager puts "Alarm forwarding
unavailable" on every screen until it answers again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import RestartableServer, Screen
from tests.browser.helpers import iso, now, send_readings, start_session
from tests.conftest import login
from tests.support import Clinic
from tests.test_pcd04 import listening_alert_manager

pytestmark = pytest.mark.browser


async def test_the_card_shows_the_delivery_and_a_silent_alert_manager_shows_a_banner(
    clinic: Clinic, browser: Browser, screenshots: Path
) -> None:
    am, am_server, settings = await listening_alert_manager(clinic)
    am_port = am_server.sockets[0].getsockname()[1]
    server = RestartableServer(settings).start()
    own = Clinic(server=server, settings=settings)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        token, _, chair_id = await own.add_device("Chair 5")
        nurse = await login(own, "nurse")
        await start_session(nurse, chair_id, "KM")
        await nurse.aclose()
        screen = Screen(context, await context.new_page(), server.url)
        await screen.login_by_api("nurse")
        page = await screen.open()
        banner = page.locator("#forwarding-banner")
        await expect(banner).to_be_hidden()
        await send_readings(
            own,
            token,
            [{"type": "reading", "seq": 1, "ts": iso(now()), "sbp": 186, "dbp": 96, "map": 126}],
        )
        card = page.locator("#alert-list .alert-item").filter(has_text="SBP").first
        await expect(card.locator(".alert-forwarded")).to_have_text(
            re.compile(r"^sent to pager — delivered \d\d:\d\d:\d\d$"), timeout=15_000
        )

        await page.screenshot(path=screenshots / "pcd04-delivered.png")
        am.silent = True
        await expect(banner).to_be_visible(timeout=15_000)
        await expect(banner).to_contain_text("Alarm forwarding unavailable")
        await expect(banner).to_contain_text(f"127.0.0.1:{am_port}")
        await page.screenshot(path=screenshots / "pcd04-forwarding-unavailable.png")
        am.silent = False
        await expect(banner).to_be_hidden(timeout=30_000)
        screen.assert_clean()
        assert am.problems == []
    finally:
        await context.close()
        server.stop()
        am_server.close()
        await am_server.wait_closed()
