"""A dependency down is not a bug: tell callers to come back later, and log the outage once.

An HTTP request failing because PostgreSQL or NATS is unreachable gets a 503 with
``Retry-After`` (see :mod:`services.common.api`), not a 500 and a traceback. The first such
failure logs one ``dependency down`` line; a watcher then checks the dependency every
``Retry-After`` seconds and logs one ``dependency back`` line when it answers again. Between
the two, failing requests log nothing more: an outage of 30 s is two lines, not hundreds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import nats.errors
import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = structlog.get_logger("success.outage")

DATABASE = "database"
NATS = "nats"

# What a request touching NATS raises while the server is away (nats-py reconnects alone).
_NATS_OUTAGES = (nats.errors.ConnectionClosedError, nats.errors.NoServersError,
                 nats.errors.StaleConnectionError, nats.errors.ConnectionReconnectingError,
                 nats.errors.OutboundBufferLimitError, nats.errors.NoRespondersError,
                 nats.errors.TimeoutError)


def is_database_outage(exc: BaseException) -> bool:
    """``exc`` says our database is unreachable (the data or the code are not at fault)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (OperationalError, InterfaceError, OSError, TimeoutError)):
        return True
    return isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                            asyncpg.InterfaceError))


def outage_of(exc: BaseException) -> str | None:
    """The dependency ``exc`` says is unreachable (:data:`DATABASE` or :data:`NATS`), or None
    when it is a bug. Looks through the chain of causes (SQLAlchemy wraps asyncpg's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _NATS_OUTAGES):
            return NATS
        if is_database_outage(current):
            return DATABASE
        current = current.__cause__ or current.__context__
    return None


Check = Callable[[], Awaitable[object]]


class OutageWatch:
    """Which dependencies are down since when; one log line when each goes and comes back.

    ``checks`` tell whether a dependency answers again (any exception: not yet)."""

    def __init__(self, service: str, retry_after_s: int, checks: dict[str, Check]) -> None:
        self.service = service
        self.retry_after_s = retry_after_s
        self.checks = checks
        self.down_since: dict[str, datetime] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def down(self, dependency: str, error: BaseException) -> None:
        """A request found ``dependency`` unreachable: logged only if it was thought up."""
        if dependency in self.down_since:
            return
        since = datetime.now(UTC)
        self.down_since[dependency] = since
        log.error("dependency down", dependency=dependency, service=self.service,
                  down_at=since.isoformat(), error=repr(error))
        self._watchers[dependency] = asyncio.get_running_loop().create_task(
            self._watch(dependency), name=f"{self.service}-{dependency}-outage")

    async def _watch(self, dependency: str) -> None:
        check = self.checks.get(dependency)
        while True:
            await asyncio.sleep(self.retry_after_s)
            if check is None:  # nothing to ask: the next request tells again
                break
            try:
                await asyncio.wait_for(check(), self.retry_after_s)
                break
            except Exception:  # still down
                continue
        since = self.down_since.pop(dependency)
        back = datetime.now(UTC)
        self._watchers.pop(dependency, None)
        if check is not None:
            log.warning("dependency back", dependency=dependency, service=self.service,
                        down_at=since.isoformat(), back_at=back.isoformat(),
                        down_for_s=round((back - since).total_seconds(), 1))

    async def stop(self) -> None:
        watchers = list(self._watchers.values())
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self._watchers.clear()
