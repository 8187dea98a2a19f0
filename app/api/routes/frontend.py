"""The dashboard's server side: plotly.js from the installed ``plotly`` package (no CDN)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

PLOTLY_PATH = "/static/vendor/plotly.min.js"


@cache
def _plotly_js() -> bytes:
    return resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()


@router.get(PLOTLY_PATH)
async def plotly_js() -> Response:
    """plotly.min.js, as bundled with the Python ``plotly`` package."""
    try:
        body = _plotly_js()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "plotly is not installed") from exc
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )
