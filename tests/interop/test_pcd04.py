"""PCD-04 messages as an Alert Manager reads them: each alert event as an ORU^R40 with the ACM
profile's facets in order, the watchdog, and the Alert Manager's answers parsed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from app.interop import pcd04
from app.settings import Settings

NOW = datetime(2026, 12, 2, 10, 42, 5, tzinfo=UTC)
WHERE = pcd04.Where(chair="Chair 3", patient_label="RB-17", equipment="0123456789ABCDEF")


def alert(**changes: object) -> dict:
    base = {
        "id": 7,
        "alert_no": 2,
        "session_id": 41,
        "chair_id": 3,
        "rule": "sbp_critical",
        "vital": "sbp",
        "kind": "physiological",
        "priority": "high",
        "state": "active",
        "value": 186.0,
        "message": "SBP 186 mmHg at or above 180",
        "raised_at": "2026-12-02T10:42:01Z",
        "updated_at": "2026-12-02T10:42:01Z",
        "acknowledged_at": None,
    }
    return base | changes


def fields(text: str) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for segment in pcd04.segments(text):
        out.setdefault(segment[0], []).append(segment)
    return out


def facets(text: str) -> dict[str, str]:
    """OBX-3 identifier -> OBX-5, for the facet rows."""
    return {obx[3].split("^")[0]: obx[5] for obx in fields(text)["OBX"]}


def test_a_raised_high_bp_alert_is_an_oru_r40_with_every_acm_facet_in_order() -> None:
    text = pcd04.alert_message(alert(), "raised", WHERE, "c0ffee", NOW)
    assert text.endswith("\r") and "\n" not in text
    seg = fields(text)
    msh = seg["MSH"][0]
    assert msh[1] == "^~\\&" and msh[2] == "CHAIRSIDE"
    assert msh[6] == "20261202104205+0000"
    assert msh[8] == "ORU^R40^ORU_R40" and msh[9] == "c0ffee" and msh[11] == "2.6"
    assert (msh[14], msh[15]) == ("AL", "NE")
    assert msh[20] == "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO"
    assert seg["PID"][0][3] == "RB-17^^^CHAIRSIDE^PI"
    assert seg["PV1"][0][3].split("^")[2] == "Chair 3"
    obr = seg["OBR"][0]
    assert obr[3] == "chairside-41-2^CHAIRSIDE"
    assert obr[4] == "196616^MDC_EVT_ALARM^MDC"
    assert obr[7] == "20261202104201+0000"
    assert obr[29] == "^chairside-41-2&CHAIRSIDE"
    rows = seg["OBX"]
    # The reference layout: the MDS row (X), then identification, source, phase, state,
    # inactivation, priority, type, told apart by OBX-4; then the triggering value.
    assert [r[3].split("^")[0] for r in rows] == [
        "69965",
        "196616",
        "68480",
        "68481",
        "68482",
        "68483",
        "68484",
        "68485",
        "150021",
    ]
    assert [r[4] for r in rows] == [f"1.0.0.{i}" for i in range(9)]
    assert [r[1] for r in rows] == [str(i) for i in range(1, 10)]
    assert rows[0][11] == "X" and rows[0][2] == ""
    assert all(r[11] == "F" for r in rows[1:])
    assert rows[1][3] == "196616^MDC_EVT_ALARM^MDC^sbp_critical^^99CHAIRSIDE"
    assert rows[1][5] == "SBP 186 mmHg at or above 180"
    assert rows[2][5] == "150021^MDC_PRESS_BLD_NONINV_SYS^MDC"
    assert [r[5] for r in rows[3:8]] == ["start", "active", "enabled", "PH", "SP"]
    assert (rows[8][2], rows[8][5], rows[8][6]) == ("NM", "186", "266016^MDC_DIM_MMHG^MDC")
    assert all(r[18] == "0123456789ABCDEF^CHAIRSIDE" for r in rows)


@pytest.mark.parametrize(
    ("event", "changes", "phase", "state", "inactivation"),
    [
        ("raised", {}, "start", "active", "enabled"),
        ("escalated", {}, "escalate", "active", "enabled"),
        (
            "acknowledged",
            {"acknowledged_at": "2026-12-02T10:43:00Z"},
            "continue",
            "active",
            "alert-acknowledged",
        ),
        (
            "re-alarmed",
            {"acknowledged_at": "2026-12-02T10:43:00Z"},
            "continue",
            "active",
            "enabled",
        ),
        ("cleared", {}, "end", "inactive", "enabled"),
        (
            "cleared",
            {"acknowledged_at": "2026-12-02T10:43:00Z"},
            "end",
            "inactive",
            "alert-acknowledged",
        ),
        ("superseded", {}, "end", "inactive", "enabled"),
    ],
)
def test_each_engine_event_maps_to_its_phase_state_and_inactivation_state(
    event: str, changes: dict, phase: str, state: str, inactivation: str
) -> None:
    found = facets(pcd04.alert_message(alert(**changes), event, WHERE, "x", NOW))
    assert (found["68481"], found["68482"], found["68483"]) == (phase, state, inactivation)


@pytest.mark.parametrize(
    ("priority", "kind", "code", "kind_code"),
    [
        ("high", "physiological", "PH", "SP"),
        ("medium", "technical", "PM", "ST"),
        ("low", "advisory", "PL", "SA"),
    ],
)
def test_priority_and_type_codes(priority: str, kind: str, code: str, kind_code: str) -> None:
    found = facets(
        pcd04.alert_message(alert(priority=priority, kind=kind), "raised", WHERE, "x", NOW)
    )
    assert (found["68484"], found["68485"]) == (code, kind_code)


def test_a_technical_alert_without_a_vital_names_the_monitor_as_its_source() -> None:
    lost = alert(
        rule="signal_lost",
        vital=None,
        kind="technical",
        value=None,
        message="No data from the monitor for 60 s",
    )
    text = pcd04.alert_message(lost, "raised", WHERE, "x", NOW)
    rows = fields(text)["OBX"]
    assert len(rows) == 8  # no value row
    assert rows[2][5] == "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC"


def test_delimiters_in_names_and_text_are_escaped_not_breaking_fields() -> None:
    where = pcd04.Where(chair="Bay|2^A", patient_label="A&B", equipment=None)
    text = pcd04.alert_message(
        alert(message="SpO2 88% | check ~probe\\"), "raised", where, "x", NOW
    )
    seg = fields(text)
    assert seg["PV1"][0][3] == "^^Bay\\F\\2\\S\\A^"
    assert seg["PID"][0][3].startswith("A\\T\\B^")
    assert seg["OBX"][1][5] == "SpO2 88% \\F\\ check \\R\\probe\\E\\"
    assert pcd04.unescape(seg["OBX"][1][5]) == "SpO2 88% | check ~probe\\"
    assert seg["OBX"][0][18] == ""  # no monitor known: no equipment


def test_an_event_without_a_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="no PCD-04 phase for alert event 'snoozed'"):
        pcd04.alert_message(alert(), "snoozed", WHERE, "x", NOW)


def test_the_watchdog_follows_the_reference_keep_alive() -> None:
    text = pcd04.watchdog_message("wd1", NOW, 10, "Northside Clinic")
    seg = fields(text)
    assert seg["MSH"][0][8] == "ORU^R40^ORU_R40" and seg["MSH"][0][9] == "wd1"
    assert seg["MSH"][0][3] == "Northside Clinic"
    assert seg["OBR"][0][4] == "196616^MDC_EVT_ALARM^MDC"
    found = facets(text)
    assert found["196614"] == "continue"  # MDC_EVT_ACTIVE, as the reference watchdog
    assert (found["68481"], found["68482"], found["68483"]) == ("start", "active", "enabled")
    assert (found["68484"], found["68485"]) == ("PN", "SA")
    timeout = next(r for r in seg["OBX"] if r[3].startswith("67860^"))
    assert (timeout[5], timeout[6]) == ("10", "264320^MDC_DIM_SEC^MDC")
    last = facets(pcd04.watchdog_message("wd2", NOW, 10, None, active=False))
    assert (last["68481"], last["68482"]) == ("end", "inactive")


def test_the_alert_managers_confirmation_and_delivery_status_are_parsed() -> None:
    ack = pcd04.parse_answer("MSH|^~\\&|||||20191127160542||ACK^R40|||2.7\rMSA|CA|wd1\r")
    assert ack == pcd04.Ack("CA", "wd1", "") and ack.accepted
    refused = pcd04.parse_answer("MSH|^~\\&|AM||||x||ACK|9|P|2.6\r\nMSA|CR|m1|no such bed\r\n")
    assert isinstance(refused, pcd04.Ack) and not refused.accepted
    assert refused.text == "no such bed"
    status = pcd04.parse_answer(
        "MSH|^~\\&||AM|||20191127160543||ORA^R41^ORA_R41|55||2.7\r"
        "OBR|||chairside-41-2^CHAIRSIDE\rPRT|||Delivered\r"
    )
    assert status == pcd04.DeliveryStatus("55", "chairside-41-2", "Delivered")
    assert pcd04.parse_filler(status.filler) == (41, 2)
    assert pcd04.parse_filler("0") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("PID|||x\r", "does not begin with MSH"),
        ("MSH|^~\\&|AM||||x||ADT^A01|1|P|2.6\r", "unexpected message type 'ADT^A01'"),
        ("MSH|^~\\&|AM||||x||ACK|1|P|2.6\r", "ACK without an MSA segment"),
        ("MSH|^~\\&|AM||||x||ORA^R41|1|P|2.6\rOBR|||a\r", "without OBR or PRT"),
    ],
)
def test_an_answer_chairside_cannot_read_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(pcd04.MessageError, match=re.escape(reason)):
        pcd04.parse_answer(text)


def test_chairside_acknowledges_a_delivery_status_with_its_control_id() -> None:
    incoming = "MSH|^~\\&|AM|HOSP|||x||ORA^R41^ORA_R41|55||2.7\rOBR|||a\rPRT|||Read\r"
    seg = fields(pcd04.ack_for(incoming, NOW))
    assert seg["MSH"][0][8] == "ACK^R41^ACK" and seg["MSH"][0][4] == "AM"
    assert seg["MSA"][0][1:3] == ["AA", "55"]


@pytest.mark.parametrize("value", ["am.local", "am.local:0", ":2575", "am:port", "am:70000"])
def test_an_alert_manager_address_that_is_not_host_port_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="is not host:port"):
        Settings(alert_manager=value)


def test_an_alert_manager_address_is_host_and_port() -> None:
    assert Settings(alert_manager="am.local:2575").alert_manager == "am.local:2575"
    assert Settings(alert_manager=None).alert_manager is None
