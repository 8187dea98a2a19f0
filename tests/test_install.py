"""An ordinary install works: the wheel, installed without extras into a new virtualenv outside
the checkout, runs the demo, serves the dashboard and stores the simulated monitors' readings."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo_process import DemoProcess, clean_environment
from tests.support import together

REPO = Path(__file__).resolve().parents[1]
# Imports every module of the installed packages (not the `python -m` entry points, which
# run); prints where `app` came from.
IMPORT_EVERYTHING = """
import importlib, pkgutil, app, simulators, bench
for package in (app, simulators, bench):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
print(app.__file__)
"""


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtualenv holding the built wheel and its declared dependencies, nothing else."""
    where = tmp_path_factory.mktemp("installed")
    env = clean_environment(where / "data")
    wheels = where / "wheel"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)]
    # Building the wheel and making the virtualenv need nothing of each other.
    together(
        lambda: _run(build, where, env),
        lambda: _run([sys.executable, "-m", "venv", str(where / "venv")], where, env),
    )
    (wheel,) = wheels.glob("chairside-*.whl")
    _run([str(where / "venv/bin/pip"), "install", "-q", str(wheel)], where, env)
    yield where


def test_the_wheel_imports_every_module_from_its_declared_dependencies(installed: Path) -> None:
    out = _run(
        [str(installed / "venv/bin/python"), "-c", IMPORT_EVERYTHING],
        installed,
        clean_environment(installed / "data"),
    )
    assert out.strip().startswith(str(installed / "venv")), f"app came from {out.strip()}"


def test_the_installed_demo_serves_the_dashboard_and_stores_the_monitors_readings(
    installed: Path,
) -> None:
    demo = DemoProcess([str(installed / "venv/bin/chairside")], installed, chairs=2)
    demo.start()
    try:
        client = demo.login()
        page = client.get("/")
        assert page.status_code == 200 and "Chairside" in page.text
        for asset in ("/static/js/main.js", "/static/css/app.css", "/static/vendor/plotly.min.js"):
            assert client.get(asset).status_code == 200, asset
        # Every chair's monitor is streaming: its readings are stored (so acknowledged).
        deadline = time.monotonic() + 60
        while True:
            chairs = client.get("/api/chairs").json()
            live = [c for c in chairs if c["session"] and c["latest"]["hr"] is not None]
            if len(live) == demo.chairs:
                break
            assert time.monotonic() < deadline, f"chairs without readings: {chairs}\n{demo.log()}"
            time.sleep(0.5)
        session_id = live[0]["session"]["id"]
        client.close()
    finally:
        assert demo.stop() == 0, demo.log()
    # The installed command line finds the demo's clinic by itself.
    exported = demo.run("export", str(session_id), "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("t_s,") and len(exported.stdout.splitlines()) > 10
