"""Browser fixtures: one Chromium for the run, a restartable server on SQLite, logged-in pages."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from app.main import create_app
from app.settings import Settings
from tests.support import PASSWORD, LiveServer, throwaway_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PLOTLY_PATH = "/static/vendor/plotly.min.js"


def dashboard_app(settings: Settings) -> FastAPI:
    """The real app; adds the plotly route itself until create_app includes it."""
    app = create_app(settings)
    if not any(getattr(r, "path", None) == PLOTLY_PATH for r in app.router.routes):
        from app.api.routes import frontend

        app.include_router(frontend.router)
        # Ahead of the /static mount, which would otherwise answer 404.
        added = [r for r in app.router.routes if getattr(r, "path", None) == PLOTLY_PATH]
        for route in added:
            app.router.routes.remove(route)
        app.router.routes[0:0] = added
    return app


class RestartableServer(LiveServer):
    """A LiveServer that can be stopped and started again on the same port."""

    def start(self) -> RestartableServer:
        config = uvicorn.Config(
            dashboard_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_max_size=1024 * 1024,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    @property
    def running(self) -> bool:
        return self._server is not None


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Browser tests exercise the screen, not the database: SQLite only."""
    with throwaway_database("sqlite", tmp_path_factory.mktemp("browser")) as settings:
        yield settings


@pytest.fixture(scope="session")
def live_server(database: Settings) -> Iterator[RestartableServer]:
    server = RestartableServer(database).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


class Screen:
    """A browser context on the clinic server; collects CSP violations (index.html sets a
    strict policy in a meta tag) and uncaught page errors."""

    def __init__(self, context: BrowserContext, page: Page, base_url: str) -> None:
        self.context = context
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(f"CSP: {text}")

    async def login_by_api(self, name: str) -> None:
        response = await self.context.request.post(
            f"{self.base_url}/api/auth/login", data={"name": name, "password": PASSWORD}
        )
        assert response.ok, await response.text()

    async def open(self) -> Page:
        await self.page.goto(self.base_url + "/")
        await self.page.wait_for_selector("#live-state[data-live='true']", timeout=10_000)
        return self.page

    def assert_clean(self) -> None:
        assert self.problems == []


@pytest.fixture
async def screens(browser: Browser, live_server: RestartableServer) -> AsyncIterator[Any]:
    """screens(viewport=(w, h)) -> a new Screen; all closed (and checked) at the end."""
    opened: list[Screen] = []

    async def make(viewport: tuple[int, int] = (1280, 800)) -> Screen:
        context = await browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, timezone_id="UTC"
        )
        screen = Screen(context, await context.new_page(), live_server.url)
        opened.append(screen)
        return screen

    yield make
    for screen in opened:
        await screen.context.close()
    for screen in opened:
        screen.assert_clean()
    if not live_server.running:  # a test stopped it and failed before restarting
        live_server.start()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
