"""PCD-01 messages to readings: the third-party samples, and what a gateway may send besides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.interop import hl7_message
from app.interop.hl7_message import AckError, MessageError, build_ack
from app.interop.pcd01 import MMHG_PER_KPA, Identifier, parse_pcd01
from app.settings import Settings

HL7 = Path(__file__).resolve().parent.parent / "data" / "hl7"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def sample(name: str) -> bytes:
    return (HL7 / name).read_bytes()


def values(raw: bytes, zone: timezone | ZoneInfo | None = None) -> list[tuple[datetime, dict]]:
    parsed = parse_pcd01(raw, zone)
    return [(r.ts, {k: v.value for k, v in r.values.items()}) for r in parsed.readings]


def oru(*obx: str, msh7: str = "20261202095900+0000") -> bytes:
    head = [
        f"MSH|^~\\&|GW^00AABBCCDDEEFF01^EUI-64||||{msh7}||ORU^R01^ORU_R01|M1|P|2.6|||NE|AL",
        "PID|||p1",
        "OBR|1|||182777000^monitoring of patient^SNOMED-CT|||20261202095900+0000",
    ]
    return "\r".join([*head, *obx]).encode() + b"\r"


def test_nibp_sample_gives_one_bp_reading_at_the_time_of_its_compound_row() -> None:
    parsed = parse_pcd01(sample("valid-pcd01-request.hl7v2"), None)
    assert parsed.control_id == "MSGID1234"
    # The equipment (OBX-18) first, then the sending device (MSH-3's EUI-64).
    assert parsed.identifiers == (
        Identifier("OBX-18", "0123456789ABCDEF"),
        Identifier("MSH-3", "ACDE48234567ABCD"),
    )
    five_east = timezone(timedelta(hours=5))
    assert values(sample("valid-pcd01-request.hl7v2")) == [
        (datetime(2009, 8, 13, 9, 57, 15, tzinfo=five_east), {"sbp": 120, "dbp": 80, "map": 100})
    ]
    assert parsed.problems == ()


def test_gateway_sample_takes_the_ecg_rate_and_never_the_invasive_pressures_as_nibp() -> None:
    raw = sample("valid-pcd01-request2.hl7v2")
    # Its times carry no offset: refused unless the clinic says which zone the gateway runs in.
    with pytest.raises(MessageError) as refused:
        parse_pcd01(raw, None)
    assert refused.value.field == "MSH-7"
    assert "no time zone offset" in refused.value.detail
    berlin = ZoneInfo("Europe/Berlin")
    # ECG HR 60 (147842) wins over the arterial line's pulse rate (149522); 150033-150035
    # (arterial) and the pulmonary pressures are not NIBP and are not stored.
    assert values(raw, berlin) == [(datetime(2008, 12, 11, 14, 45, tzinfo=berlin), {"hr": 60})]
    assert parse_pcd01(raw, berlin).identifiers == (
        Identifier("MSH-3", "080019FFFF4F6AC0"),
        Identifier("PV1-3", "3 WEST ICU^3001^1"),
    )
    # On the wire segments end in CR alone: the same readings.
    assert values(raw.replace(b"\r\n", b"\r"), berlin) == values(raw, berlin)


def test_oximeter_sample_gives_spo2_and_skips_the_hierarchy_row_and_the_waveform() -> None:
    parsed = parse_pcd01(sample("valid-oximeter-continua-wan.hl7v2"), None)
    assert values(sample("valid-oximeter-continua-wan.hl7v2")) == [
        (datetime(2009, 7, 15, 7, 7, 7, tzinfo=UTC), {"spo2": 80.5})
    ]
    assert parsed.identifiers[0] == Identifier("OBX-18", "0123456789ABCDEF")
    assert parsed.problems == ()


def test_ucum_and_kpa_units_are_converted_and_the_airway_rate_wins() -> None:
    raw = oru(
        "OBX|1|NM|151708^MDC_AWAY_CO2_ET^MDC|1.1.1|5.0|kPa^kPa^UCUM|||||R",
        "OBX|2|NM|151562^MDC_RESP_RATE^MDC|1.1.2|22|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R",
        "OBX|3|NM|151594^MDC_CO2_RESP_RATE^MDC|1.1.3|14|/min^/min^UCUM|||||R",
        "OBX|4|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.2.1|71|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R",
        "OBX|5|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1|16|kPa^kPa^UCUM|||||R",
        "OBX|6|NM|151578^MDC_TTHOR_RESP_RATE^MDC|1.4.1|30|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R",
    )
    [(ts, got)] = values(raw)
    assert ts == datetime(2026, 12, 2, 9, 59, tzinfo=UTC)  # OBR-7: no OBX-14
    assert got == {
        "etco2": round(5 * MMHG_PER_KPA, 3),
        "rr": 14,
        "hr": 71,
        "sbp": round(16 * MMHG_PER_KPA, 3),
    }
    assert round(5 * MMHG_PER_KPA, 1) == 37.5


def test_every_respiration_rate_code_is_read_and_the_chest_impedance_rate_comes_last() -> None:
    codes = [
        ("151594", "MDC_CO2_RESP_RATE"),
        ("151570", "MDC_AWAY_RESP_RATE"),
        ("151562", "MDC_RESP_RATE"),
        ("151658", "MDC_PULS_OXIM_PLETH_RESP_RATE"),
        ("151578", "MDC_TTHOR_RESP_RATE"),
    ]
    rows = [
        f"OBX|{n}|NM|{code}^{name}^MDC|1.1.{n}|{10 + n}|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R"
        for n, (code, name) in enumerate(codes, start=1)
    ]
    for first in range(len(rows)):
        # With every code from ``first`` on in one message, the most direct of them wins.
        [(_, got)] = values(oru(*rows[first:]))
        assert got == {"rr": 11 + first}, codes[first]


def test_a_wrong_row_is_named_and_dropped_alone() -> None:
    raw = oru(
        "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R",
        "OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2|fast|/min^/min^UCUM|||||R",
        "OBX|3|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3|120|cm[H2O]^cm[H2O]^UCUM|||||R",
        "OBX|4|ST|151708^MDC_AWAY_CO2_ET^MDC|1.4|38|mm[Hg]^mm[Hg]^UCUM|||||R",
        "OBX|5|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.5|80|mm[Hg]^mm[Hg]^UCUM|||||R|||2026x",
        "OBX|6|NM|999999^MDC_SOMETHING_ELSE^MDC|1.6|1|/min^/min^UCUM|||||R",
        "OBX|7|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.7|80|mm[Hg]^mm[Hg]^UCUM|||||W",
    )
    parsed = parse_pcd01(raw, None)
    assert values(raw) == [(datetime(2026, 12, 2, 9, 59, tzinfo=UTC), {"spo2": 97})]
    assert [(p.position, p.field, p.code) for p in parsed.problems] == [
        (5, 5, "102"),
        (6, 6, "103"),
        (7, 2, "102"),
        (8, 14, "102"),
    ]
    assert parsed.problems[0].detail == "OBX-2 (147842) value 'fast' is not a number"
    assert "unit 'cm[H2O]' is not one for sbp" in parsed.problems[1].detail


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"PID|||x\rOBR|1\r", "MSH"),
        (b"MSH|^~\\&|A||||20261202095900+0000||ADT^A01|X1|P|2.6\r", "MSH-9"),
        (b"MSH|^~\\&|A||||20261202095900+0000||ORU^R01|X1|P|2.6\rPID|||x\r", "OBR"),
        (b"MSH|^~\\&|A||||20261202095900+0000||ORU^R01||P|2.6\rOBR|1\r", "MSH-10"),
        (b"MSH|^~\\&|A||||yesterday||ORU^R01|X1|P|2.6\rOBR|1\r", "MSH-7"),
        (b"MSH|^~\\&|A||||20261202095900+0000||ORU^R01|X1|P|2.6|||||\xff\rOBR|1\r", "MSH-18"),
    ],
)
def test_a_message_chairside_cannot_use_is_refused_naming_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(MessageError) as refused:
        parse_pcd01(raw, None)
    assert refused.value.field == field


def test_a_resend_has_the_same_seq_and_a_reused_id_with_new_times_does_not() -> None:
    first = parse_pcd01(sample("valid-pcd01-request.hl7v2"), None).readings[0]
    again = parse_pcd01(sample("valid-pcd01-request.hl7v2"), None).readings[0]
    # The oximeter sample reuses the message id MSGID1234 with another observation time.
    other = parse_pcd01(sample("valid-oximeter-continua-wan.hl7v2"), None).readings[0]
    assert first.seq("MSGID1234") == again.seq("MSGID1234")
    assert first.seq("MSGID1234") != other.seq("MSGID1234")
    assert 0 <= first.seq("MSGID1234") < 2**63


def test_the_ack_has_the_sample_responses_structure() -> None:
    expected = hl7_message.parse(sample("valid-pcd01-response.hl7v2"))
    original = hl7_message.parse(sample("valid-pcd01-request.hl7v2"))
    ack = hl7_message.parse(build_ack(original, "AA", "MSGID1234", NOW))
    assert ack.msh.raw(9) == expected.msh.raw(9) == "ACK^R01^ACK"
    # Addressed back to the sender (the sample's own MSH-5 spells its type EUI64).
    assert ack.msh.raw(5) == original.msh.raw(3) == "AcmeInc^ACDE48234567ABCD^EUI-64"
    assert (ack.msh.text(11), ack.msh.text(12)) == ("P", "2.6")
    msa = ack.first("MSA")
    assert msa is not None and expected.first("MSA") is not None
    assert (
        (msa.text(1), msa.text(2))
        == ("AA", "MSGID1234")
        == (
            expected.first("MSA").text(1),  # type: ignore[union-attr]
            expected.first("MSA").text(2),  # type: ignore[union-attr]
        )
    )
    error = AckError("OBX", 5, 5, "102", "Data type error", "OBX-4 (150021): sbp 400 | too high")
    refused = hl7_message.parse(build_ack(original, "AE", "MSGID1234", NOW, (error,)))
    [err] = refused.all("ERR")
    assert (err.text(2), err.component(3, 1), err.text(4)) == ("OBX^5^5", "102", "E")
    assert err.text(8) == "OBX-4 (150021): sbp 400 | too high"  # escaped on the wire, read back
    assert refused.first("MSA").text(3).startswith("OBX-4 (150021)")  # type: ignore[union-attr]


def test_the_zone_for_times_without_offset_must_be_a_real_one() -> None:
    assert Settings(hl7_zone="Europe/Berlin").hl7_zone == "Europe/Berlin"
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone name"):
        Settings(hl7_zone="Mars/Olympus")
