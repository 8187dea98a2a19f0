"""Trace files (CSV ``t_s,sbp,dbp,map,hr,spo2``, optionally followed by ``rr`` and/or ``etco2``
when a capnograph was connected): read them, and run them through the alert engine offline with
trace time as the engine's clock, ticking as the live service does."""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from app.alerts import (
    DoseMarked,
    Input,
    Reading,
    ReadingRejected,
    RuleSet,
    SessionSetup,
    Tick,
    default_rules,
    new_state,
    step,
)
from app.wire import VITALS, VitalRejected, check_vitals

# Every trace has these columns; the respiratory ones come after them, only when measured, so a
# trace written before capnography (and every tool that reads one) stays as it was.
COLUMNS = ("t_s", "sbp", "dbp", "map", "hr", "spo2")
OPTIONAL_COLUMNS = ("rr", "etco2")
EXPORT_FORMAT = "chairside-session/1"

OnReject = Callable[[float, str, str], None]  # a skipped row: (t_s, code, detail)
OnDrop = Callable[[float, str, str, str], None]  # a dropped cell: (t_s, vital, code, detail)


class TraceError(ValueError):
    """The file is not a trace (bad header, a bad or backward time); names file and line."""


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One row with at least one vital that the ingest would accept: those it keeps, and the
    cells it would drop (``dropped``)."""

    t_s: float
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    etco2: float | None = None
    dropped: tuple[VitalRejected, ...] = ()

    def reading(self) -> Reading:
        return Reading(
            self.t_s, self.sbp, self.dbp, self.map, self.hr, self.spo2, self.rr, self.etco2
        )


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row the ingest would reject (no valid vital left), with its error code and detail."""

    t_s: float
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class GapRow:
    """A row with no vital at all: trace time passes, nothing was measured."""

    t_s: float


def columns_for(vitals: Iterable[str]) -> tuple[str, ...]:
    """The header of a trace holding ``vitals``: the base columns, then the optional ones
    among them in their fixed order."""
    present = set(vitals)
    return COLUMNS + tuple(name for name in OPTIONAL_COLUMNS if name in present)


def _header(path: str | os.PathLike[str], header: list[str] | None) -> tuple[str, ...]:
    """The trace's columns; TraceError unless they are the base ones, then optional ones once."""
    cells = tuple(cell.strip() for cell in header or ())
    extra = cells[len(COLUMNS) :]
    known = all(name in OPTIONAL_COLUMNS for name in extra) and len(set(extra)) == len(extra)
    if cells[: len(COLUMNS)] != COLUMNS or not known:
        optional = "".join(f"[,{name}]" for name in OPTIONAL_COLUMNS)
        raise TraceError(
            f"{path}:1: the header must be {','.join(COLUMNS)}{optional}, got {header}"
        )
    return cells


def is_export(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(".json")


def load_export(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A session exported by Chairside as JSON (``chairside export SESSION``)."""
    with open(path, encoding="utf-8") as handle:
        try:
            record = json.load(handle)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT:
        raise TraceError(f"{path}: not a Chairside session export ({EXPORT_FORMAT})")
    return record


def scan_trace(path: str | os.PathLike[str]) -> Iterator[TraceRow | RejectedRow | GapRow]:
    """Every row of the trace (CSV, or a JSON session export) in order, each classified;
    TraceError if it is not a trace."""
    if is_export(path):
        for reading in load_export(path)["readings"]:
            cells = ["" if reading.get(v) is None else str(reading[v]) for v in VITALS]
            yield _classify(float(reading["t_s"]), cells)
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        columns = _header(path, next(rows, None))
        vitals = columns[1:]
        previous: float | None = None
        for line, cells in enumerate(rows, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                raise TraceError(f"{path}:{line}: expected {len(columns)} cells, got {len(cells)}")
            t = _time(path, line, cells[0])
            if previous is not None and t < previous:
                raise TraceError(f"{path}:{line}: t_s {cells[0]} goes back in time")
            previous = t
            by_vital = dict(zip(vitals, cells[1:], strict=True))
            yield _classify(t, [by_vital.get(name, "") for name in VITALS])


def _time(path: str | os.PathLike[str], line: int, cell: str) -> float:
    try:
        t = float(cell)
    except ValueError:
        raise TraceError(f"{path}:{line}: t_s {cell!r} is not a number") from None
    if not math.isfinite(t):
        raise TraceError(f"{path}:{line}: t_s {cell!r} is not a finite number")
    return t


def _classify(t: float, cells: list[str]) -> TraceRow | RejectedRow | GapRow:
    """A row as the ingest would take it: cell by cell, each invalid cell dropped alone."""
    raw = {name: cell.strip() or None for name, cell in zip(VITALS, cells, strict=True)}
    if all(cell is None for cell in raw.values()):
        return GapRow(t)
    check = check_vitals(raw, _cell_number)
    if not check.kept:
        return RejectedRow(t, *check.problem())
    return TraceRow(t, **check.values, dropped=check.rejected)


def _cell_number(cell: object) -> float | None:
    try:
        value = float(str(cell))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_trace(
    path: str | os.PathLike[str],
    on_reject: OnReject | None = None,
    *,
    on_drop: OnDrop | None = None,
) -> Iterator[TraceRow]:
    """The rows the ingest would accept; rejected rows go to ``on_reject(t_s, code, detail)``
    and are skipped, as are rows with no vital (gaps); each cell dropped from a kept row goes
    to ``on_drop(t_s, vital, code, detail)``."""
    for row in _reported(scan_trace(path), on_reject, on_drop):
        if isinstance(row, TraceRow):
            yield row


def _reported(
    rows: Iterator[TraceRow | RejectedRow | GapRow],
    on_reject: OnReject | None,
    on_drop: OnDrop | None = None,
) -> Iterator[TraceRow | RejectedRow | GapRow]:
    """``rows`` unchanged, each rejected row and dropped cell told to its callback first."""
    for row in rows:
        if isinstance(row, RejectedRow) and on_reject is not None:
            on_reject(row.t_s, row.code, row.detail)
        elif isinstance(row, TraceRow) and on_drop is not None:
            for cell in row.dropped:
                on_drop(row.t_s, cell.vital, cell.code, cell.detail)
        yield row


def trace_inputs(
    rows: Iterator[TraceRow | RejectedRow | GapRow], dose_at: float | None
) -> Iterator[Input]:
    """Engine inputs for trace rows: a Tick at every whole second between rows (as the live
    ticker sends one a second), the dose at ``dose_at`` (after rows at that very time: a
    reading taken at the dose is pre-dose), a ReadingRejected for each rejected row and, after
    its reading, for each row with a cell dropped (first code), as the live ingest reports it."""
    previous: float | None = None
    dose_pending = dose_at is not None
    for row in rows:
        if previous is not None:
            second = math.floor(previous) + 1
            while second < row.t_s:
                if dose_pending and dose_at is not None and second > dose_at:
                    yield DoseMarked(dose_at)
                    dose_pending = False
                yield Tick(float(second))
                second += 1
        if dose_pending and dose_at is not None and row.t_s > dose_at:
            yield DoseMarked(dose_at)
            dose_pending = False
        if isinstance(row, TraceRow):
            yield row.reading()
            if row.dropped:
                yield ReadingRejected(row.t_s, row.dropped[0].code)
        elif isinstance(row, RejectedRow):
            yield ReadingRejected(row.t_s, row.code)
        else:
            yield Tick(row.t_s)
        previous = row.t_s


def run_offline(
    path: str | os.PathLike[str],
    protocol: str = "spravato",
    dose_at: float | None = None,
    rules: RuleSet | None = None,
    on_reject: OnReject | None = None,
    *,
    on_drop: OnDrop | None = None,
    nibp_cycle_s: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Replay a trace through the alert engine on trace time; yield each alert event as its
    JSON object. The session starts at the first row and ends at the last (open alerts stay
    open: no SessionEnded is sent). Deterministic: the same file gives the same output."""
    rows = scan_trace(path)
    first = next(rows, None)
    if first is None:
        return
    setup = SessionSetup(
        protocol=protocol,
        started_at=first.t_s,
        dose_at=None,
        rules=rules if rules is not None else default_rules(protocol),
        nibp_cycle_s=nibp_cycle_s,  # None: not set (the rule set's interval, or as measured)
    )
    state = new_state(setup)

    rows_told = _reported(itertools.chain([first], rows), on_reject, on_drop)
    for item in trace_inputs(rows_told, dose_at):
        state, events = step(state, item)
        for event in events:
            yield event.to_json_dict()
