"""The app factory: ``create_app(settings)`` builds the service; the lifespan wires its parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from app.api import dashboard, ingest
from app.api.routes import admin, auth, clinic, health
from app.db import create_engine, create_sessionmaker
from app.hub import create_hub
from app.services.errors import ServiceError
from app.services.readings import ReadingWriter
from app.settings import Settings

log = logging.getLogger(__name__)
FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"


async def _close_revoked_devices(app: FastAPI) -> None:
    async with app.state.hub.subscribe("devices") as events:
        async for event in events:
            if event.get("type") == "revoked":
                await app.state.ingest_connections.close_device(
                    event["device_id"], "device revoked"
                )


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(settings)
    hub = create_hub(settings.redis_url)
    await hub.start()
    writer = ReadingWriter(engine, hub, settings.ingest_max_batch)
    await writer.start()
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.hub = hub
    app.state.writer = writer
    app.state.ingest_connections = ingest.IngestConnections()
    watchers = [asyncio.create_task(_close_revoked_devices(app), name="revocations")]
    try:
        yield
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await writer.stop()
        await hub.stop()
        await engine.dispose()


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status_code)


def _no_override_check(_protocol: str, _overrides: dict[str, Any]) -> None:
    return None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="Chairside",
        summary="Live vital-signs station for ketamine and esketamine clinics",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.check_overrides = _no_override_check
    app.add_exception_handler(ServiceError, _service_error)
    for router in (health.router, auth.router, clinic.router, admin.router):
        app.include_router(router)
    app.include_router(ingest.router)
    app.include_router(dashboard.router)
    if FRONTEND_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=FRONTEND_DIR), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(FRONTEND_DIR / "index.html")

    return app
