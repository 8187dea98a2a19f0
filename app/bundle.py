"""Where the files Chairside reads at run time are: the dashboard and the migrations.

A checkout keeps them at the top of the repository (``frontend/``, ``alembic/``); a built wheel
carries them inside the package, under ``app/_bundled/`` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_bundled"
_CHECKOUT = _PACKAGE.parent


def _find(name: str, marker: str) -> Path:
    for base in (_BUNDLED, _CHECKOUT):
        if (base / name / marker).is_file():
            return base / name
    raise RuntimeError(
        f"Chairside's {name}/ folder is missing (looked in {_BUNDLED} and {_CHECKOUT}): "
        "reinstall Chairside"
    )


def frontend_dir() -> Path:
    """The browser dashboard's static files."""
    return _find("frontend", "index.html")


def alembic_dir() -> Path:
    """The migration scripts (``env.py`` and ``versions/``)."""
    return _find("alembic", "env.py")
