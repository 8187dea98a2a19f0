"""Times of day and durations as the record writes them: in the server's local time zone and
the clinic's clock format (``Settings.clock``: "24h" writes 14:05, "12h" writes 2:05 PM), as
every screen does."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

Clock = Literal["24h", "12h"]


def local(at: datetime) -> datetime:
    """The moment in the server's time zone (TZ), where the clinic reads its clock."""
    return at.astimezone()


def time_of_day(at: datetime, clock: Clock) -> str:
    """14:05 (24 h) or 2:05 PM (12 h)."""
    moment = local(at)
    if clock == "12h":
        hour = moment.hour % 12 or 12
        return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    return f"{moment.hour:02d}:{moment.minute:02d}"


def date(at: datetime) -> str:
    """2 Dec 2026: one way to write it that no reader takes for another day."""
    moment = local(at)
    return f"{moment.day} {moment:%b %Y}"


def zone(at: datetime) -> str:
    """The zone the record's times are in, e.g. UTC+01:00."""
    offset = local(at).utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def minutes(span: timedelta) -> int:
    """Whole minutes of a span (the REMS form asks for minutes)."""
    return max(0, int(span.total_seconds() // 60))
