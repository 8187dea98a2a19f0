"""The ``chairside`` command line, run as a person runs it (a real process)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app import migrations
from app.db import create_engine
from app.settings import Settings
from tests.support import TRACES, run_chairside, together


def chairside(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CHAIRSIDE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    return run_chairside(env, *args, stdin=stdin)


async def scalar(tmp_path: Path, sql: str) -> object:
    engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}"))
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database made by ``chairside db upgrade``, once for the module."""
    where = tmp_path_factory.mktemp("upgraded")
    result = chairside(where, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stderr
    return where / "cli.db"


@pytest.fixture
def migrated(upgraded: Path, tmp_path: Path) -> Path:
    """A folder with a copy of that database: the same file a test's own upgrade would make,
    without a process of its own for each test."""
    shutil.copy2(upgraded, tmp_path / "cli.db")
    return tmp_path


async def test_user_add_reads_the_password_from_stdin_and_stores_only_a_hash(
    migrated: Path,
) -> None:
    result = chairside(
        migrated, "user", "add", "dr.lee", "--role", "clinician", stdin="s3cret-passphrase\n"
    )
    assert result.returncode == 0, result.stderr
    assert "dr.lee" in result.stderr
    stored = await scalar(migrated, "SELECT password_hash FROM user_account WHERE name = 'dr.lee'")
    assert isinstance(stored, str) and stored.startswith("$argon2") and "s3cret" not in stored


def test_user_add_refuses_a_short_password_and_a_duplicate_name(migrated: Path) -> None:
    short = chairside(migrated, "user", "add", "amy", "--role", "nurse", stdin="short\n")
    assert short.returncode == 2 and "at least 12" in short.stderr
    assert (
        chairside(
            migrated, "user", "add", "amy", "--role", "nurse", stdin="long-enough-pw\n"
        ).returncode
        == 0
    )
    again = chairside(migrated, "user", "add", "amy", "--role", "nurse", stdin="long-enough-pw\n")
    assert again.returncode == 2 and "already exists" in again.stderr


async def test_device_add_prints_the_token_once_and_stores_its_hash(migrated: Path) -> None:
    result = chairside(migrated, "device", "add", "--chair", "Chair 4")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("csd_") and len(token) > 30
    assert "Chair 4" in result.stderr and "created" in result.stderr
    stored = await scalar(migrated, "SELECT token_hash FROM device")
    assert stored != token and token not in str(stored)


def test_offline_replay_prints_the_contract_fields_and_is_deterministic(tmp_path: Path) -> None:
    trace = tmp_path / "rise.csv"
    rows = ["t_s,sbp,dbp,map,hr,spo2"]
    rows += [f"{t},,,,72,98" for t in range(0, 3600, 5)]
    rows += ["600,124,78,93,,", "1800,126,80,95,,", "3000,186,104,131,,", "3300,150,90,110,,"]
    body = sorted(rows[1:], key=lambda r: float(r.split(",")[0]))
    trace.write_text("\n".join([rows[0], *body]) + "\n")
    replay = ("replay", str(trace), "--offline", "--json", "--dose-at", "1900")
    first, second = together(
        lambda: chairside(tmp_path, *replay), lambda: chairside(tmp_path, *replay)
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    import json

    events = [json.loads(line) for line in first.stdout.splitlines()]
    raised = [e for e in events if e["event"] == "raised" and e["rule"] == "sbp_critical"]
    assert len(raised) == 1
    assert list(raised[0])[:8] == [
        "t_s",
        "event",
        "rule",
        "vital",
        "value",
        "priority",
        "kind",
        "message",
    ]
    assert (raised[0]["t_s"], raised[0]["value"], raised[0]["priority"]) == (3000.0, 186, "high")


def test_offline_replay_reports_cells_and_rows_the_ingest_would_drop(tmp_path: Path) -> None:
    trace = tmp_path / "messy.csv"
    trace.write_text(
        "t_s,sbp,dbp,map,hr,spo2\n0,,,,72,98\n60,120,130,125,72,101\n120,,,,11.5,\n",
        encoding="utf-8",
    )
    # The real s25047 record: SpO2 down to 36 % and a cuff's 40/18 are measurements, kept.
    real_trace = str(TRACES / "mimic2_s25047_numerics_1min.csv")
    result, real = together(
        lambda: chairside(tmp_path, "replay", str(trace), "--offline", "--json"),
        lambda: chairside(tmp_path, "replay", real_trace, "--offline", "--json"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "dropped spo2 at t_s=60: out_of_range: spo2 101 is outside the plausible range 0-100 %",
        *(
            f"dropped {vital} at t_s=60: dbp_not_below_sbp: diastolic 130 is not below systolic 120"
            for vital in ("sbp", "dbp", "map")
        ),
        "skipped row at t_s=120: out_of_range: hr 11.5 is outside the plausible range 15-300 /min",
    ]
    assert real.returncode == 0, real.stderr
    assert "dropped" not in real.stderr and "skipped row" not in real.stderr


@pytest.mark.parametrize("command", [("export", "1"), ("user", "add", "amy", "--role", "nurse")])
def test_a_command_on_a_missing_database_says_how_to_make_it_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = chairside(tmp_path, *command, stdin="long-enough-pw\n")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert "no Chairside database at" in result.stderr
    assert "chairside db upgrade" in result.stderr
    assert not (tmp_path / "cli.db").exists()


def test_a_command_on_a_database_behind_the_migrations_names_both_and_the_fix(
    tmp_path: Path,
) -> None:
    (tmp_path / "cli.db").touch()  # e.g. an empty file someone made
    empty = chairside(tmp_path, "export", "1")
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1, empty.stderr
    assert "has no Chairside schema" in empty.stderr and "chairside db upgrade" in empty.stderr
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    migrations.upgrade(settings, "0003")
    behind = chairside(tmp_path, "device", "add", "--chair", "Chair 1")
    assert behind.returncode == 2 and behind.stderr.count("\n") == 1, behind.stderr
    head = ScriptDirectory.from_config(migrations.alembic_config(settings)).get_current_head()
    assert "at migration 0003" in behind.stderr and f"needs {head}" in behind.stderr
    assert chairside(tmp_path, "db", "upgrade").returncode == 0
    assert chairside(tmp_path, "device", "add", "--chair", "Chair 1").returncode == 0


def test_the_demo_refuses_a_database_it_did_not_make_and_never_deletes_it(migrated: Path) -> None:
    added = chairside(migrated, "user", "add", "amy", "--role", "admin", stdin="long-enough-pw\n")
    assert added.returncode == 0, added.stderr
    plain, fresh = together(
        lambda: chairside(migrated, "demo", "--port", "1"),
        lambda: chairside(migrated, "demo", "--port", "1", "--fresh"),
    )
    for refused in (plain, fresh):
        assert refused.returncode == 2, refused.stderr
        assert "holds a clinic the demo did not make" in refused.stderr
        assert (migrated / "cli.db").exists()
    still = chairside(migrated, "user", "add", "bob", "--role", "nurse", stdin="long-enough-pw\n")
    assert still.returncode == 0, still.stderr


def test_every_chair_of_the_demo_mix_opens_with_its_session_under_way() -> None:
    """`chairside demo` (8 chairs by default, up to the whole mix and beyond) gives each chair's
    scenario a head start; a scenario without one stopped the demo before it started."""
    from app.demo import head_starts_s
    from simulators.clinic import SCENARIO_MIX

    starts = head_starts_s(2 * len(SCENARIO_MIX))
    assert len(starts) == 2 * len(SCENARIO_MIX)
    assert all(10 * 60 <= s <= 120 * 60 for s in starts), starts


def test_the_demo_names_a_busy_hl7_port_and_otherwise_finds_one(tmp_path: Path) -> None:
    """The demo's HL7 chairs (2, 6, 10, ...) need a listener: 2575 when free, else a port the
    system picks (said so); a port asked for by name that is taken stops the demo at once."""
    from app.demo import HL7_PORT, free_hl7_port, over_hl7

    assert [n for n in range(1, 13) if over_hl7(n)] == [2, 6, 10]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        refused = chairside(tmp_path, "demo", "--port", "1", "--hl7-port", str(taken))
        assert refused.returncode == 2, refused.stderr
        assert f"cannot take port {taken}: it is in use" in refused.stderr
        assert free_hl7_port(taken, "127.0.0.1") == (None, f"port {taken} is in use")
    assert free_hl7_port(0, "127.0.0.1") == (None, None)  # --hl7-port 0: no HL7 chairs
    with socket.socket() as usual:
        try:
            usual.bind(("127.0.0.1", HL7_PORT))
            usual.listen()
        except OSError:
            pass  # something else holds 2575 already: taken either way
        port, note = free_hl7_port(None, "127.0.0.1")
        assert port is not None and port != HL7_PORT
        assert note == f"port {HL7_PORT} is in use; HL7 listens on {port} instead"
