"""The one clock all code reads time from. Tests move a :class:`ManualClock`; nothing sleeps
for business time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant


class ShiftedClock:
    """Real time, shifted to start at a chosen instant (``SUCCESS_CLOCK_START``): for demos
    and for tests that run services as processes on a scripted date."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware datetime")
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    """Install the process-wide clock (tests, replays)."""
    global _clock
    _clock = clock


# --- a business clock shared by every service (training and staging only) ---------------------
#
# ``SUCCESS_CLOCK_CONTROL=true``: every service reads its time as the real clock plus one offset
# kept in PostgreSQL (``success_clock.business_clock``), which ``success clock advance|set``
# moves forward. Each service re-reads it every ``clock_refresh_s``; it never goes back.

CONTROL_SCHEMA = "success_clock"
CONTROL_OFF = ("le contrôle de l'horloge est désactivé : il n'est permis qu'en formation ou en "
               "recette, avec SUCCESS_CLOCK_CONTROL=true pour la commande et pour chaque service.")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
          "m": timedelta(minutes=1)}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``2w``, ``12h``, ``90m``: a positive duration (DomainError otherwise)."""
    from services.common.errors import DomainError

    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if unit not in _UNITS or not value.isdigit() or int(value) <= 0:
        raise DomainError("invalid_duration", f"durée invalide « {text} » : un nombre entier "
                          "positif suivi de w (semaines), d (jours), h (heures) ou m (minutes), "
                          "par exemple 30d.", field="duration", status=422)
    return int(value) * _UNITS[unit]


def moved_offset(offset: timedelta, base_now: datetime, target: datetime) -> timedelta:
    """The offset that puts the business clock (``base_now + offset``) at ``target``: forward
    only, so no timer fires twice and no event is dated before one already recorded."""
    from services.common.errors import DomainError

    if target.tzinfo is None:
        raise DomainError("naive_instant", "l'instant doit préciser son fuseau horaire "
                          "(ex. 2026-09-01T10:00+02:00).", field="instant", status=422)
    if target < base_now + offset:
        raise DomainError("clock_backwards", "l'horloge ne recule jamais : l'instant demandé "
                          f"({target.isoformat()}) est avant l'heure actuelle du système "
                          f"({(base_now + offset).isoformat()}).", field="instant")
    return target - base_now


class ControlledClock:
    """``base`` plus the shared offset, as last read; forward only."""

    def __init__(self, base: Clock | None = None) -> None:
        self.base = base or SystemClock()
        self.offset = timedelta(0)
        self._listeners: list = []

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def follow(self, offset: timedelta) -> bool:
        """Adopt a newer offset (an older one is ignored); True if the clock moved."""
        if offset <= self.offset:
            return False
        self.offset = offset
        for listener in self._listeners:
            listener()
        return True

    def on_move(self, listener) -> None:
        """Call ``listener()`` whenever the clock jumps (timer loops look again at once)."""
        self._listeners.append(listener)


async def read_offset(conn) -> timedelta:
    """The shared offset (asyncpg connection); zero until someone moved the clock."""
    micros = await conn.fetchval(
        f"SELECT offset_us FROM {CONTROL_SCHEMA}.business_clock WHERE id = 1")
    return timedelta(microseconds=micros or 0)


async def move_shared_clock(conn, base_now: datetime, target_of) -> datetime:
    """Move the shared clock to ``target_of(current business time)``, forward only, in one
    transaction (concurrent moves serialise on the row). Returns the new business time."""
    async with conn.transaction():
        await conn.execute(
            f"INSERT INTO {CONTROL_SCHEMA}.business_clock (id, offset_us, moved_at) "
            "VALUES (1, 0, now()) ON CONFLICT (id) DO NOTHING")
        micros = await conn.fetchval(
            f"SELECT offset_us FROM {CONTROL_SCHEMA}.business_clock WHERE id = 1 FOR UPDATE")
        offset = timedelta(microseconds=micros)
        target = target_of(base_now + offset)
        new = moved_offset(offset, base_now, target)
        await conn.execute(
            f"UPDATE {CONTROL_SCHEMA}.business_clock SET offset_us = $1, moved_at = now() "
            "WHERE id = 1", new // timedelta(microseconds=1))
    return target


async def seed_shared_clock(conn, base_now: datetime, start: datetime) -> None:
    """``SUCCESS_CLOCK_START`` with clock control: the shared clock starts there, unless it
    was already set (the first service to start decides; the others follow)."""
    await conn.execute(
        f"INSERT INTO {CONTROL_SCHEMA}.business_clock (id, offset_us, moved_at) "
        "VALUES (1, $1, now()) ON CONFLICT (id) DO NOTHING",
        max((start - base_now) // timedelta(microseconds=1), 0))


async def sync_shared_clock(clock: ControlledClock, database_url: str,
                            start: datetime | None = None) -> None:
    """Put ``clock`` on the shared offset now (a service starting: before any timer looks)."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        if start is not None:
            await seed_shared_clock(conn, clock.base.now(), start)
        clock.follow(await read_offset(conn))
    finally:
        await conn.close()


async def follow_shared_clock(clock: ControlledClock, database_url: str,
                              interval_s: float) -> None:
    """Keep ``clock`` on the shared offset until cancelled (PostgreSQL away: try again)."""
    import asyncio

    import asyncpg
    import structlog

    log = structlog.get_logger(__name__)
    conn = None
    try:
        while True:
            await asyncio.sleep(interval_s)
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(database_url)
                if clock.follow(await read_offset(conn)):
                    log.info("business clock moved", now=clock.now().isoformat())
            except Exception as exc:  # asyncio.CancelledError is not an Exception
                log.warning("shared clock not read, will retry", error=repr(exc))
    finally:
        if conn is not None:
            await conn.close()


async def follow_business_clock(clock, settings):
    """For a web front (no runtime of its own): in training and staging
    (``SUCCESS_CLOCK_CONTROL``), its « today » follows the shared business clock as the
    services' does. The task to cancel at stop, or None."""
    import asyncio

    from services.common.store import raw_database_url

    if not (settings.clock_control and isinstance(clock, ControlledClock)):
        return None
    url = raw_database_url(settings.database_url)
    await sync_shared_clock(clock, url)
    return asyncio.create_task(follow_shared_clock(clock, url, settings.clock_refresh_s))
