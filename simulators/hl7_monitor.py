"""A simulated monitor gateway: sends a session's readings as IHE PCD-01 (ORU^R01) over MLLP.

Each reading becomes one message, sent when simulated time reaches it; a monitor that is
behind (a head start, a reconnection) sends what is due together, up to a minute of readings in
one message, each row with its own time. The next message waits for the ACK, as an
original-mode HL7 sender does. A lost connection is re-opened with back-off and the
unanswered message sent again (same MSH-10: the server stores it once). The message carries
the monitor's EUI-64 in OBX-18, the identifier its device is bound to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from app.interop.hl7_message import MessageError, parse
from app.interop.mllp import FrameReader, FramingError, frame
from simulators.clock import SimClock
from simulators.courses import SimReading
from simulators.monitor import BACKOFF_CAP_S, BACKOFF_FIRST_S, MonitorStats

log = logging.getLogger(__name__)
ACK_TIMEOUT_S = 30.0
BATCH = 60  # readings in one message at most: a minute of them, PCD-01's usual report
# MDC code, refid, unit for each vital (the codes the listener reads, app/interop/pcd01.py).
CODES = {
    "sbp": ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "1.0.1.1", "266016^MDC_DIM_MMHG^MDC"),
    "dbp": ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "1.0.1.2", "266016^MDC_DIM_MMHG^MDC"),
    "map": ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "1.0.1.3", "266016^MDC_DIM_MMHG^MDC"),
    "hr": ("147842^MDC_ECG_HEART_RATE^MDC", "1.1.1.1", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "spo2": ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "1.2.1.1", "262688^MDC_DIM_PERCENT^MDC"),
    "rr": ("151594^MDC_CO2_RESP_RATE^MDC", "1.3.1.1", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
    "etco2": ("151708^MDC_AWAY_CO2_ET^MDC", "1.3.1.2", "266016^MDC_DIM_MMHG^MDC"),
}


def simulated_eui64(seed: int, index: int) -> str:
    """A stable, made-up EUI-64 per simulated chair (locally administered: 0x02 bit set)."""
    return f"02C5{seed % 0x10000:04X}{index:08X}"


def hl7_time(at: datetime) -> str:
    """An HL7 DTM to the millisecond, with its offset (the readings' own resolution: a
    restarted monitor knows which of them the server holds)."""
    return at.strftime("%Y%m%d%H%M%S.") + f"{at.microsecond // 1000:03d}" + at.strftime("%z")


def pcd01_message(eui64: str, control_id: str, readings: Sequence[tuple[str, SimReading]]) -> bytes:
    """One ORU^R01 as a PCD-01 device sends it: the MDS row with its EUI-64, then the numerics
    of each (stamp, reading), each row with its own time (OBX-14)."""
    first, last = readings[0][0], readings[-1][0]
    lines = [
        f"MSH|^~\\&|Chairside simulator^{eui64}^EUI-64||||{last}||ORU^R01^ORU_R01|{control_id}"
        "|P|2.6|||NE|AL|||||IHE PCD ORU-R01 2006^HL7^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        f"OBR|1|{control_id}^Chairside simulator^{eui64}^EUI-64||"
        f"182777000^monitoring of patient^SNOMED-CT|||{first}",
        f"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||{eui64}^EUI-64",
    ]
    n = 1
    for stamp, reading in readings:
        for vital, value in reading.vitals().items():
            code, path, unit = CODES[vital]
            n += 1
            lines.append(f"OBX|{n}|NM|{code}|{path}|{value:g}|{unit}|||||R|||{stamp}")
    return ("\r".join(lines) + "\r").encode()


class Hl7Monitor:
    """One chair's monitor behind a gateway; the surface ``run_clinic`` uses of ``Monitor``."""

    def __init__(
        self,
        host: str,
        port: int,
        eui64: str,
        readings: Sequence[SimReading],
        clock: SimClock,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.host, self.port, self.eui64 = host, port, eui64
        self.readings = readings
        self.clock = clock
        self.stop = stop or asyncio.Event()
        self.stats = MonitorStats(readings=len(readings))
        self._next = 0  # the next reading to be acknowledged

    @property
    def finished(self) -> bool:
        return self._next >= len(self.readings)

    def delivered_through(self, t_s: float) -> bool:
        return self.finished or self.readings[self._next].t_s > t_s

    def _due(self, now_s: float) -> Sequence[SimReading]:
        """The next reading and those after it already due at ``now_s`` (at most BATCH)."""
        end = self._next + 1
        while (
            end < len(self.readings)
            and end - self._next < BATCH
            and self.readings[end].t_s <= now_s
        ):
            end += 1
        return self.readings[self._next : end]

    async def run(self) -> MonitorStats:
        backoff = BACKOFF_FIRST_S
        while not self.finished and not self.stop.is_set():
            try:
                await self._connection()
                backoff = BACKOFF_FIRST_S
                continue
            except (OSError, TimeoutError, FramingError, MessageError) as exc:
                log.info("HL7 connection lost (%s); retrying in %.1f s", exc, backoff)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self.stop.wait()
            backoff = min(backoff * 2, BACKOFF_CAP_S)
        return self.stats

    async def _connection(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.stats.connects += 1
        acks = FrameReader(reader, 1024 * 1024, ACK_TIMEOUT_S, ACK_TIMEOUT_S)
        sent_here: set[int] = set()
        try:
            while not self.finished and not self.stop.is_set():
                reading = self.readings[self._next]
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(self.clock.until(reading.t_s), 0)):
                        await self.stop.wait()
                if self.stop.is_set():
                    return
                # Behind (a head start, a reconnection): what is due goes in one message, up
                # to a minute of readings, as a gateway sends its backlog.
                batch = self._due(self.clock.sim_now())
                measured = self.clock.wall(reading.t_s)
                # The id is the first reading's time, the same in every run.
                control_id = f"{self.eui64}-{round(measured.timestamp() * 1000)}"
                stamped = [(hl7_time(self.clock.wall(r.t_s)), r) for r in batch]
                writer.write(frame(pcd01_message(self.eui64, control_id, stamped)))
                await writer.drain()
                if self._next in sent_here:
                    self.stats.resent += len(batch)
                sent_here.add(self._next)
                self.stats.sent += len(batch)
                raw = await acks.read()
                if raw is None:
                    raise ConnectionResetError("the server closed the connection")
                msa = parse(raw).first("MSA")
                code = msa.text(1) if msa is not None else ""
                if code == "AR" and msa is not None and "send the message again" in msa.text(3):
                    raise ConnectionResetError("the server could not store the reading")
                if code in ("AA", "AE"):
                    self.stats.acked += len(batch)
                if code != "AA":
                    self.stats.errors += 1
                    self.stats.error_codes[code or "no MSA"] += 1
                self.stats.last_t_s = batch[-1].t_s
                self._next += len(batch)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
