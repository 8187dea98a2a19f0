"""Interactive API docs at /docs, served whole by this server, so they work offline.

Swagger UI's bundle and stylesheet come at run time from the installed ``fastapi-offline``
package, which ships the current ``swagger-ui-dist`` files (its FastAPI wrapper and its page are
not used: that page starts Swagger UI with an inline script). The page and the script that
starts Swagger UI are ours, in ``app/api/docs_page/``, so the page runs under a policy with no
inline script at all."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse, Response

DOCS_PATH = "/docs"

# Exactly what Swagger UI needs, found by running it in Chromium: its bundle and our start.js;
# its stylesheet; data: images (the stylesheet's icons, and the page's empty favicon); fetch,
# to this server only, for the schema and for "Try it out". No inline script or style, no
# eval, no workers, fonts or frames; it submits no forms and must not be framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# Swagger UI's files that the page loads, by the name they have in the package.
SWAGGER_UI_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}

router = APIRouter(include_in_schema=False)


@cache
def _page_file(name: str) -> bytes:
    return resources.files("app.api").joinpath("docs_page", name).read_bytes()


@cache
def _swagger_ui_file(name: str) -> bytes:
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


@router.get(DOCS_PATH)
async def docs_page() -> HTMLResponse:
    """The Swagger UI page, under its own Content-Security-Policy."""
    return HTMLResponse(
        _page_file("index.html"),
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


@router.get(DOCS_PATH + "/start.js")
async def docs_start_js() -> Response:
    return Response(
        _page_file("start.js"), media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.get(DOCS_PATH + "/swagger-ui/{name}")
async def swagger_ui_file(name: str) -> Response:
    """swagger-ui-bundle.js and swagger-ui.css, as installed with ``fastapi-offline``."""
    media_type = SWAGGER_UI_FILES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    try:
        body = _swagger_ui_file(name)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Swagger UI is not installed") from exc
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
