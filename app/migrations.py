"""Schema migrations: the only way Chairside's schema is made (``chairside db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from app.settings import Settings

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.attributes["database_url"] = settings.database_url
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to ``revision`` (blocking; call it from a thread inside a loop)."""
    command.upgrade(alembic_config(settings), revision)


def check(settings: Settings) -> None:
    """Raise if the models hold anything the migrations do not make."""
    command.check(alembic_config(settings))
