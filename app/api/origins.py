"""Which web pages may change things here: this server's own and ``CHAIRSIDE_ALLOWED_ORIGINS``.

A browser names the page a request comes from (``Origin``, or at least ``Referer``), so a
state-changing request from another site's page is refused even though the login cookie
(SameSite=strict) would not go with it anyway. A request with neither header does not come from
a web page (curl, the command line, the simulated monitors) and carries no cross-site risk."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalised(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, without the scheme's default port."""
    parts = urlsplit(origin.strip())
    if not parts.scheme or not parts.hostname:
        return origin
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: nothing this server could be
        return origin
    if port is None or port == DEFAULT_PORTS.get(parts.scheme.lower()):
        return f"{parts.scheme.lower()}://{host}"
    return f"{parts.scheme.lower()}://{host}:{port}"


def own_origin(request: Request) -> str:
    """The origin the request was sent to, as the browser saw it (scheme and Host)."""
    return normalised(f"{request.url.scheme}://{request.url.netloc}")


def cross_site_origin(request: Request, allowed: Iterable[str]) -> str | None:
    """The foreign origin a state-changing request comes from; None when it may proceed."""
    if request.method not in STATE_CHANGING_METHODS:
        return None
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Browsers send "null" for a page with no origin to show (a sandboxed frame, a form
        # under Referrer-Policy: no-referrer). For its own pages a browser says so in
        # Sec-Fetch-Site, which no script can set.
        if request.headers.get("sec-fetch-site") == "same-origin":
            return None
        referer = request.headers.get("referer")
        if referer:
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else referer
        elif origin is None:
            return None
    trusted = {own_origin(request), *(normalised(o) for o in allowed)}
    return None if normalised(origin) in trusted else origin
