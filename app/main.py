"""The app factory: ``create_app(settings)`` builds the service; the lifespan wires its parts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from app import alerts as engine
from app import bundle
from app.alerting import AlertRunner
from app.api import dashboard, ingest
from app.api.routes import admin, alerts, auth, clinic, docs, frontend, health
from app.db import create_engine, create_sessionmaker
from app.hub import create_hub
from app.lease import RedisLease
from app.services.errors import InvalidInput, ServiceError
from app.services.readings import ReadingWriter
from app.settings import Settings

log = logging.getLogger(__name__)
GC_GEN0_THRESHOLD = 50_000


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
    hub = create_hub(settings.redis_url, settings.redis_prefix)
    await hub.start()
    writer = ReadingWriter(engine, hub, settings.ingest_max_batch)
    await writer.start()
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.hub = hub
    app.state.writer = writer
    app.state.ingest_connections = ingest.IngestConnections()
    # With Redis, several workers share the hub; one of them (the lease holder) runs alerting.
    lease = (
        RedisLease(settings.redis_url, settings.redis_prefix + "alert-engine")
        if settings.redis_url
        else None
    )
    runner = AlertRunner(app.state.sessionmaker, hub, app.state.rules_for, lease=lease)
    await runner.start()
    app.state.alert_runner = runner
    app.state.loop = asyncio.get_running_loop()
    watchers = [asyncio.create_task(_close_revoked_devices(app), name="revocations")]
    # What exists now lives as long as the server: keep it out of the collector's scans, and
    # collect young objects less often, so a full collection does not stall every connection.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 50)
    try:
        yield
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await writer.stop()
        await runner.stop()
        await hub.stop()
        await engine.dispose()


# The dashboard has no inline scripts; plotly.js inserts <style> elements, hence the styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


async def _security_headers(request: Request, call_next: Any) -> Any:
    response = await call_next(request)
    # The API docs page sets its own policy (app/api/routes/docs.py); setdefault keeps it.
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status_code)


def rules_source(settings: Settings) -> Callable[[str, dict[str, Any]], engine.RuleSet]:
    """The rule set a session runs: the protocol's defaults (or the clinic's rule file),
    with the patient's overrides checked against the rules' bounds."""

    def rules_for(protocol: str, overrides: dict[str, Any]) -> engine.RuleSet:
        base = (
            engine.load_rules(settings.rules_file, protocol)
            if settings.rules_file
            else engine.default_rules(protocol)
        )
        try:
            return base.with_overrides(overrides) if overrides else base
        except engine.RuleError as exc:
            raise InvalidInput(f"limit overrides: {exc}") from exc

    return rules_for


def _label(rules: engine.RuleSet) -> dict[str, str]:
    return {"name": rules.name, "version": rules.version}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="Chairside",
        summary="Live vital-signs station for ketamine and esketamine clinics",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by docs.router, from the server itself
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.rules_for = rules_source(settings)
    app.state.rule_set_label = lambda protocol: _label(app.state.rules_for(protocol, {}))
    app.state.check_overrides = lambda protocol, overrides: app.state.rules_for(protocol, overrides)
    app.add_exception_handler(ServiceError, _service_error)
    for router in (health.router, auth.router, clinic.router, alerts.router, admin.router):
        app.include_router(router)
    app.include_router(ingest.router)
    app.include_router(dashboard.router)
    app.include_router(frontend.router)  # before the /static mount, which would shadow it
    app.include_router(docs.router)
    app.middleware("http")(_security_headers)
    dashboard_files = bundle.frontend_dir()
    app.mount("/static", StaticFiles(directory=dashboard_files), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(dashboard_files / "index.html")

    return app
