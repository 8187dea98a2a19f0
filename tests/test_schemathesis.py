"""Schemathesis against the live app, on SQLite and on PostgreSQL, logged in as each role: every
operation answers without a server error, with a status, a content type and a body that its
OpenAPI documents, refuses what the schema refuses and accepts what it allows.

The command-line runner runs its phases (examples, fuzzing, stateful sequences and, as admin,
coverage of the schema's edges) with ``--checks all``, ``positive_data_acceptance`` replaced by
the check in tests/schemathesis_checks.py; tests/schemathesis.toml bounds and fixes the cases.
Coverage runs as admin only: its cases (edge values of every parameter, methods the API does
not have) meet the same validation whatever the role, admin's reaches past every role check,
and it is most of the time. The three roles' runs go at once, on the same seeded clinic. Left
out: ``POST /api/auth/logout``, which would end the run's own login."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import login
from tests.support import PASSWORD, Clinic, Device, LiveServer, device_connect, wipe

HERE = Path(__file__).resolve().parent
ROLES = ["nurse", "clinician", "admin"]
PHASES = {
    "nurse": "examples,fuzzing,stateful",
    "clinician": "examples,fuzzing,stateful",
    "admin": "examples,coverage,fuzzing,stateful",
}
# On the 2-core machine a nurse's or a clinician's run takes about 5 s, an admin's 20 s, when
# each runs alone. The runs go at once and share the machine, so together they have the time
# they would have one after another.
RUN_TIMEOUT_S = 120
RUNS_TIMEOUT_S = RUN_TIMEOUT_S * len(ROLES)


@pytest.fixture(scope="module")
def fuzzed_server(database, live_server: LiveServer) -> Iterator[LiveServer]:
    """A server of its own on the test database: the fuzzer's failed logins (names and
    passwords it makes up) must lock no account, nor the address, that other tests log in
    from, so this one counts none."""
    settings = database.model_copy(
        update={"login_account_failures": 1_000_000, "login_address_failures": 0}
    )
    server = LiveServer(settings).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def fuzzed_clinic(
    fuzzed_server: LiveServer, live_server: LiveServer
) -> AsyncIterator[Clinic]:
    """One user of each role, a chair with its monitor, an open session with readings and an
    alert: ids 1 and up name real records, so the fuzzer reaches more than 404s."""
    await wipe(fuzzed_server.settings)
    live_server.forget_clinic()  # the shared server forgets the clinic it was running
    fuzzed_server.forget_clinic()
    clinic = Clinic(server=fuzzed_server, settings=fuzzed_server.settings)
    await clinic.add_users(*((role, role) for role in ROLES))
    token, _, chair_id = await clinic.add_device("Chair 1")
    nurse = await login(clinic, "nurse")
    try:
        body = {"chair_id": chair_id, "protocol": "spravato", "patient_label": "FZ"}
        session_id = (await nurse.post("/api/sessions", json=body)).json()["id"]
        start = datetime.now(UTC) - timedelta(minutes=20)
        async with device_connect(fuzzed_server, token) as conn:
            device = Device(conn)
            await device.reading(seq=1, ts=start.isoformat(), sbp=128, dbp=80, map=96, hr=72)
            assert (await nurse.post(f"/api/sessions/{session_id}/dose")).status_code == 200
            now = datetime.now(UTC).isoformat()
            await device.reading(seq=2, ts=now, sbp=186, dbp=104, map=131, hr=80, spo2=97)
        await _wait_for_an_alert(nurse, session_id)
    finally:
        await nurse.aclose()
    yield clinic


async def _wait_for_an_alert(client: httpx.AsyncClient, session_id: int) -> None:
    import asyncio

    for _ in range(100):
        if (await client.get("/api/alerts", params={"session_id": session_id})).json():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the seeded session raised no alert")


def _login_cookie(server: LiveServer, role: str) -> str:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.post("/api/auth/login", json={"name": role, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.cookies["chairside_login"]


@dataclass
class Run:
    """One role's schemathesis process, its output kept in files (a pipe left unread would
    stop it)."""

    role: str
    process: subprocess.Popen[bytes]
    output: Path
    began: float = field(default_factory=time.monotonic)

    def result(self) -> tuple[int, str, float]:
        """Its exit status, its report (stdout, then stderr) and how long it ran, once done."""
        left = RUNS_TIMEOUT_S - (time.monotonic() - self.began)
        try:
            code = self.process.wait(timeout=max(left, 0))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"schemathesis as {self.role} ran over {RUNS_TIMEOUT_S} s"
            ) from None
        took = time.monotonic() - self.began
        report = (self.output / "stdout").read_text() + (self.output / "stderr").read_text()
        return code, report, took


def start_run(server: LiveServer, role: str, workdir: Path) -> Run:
    cookie = _login_cookie(server, role)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{server.url}/openapi.json",
        "--header",
        f"Cookie: chairside_login={cookie}",
        "--phases",
        PHASES[role],
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--exclude-path",
        "/api/auth/logout",
        "--no-color",
        "--output-sanitize",
        "false",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_checks.py")}
    with (workdir / "stdout").open("wb") as out, (workdir / "stderr").open("wb") as err:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=err,
            env=env,
            cwd=workdir,  # whatever it may write stays out of the repository
        )
    return Run(role, process, workdir)


@pytest.fixture(scope="module")
def runs(
    fuzzed_clinic: Clinic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Run]]:
    """Every role's run, all started at once on the seeded clinic (which they share, as they
    did one after another). Each spends most of its time generating cases in a process of its
    own, so the three together take little longer than the admin's alone."""
    started = {
        role: start_run(fuzzed_clinic.server, role, tmp_path_factory.mktemp(f"schemathesis-{role}"))
        for role in ROLES
    }
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_its_openapi_documents(runs: dict[str, Run], role: str) -> None:
    code, report, took = runs[role].result()
    assert code == 0, f"schemathesis as {role} ({took:.0f} s):\n{report}"
    assert " passed" in report and " generated" in report, report  # it did test something
