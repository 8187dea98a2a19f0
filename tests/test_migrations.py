"""The migrations are the only source of the schema, and they make exactly the models' schema."""

from __future__ import annotations

from sqlalchemy import inspect

from app import migrations
from app.db import create_engine
from app.models import Base
from app.settings import Settings


def test_migrations_produce_exactly_the_models_schema(database: Settings) -> None:
    # The `database` fixture was built by `alembic upgrade head`; autogenerate must find nothing.
    migrations.check(database)


async def test_migrated_database_has_every_model_table_and_the_duplicate_guard(
    database: Settings,
) -> None:
    engine = create_engine(database)
    try:
        async with engine.connect() as conn:
            tables, uniques = await conn.run_sync(
                lambda sync: (
                    set(inspect(sync).get_table_names()),
                    inspect(sync).get_unique_constraints("reading"),
                )
            )
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert {"device_id", "seq"} in [set(u["column_names"]) for u in uniques]


def test_upgrade_is_idempotent(database: Settings) -> None:
    migrations.upgrade(database)
    migrations.check(database)
