"""Schema migrations: the only way Chairside's schema is made (``chairside db upgrade``)."""

from __future__ import annotations

import asyncio

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from alembic import command
from app import bundle
from app.db import create_engine
from app.settings import Settings

UPGRADE_HINT = "run `chairside db upgrade`"


class DatabaseNotReady(Exception):
    """The database is missing, unreachable or behind the migrations; the message says how to
    fix it in one line."""


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(bundle.alembic_dir()))
    config.attributes["database_url"] = settings.database_url
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to ``revision`` (blocking; call it from a thread inside a loop)."""
    command.upgrade(alembic_config(settings), revision)


def check(settings: Settings) -> None:
    """Raise if the models hold anything the migrations do not make."""
    command.check(alembic_config(settings))


def require_current(settings: Settings) -> None:
    """Raise ``DatabaseNotReady`` unless the database exists and has every migration applied.

    Never creates anything: a SQLite file that is not there is reported, not made.
    """
    where = settings.describe_database()
    path = settings.sqlite_path
    if path is not None and not path.is_file():
        raise DatabaseNotReady(f"no Chairside database at {where}: {UPGRADE_HINT} to create it")
    script = ScriptDirectory.from_config(alembic_config(settings))
    newest = set(script.get_heads())
    try:
        applied = asyncio.run(_applied_revisions(settings))
    except (OSError, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DatabaseNotReady(f"cannot open the database at {where}: {reason}") from exc
    if not applied:
        raise DatabaseNotReady(f"the database at {where} has no Chairside schema: {UPGRADE_HINT}")
    if applied != newest:
        raise DatabaseNotReady(
            f"the database at {where} is at migration {', '.join(sorted(applied))}, "
            f"this Chairside needs {', '.join(sorted(newest))}: {UPGRADE_HINT}"
        )


async def _applied_revisions(settings: Settings) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()
