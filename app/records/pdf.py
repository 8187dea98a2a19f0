"""The record's HTML as PDF, with WeasyPrint. Nothing is fetched while rendering: the document
has no external resources, and the fetcher refuses every address but inline data.

WeasyPrint needs Pango (libpango-1.0-0, libpangoft2-1.0-0) at run time; without it a record
cannot be made, and the caller is told which library is missing rather than shown a traceback."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

from app.services.errors import Unavailable

PANGO_HINT = "install Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0)"


class RecordUnavailable(Unavailable):
    """The PDF renderer or a library it needs is not installed on this server."""


@dataclass(frozen=True, slots=True)
class RenderedRecord:
    pdf: bytes
    pages: int


def _weasyprint() -> Any:
    try:
        # WeasyPrint prints its own installation hints when a library is missing; the error
        # below says it in one line.
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint
    except OSError as exc:  # WeasyPrint loads Pango when it is imported
        raise RecordUnavailable(
            f"the session record cannot be rendered: WeasyPrint could not load a library it "
            f"needs ({_first_line(exc)}); {PANGO_HINT}"
        ) from None
    except ImportError as exc:
        raise RecordUnavailable(
            f"the session record cannot be rendered: {_first_line(exc)} (install chairside with "
            "its dependencies, which include weasyprint)"
        ) from None
    return weasyprint


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def render_pdf(document: str) -> RenderedRecord:
    """The HTML document as PDF bytes, with its page count (blocking: CPU for a fraction of a
    second; call it from a thread inside a server)."""
    weasyprint = _weasyprint()
    fetcher = weasyprint.URLFetcher(allowed_protocols=["data"])
    rendered = weasyprint.HTML(string=document, url_fetcher=fetcher).render()
    return RenderedRecord(rendered.write_pdf(), len(rendered.pages))
