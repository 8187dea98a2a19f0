"""Health check for load balancers and the dashboard (no login: it reveals nothing)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from app.api.deps import SessionDep
from app.models.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


def _version() -> str:
    try:
        return version("chairside")
    except PackageNotFoundError:
        return "unknown"


@router.get(
    "/health",
    response_model=Health,
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": Health,
            "description": "the database does not answer (status degraded)",
        }
    },
)
async def health(db: SessionDep, response: Response) -> Health:
    """Whether the service and its database answer."""
    try:
        await db.execute(text("SELECT 1"))
        database = True
    except Exception:
        database = False
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if database else "degraded", database=database, version=_version())
