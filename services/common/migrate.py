"""Apply each service's Alembic migrations to its own schema (``success migrate``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from events import Service
from services.common.store import async_database_url

logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per revision is noise

_COMMON = Path(__file__).parent / "migrations"
_SERVICES = Path(__file__).parent.parent


# Schemas that are not event-sourced services: only their own tables, none of the event
# store's (the back-office keeps staff accounts and sign-in sessions, the participants' pages
# the personal links already used).
PLAIN_SCHEMAS = ("backoffice", "participants")


def alembic_config(service: Service | str) -> Config:
    name = service if service in PLAIN_SCHEMAS else Service(service).value
    config = Config()
    config.set_main_option("script_location", str(_COMMON))
    own = _SERVICES / name / "migrations"
    locations = [] if name in PLAIN_SCHEMAS else [str(_COMMON / "versions")]
    if own.is_dir():  # a service's own tables come after the shared ones
        locations.append(str(own))
    config.set_main_option("version_locations", " ".join(locations))
    config.set_main_option("path_separator", "space")
    return config


async def migrate(database_url: str, services: list[Service | str] | None = None) -> None:
    """Bring every given service's schema (all, and the back-office's, by default) to its
    latest revision."""
    engine = create_async_engine(async_database_url(database_url), hide_parameters=True)
    try:
        for service in services or [*Service, *PLAIN_SCHEMAS]:
            async with engine.begin() as connection:
                # Serialise concurrent migrators of one schema (several replicas starting).
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{service}"}
                )
                await connection.run_sync(_upgrade, str(service))
    finally:
        await engine.dispose()


def _upgrade(connection, service: str) -> None:
    config = alembic_config(service)
    config.attributes["connection"] = connection
    config.attributes["schema"] = service
    command.upgrade(config, "heads")
