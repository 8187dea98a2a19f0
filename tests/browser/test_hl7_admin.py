"""The admin's Monitors view in a real Chromium, with the HL7 listener on a real MLLP port: a
source nobody has bound is answered AR and counted on the header button, listed with its
identifiers, bound to a chair in the view with one action, and its next message reaches that
chair's tile; a nurse has no such button; a bind the server refuses shows the server's words;
nothing is cut off at the wall, laptop and tablet sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import RestartableServer, Screen
from tests.browser.layout import cut_off_text
from tests.support import PASSWORD, Clinic, free_port, throwaway_database
from tests.test_hl7_ingest import BED, connect, fields, fresh, sample

pytestmark = pytest.mark.browser

GATEWAY_SENDER = "080019FFFF4F6AC0"  # MSH-3 of the third-party gateway sample
SIZES = [(1920, 1080), (1280, 800), (768, 1024)]


def pcd01(msg_id: str, *, sender: str, bed: str, equipment: str | None = None) -> bytes:
    """A small ORU^R01 (heart rate 72) from ``sender`` (MSH-3) at ``bed`` (PV1-3), the row
    naming ``equipment`` (OBX-18) when given."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    obx = ["OBX", "1", "NM", "147842^MDC_ECG_HEART_RATE^MDC", "1.1", "72", "/min^/min^UCUM"]
    obx += ["", "", "", "", "R", "", "", "", "", "", "", f"{equipment}^EUI-64" if equipment else ""]
    return "\r".join(
        [
            f"MSH|^~\\&|GW^{sender}^EUI-64||||{stamp}||ORU^R01^ORU_R01|{msg_id}|P|2.6|||NE|AL",
            f"PV1||E|{bed}",
            f"OBR|1|||182777000^monitoring of patient^SNOMED-CT|||{stamp}",
            "|".join(obx),
        ]
    ).encode()


async def send(site: Clinic, raw: bytes) -> str:
    """One message over MLLP; its ACK's MSA-1."""
    monitor = await connect(site)
    try:
        return fields(await monitor.send(raw))["MSA-1"]
    finally:
        await monitor.close()


@pytest.fixture(scope="module")
def hl7_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableServer]:
    """The dashboard's server with its HL7 listener on, on a database of its own."""
    with throwaway_database("sqlite", tmp_path_factory.mktemp("hl7-admin")) as settings:
        server = RestartableServer(settings.model_copy(update={"hl7_port": free_port()})).start()
        yield server
        server.stop()


@pytest.fixture(scope="module")
async def site(hl7_server: RestartableServer) -> Clinic:
    clinic = Clinic(server=hl7_server, settings=hl7_server.settings)
    await clinic.add_users(("admin", "admin"), ("nurse", "nurse"))
    await clinic.add_device("Chair 1")  # a websocket monitor, for the list of monitors
    return clinic


@pytest.fixture
async def screens(browser: Browser, hl7_server: RestartableServer) -> AsyncIterator[Any]:
    opened: list[Screen] = []

    async def make(user: str, viewport: tuple[int, int] = (1280, 800)) -> Page:
        context = await browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, timezone_id="UTC"
        )
        screen = Screen(context, await context.new_page(), hl7_server.url)
        opened.append(screen)
        await screen.login_by_api(user)
        return await screen.open()

    yield make
    for screen in opened:
        await screen.context.close()
    for screen in opened:
        screen.assert_clean()


@pytest.fixture
async def admin_api(site: Clinic) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.server.url, timeout=10) as client:
        response = await client.post(
            "/api/auth/login", json={"name": "admin", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        yield client


async def open_monitors(page: Page) -> Any:
    await page.locator("#monitors-button").click()
    dialog = page.locator("#monitors-dialog")
    await expect(dialog).to_be_visible()
    return dialog


async def test_an_unbound_source_is_bound_in_the_browser_and_its_next_message_stored(
    site: Clinic, screens: Any
) -> None:
    message = fresh(sample("valid-pcd01-request2.hl7v2"), datetime.now(UTC), zone="+0000")
    assert await send(site, message) == "AR"

    page = await screens("admin")
    button = page.locator("#monitors-button")
    await expect(button).to_be_visible()
    await expect(button.locator(".count-badge")).to_have_text("1")
    await expect(button).to_have_accessible_name("Monitors: 1 unbound HL7 source")

    dialog = await open_monitors(page)
    source = dialog.locator(".hl7-source")
    await expect(source).to_have_count(1)
    # Most specific first, the first one chosen to bind.
    await expect(source.locator(".hl7-identifier")).to_have_text(
        [f"MSH-3 sender{GATEWAY_SENDER}most specific", f"PV1-3 bed{BED}"]
    )
    await expect(source.get_by_role("radio", name=f"MSH-3 sender {GATEWAY_SENDER}")).to_be_checked()
    await expect(source.locator(".hl7-meta")).to_contain_text("1 message refused")
    await expect(source.locator(".hl7-meta")).to_contain_text("from 127.0.0.1:")
    await expect(source.locator(".hl7-meta")).to_contain_text(" ago (")
    monitors = dialog.locator(".devices-table tbody tr")
    await expect(monitors).to_have_count(1)
    await expect(monitors.locator(".device-source")).to_have_text("websocket")

    # The one action: which chair (here a new one), then Bind.
    await source.get_by_label("Chair", exact=True).select_option(label="New chair…")
    new_name = source.get_by_label("New chair name")
    await expect(new_name).to_be_focused()
    await new_name.fill("Chair 3")
    await source.get_by_role("button", name="Bind").click()
    await expect(dialog.locator(".monitors-status")).to_have_text(
        "Bound to Chair 3 — its next message will be stored"
    )
    await expect(source).to_have_count(0)
    await expect(button.locator(".count-badge")).to_be_hidden()
    await expect(monitors).to_have_count(2)
    bound = monitors.filter(has_text="Chair 3")
    await expect(bound.locator(".device-source")).to_have_text(f"HL7 {GATEWAY_SENDER}")

    assert await send(site, message) == "AA"
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(button).to_be_focused()
    tile = page.locator(".tile").filter(has_text="Chair 3")
    await expect(tile.locator("[data-vital=hr] .value")).to_have_text("60")


async def test_a_nurse_has_no_monitors_button_and_asks_for_no_sources(
    site: Clinic, screens: Any
) -> None:
    asked: list[str] = []
    page = await screens("nurse")
    page.on("request", lambda request: asked.append(request.url))
    await page.wait_for_timeout(300)
    await expect(page.locator("#monitors-button")).to_be_hidden()
    assert not [url for url in asked if "/api/hl7/" in url or "/api/devices" in url]


async def test_a_failing_list_is_said_once_and_a_refused_one_ends_the_polling(
    site: Clinic, screens: Any
) -> None:
    page = await screens("admin")
    button = page.locator("#monitors-button")
    await expect(button).to_be_visible()
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    asked: list[str] = []

    async def unavailable(route: Any) -> None:
        asked.append(route.request.url)
        await route.fulfill(status=503, json={"detail": "database unavailable"})

    await page.route("**/api/hl7/unbound", unavailable)
    dialog = await open_monitors(page)  # asks at once, and twice more here
    await dialog.get_by_role("button", name="✕ Close").click()
    await open_monitors(page)
    await expect(dialog.locator(".form-error").first).to_have_text(
        "Could not refresh the list: database unavailable. Retrying every 10 s."
    )
    assert len(asked) >= 2
    assert len([w for w in warnings if "unbound HL7" in w]) == 1
    await page.keyboard.press("Escape")

    async def forbidden(route: Any) -> None:
        asked.append(route.request.url)
        await route.fulfill(status=403, json={"detail": "admins only"})

    await page.unroute("**/api/hl7/unbound")
    await page.route("**/api/hl7/unbound", forbidden)
    await button.click()
    await expect(button).to_be_hidden()
    await expect(dialog).to_be_hidden()
    assert len([w for w in warnings if "unbound HL7" in w]) == 1


async def test_a_bind_the_server_refuses_shows_its_reason(
    site: Clinic, screens: Any, admin_api: httpx.AsyncClient
) -> None:
    raw = pcd01("C1", sender="00AABBCCDDEE0001", bed="CONFLICT^1")
    assert await send(site, raw) == "AR"
    page = await screens("admin")
    dialog = await open_monitors(page)
    source = dialog.locator(".hl7-source")
    await expect(source).to_have_count(1)
    # Meanwhile someone else binds it (the CLI, another admin): this screen's Bind is late.
    taken = await admin_api.post(
        "/api/devices", json={"chair": "Chair 9", "hl7_source": "00AABBCCDDEE0001"}
    )
    assert taken.status_code == 201, taken.text
    await source.get_by_label("Chair", exact=True).select_option(label="Chair 1")
    await source.get_by_role("button", name="Bind").click()
    late = await admin_api.post(
        "/api/devices", json={"chair": "Chair 1", "hl7_source": "00AABBCCDDEE0001"}
    )
    assert late.status_code == 409
    await expect(source.locator(".form-error")).to_have_text(f"Not bound: {late.json()['detail']}")
    await expect(source.get_by_role("button", name="Bind")).to_be_enabled()
    # No chair chosen: said in the view, nothing sent.
    await source.get_by_label("Chair", exact=True).select_option(label="Choose a chair…")
    await source.get_by_role("button", name="Bind").click()
    await expect(source.locator(".form-error")).to_have_text("Choose the chair this monitor is at.")


async def test_the_view_is_not_cut_off_at_the_wall_laptop_and_tablet(
    site: Clinic, screens: Any, screenshots: Path
) -> None:
    raw = pcd01(
        "L1", sender="00AABBCCDDEE0002", bed="2 EAST RECOVERY^2014^1", equipment="0011223344556677"
    )
    assert await send(site, raw) == "AR"
    assert await send(site, raw.replace(b"|L1|", b"|L2|")) == "AR"
    page = await screens("admin", SIZES[0])
    await expect(page.locator("#monitors-button .count-badge")).to_have_text("1")
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.wait_for_timeout(200)
        problems = await cut_off_text(page)
        assert problems == [], f"header at {width}x{height}: " + "\n".join(problems)
        dialog = await open_monitors(page)
        source = dialog.locator(".hl7-source")
        await expect(source.locator(".hl7-identifier")).to_have_count(3)
        await expect(source.locator(".hl7-meta")).to_contain_text("2 messages refused")
        await page.screenshot(path=str(screenshots / f"hl7-admin-{width}x{height}.png"))
        problems = await cut_off_text(page)
        assert problems == [], f"view at {width}x{height}: " + "\n".join(problems)
        await source.get_by_label("Chair", exact=True).select_option(label="New chair…")
        problems = await cut_off_text(page)
        assert problems == [], f"view with a new chair at {width}x{height}: " + "\n".join(problems)
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
