"""IHE PCD-04 (ACM) messages: Chairside's alert events as ORU^R40, the watchdog, and the
Alert Manager's answers (the accept ACK and the PCD-05 delivery status, ORA^R41).

Pure text in, text out, so that every field can be checked without a socket. The layout
follows the IHE PCD ACM profile and the public reference messages of the
``klotzt-draeger/IHE-PCD-ACM`` repository (``ReferenceMessages/``): one alarm per OBR, its
facets as OBX rows told apart by OBX-4 (identification, source, phase, state, inactivation
state, priority, type), the alarm's identity in OBR-3 (and OBR-29) on every message about it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CR = "\r"
PROFILE = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO"
SENDING_APP = "CHAIRSIDE"
NAMESPACE = "CHAIRSIDE"
# Chairside's own rule ids ride beside the MDC code as a local coding system (HL7: 99zzz).
LOCAL_CODES = "99CHAIRSIDE"
ALARM = "196616^MDC_EVT_ALARM^MDC"
MDS = "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC"
WATCHDOG_EVENT = "196614^MDC_EVT_ACTIVE^MDC"  # as the reference watchdog (MDC_EVT_WATCHDOG: TBD)
CONFIRM_TIMEOUT = "67860^MDC_ATTR_CONFIRM_TIMEOUT^MDC"
SECONDS = "264320^MDC_DIM_SEC^MDC"
FACETS = {
    "source": "68480^MDC_ATTR_ALERT_SOURCE^MDC",
    "phase": "68481^MDC_ATTR_EVENT_PHASE^MDC",
    "state": "68482^MDC_ATTR_ALARM_STATE^MDC",
    "inactivation": "68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC",
    "priority": "68484^MDC_ATTR_ALARM_PRIORITY^MDC",
    "type": "68485^MDC_ATTR_ALERT_TYPE^MDC",
}

# Chairside's engine events as ACM phase / alarm state. An acknowledgement is a change of the
# inactivation state of an alarm still going on ("continue"); a re-alarm withdraws it.
PHASES = {
    "raised": "start",
    "escalated": "escalate",
    "acknowledged": "continue",
    "re-alarmed": "continue",
    "cleared": "end",
    "superseded": "end",
}
PRIORITIES = {"high": "PH", "medium": "PM", "low": "PL"}
TYPES = {"physiological": "SP", "technical": "ST", "advisory": "SA"}
# The vital an alert is about, as IEEE 11073-10101 code and unit (INTEROP.md's table; RR and
# EtCO2 from the 10101 nomenclature: MDC_RESP_RATE, MDC_AWAY_CO2_ET).
VITAL_CODES = {
    "sbp": ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "dbp": ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "map": ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "hr": ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "spo2": ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
    "rr": ("151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
    "etco2": ("151708^MDC_AWAY_CO2_ET^MDC", "266016^MDC_DIM_MMHG^MDC"),
}


class MessageError(ValueError):
    """An answer from the Alert Manager that is not an HL7 message Chairside understands."""


@dataclass(frozen=True)
class Where:
    """Who and where an alert is about: the chair (PV1-3), its monitor (OBX-18), the patient."""

    chair: str
    patient_label: str | None
    equipment: str | None
    clinic: str | None = None


def escape(text: str) -> str:
    """HL7 v2 escaping of the default delimiters, so an alert's text never breaks a field."""
    out = text.replace("\\", "\\E\\")
    for char, code in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        out = out.replace(char, code)
    return out.replace("\r", " ").replace("\n", " ")


def unescape(text: str) -> str:
    for char, code in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        text = text.replace(code, char)
    return text.replace("\\E\\", "\\")


def hl7_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def filler_id(session_id: int, alert_no: int) -> str:
    """The alert's identity across all its messages (OBR-3 entity identifier)."""
    return f"chairside-{session_id}-{alert_no}"


def parse_filler(entity: str) -> tuple[int, int] | None:
    """(session id, alert number) of a filler id Chairside made; None for any other."""
    head, _, rest = entity.partition("-")
    session, _, number = rest.partition("-")
    if head != "chairside" or not session.isdigit() or not number.isdigit():
        return None
    return int(session), int(number)


def _msh(control_id: str, at: datetime, clinic: str | None) -> str:
    facility = escape(clinic or "")
    return (
        f"MSH|^~\\&|{SENDING_APP}|{facility}|||{hl7_time(at)}||ORU^R40^ORU_R40|{control_id}"
        f"|P|2.6|||AL|NE|||||{PROFILE}"
    )


def _pv1(where: Where) -> str:
    # PL: point of care ^ room ^ bed ^ facility; the chair is the bed.
    return f"PV1||O|^^{escape(where.chair)}^{escape(where.clinic or '')}"


def _equipment(where: Where) -> str:
    return f"{escape(where.equipment)}^{NAMESPACE}" if where.equipment else ""


def _obx(
    set_id: int,
    value_type: str,
    code: str,
    sub_id: str,
    value: str,
    equipment: str,
    unit: str = "",
    status: str = "F",
    at: str = "",
) -> str:
    fields = [
        "OBX",
        str(set_id),
        value_type,
        code,
        sub_id,
        value,
        unit,
        "",
        "",
        "",
        "",
        status,
        "",
        "",
        at,
        "",
        "",
        "",
        equipment,
    ]
    return "|".join(fields)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def alert_message(
    alert: dict[str, Any], event: str, where: Where, control_id: str, now: datetime
) -> str:
    """One ORU^R40 for one engine event of one alert (``alert`` as the dashboard gets it)."""
    if event not in PHASES:
        raise ValueError(f"no PCD-04 phase for alert event {event!r}")
    phase = PHASES[event]
    state = "inactive" if phase == "end" else "active"
    acknowledged = event != "re-alarmed" and (
        event == "acknowledged" or alert.get("acknowledged_at") is not None
    )
    inactivation = "alert-acknowledged" if acknowledged else "enabled"
    filler = f"{filler_id(alert['session_id'], alert['alert_no'])}^{NAMESPACE}"
    at = datetime.fromisoformat(alert["updated_at"].replace("Z", "+00:00"))
    equipment = _equipment(where)
    vital = VITAL_CODES.get(alert.get("vital") or "")
    identification = f"{ALARM}^{escape(alert['rule'])}^^{LOCAL_CODES}"
    rows = [
        _obx(1, "", MDS, "1.0.0.0", "", equipment, status="X"),
        _obx(
            2,
            "ST",
            identification,
            "1.0.0.1",
            escape(alert["message"]),
            equipment,
            at=hl7_time(at),
        ),
        _obx(3, "CWE", FACETS["source"], "1.0.0.2", vital[0] if vital else MDS, equipment),
        _obx(4, "ST", FACETS["phase"], "1.0.0.3", phase, equipment),
        _obx(5, "ST", FACETS["state"], "1.0.0.4", state, equipment),
        _obx(6, "ST", FACETS["inactivation"], "1.0.0.5", inactivation, equipment),
        _obx(7, "ST", FACETS["priority"], "1.0.0.6", PRIORITIES[alert["priority"]], equipment),
        _obx(8, "ST", FACETS["type"], "1.0.0.7", TYPES[alert["kind"]], equipment),
    ]
    if vital is not None and alert.get("value") is not None:
        rows.append(
            _obx(9, "NM", vital[0], "1.0.0.8", _number(alert["value"]), equipment, vital[1])
        )
    return _join(
        _msh(control_id, now, where.clinic),
        _pid(where.patient_label),
        _pv1(where),
        f"OBR|1||{filler}|{ALARM}|||{hl7_time(at)}{'|' * 22}^{filler.replace('^', '&')}",
        *rows,
    )


def _pid(label: str | None) -> str:
    return f"PID|||{escape(label)}^^^{NAMESPACE}^PI" if label else "PID|||"


def watchdog_message(
    control_id: str, now: datetime, confirm_s: float, clinic: str | None, active: bool = True
) -> str:
    """The keep-alive ORU^R40 of the reference watchdog: priority PN, the confirm timeout the
    Alert Manager has to answer within; ``active=False`` announces an intended shutdown."""
    equipment = f"{SENDING_APP}^{NAMESPACE}"
    filler = f"watchdog^{NAMESPACE}"
    rows = [
        _obx(1, "", MDS, "1.0.0.0", "", equipment, status="X"),
        _obx(2, "ST", WATCHDOG_EVENT, "1.0.0.1", "continue", equipment),
        _obx(3, "CWE", FACETS["source"], "1.0.0.2", MDS, equipment),
        _obx(4, "ST", FACETS["phase"], "1.0.0.3", "start" if active else "end", equipment),
        _obx(5, "ST", FACETS["state"], "1.0.0.4", "active" if active else "inactive", equipment),
        _obx(6, "ST", FACETS["inactivation"], "1.0.0.5", "enabled", equipment),
        _obx(7, "ST", FACETS["priority"], "1.0.0.6", "PN", equipment),
        _obx(8, "ST", FACETS["type"], "1.0.0.7", "SA", equipment),
        _obx(9, "NM", CONFIRM_TIMEOUT, "1.0.0.8", _number(confirm_s), equipment, SECONDS),
    ]
    return _join(
        _msh(control_id, now, clinic),
        _pv1(Where(chair="", patient_label=None, equipment=None, clinic=clinic)),
        f"OBR|1||{filler}|{ALARM}|||{hl7_time(now)}{'|' * 22}^{filler.replace('^', '&')}",
        *rows,
    )


def new_control_id() -> str:
    return uuid.uuid4().hex


def _join(*segments: str) -> str:
    return CR.join(segments) + CR


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """An ACK: MSA-1 (``CA``, ``AA``, ``CE``...), the acknowledged MSH-10, the reason text."""

    code: str
    control_id: str
    text: str

    @property
    def accepted(self) -> bool:
        return self.code in ("CA", "AA")


@dataclass(frozen=True)
class DeliveryStatus:
    """A PCD-05 (ORA^R41): what became of an alarm's dissemination, e.g. ``Delivered``."""

    control_id: str
    filler: str
    status: str


def segments(text: str) -> list[list[str]]:
    """The message's segments as field lists (CR, LF or CRLF between segments)."""
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return [line.split("|") for line in lines if line.strip()]


def _field(segment: list[str], index: int) -> str:
    return segment[index] if len(segment) > index else ""


def parse_answer(text: str) -> Ack | DeliveryStatus:
    """The Alert Manager's message: an ACK, or a PCD-05 delivery status."""
    found = segments(text)
    if not found or found[0][0] != "MSH":
        raise MessageError("not an HL7 message: it does not begin with MSH")
    msh = found[0]
    kind = _field(msh, 8).split("^")
    control_id = _field(msh, 9)
    by_name = {seg[0]: seg for seg in reversed(found)}  # the first of each name
    if kind[0] == "ACK":
        msa = by_name.get("MSA")
        if msa is None:
            raise MessageError("ACK without an MSA segment")
        return Ack(_field(msa, 1), _field(msa, 2), unescape(_field(msa, 3)))
    if kind[:2] == ["ORA", "R41"]:
        obr, prt = by_name.get("OBR"), by_name.get("PRT")
        if obr is None or prt is None:
            raise MessageError("ORA^R41 without OBR or PRT: no alarm or no status")
        filler = _field(obr, 3).split("^")[0]
        status = unescape(_field(prt, 3).split("^")[0])
        if not filler or not status:
            raise MessageError("ORA^R41 without the alarm (OBR-3) or its status (PRT-3)")
        return DeliveryStatus(control_id, filler, status)
    raise MessageError(f"unexpected message type {_field(msh, 8)!r} (expected ACK or ORA^R41)")


def ack_for(text: str, now: datetime, code: str = "AA") -> str:
    """Chairside's ACK of a message the Alert Manager sent (its delivery status)."""
    msh = segments(text)[0]
    trigger = [*_field(msh, 8).split("^"), ""][1]
    return _join(
        f"MSH|^~\\&|{SENDING_APP}||{_field(msh, 2)}|{_field(msh, 3)}|{hl7_time(now)}||"
        f"ACK^{trigger}^ACK|{new_control_id()}|P|{_field(msh, 11) or '2.6'}",
        f"MSA|{code}|{_field(msh, 9)}",
    )
