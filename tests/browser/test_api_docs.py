"""The API docs at /docs in a real Chromium that can reach nothing but the test server: Swagger
UI loads from the server alone, lists the operations, runs one, and breaks no part of the
page's Content-Security-Policy (which allows no inline script)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Locator, Page, Request, Route, expect

from tests.browser.conftest import RestartableServer

# Every violation of the page's policy, kept on the page and echoed to the console (where the
# Screen fixture collects "Content-Security-Policy" messages too).
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const seen = `${event.effectiveDirective} blocked ${event.blockedURI || "(inline)"}`;
  window.cspViolations.push(seen);
  console.error(`Content-Security-Policy violation: ${seen}`);
});
"""


def operation(page: Page, method: str, path: str) -> Locator:
    """Swagger UI's block for one operation."""
    return page.locator(f".opblock.opblock-{method}:has(.opblock-summary-path[data-path='{path}'])")


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.browser
async def test_api_docs_work_offline_under_a_strict_policy(screens) -> None:
    screen = await screens()
    here = urlsplit(screen.base_url).netloc
    elsewhere: list[str] = []
    requested: list[str] = []

    async def only_the_test_server(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.netloc == here or url.scheme == "data":
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    def note(request: Request) -> None:
        requested.append(request.url)

    await screen.context.route("**/*", only_the_test_server)
    page = screen.page
    page.on("request", note)
    await page.add_init_script(RECORD_VIOLATIONS)

    response = await page.goto(screen.base_url + "/docs")
    assert response is not None and response.ok
    policy = directives(response.headers["content-security-policy"])
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["default-src"] == ["'none'"]
    assert await page.locator("script:not([src])").count() == 0

    health = operation(page, "get", "/api/health")
    await expect(health).to_be_visible(timeout=10_000)
    await expect(operation(page, "post", "/api/auth/login")).to_be_visible()
    await expect(operation(page, "get", "/api/sessions/{session_id}/readings")).to_be_visible()
    schema = await (await screen.context.request.get(screen.base_url + "/openapi.json")).json()
    operations = sum(len(methods) for methods in schema["paths"].values())
    await expect(page.locator(".opblock")).to_have_count(operations)

    # "Try it out" on the health check: the request goes from the page to the server.
    await health.locator(".opblock-summary-control").click()
    await health.locator("button.try-out__btn").click()
    await health.locator("button.execute").click()
    await expect(
        health.locator(".live-responses-table tr.response .response-col_status").first
    ).to_have_text("200")
    await expect(health.locator(".live-responses-table .highlight-code")).to_contain_text('"ok"')

    assert await page.evaluate("window.cspViolations") == []
    assert elsewhere == []
    paths = {urlsplit(url).path for url in requested}
    assert {
        "/docs",
        "/docs/start.js",
        "/docs/swagger-ui/swagger-ui-bundle.js",
        "/docs/swagger-ui/swagger-ui.css",
        "/openapi.json",
        "/api/health",
    } <= paths
    assert all(urlsplit(url).netloc == here for url in requested if not url.startswith("data:"))
    screen.assert_clean()


async def test_redoc_is_gone_and_the_docs_files_come_from_the_server(
    live_server: RestartableServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        assert (await client.get("/redoc")).status_code == 404
        schema = (await client.get("/openapi.json")).json()
        assert schema["openapi"].startswith("3.1")
        assert not [path for path in schema["paths"] if not path.startswith("/api/")]
        for path, media_type in [
            ("/docs", "text/html"),
            ("/docs/start.js", "text/javascript"),
            ("/docs/swagger-ui/swagger-ui-bundle.js", "text/javascript"),
            ("/docs/swagger-ui/swagger-ui.css", "text/css"),
        ]:
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(media_type), path
        # Only Swagger UI's two files are served from the package, nothing else beside them.
        for path in ["/docs/swagger-ui/redoc.standalone.js", "/docs/swagger-ui/..%2F__init__.py"]:
            assert (await client.get(path)).status_code == 404, path
