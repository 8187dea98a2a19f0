"""The printable session record, from a real session built through the API and the ingest
websocket, read back from the PDF: every line the Spravato REMS Patient Monitoring Form asks
for, names shown as the text that was typed, the clinic's clock format, "in progress" while the
session is open, and a clear error for a session that does not exist (API and command line)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pypdfium2
import pytest
from pypdf import PdfReader

from tests.browser.helpers import backdate_session, iso, send_readings
from tests.conftest import login
from tests.support import Clinic, run_chairside

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "records"
A4_POINTS = (595.3, 841.9)
# The monitor's course: the session opens 25 min before the dose; "now" is 130 min after it.
OPENED_BEFORE_DOSE = timedelta(minutes=25)
NOW_AFTER_DOSE = timedelta(minutes=130)
# NIBP every 5 min at 2 min before the dose, 3, 8, ... 38, 43 ... min after: 38 min is the
# reading nearest 40 min after the dose.
BP_PHASE_MIN = -2
SPIKE_AFTER_DOSE_MIN = 53


@dataclass
class TreatedSession:
    """A session as a clinic runs it, with what the record must show."""

    id: int
    chair_id: int
    token: str
    dose_at: datetime
    bp: dict[datetime, tuple[int, int]]
    observations: list[dict[str, Any]] = field(default_factory=list)
    alert: dict[str, Any] = field(default_factory=dict)


def bp_at(minutes_after_dose: int) -> tuple[int, int]:
    """Pre-dose 126/82; up to 150/94 at 40 min; back down towards 128/81 by 2 h."""
    if minutes_after_dose == SPIKE_AFTER_DOSE_MIN:
        return 184, 96
    if minutes_after_dose < 0:
        return 126, 82
    if minutes_after_dose <= 40:
        return 126 + round(minutes_after_dose * 0.6), 82 + round(minutes_after_dose * 0.3)
    return 150 - round((minutes_after_dose - 40) * 0.25), 94 - round((minutes_after_dose - 40) / 7)


def monitor_course(
    dose_at: datetime,
) -> tuple[list[dict[str, Any]], dict[datetime, tuple[int, int]]]:
    """Readings every 10 s (HR, SpO2, RR, EtCO2) and NIBP every 5 min, from the session's
    opening to now; returns them and the BP sent at each time."""
    start, end = dose_at - OPENED_BEFORE_DOSE, dose_at + NOW_AFTER_DOSE
    readings: list[dict[str, Any]] = []
    bp: dict[datetime, tuple[int, int]] = {}
    t, seq = start, 1
    while t <= end:
        reading: dict[str, Any] = {
            "type": "reading",
            "seq": seq,
            "ts": iso(t),
            "hr": 72 + seq % 5,
            "spo2": 97 + seq % 2,
            "rr": 14 + seq % 3,
            "etco2": 37 + seq % 3,
        }
        offset_s = (t - dose_at).total_seconds()
        if offset_s % 300 == (BP_PHASE_MIN * 60) % 300:
            sbp, dbp = bp_at(round(offset_s / 60))
            reading |= {"sbp": sbp, "dbp": dbp, "map": round((sbp + 2 * dbp) / 3)}
            bp[t] = (sbp, dbp)
        readings.append(reading)
        t += timedelta(seconds=10)
        seq += 1
    return readings, bp


async def wait_for(client: httpx.AsyncClient, session_id: int, rule: str) -> dict[str, Any]:
    import asyncio

    for _ in range(150):
        found = [
            a
            for a in (await client.get("/api/alerts", params={"session_id": session_id})).json()
            if a["rule"] == rule
        ]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {rule} alert for session {session_id}")


async def treated_session(
    clinic: Clinic,
    nurse: httpx.AsyncClient,
    clinician: httpx.AsyncClient,
    *,
    chair: str = "Chair 3",
    label: str = "KT-0412",
    observe: bool = True,
) -> TreatedSession:
    """A Spravato session: opened, readings from its monitor before and after the dose, an SBP
    of 184 (a high alert, acknowledged with a note), and three of the nurse's observations."""
    token, _, chair_id = await clinic.add_device(chair)
    created = await nurse.post(
        "/api/sessions", json={"chair_id": chair_id, "protocol": "spravato", "patient_label": label}
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    dose_at = datetime.now(UTC).replace(microsecond=0) - NOW_AFTER_DOSE
    await backdate_session(clinic, session_id, NOW_AFTER_DOSE + OPENED_BEFORE_DOSE)
    readings, bp = monitor_course(dose_at)
    before = [r for r in readings if r["ts"] <= iso(dose_at)]
    await send_readings(clinic, token, before)
    dosed = await nurse.post(f"/api/sessions/{session_id}/dose", json={"at": iso(dose_at)})
    assert dosed.status_code == 200, dosed.text
    await send_readings(clinic, token, readings[len(before) :])
    alert = await wait_for(clinician, session_id, "sbp_critical")
    acked = await clinician.post(
        f"/api/alerts/{alert['id']}/ack", json={"note": "Re-measured & calm <b>ok</b>"}
    )
    assert acked.status_code == 200, acked.text
    session = TreatedSession(session_id, chair_id, token, dose_at, bp, alert=acked.json())
    if observe:
        for minutes, fields in (
            (20, {"moaas": 3, "dissociation": "moderate", "respiratory": "normal"}),
            (60, {"moaas": 4, "dissociation": "mild", "note": "Talking & drowsy"}),
            (110, {"moaas": 5, "dissociation": "none", "respiratory": "normal"}),
        ):
            at = dose_at + timedelta(minutes=minutes)
            made = await nurse.post(
                f"/api/sessions/{session_id}/observations", json={"at": iso(at), **fields}
            )
            assert made.status_code == 201, made.text
            session.observations.append(made.json())
    return session


async def sign_discharge(clinician: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    """Sign as a clinician who has checked each item the data could not show met."""
    checklist = (await clinician.get(f"/api/sessions/{session_id}/discharge")).json()
    confirm = [item["id"] for item in checklist["items"] if item["ok"] is not True]
    signed = await clinician.post(
        f"/api/sessions/{session_id}/discharge",
        json={"confirm": confirm, "note": "Escort home: partner"},
    )
    assert signed.status_code == 200, signed.text
    return dict(signed.json())


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """The text with its line breaks as spaces (a table cell may wrap anywhere), and a word
    broken after its hyphen joined again."""
    return " ".join(re.sub(r"-\n", "-", text).split())


def shows(text: str, words: str) -> bool:
    """Whether the text shows these words, wherever a table cell wrapped them (its line
    breaks may fall inside a word)."""
    return "".join(words.split()) in "".join(text.split())


def has_line(text: str, label: str, value: str) -> bool:
    """Whether the record has this line: its label, the REMS question printed under it if
    any, then the value."""
    return (
        re.search(re.escape(label) + r"(?: REMS: .{0,110}?)? " + re.escape(value), text) is not None
    )


def hhmm(at: datetime | str) -> str:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone().strftime("%H:%M")


def save_pages(pdf: bytes, name: str) -> list[Path]:
    """Each page as a PNG in test-artifacts/records (to be looked at), its size checked."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(pdf)
    paths = []
    try:
        for number, page in enumerate(document, start=1):
            assert page.get_size() == pytest.approx(A4_POINTS, abs=1)
            image = page.render(scale=1.6).to_pil()
            # Ink on the page: not a blank render.
            assert image.convert("L").getextrema()[0] < 100
            path = ARTIFACTS / f"{name}-page{number}.png"
            image.save(path)
            paths.append(path)
    finally:
        document.close()
    return paths


async def test_signed_session_record_answers_each_question_of_the_rems_form(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient, database: Any
) -> None:
    session = await treated_session(clinic, nurse, clinician)
    signed = await sign_discharge(clinician, session.id)
    answer = await nurse.get(f"/api/sessions/{session.id}/report.pdf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="chairside-session-{session.id}.pdf"'
    )
    pages = save_pages(answer.content, f"signed-{database.database_url.split(':')[0]}")
    assert 1 <= len(pages) <= 2
    text = flat(pdf_text(answer.content))

    # Who, where, what: the setting, the chair, the patient, the protocol and its rule set.
    for expected in (
        "Chairside",
        "Chair 3",
        "KT-0412",
        "Spravato (esketamine nasal spray)",
        "chairside-default-spravato, version 3",
    ):
        assert expected in text, expected
    assert has_line(text, "Dose", hhmm(session.dose_at))
    assert f"Session {session.id}" in text

    # The three BP readings of the form, each with its time.
    before_at = session.dose_at + timedelta(minutes=BP_PHASE_MIN)
    forty_at = session.dose_at + timedelta(minutes=38)
    last_at = max(session.bp)
    for label, at in (
        ("Before the dose", before_at),
        ("About 40 min after", forty_at),
        ("Last before discharge", last_at),
    ):
        sbp, dbp = session.bp[at]
        assert has_line(text, label, f"{sbp}/{dbp} mmHg at {hhmm(at)}"), (label, text)
    assert "2 min before the dose" in text and "38 min after the dose" in text

    # Every observation: time, MOAA/S with its words, dissociation, breathing, note, who.
    assert shows(text, "3 — Responds only after name is called loudly and/or repeatedly")
    assert shows(text, "4 — Lethargic response to name spoken in normal tone")
    assert shows(text, "5 — Responds readily to name spoken in normal tone")
    for observation in session.observations:
        assert hhmm(observation["at"]) in text
    assert "Talking & drowsy" in text and "moderate" in text
    assert has_line(text, "Sedation", "Yes — lowest MOAA/S 3")
    assert f"resolved at {hhmm(session.observations[2]['at'])}" in text
    assert has_line(text, "Respiratory depression", "No (2 observations)")

    # Every alert: raised, priority, message, who acknowledged it and when, the note, resolved.
    alert = session.alert
    assert alert["message"] in text
    assert f"{hhmm(alert['acknowledged_at'])} by clinician" in text
    assert shows(text, "Re-measured & calm <b>ok</b>")

    # The signed checklist, and the monitoring time the form asks for in minutes.
    assert f"Signed by clinician at {hhmm(signed['signed']['at'])}" in text
    assert shows(text, "Escort home: partner")
    assert shows(text, "Monitoring time after the dose reached met")
    ended = (await nurse.get(f"/api/sessions/{session.id}")).json()["ended_at"]
    duration = int((datetime.fromisoformat(ended) - session.dose_at).total_seconds() // 60)
    assert has_line(text, "Monitoring duration", f"{duration} min from the dose")
    assert "in progress" not in text
    # The trend drawn on the server, with the capnograph's vitals the monitor sent.
    assert "RR /min" in text and "EtCO2 mmHg" in text


async def test_open_session_record_says_in_progress(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    session = await treated_session(clinic, nurse, clinician, observe=False)
    answer = await nurse.get(f"/api/sessions/{session.id}/report.pdf")
    assert answer.status_code == 200, answer.text
    text = flat(pdf_text(answer.content))
    assert has_line(text, "Monitoring ended", "in progress")
    assert has_line(text, "Monitoring duration", "in progress")
    assert shows(text, "Discharge checklist: in progress (not signed yet)")
    assert "Latest (in progress)" in text
    assert "No observation recorded." in text
    save_pages(answer.content, "open")


async def test_a_session_with_no_reading_and_no_dose_still_has_its_record(
    clinic: Clinic, nurse: httpx.AsyncClient
) -> None:
    _, _, chair_id = await clinic.add_device("Chair 5")
    created = await nurse.post(
        "/api/sessions",
        json={"chair_id": chair_id, "protocol": "iv-ketamine", "patient_label": "NR"},
    )
    answer = await nurse.get(f"/api/sessions/{created.json()['id']}/report.pdf")
    assert answer.status_code == 200, answer.text
    text = flat(pdf_text(answer.content))
    assert has_line(text, "Protocol", "IV ketamine")
    assert has_line(text, "Dose", "not marked")
    assert has_line(text, "Before the dose", "no dose marked")
    assert has_line(text, "Latest (in progress)", "no BP reading")
    assert "No alert was raised." in text
    save_pages(answer.content, "empty")


async def test_names_and_labels_are_shown_as_the_text_typed_never_as_markup(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    chair = 'Bay <img src="x"> & 2'
    label = "<script>alert(1)</script> & Co"
    session = await treated_session(clinic, nurse, clinician, chair=chair, label=label)
    answer = await nurse.get(f"/api/sessions/{session.id}/report.pdf")
    assert answer.status_code == 200, answer.text
    text = flat(pdf_text(answer.content))
    assert chair in text
    assert label in text
    assert "&amp;" not in text and "&lt;" not in text
    save_pages(answer.content, "escaped")


async def test_a_record_of_a_session_that_does_not_exist_is_404(nurse: httpx.AsyncClient) -> None:
    answer = await nurse.get("/api/sessions/999999/report.pdf")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "no session with id 999999", "code": "not_found"}


async def test_the_record_needs_a_login(clinic: Clinic) -> None:
    async with httpx.AsyncClient(base_url=clinic.server.url) as anonymous:
        assert (await anonymous.get("/api/sessions/1/report.pdf")).status_code == 401


def chairside_env(settings: Any, **extra: str) -> dict[str, str]:
    return {**os.environ, "CHAIRSIDE_DATABASE_URL": settings.database_url, **extra}


async def test_chairside_report_writes_the_record_in_the_12_hour_clock(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient, tmp_path: Path
) -> None:
    session = await treated_session(clinic, nurse, clinician)
    await sign_discharge(clinician, session.id)
    out = tmp_path / "record.pdf"
    env = chairside_env(clinic.settings, CHAIRSIDE_CLOCK="12h")
    run = run_chairside(env, "report", str(session.id), "-o", str(out))
    assert run.returncode == 0, run.stderr
    pages = len(PdfReader(out).pages)
    assert run.stderr.strip() == f"wrote {out} ({pages} page{'s' if pages > 1 else ''})"
    text = flat(pdf_text(out.read_bytes()))
    dose = session.dose_at.astimezone()
    twelve = f"{dose.hour % 12 or 12}:{dose.minute:02d} {'AM' if dose.hour < 12 else 'PM'}"
    assert has_line(text, "Dose", twelve)
    # Every time of day in the record is written the 12-hour way.
    times = re.sub(r"UTC[+-]\d{2}:\d{2}", "", text)
    assert re.findall(r"\d{1,2}:\d{2}(?! [AP]M).{0,12}", times) == []
    save_pages(out.read_bytes(), "twelve-hour")


async def test_chairside_report_of_an_unknown_session_is_one_line_and_exit_1(
    clinic: Clinic, tmp_path: Path
) -> None:
    out = tmp_path / "none.pdf"
    run = run_chairside(chairside_env(clinic.settings), "report", "424242", "-o", str(out))
    assert run.returncode == 1
    assert run.stderr == "error: no session with id 424242\n"
    assert not out.exists()


async def test_without_pango_the_record_is_a_clear_error_naming_the_library(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A machine without Pango, as WeasyPrint meets it: loading the library fails with OSError
    at import. The stand-in package below does what WeasyPrint's import does there."""
    session = await treated_session(clinic, nurse, clinician, observe=False)
    stand_in = tmp_path / "no-pango" / "weasyprint"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text(
        "print('WeasyPrint could not import some external libraries.')\n"
        "raise OSError(\"cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open "
        'shared object file: No such file or directory")\n'
    )
    env = chairside_env(clinic.settings, PYTHONPATH=str(stand_in.parent))
    out = tmp_path / "record.pdf"
    run = run_chairside(env, "report", str(session.id), "-o", str(out))
    assert run.returncode == 1
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert "libpango-1.0-0" in line and "apt-get install libpango-1.0-0 libpangoft2-1.0-0" in line
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_the_record_renders_with_no_network_and_no_browser(tmp_path: Path) -> None:
    """The chart is SVG written by the server; the PDF library fetches nothing: a process with
    sockets refused still renders a record."""
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network refused in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from app.records.data import Point, SessionFacts\n"
        "from app.records.document import render_html\n"
        "from app.records.pdf import render_pdf\n"
        "t = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)\n"
        "points = [Point(t + timedelta(minutes=m), {'sbp': 120 + m, 'dbp': 80, 'hr': 70})"
        " for m in range(0, 60, 5)]\n"
        "facts = SessionFacts('Clinic', 1, 'Chair', 'AB', 'spravato', 'rules', '1', (), t, t,"
        " None, t + timedelta(hours=1), points, None, None, points[-1], [], [], None)\n"
        "html = render_html(facts, '24h')\n"
        "assert '<svg' in html and 'http://' not in html.replace('http://www.w3.org/2000/svg', '')\n"
        "record = render_pdf(html)\n"
        "sys.stdout.write(str(record.pages))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout in ("1", "2")


async def test_a_clinician_and_an_admin_read_the_record_too(
    clinic: Clinic, nurse: httpx.AsyncClient, clinician: httpx.AsyncClient
) -> None:
    session = await treated_session(clinic, nurse, clinician, observe=False)
    admin = await login(clinic, "admin")
    try:
        for client in (clinician, admin):
            answer = await client.get(f"/api/sessions/{session.id}/report.pdf")
            assert answer.status_code == 200
            assert answer.content.startswith(b"%PDF-")
    finally:
        await admin.aclose()
