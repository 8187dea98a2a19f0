"""The demo is a clinic that can be restarted: an open screen goes NOT LIVE while it is away and
comes back by itself, logged in; the sessions under way carry on with nothing missing."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from tests.browser.conftest import Screen
from tests.demo_process import DEMO_PASSWORD, DemoProcess
from tests.support import TRACES

pytestmark = pytest.mark.browser
CHECKOUT_CHAIRSIDE = [sys.executable, "-m", "app.cli"]


def _open_sessions(client: httpx.Client) -> dict[str, int]:
    return {c["name"]: c["session"]["id"] for c in client.get("/api/chairs").json() if c["session"]}


def _wait_for_readings_after(client: httpx.Client, after: datetime, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        chairs = client.get("/api/chairs").json()
        newest = [
            datetime.fromisoformat(c["latest"]["hr"]["measured_at"])
            for c in chairs
            if c["latest"]["hr"] is not None
        ]
        if len(newest) == len(chairs) and min(newest) > after:
            return
        time.sleep(0.5)
    raise AssertionError(f"no readings after {after} from every chair: {chairs}")


def _longest_hr_gap(readings: list[dict[str, Any]]) -> float:
    times = sorted(
        datetime.fromisoformat(r["measured_at"]) for r in readings if r["hr"] is not None
    )
    return max((b - a).total_seconds() for a, b in itertools.pairwise(times))


async def test_a_restarted_demo_keeps_the_screen_logged_in_and_carries_its_sessions_on(
    browser: Browser, tmp_path: Path
) -> None:
    demo = DemoProcess(CHECKOUT_CHAIRSIDE, tmp_path, chairs=2)
    await asyncio.to_thread(demo.start)
    opened: list[httpx.Client] = []
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
    try:
        screen = Screen(context, await context.new_page(), demo.url)
        login = await context.request.post(
            demo.url + "/api/auth/login", data={"name": "nurse", "password": DEMO_PASSWORD}
        )
        assert login.ok
        page = await screen.open()
        client = demo.login()
        opened.append(client)
        sessions = _open_sessions(client)
        assert len(sessions) == 2
        # Chair 2's monitor speaks HL7 PCD-01 over MLLP, chair 1's the websocket: the restart
        # carries both kinds on.
        admin = demo.login("admin")
        opened.append(admin)
        chair_ids = {c["name"]: c["id"] for c in client.get("/api/chairs").json()}
        sources = {
            d["chair_id"]: d["hl7_source"]
            for d in admin.get("/api/devices").json()
            if d["revoked_at"] is None
        }
        assert sources[chair_ids["Chair 1"]] is None
        assert sources[chair_ids["Chair 2"]]
        assert "over HL7: Chair 2" in demo.log()
        await asyncio.to_thread(
            _wait_for_readings_after, client, datetime.now(UTC) - timedelta(seconds=5)
        )

        stopped_at = datetime.now(UTC)
        assert await asyncio.to_thread(demo.stop) == 0, demo.log()
        await page.wait_for_selector("#not-live-banner", state="visible", timeout=10_000)
        await asyncio.sleep(3)  # the clinic is down for a while; the monitors keep measuring

        await asyncio.to_thread(demo.start)
        restarted_at = datetime.now(UTC)
        await page.wait_for_selector("#live-state[data-live='true']", timeout=30_000)
        assert await page.is_hidden("#not-live-banner")
        assert await page.is_hidden("#login-view")
        assert await page.locator("#tiles .tile").count() == 2

        # The REST client of before the restart is still logged in too.
        assert client.get("/api/auth/me").status_code == 200
        assert _open_sessions(client) == sessions, "the sessions under way were not carried on"
        await asyncio.to_thread(_wait_for_readings_after, client, restarted_at)
        for session_id in sessions.values():
            readings = client.get(
                f"/api/sessions/{session_id}/readings",
                params={"start": (stopped_at - timedelta(seconds=30)).isoformat()},
            ).json()
            # One pulse-oximeter value a second, the downtime included: nothing is missing.
            assert _longest_hr_gap(readings) <= 2.5, f"session {session_id} has a hole"
            measured = [r["measured_at"] for r in readings]
            assert len(measured) == len(set(measured)), f"session {session_id}: stored twice"
        screen.assert_clean()

        # The other commands work on the same clinic without being told where it is.
        replay = await asyncio.to_thread(
            demo.run,
            "replay",
            str(TRACES / "mimicdb_03700181_abp_derived_15s.csv"),
            "--url",
            demo.url,
            "--user",
            "admin",
            stdin=DEMO_PASSWORD + "\n",
        )
        assert replay.returncode == 0, replay.stderr
    finally:
        for each in opened:
            each.close()
        await context.close()
        await asyncio.to_thread(demo.stop)

    some_session = min(sessions.values())
    exported = await asyncio.to_thread(demo.run, "export", str(some_session))
    assert exported.returncode == 0, exported.stderr
    assert f'"id": {some_session}' in exported.stdout
    added = await asyncio.to_thread(
        demo.run, "user", "add", "dr.new", "--role", "clinician", stdin="a-long-passphrase\n"
    )
    assert added.returncode == 0, added.stderr
