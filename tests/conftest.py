"""Fixtures: every database test runs on SQLite and again on PostgreSQL, against a live server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import PASSWORD, Clinic, LiveServer, throwaway_database, wipe


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with throwaway_database(request.param, tmp_path_factory.mktemp(request.param)) as settings:
        yield settings


@pytest.fixture(scope="session")
def live_server(database) -> Iterator[LiveServer]:
    server = LiveServer(database).start()
    yield server
    server.stop()


@pytest.fixture
async def clinic(live_server: LiveServer) -> AsyncIterator[Clinic]:
    """A live server on an empty database with one user of each role."""
    await wipe(live_server.settings)
    live_server.forget_clinic()
    clinic = Clinic(server=live_server, settings=live_server.settings)
    await clinic.add_users(*((role, role) for role in ("admin", "clinician", "nurse")))
    yield clinic


async def login(clinic: Clinic, name: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=clinic.server.url, timeout=10)
    response = await client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
async def admin(clinic: Clinic) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(clinic, "admin")
    yield client
    await client.aclose()


@pytest.fixture
async def clinician(clinic: Clinic) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(clinic, "clinician")
    yield client
    await client.aclose()


@pytest.fixture
async def nurse(clinic: Clinic) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(clinic, "nurse")
    yield client
    await client.aclose()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
