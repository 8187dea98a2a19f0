"""One session's record as PDF, for the API and the command line alike: its facts from the
database, the HTML document, then the PDF (rendered in a thread: it is CPU work)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import RuleSet
from app.records.clock import Clock
from app.records.data import gather
from app.records.document import render_html
from app.records.pdf import RenderedRecord, render_pdf
from app.services import sessions
from app.services.errors import InvalidInput

RulesFor = Callable[[str, dict[str, Any]], RuleSet]


async def session_rules(db: AsyncSession, session_id: int, rules_for: RulesFor) -> RuleSet:
    """The rule set the session runs: its protocol's with the patient's limits (NotFound: no
    such session). Limits the clinic's rule set no longer allows leave the protocol's."""
    session = await sessions.get_session(db, session_id)
    try:
        return rules_for(session.protocol, session.limit_overrides or {})
    except InvalidInput:
        return rules_for(session.protocol, {})


async def session_record(
    db: AsyncSession, session_id: int, rules_for: RulesFor, clinic: str | None, clock: Clock
) -> RenderedRecord:
    """The record of a session, open or ended (NotFound: no such session; RecordUnavailable:
    WeasyPrint or Pango is not installed)."""
    rules = await session_rules(db, session_id, rules_for)
    facts = await gather(db, session_id, rules, clinic)
    return await asyncio.to_thread(render_pdf, render_html(facts, clock))
