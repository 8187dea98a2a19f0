"""HL7 v2 messages as text: split into segments, fields and components; build an ACK.

A small strict reader rather than a general library: PCD-01 needs a handful of fields, and every
way a message can be wrong must end in an answer that names the field, never in an exception
escaping into the listener. Segments may end in CR (the standard), CRLF or LF (files and some
gateways): all are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

ESCAPES = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\"}
# HL7 v2 DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]; a reading needs the minute.
_DTM = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.(\d{1,4}))?(?:([+-])(\d{2})(\d{2}))?$"
)


class MessageError(Exception):
    """The message cannot be read as HL7 v2; ``field`` names where (e.g. ``MSH-9``)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment; ``fields[n]`` is field n as sent (escaped), ``fields[0]`` the segment id."""

    name: str
    fields: tuple[str, ...]
    component_sep: str
    repetition_sep: str
    escape: str
    subcomponent_sep: str

    def raw(self, n: int) -> str:
        return self.fields[n] if n < len(self.fields) else ""

    def component(self, n: int, c: int = 1, repetition: int = 0) -> str:
        """Component ``c`` (1-based) of repetition ``repetition`` of field ``n``, unescaped."""
        reps = self.raw(n).split(self.repetition_sep)
        if repetition >= len(reps):
            return ""
        parts = reps[repetition].split(self.component_sep)
        return self.unescape(parts[c - 1]).strip() if c <= len(parts) else ""

    def text(self, n: int) -> str:
        """Field ``n`` as one trimmed string, components joined as sent (a PL, an HD)."""
        return self.unescape(self.raw(n).rstrip(self.component_sep)).strip()

    def unescape(self, value: str) -> str:
        if self.escape not in value:
            return value
        out: list[str] = []
        i = 0
        while i < len(value):
            if value[i] == self.escape:
                end = value.find(self.escape, i + 1)
                if end > i:
                    code = value[i + 1 : end]
                    out.append(ESCAPES.get(code, ""))  # \X..\, \H\ and the like: dropped
                    i = end + 1
                    continue
            out.append(value[i])
            i += 1
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Message:
    segments: tuple[Segment, ...]

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    @property
    def control_id(self) -> str:
        return self.msh.text(10)


def charset(raw: bytes) -> str:
    """The Python codec for MSH-18 (the character set), read before the message is decoded."""
    first = raw.split(b"\r", 1)[0].split(b"\n", 1)[0]
    fields = first.split(first[3:4] or b"|") if first.startswith(b"MSH") else []
    named = fields[17].decode("ascii", "replace").strip().upper() if len(fields) > 17 else ""
    return "latin-1" if named.startswith("8859/1") else "utf-8"


def parse(raw: bytes) -> Message:
    """Split one message (the bytes between the MLLP start and end blocks) into segments."""
    codec = charset(raw)
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise MessageError("MSH-18", f"the message is not valid {codec} text") from exc
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise MessageError("MSH", "a message starts with an MSH segment")
    field_sep, encoding = lines[0][3], lines[0][4:8]
    if len(set(encoding + field_sep)) != 5 or encoding[0] == field_sep:
        raise MessageError("MSH-2", f"encoding characters {encoding!r} are not four distinct ones")
    comp, rep, esc, sub = encoding[0], encoding[1], encoding[2], encoding[3]
    segments = []
    for index, line in enumerate(lines):
        parts = line.split(field_sep)
        if index == 0:  # MSH-1 is the separator itself: shift so that fields[n] is MSH-n
            parts = ["MSH", field_sep, *parts[1:]]
        name = parts[0].strip()
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", name):
            raise MessageError(f"segment {index + 1}", f"{name[:10]!r} is not a segment id")
        segments.append(Segment(name, tuple(parts), comp, rep, esc, sub))
    return Message(tuple(segments))


def parse_dtm(value: str, field: str, default_zone: tzinfo | None) -> datetime:
    """An HL7 DTM as an aware time; without an offset, in ``default_zone`` (None: an error)."""
    match = _DTM.match(value)
    if match is None:
        raise MessageError(field, f"{value!r} is not a time of the form YYYYMMDDHHMM[SS][+ZZZZ]")
    year, month, day, hour, minute, second, fraction, sign, zh, zm = match.groups()
    if sign:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        zone: tzinfo = timezone(offset if sign == "+" else -offset)
    elif default_zone is not None:
        zone = default_zone
    else:
        raise MessageError(
            field,
            f"{value!r} has no time zone offset (+ZZZZ); set the gateway to send one, or "
            "CHAIRSIDE_HL7_ZONE to the zone its clock is in",
        )
    micro = int((fraction or "0").ljust(6, "0")[:6])
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, zone
        )
    except ValueError as exc:
        raise MessageError(field, f"{value!r} is not a valid time: {exc}") from None


def _escape(value: str) -> str:
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    return out.replace("&", "\\T\\").replace("~", "\\R\\").replace("\r", " ").replace("\n", " ")


@dataclass(frozen=True, slots=True)
class AckError:
    """One ERR segment: where (segment id, its position, field), HL7 table 0357 code, detail,
    and severity (HL7 table 0516: ``E`` error, ``I`` information)."""

    segment: str
    position: int
    field: int
    code: str
    code_text: str
    detail: str
    severity: str = "E"


def build_ack(
    original: Message | None,
    code: str,
    control_id: str,
    now: datetime,
    errors: tuple[AckError, ...] = (),
) -> bytes:
    """An original-mode application ACK (``ACK^<trigger>^ACK``, ``MSA|code|<MSH-10>``), as the
    PCD-01 sample response is; MSA-3 carries the first error's detail and each error is an ERR
    (ERR-2 location, ERR-3 code from table 0357, ERR-4 severity, ERR-8 the detail)."""
    msh = original.msh if original is not None else None
    trigger = (msh.component(9, 2) if msh else "") or "R01"
    processing = (msh.text(11) if msh else "") or "P"
    stamp = now.strftime("%Y%m%d%H%M%S") + now.strftime("%z")
    fields = [
        "MSH",
        "^~\\&",
        "Chairside",
        "",
        msh.raw(3) if msh else "",
        msh.raw(4) if msh else "",
        stamp,
        "",
        f"ACK^{_escape(trigger)}^ACK",
        f"A{control_id}"[:199] if control_id else f"A{stamp}",
        processing,
        "2.6",
    ]
    segments = ["|".join(fields)]
    text = errors[0].detail if errors else ""
    segments.append(f"MSA|{code}|{_escape(control_id)}|{_escape(text)[:80]}")
    for error in errors:
        location = f"{error.segment}^{error.position}^{error.field}" if error.segment else ""
        segments.append(
            f"ERR||{location}|{error.code}^{_escape(error.code_text)}^HL70357|{error.severity}||||"
            f"{_escape(error.detail)}"
        )
    return ("\r".join(segments) + "\r").encode()
