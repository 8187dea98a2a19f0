"""The demo's feed: a simulated clinic in a background thread, session after session, until stopped."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx

from simulators.api import ClinicAPI
from simulators.clinic import ChairMonitor, ClinicReport, OpenSession, find_open_round, run_clinic

log = logging.getLogger(__name__)
DEFAULT_DURATION_S = 150 * 60.0


class ClinicThread:
    """``run_clinic`` on its own event loop in a daemon thread; ``stop()`` from any thread.

    Waits for the server to answer ``/api/health`` first, then runs sessions on every chair;
    with ``repeat`` a new round (next seed) starts when one ends, as a clinic's day goes on.
    With ``carry_on`` (which needs ``monitors``), sessions an earlier run left open at those
    chairs are carried on where they stopped, and sessions still under way at ``stop()`` stay
    open for the next run. ``hl7`` (host, port) is the server's HL7 listener: the monitors
    that have an ``hl7_source`` send PCD-01 to it instead of using the websocket. ``nurse``
    (login, password): a simulated nurse records observations (``simulators.nurse``).
    """

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        chairs: int,
        speed: float,
        seed: int,
        *,
        scenario: str | None = None,
        duration_s: float = DEFAULT_DURATION_S,
        monitors: Sequence[ChairMonitor] | None = None,
        hl7: tuple[str, int] | None = None,
        nurse: tuple[str, str] | None = None,
        repeat: bool = True,
        progress: bool = False,
        head_start_s: Sequence[float] | None = None,
        carry_on: bool = False,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self.user, self.password = user, password
        self.chairs, self.speed, self.seed = chairs, speed, seed
        self.scenario, self.duration_s = scenario, duration_s
        self.monitors, self.repeat, self.progress = monitors, repeat, progress
        self.head_start_s = head_start_s
        self.hl7 = hl7
        self.nurse = nurse
        if carry_on and monitors is None:
            raise ValueError("carrying sessions on needs the chairs' monitors")
        self.carry_on = carry_on
        self.say = say or (lambda message: None)
        self.reports: list[ClinicReport] = []
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._main, name="simulated-clinic", daemon=True)

    def start(self) -> ClinicThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the clinic to end its sessions and wait for the thread."""
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (a round without ``repeat`` ends by itself); True once done."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(self._rounds())
        except BaseException as exc:  # reported to the thread's owner, not lost in the thread
            self.error = exc
            log.exception("the simulated clinic stopped")

    async def _rounds(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return
        await wait_for_server(self.base_url, self._stop)
        if self._stop.is_set():  # stopped before the server answered (or it never started)
            return
        seed, head_start = self.seed, self.head_start_s
        resume = await self._open_round() if self.carry_on else None
        if resume is not None:
            seed, head_start = resume[0], None
        while not self._stop.is_set():
            report = await run_clinic(
                self.base_url,
                self.user,
                self.password,
                self.chairs,
                self.speed,
                seed,
                self.scenario,
                self.duration_s,
                progress=self.progress,
                stop=self._stop,
                monitors=self.monitors,
                # Only the first round joins sessions already under way.
                head_start_s=head_start,
                resume=resume[1] if resume is not None else None,
                end_on_stop=not self.carry_on,
                hl7=self.hl7,
                nurse=self.nurse,
            )
            head_start, resume = None, None
            self.reports.append(report)
            if not self.repeat:
                return
            seed += 1

    async def _open_round(self) -> tuple[int, dict[int, OpenSession]] | None:
        assert self.monitors is not None
        async with ClinicAPI(self.base_url) as api:
            await api.login(self.user, self.password)
            found = await find_open_round(
                api, [m.chair for m in self.monitors], self.duration_s, datetime.now(UTC)
            )
        if found is None:
            self.say("no session left open by an earlier run: starting a new round")
        else:
            chairs = ", ".join(self.monitors[i - 1].chair for i in sorted(found[1]))
            self.say(f"carrying on the sessions left open at {chairs}")
        return found


async def wait_for_server(base_url: str, stop: asyncio.Event, within_s: float = 30.0) -> None:
    """Return once ``GET /api/health`` answers 200 (the server may still be starting)."""
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while not stop.is_set():
            try:
                if (await client.get("/api/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from {base_url}/api/health in {within_s:g} s")
            await asyncio.sleep(0.2)
