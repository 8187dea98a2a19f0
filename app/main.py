"""The app factory: ``create_app(settings)`` builds the service; the lifespan wires its parts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from app import alerts as engine
from app import bundle, security
from app.api import dashboard, ingest, origins
from app.api.routes import (
    admin,
    alerts,
    auth,
    clinic,
    docs,
    fhir,
    frontend,
    health,
    observations,
    records,
)
from app.db import create_engine, create_sessionmaker
from app.hub import create_hub
from app.interop.hl7_listener import Hl7Listener
from app.interop.hl7_sources import UnboundSources
from app.interop.pcd04_reporter import AlertReporter
from app.live.lease import RedisLease
from app.live.runner import AlertRunner
from app.login_throttle import LoginThrottle
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
    # The unknown-name login's stand-in hash, made before the first login can arrive.
    await asyncio.to_thread(security.dummy_password_hash)
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
    app.state.login_throttle = LoginThrottle.from_settings(settings)
    # With Redis, several workers share the hub; one of them (the lease holder) runs alerting.
    lease = (
        RedisLease(settings.redis_url, settings.redis_prefix + "alert-engine")
        if settings.redis_url
        else None
    )
    runner = AlertRunner(app.state.sessionmaker, hub, app.state.rules_for, lease=lease)
    # Alarms out to the hospital's Alert Manager (PCD-04), from the worker running the engine;
    # listening before the engine starts, so the events of its restore are forwarded too.
    reporter = (
        AlertReporter(settings, app.state.sessionmaker, hub, lambda: runner.leading)
        if settings.alert_manager
        else None
    )
    if reporter is not None:
        await reporter.start()
    app.state.alert_reporter = reporter
    await runner.start()
    app.state.alert_runner = runner
    app.state.loop = asyncio.get_running_loop()
    # Monitors speaking HL7 PCD-01 over MLLP: on this loop, into the same writer.
    app.state.hl7_unbound = UnboundSources(hub=hub)
    hl7 = None
    if settings.hl7_port:
        hl7 = Hl7Listener(
            app.state.sessionmaker,
            writer,
            hub,
            app.state.hl7_unbound,
            ZoneInfo(settings.hl7_zone) if settings.hl7_zone else None,
            settings.hl7_idle_timeout_s,
            settings.hl7_frame_timeout_s,
        )
        await hl7.start(settings.host, settings.hl7_port, reuse_port=settings.workers > 1)
    app.state.hl7_listener = hl7
    watchers = [asyncio.create_task(_close_revoked_devices(app), name="revocations")]
    if hl7 is not None:  # what the other workers' listeners hear and their admins bind
        watchers.append(asyncio.create_task(app.state.hl7_unbound.follow(), name="hl7-sources"))
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
        if hl7 is not None:
            await hl7.stop()
        await writer.stop()
        if reporter is not None:
            await reporter.stop()
        await runner.stop()
        await hub.stop()
        await app.state.login_throttle.close()
        await engine.dispose()


# The dashboard has no inline scripts; plotly.js inserts <style> elements, hence the styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


async def _http_guard(request: Request, call_next: Any) -> Any:
    """Refuse a change sent from another site's page; set the security headers on every answer."""
    foreign = origins.cross_site_origin(request, request.app.state.settings.allowed_origins)
    if foreign is None:
        response = await call_next(request)
    else:
        detail = (
            f"refused: a page of {foreign} may not change anything here; only this server's "
            "own pages (and origins in CHAIRSIDE_ALLOWED_ORIGINS) may"
        )
        response = JSONResponse({"detail": detail, "code": "cross_site_request"}, 403)
    # The API docs page sets its own policy (app/api/routes/docs.py); setdefault keeps it.
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # No address of the clinic's screens (a session's id, say) leaves in a Referer.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status_code)


def _json_safe(value: Any) -> Any:
    """The value as JSON can carry it: infinities and NaN as text (JSON has no number for
    them), a lone surrogate (valid in a JSON string, not in UTF-8) as its escape."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode(errors="backslashreplace").decode()
        return value
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {_json_safe(key): _json_safe(item) for key, item in value.items()}
    return value


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's answer (a list of issues), safe when an issue echoes back what JSON allows
    and its encoding does not (1e999, a lone surrogate)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, 422)


def _allowed_methods(request: Request) -> str:
    """Every method the request's path answers, whichever of its routes serves each."""
    allowed = {"OPTIONS"}
    # Matched from the top, as the request came in (a mount it went into has moved root_path).
    root_path = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method, "root_path": root_path}
        for route in request.app.router.routes:
            # A mount matches any method; the one here serves files (GET and HEAD).
            if route.matches(scope)[0] is Match.FULL and (
                not isinstance(route, Mount) or method in ("GET", "HEAD")
            ):
                allowed.add(method)
                break
    return ", ".join(sorted(allowed))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's and FastAPI's errors in the shape of the service's (detail and code).

    OPTIONS is answered 204 with ``Allow``; a method the path does not have, 405 with every
    method it has (the router names only those of the first route it tried)."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=headers)
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "error"
    body = {"detail": exc.detail, "code": code}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


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
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in (health.router, auth.router, clinic.router, alerts.router, admin.router):
        app.include_router(router)
    app.include_router(observations.router)
    app.include_router(records.router)
    app.include_router(fhir.router)
    app.include_router(ingest.router)
    app.include_router(dashboard.router)
    app.include_router(frontend.router)  # before the /static mount, which would shadow it
    app.include_router(docs.router)
    app.middleware("http")(_http_guard)
    dashboard_files = bundle.frontend_dir()
    app.mount("/static", StaticFiles(directory=dashboard_files), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(dashboard_files / "index.html")

    return app
