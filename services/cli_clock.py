"""``success clock show|advance|set``: walk a training or staging stack through a programme
year. Only with ``SUCCESS_CLOCK_CONTROL=true`` (here and in every service): the shared
business clock moves forward, every service follows within ``SUCCESS_CLOCK_REFRESH_S``, and
the durable timers, reminders and daily digests fire as they would have."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

PARIS = ZoneInfo("Europe/Paris")

clock_app = typer.Typer(
    help="Horloge métier partagée par tous les services (formation et recette uniquement, "
    "avec SUCCESS_CLOCK_CONTROL=true) : l'afficher, l'avancer. Elle ne recule jamais.",
    no_args_is_help=True)

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dossier des données du système embarqué "
                 "(défaut : celui de `success up`, ou SUCCESS_DATA_DIR).", show_default=False),
]


def _fail(message: str) -> None:
    err.print(f"[red]Erreur :[/red] {message}")
    raise typer.Exit(code=2)


def _database_url(data_dir: Path | None) -> str:
    """The shared database, once clock control is known to be on (refused otherwise)."""
    from services.common.clock import CONTROL_OFF
    from services.common.settings import Settings
    from services.common.stack import NoServerConfigured, resolve_urls
    from services.common.store import raw_database_url

    settings = Settings()  # read now: the cached settings may predate the environment
    if not settings.clock_control:
        _fail(CONTROL_OFF[:1].upper() + CONTROL_OFF[1:])
    try:
        return raw_database_url(resolve_urls(settings, data_dir)[1])
    except NoServerConfigured as exc:
        _fail(str(exc))
        raise


def _shown(instant: datetime) -> str:
    return instant.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S (heure de Paris)")


async def _connect(database_url: str):
    import asyncpg

    conn = await asyncpg.connect(database_url)
    if not await conn.fetchval("SELECT to_regclass('success_clock.business_clock') IS NOT NULL"):
        await conn.close()
        _fail("l'horloge partagée n'existe pas encore : lancez `success migrate` (ou "
              "`success up`).")
    return conn


def _move(data_dir: Path | None, target_of: Callable[[datetime], datetime]) -> None:
    from services.common.clock import get_clock, move_shared_clock
    from services.common.errors import DomainError

    async def move() -> datetime:
        conn = await _connect(_database_url(data_dir))
        try:
            return await move_shared_clock(conn, get_clock().now(), target_of)
        finally:
            await conn.close()

    try:
        now = asyncio.run(move())
    except DomainError as exc:
        _fail(exc.message)
        raise
    console.print(f"Horloge métier avancée au {_shown(now)}. Chaque service la suit dans "
                  "les secondes qui viennent ; les échéances passées se déclenchent.")


@clock_app.command("show")
def clock_show(data_dir: DataDir = None) -> None:
    """Affiche l'heure métier du système et son avance sur l'heure réelle."""
    from services.common.clock import get_clock, read_offset

    async def read() -> timedelta:
        conn = await _connect(_database_url(data_dir))
        try:
            return await read_offset(conn)
        finally:
            await conn.close()

    offset = asyncio.run(read())
    console.print(f"Horloge métier : {_shown(get_clock().now() + offset)}")
    console.print(f"Avance sur l'heure réelle : {offset.days} j "
                  f"{offset.seconds // 3600} h {offset.seconds % 3600 // 60} min")


@clock_app.command("advance")
def clock_advance(
    duration: Annotated[str, typer.Argument(help="Durée : 30d (jours), 2w (semaines), "
                                            "12h (heures), 90m (minutes).")],
    data_dir: DataDir = None,
) -> None:
    """Avance l'horloge métier de tous les services de DURATION."""
    from services.common.clock import parse_duration
    from services.common.errors import DomainError

    try:
        delta = parse_duration(duration)
    except DomainError as exc:
        _fail(exc.message)
        raise
    _move(data_dir, lambda now: now + delta)


@clock_app.command("set")
def clock_set(
    instant: Annotated[str, typer.Argument(help="Instant ISO 8601, ex. 2026-09-01T10:00+02:00 "
                                           "(sans fuseau : heure de Paris).")],
    data_dir: DataDir = None,
) -> None:
    """Met l'horloge métier de tous les services à INSTANT, qui ne peut être dans son passé."""
    try:
        target = datetime.fromisoformat(instant)
    except ValueError:
        _fail(f"instant invalide « {instant} » : attendu au format ISO 8601, "
              "ex. 2026-09-01T10:00+02:00.")
        raise
    if target.tzinfo is None:
        target = target.replace(tzinfo=PARIS)
    _move(data_dir, lambda _: target)
