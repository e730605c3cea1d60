"""PostgreSQL event store (SQLAlchemy 2 async + asyncpg), shared by every service.

Each service owns a PostgreSQL schema holding an append-only ``events`` table that doubles as
the outbox: ``position`` orders the log, ``event_id`` is unique forever, ``(stream,
stream_version)`` is unique (optimistic concurrency), and ``tx_id`` (the writing transaction's
id) lets the relay publish in a commit-safe order (see :meth:`EventStore.read_unpublished`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn

from events import Envelope, EventData, Metadata, load_event
from events.base import current_model, seal, subject_for
from services.common import tracing
from services.common.clock import Clock, get_clock
from services.common.metrics import EVENTS_APPENDED

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class ConcurrencyConflict(Exception):
    """The stream moved on since it was read: reload and retry (HTTP 409)."""

    def __init__(self, stream: str, expected_version: int) -> None:
        super().__init__(
            f"stream {stream!r} is no longer at version {expected_version}: reload it and retry"
        )
        self.stream = stream
        self.expected_version = expected_version


class TransactionMisuse(RuntimeError):
    """Appends must be the first write of their transaction (see ``Transaction.append``)."""


@dataclass(frozen=True, order=True)
class Cursor:
    """Relay position: (writing transaction id, global position)."""

    tx_id: int = 0
    position: int = 0


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    envelope: Envelope


def async_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as ops write them) and pick the asyncpg driver."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+asyncpg://", url)


def raw_database_url(url: str) -> str:
    """The same URL for asyncpg itself (no SQLAlchemy driver suffix)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


_COLUMNS = (
    "event_id, type, schema_version, stream, stream_version, region, occurred_at, "
    "recorded_at, correlation_id, causation_id, actor, data"
)


def _row_to_envelope(row: Any) -> Envelope:
    data = row.data if isinstance(row.data, dict) else json.loads(row.data)
    return load_event(
        {
            "event_id": row.event_id,
            "type": row.type,
            "schema_version": row.schema_version,
            "stream": row.stream,
            "stream_version": row.stream_version,
            "region": row.region,
            "occurred_at": row.occurred_at,
            "recorded_at": row.recorded_at,
            "correlation_id": row.correlation_id,
            "causation_id": row.causation_id,
            "actor": row.actor,
            "data": data,
        }
    )


# A SQLAlchemy connection, or the asyncpg one of a driver transaction (the hot paths).
AnyConnection = AsyncConnection | asyncpg.Connection


async def driver_of(connection: AnyConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one, inside the same transaction, for the
    few hot statements (SQLAlchemy's statement layer costs ~170 µs a call)."""
    if isinstance(connection, asyncpg.Connection):  # already the driver's
        return connection
    adapter = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    # SQLAlchemy sends BEGIN lazily, with its first statement: send it now if ours is first.
    if adapter.isolation_level != "autocommit" and adapter._transaction is None:
        await adapter._start_transaction()
    return adapter.driver_connection


_driver = driver_of  # the name the store's own statements use


def _discard_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """asyncpg knows without a round trip when the server closed a connection (a restart):
    the pool then replaces it instead of handing out a dead one."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


class _AppendConnections:
    """Pooled connections kept checked out between hot one-statement commands: lone
    appends, autocommitted submissions, the relay's reads and checkpoints.

    A SQLAlchemy checkout and check-in (greenlet switch, events, reset) cost about as much
    as the INSERT itself. Such a command runs outside any transaction block and leaves
    nothing open, so its connection can serve the next one as it is. At most ``limit`` are
    held (in use or waiting here): past that, callers queue here, first come first served,
    for one given back, so under saturation connections go straight from one command to
    the next instead of through the pool. ``limit`` is at most the pool's overflow, so
    everything else still has ``pool_size`` connections. One the server closed (a restart)
    is invalidated instead of used. A caller holding one must not ask for a second.
    """

    def __init__(self, engine: AsyncEngine, keep: int, max_overflow: int) -> None:
        self._engine = engine
        self._limit = min(keep, max_overflow)
        self._held = 0  # checked out of SQLAlchemy's pool by us, idle or in use
        self._idle: list[Any] = []  # SQLAlchemy pooled connections (checked out)
        # Callers waiting for a connection; None as the answer hands over a free slot.
        self._waiters: deque[asyncio.Future[Any]] = deque()

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Any]:
        """A connection for one command, given back after it (or dropped if the command
        failed other than by the server's refusal, which leaves the connection fine)."""
        pooled = await self._take()
        try:
            yield pooled
        except (asyncpg.PostgresError, ConcurrencyConflict):
            await self._give_back_or_drop(pooled)
            raise
        except BaseException:
            await self._drop(pooled)
            raise
        await self._give_back_or_drop(pooled)

    async def _give_back_or_drop(self, pooled: Any) -> None:
        if self._limit:
            self._give_back(pooled)
        else:  # nothing may be kept (no overflow): back to the pool
            await self._drop(pooled)

    async def _take(self) -> Any:
        while self._idle:
            pooled = self._idle.pop()
            if not pooled.driver_connection.is_closed():
                return pooled
            pooled.invalidate()
            self._held -= 1
        if self._limit and self._held >= self._limit:
            pooled = await self._wait()
            if pooled is not None:
                return pooled  # else a slot was handed over: check one out in it
        else:
            self._held += 1
        try:
            return await self._engine.raw_connection()
        except BaseException:
            self._free_slot()
            raise

    async def _wait(self) -> Any:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.cancelled():  # answered as the caller was cancelled: pass it on
                if waiter.result() is None:
                    self._free_slot()
                else:
                    self._give_back(waiter.result())
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def _next_waiter(self) -> asyncio.Future[Any] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _give_back(self, pooled: Any) -> None:
        if pooled.driver_connection.is_closed():
            pooled.invalidate()
            self._free_slot()
        elif (waiter := self._next_waiter()) is not None:
            waiter.set_result(pooled)
        else:
            self._idle.append(pooled)

    async def _drop(self, pooled: Any) -> None:
        try:
            await release(pooled)
        finally:
            self._free_slot()

    def _free_slot(self) -> None:
        if (waiter := self._next_waiter()) is not None:
            waiter.set_result(None)  # the slot is theirs
        else:
            self._held -= 1

    async def release_all(self) -> None:
        while self._idle:
            self._held -= 1
            await release(self._idle.pop())


async def release(pooled: Any) -> None:
    """Back to SQLAlchemy's pool, which checks and resets it, and closes it when the pool is
    full: that close is I/O, so it runs where SQLAlchemy can await it."""
    await greenlet_spawn(pooled.close)


class OutboxMessage(NamedTuple):
    cursor: Cursor
    subject: str
    payload: bytes
    event_id: str
    traceparent: str | None = None  # of the append that recorded it (services/common/tracing)


class Transaction:
    """One database transaction of a command or a consumer: append, read, mark processed."""

    def __init__(self, store: EventStore, connection: AsyncConnection | None,
                 driver: asyncpg.Connection | None = None) -> None:
        self.store = store
        # None for a lone append or a driver transaction: statements go to ``driver()``.
        self.connection = connection
        self._driver_connection = driver
        self._wrote = False
        self._appended = False

    async def driver(self) -> asyncpg.Connection:
        """The asyncpg connection of this transaction, for statements on the driver itself."""
        if self._driver_connection is not None:
            return self._driver_connection
        assert self.connection is not None
        return await _driver(self.connection)

    @property
    def schema(self) -> str:
        return self.store.schema

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[EventData],
        metadata: Metadata,
        *,
        occurred_at: datetime | None = None,
        with_writes: Sequence[tuple[str, Sequence[Any]]] = (),
    ) -> list[Envelope]:
        """Append ``events`` to ``stream`` if it is exactly at ``expected_version``.

        Appending to an existing stream must be the first write of the transaction: the
        transaction id is then taken *after* the previous version of the stream committed, so
        ordering the outbox by transaction id keeps every stream's order (the relay relies on
        it). A new stream (``expected_version == 0``) has no earlier version to overtake, so
        other writes may come first. One append per transaction.

        ``with_writes``: the caller's other writes (INSERT, UPDATE or DELETE statements, each
        numbering its own parameters from ``$1``), run by the append's statement itself, so
        in :meth:`EventStore.autocommitted` the whole is atomic in one round trip. A write
        that breaks a constraint raises the driver's error (``asyncpg.UniqueViolationError``)
        and nothing of the statement is recorded.
        """
        if self._appended or (self._wrote and expected_version != 0):
            raise TransactionMisuse(
                "one append per transaction, before any other write unless the stream is new")
        if not events:
            return []
        self._wrote = self._appended = True
        now = self.store.clock.now()
        envelopes = [
            seal(
                data,
                event_id=uuid4(),
                stream=stream,
                stream_version=expected_version + i,
                metadata=metadata,
                occurred_at=occurred_at or now,
                recorded_at=now,
            )
            for i, data in enumerate(events, start=1)
        ]
        try:
            with self._traced(stream, envelopes):
                traceparent = tracing.current_traceparent()  # the relay's publish continues it
                driver = await self.driver()
                if len(envelopes) == 1:  # the common case: plain parameters, no arrays
                    e = envelopes[0]
                    sql, args = self.store._append_one_sql, [
                        e.event_id, e.type, e.schema_version, stream, e.stream_version,
                        metadata.region, e.occurred_at, now, metadata.correlation_id,
                        metadata.causation_id, metadata.actor, e.data.model_dump_json(),
                        expected_version, traceparent]
                else:
                    sql, args = self.store._append_sql, [
                        stream, metadata.region, now, metadata.correlation_id,
                        metadata.causation_id, metadata.actor, [e.event_id for e in envelopes],
                        [e.type for e in envelopes], [e.schema_version for e in envelopes],
                        [e.stream_version for e in envelopes],
                        [e.occurred_at for e in envelopes],
                        [e.data.model_dump_json() for e in envelopes], expected_version,
                        traceparent]
                if with_writes:
                    sql, args = _with_writes(sql, args, with_writes)
                rows = await driver.fetch(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_version_key":
                raise ConcurrencyConflict(stream, expected_version) from None
            raise
        if len(rows) != len(envelopes):
            raise ConcurrencyConflict(stream, expected_version)
        for envelope in envelopes:
            self.store._appended_counter(envelope.type).inc()
        return envelopes

    def _traced(self, stream: str, envelopes: list[Envelope]):
        if not tracing.enabled():  # the hot path builds nothing for a span nobody records
            return nullcontext()
        return tracing.span("event_store.append", attributes={
            "success.schema": self.schema, "success.stream": stream,
            "success.event_types": [e.type for e in envelopes]})

    def note_write(self) -> None:
        """Tell the transaction a write happened outside ``append`` (see its ordering rule)."""
        self._wrote = True

    async def read_stream(self, stream: str) -> list[Envelope]:
        rows = await self.connection.execute(
            text(
                f"SELECT {_COLUMNS} FROM {self.schema}.events WHERE stream = :stream "
                "ORDER BY stream_version"
            ),
            {"stream": stream},
        )
        return [_row_to_envelope(row) for row in rows]

    async def mark_processed(self, consumer: str, event_id: UUID) -> bool:
        """Record that ``consumer`` handled ``event_id``; False if it already had."""
        return await self.mark_processed_many(consumer, [event_id]) == 1

    async def mark_processed_many(self, consumer: str, event_ids: Sequence[UUID]) -> int:
        """Record handled events; returns how many were new (the rest were already there)."""
        self._wrote = True
        return await (await _driver(self.connection)).fetchval(
            f"WITH new AS (INSERT INTO {self.schema}.processed_events "
            "(consumer, event_id, processed_at) SELECT $1, unnest($2::uuid[]), $3 "
            "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM new",
            consumer, list(event_ids), self.store.clock.now())

    async def was_processed(self, consumer: str, event_id: UUID) -> bool:
        rows = await (await _driver(self.connection)).fetch(
            f"SELECT 1 FROM {self.schema}.processed_events "
            "WHERE consumer = $1 AND event_id = $2", consumer, event_id)
        return bool(rows)

    async def claim(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        """Record ``event_ids`` as handled by ``consumer`` before handling them; returns those
        that were not recorded yet (to handle now). One round trip instead of a check and a
        record. Being a write, it must not come before an append to an existing stream: for
        handlers that do not append. A replica claiming the same ids concurrently waits here
        until the other transaction ends, then gets only what is still unclaimed."""
        self._wrote = True
        rows = await (await _driver(self.connection)).fetch(
            f"INSERT INTO {self.schema}.processed_events (consumer, event_id, processed_at) "
            "SELECT $1, unnest($2::uuid[]), $3 ON CONFLICT DO NOTHING RETURNING event_id",
            consumer, list(event_ids), self.store.clock.now())
        return {row["event_id"] for row in rows}


_PARAMETER = re.compile(r"\$(\d+)")


def _with_writes(sql: str, args: list[Any],
                 writes: Sequence[tuple[str, Sequence[Any]]]) -> tuple[str, list[Any]]:
    """``sql`` preceded by ``writes`` as data-modifying CTEs (PostgreSQL runs each, referenced
    or not), their ``$n`` moved past the parameters before them."""
    ctes, args = [], list(args)
    for i, (write, write_args) in enumerate(writes):
        ctes.append(f"w{i} AS ({_shifted(write, len(args))})")
        args.extend(write_args)
    return f"WITH {', '.join(ctes)} {sql}", args


@functools.lru_cache(maxsize=256)  # a few fixed statements, shifted on every hot command
def _shifted(sql: str, offset: int) -> str:
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


class EventStore:
    """The event log of one service, in its own PostgreSQL schema."""

    def __init__(self, engine: AsyncEngine, schema: str, clock: Clock | None = None,
                 pool_size: int = 10, max_overflow: int | None = None) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.engine = engine
        self.schema = schema
        self.clock = clock or get_clock()
        # Set once a transaction of this process that appended has committed: wakes the
        # relay at once instead of at its next poll (appends of other processes wait for it).
        self.appended = asyncio.Event()
        # One statement: the expected version must exist (or be 0 for a new stream); a
        # version already taken fails the (stream, stream_version) unique index. Run on the
        # asyncpg connection itself: this is the hot path (see bench/append.py).
        self._append_sql = f"""
            INSERT INTO {schema}.events ({_COLUMNS}, trace_context)
            SELECT id, type, v, $1, sv, $2, occ, $3, $4, $5, $6, d::jsonb, $14::text
            FROM unnest($7::uuid[], $8::text[], $9::int[], $10::int[], $11::timestamptz[],
                        $12::text[]) AS t(id, type, v, sv, occ, d)
            WHERE $13::int = 0 OR EXISTS (
                SELECT 1 FROM {schema}.events WHERE stream = $1 AND stream_version = $13::int)
            RETURNING position
            """
        # The same for one event (most appends): scalar parameters, a quarter of the bind
        # work and half of PostgreSQL's CPU of the arrays above (see bench/append.py).
        self._append_one_sql = f"""
            INSERT INTO {schema}.events ({_COLUMNS}, trace_context)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::jsonb, $14::text
            WHERE $13::int = 0 OR EXISTS (
                SELECT 1 FROM {schema}.events WHERE stream = $4 AND stream_version = $13::int)
            RETURNING position
            """
        self._appended_counters: dict[str, Any] = {}
        max_overflow = pool_size if max_overflow is None else max_overflow  # as connect() sets
        self._append_connections = _AppendConnections(engine, pool_size, max_overflow)
        # The relay's read: PostgreSQL writes the wire JSON itself (no model round trip).
        select_wire = """
            SELECT tx_id::text AS tx, position, event_id, type, region, trace_context,
                   json_build_object(
                       'event_id', event_id, 'type', type, 'schema_version', schema_version,
                       'stream', stream, 'stream_version', stream_version, 'region', region,
                       'occurred_at', occurred_at, 'recorded_at', recorded_at,
                       'correlation_id', correlation_id, 'causation_id', causation_id,
                       'actor', actor, 'data', data)::text AS wire"""
        # The next rows in relay order first, then only those below the oldest running
        # transaction. Rows at or above it all sort after those below, so this is the same
        # as filtering first; but the limit then always walks the (tx_id, position) index and
        # the JSON is built for those rows only. Filtering first let the planner, on stale
        # statistics, build the JSON of the whole backlog and sort it at every batch.
        self._unpublished_sql = f"""{select_wire}
            FROM (SELECT * FROM {schema}.events
                  WHERE (tx_id, position) > ($1::text::xid8, $2)
                  ORDER BY tx_id, position LIMIT $3) AS next
            WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY tx_id, position
            """
        # Disaster recovery reads the whole log the same way, in position order.
        self._wire_sql = f"""{select_wire}
            FROM {schema}.events WHERE position > $1 ORDER BY position LIMIT $2
            """

    @classmethod
    def connect(
        cls, database_url: str, schema: str, *, clock: Clock | None = None, pool_size: int = 10
    ) -> EventStore:
        engine = create_async_engine(
            async_database_url(database_url), pool_size=pool_size, max_overflow=pool_size,
            # No pre-ping (3 round trips per checkout, the cost of most appends): a connection
            # the server closed is noticed locally instead (below).
            pool_pre_ping=False,
            hide_parameters=True,  # errors and logs never quote row values (personal data)
        )
        event.listen(engine.sync_engine, "checkout", _discard_if_closed)
        return cls(engine, schema, clock, pool_size, max_overflow=pool_size)

    async def dispose(self) -> None:
        await self._append_connections.release_all()
        await self.engine.dispose()

    def _appended_counter(self, event_type: str):
        """The labelled child of the appended-events counter (the label lookup costs more
        than the increment)."""
        counter = self._appended_counters.get(event_type)
        if counter is None:
            counter = self._appended_counters[event_type] = EVENTS_APPENDED.labels(
                self.schema, event_type)
        return counter

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.engine.begin() as connection:
            tx = Transaction(self, connection)
            yield tx
        if tx._appended:  # committed
            self.appended.set()

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[EventData],
        metadata: Metadata,
        *,
        occurred_at: datetime | None = None,
    ) -> list[Envelope]:
        """Append in a transaction of its own (one atomic statement, so autocommit).
        Raises :class:`ConcurrencyConflict`."""
        # Straight on a pooled asyncpg connection, outside any transaction block (so the
        # statement commits by itself), kept aside for the next append: the hottest path
        # pays neither SQLAlchemy's statement layer nor its pool (see bench/append.py).
        async with self._append_connections.lease() as pooled:
            envelopes = await Transaction(self, None, pooled.driver_connection).append(
                stream, expected_version, events, metadata, occurred_at=occurred_at
            )
        self.appended.set()  # autocommitted
        return envelopes

    @asynccontextmanager
    async def autocommitted(self) -> AsyncIterator[Transaction]:
        """A kept connection outside any transaction block: each statement commits by
        itself, an append (with its ``with_writes``) included. For a hot command that reads,
        decides, then writes everything in that one append: one round trip for the writes,
        no BEGIN or COMMIT. Its reads may see commits of others between them."""
        async with self._append_connections.lease() as pooled:
            tx = Transaction(self, None, pooled.driver_connection)
            try:
                yield tx
            finally:
                if tx._appended:  # committed by itself, whatever came after
                    self.appended.set()

    @asynccontextmanager
    async def _autocommitted(self) -> AsyncIterator[asyncpg.Connection]:
        """A kept connection outside any transaction block (each statement commits by
        itself), for the relay's frequent one-statement reads and writes."""
        async with self._append_connections.lease() as pooled:
            yield pooled.driver_connection

    async def read_stream(self, stream: str) -> list[Envelope]:
        async with self.engine.connect() as connection:
            return await Transaction(self, connection).read_stream(stream)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Committed events in log (position) order, for replays and re-publishing."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text(
                    f"SELECT position, {_COLUMNS} FROM {self.schema}.events "
                    "WHERE position > :after ORDER BY position LIMIT :limit"
                ),
                {"after": after_position, "limit": limit},
            )
            return [RecordedEvent(row.position, _row_to_envelope(row)) for row in rows]

    async def read_unpublished(self, after: Cursor, limit: int) -> list[OutboxMessage]:
        """Events after ``after`` whose writing transactions can no longer commit.

        Only rows of transactions older than the oldest one still running are returned,
        ordered by (transaction id, position). A transaction still open holds back everything
        that committed after it started, so nothing is ever skipped when commits happen out
        of order. Events go out as stored (an old schema version is upcast by its readers).
        """
        async with self._autocommitted() as driver:
            rows = await driver.fetch(
                self._unpublished_sql, str(after.tx_id), after.position, limit)
        return [
            OutboxMessage(
                Cursor(int(row["tx"]), row["position"]),
                subject_for(row["region"], current_model(row["type"]).service, row["type"]),
                row["wire"].encode(),
                str(row["event_id"]),
                row["trace_context"],
            )
            for row in rows
        ]

    async def read_wire(self, after_position: int, limit: int) -> list[tuple[int, OutboxMessage]]:
        """Committed events after ``after_position`` in log order, as the relay sends them
        (subject, wire JSON, event id): what ``success republish`` sends again."""
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            rows = await (await _driver(connection)).fetch(
                self._wire_sql, after_position, limit)
        return [
            (row["position"], OutboxMessage(
                Cursor(int(row["tx"]), row["position"]),
                subject_for(row["region"], current_model(row["type"]).service, row["type"]),
                row["wire"].encode(), str(row["event_id"])))
            for row in rows
        ]

    async def count_after(self, after_position: int) -> int:
        async with self.engine.connect() as connection:
            return int(await connection.scalar(text(
                f"SELECT count(*) FROM {self.schema}.events WHERE position > :after"),
                {"after": after_position}))

    async def unpublished_count(self, after: Cursor, cap: int = 1_000_000) -> int:
        """How many committed events lie after the relay's cursor (at most ``cap``)."""
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return int(await (await _driver(connection)).fetchval(
                f"SELECT count(*) FROM (SELECT 1 FROM {self.schema}.events "
                "WHERE (tx_id, position) > ($1::text::xid8, $2) LIMIT $3) AS lag",
                str(after.tx_id), after.position, cap))

    async def load_checkpoint(self, name: str) -> Cursor:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        f"SELECT tx_id::text AS tx, position FROM {self.schema}.relay_checkpoints "
                        "WHERE name = :name"
                    ),
                    {"name": name},
                )
            ).first()
            return Cursor(int(row.tx), row.position) if row else Cursor()

    async def save_checkpoint(self, name: str, cursor: Cursor) -> None:
        """One statement, committed by itself (the relay saves one per batch)."""
        async with self._autocommitted() as driver:
            await driver.execute(
                f"INSERT INTO {self.schema}.relay_checkpoints (name, tx_id, position, updated_at) "
                "VALUES ($1, $2::text::xid8, $3, $4) "
                "ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, "
                "position = EXCLUDED.position, updated_at = EXCLUDED.updated_at",
                name, str(cursor.tx_id), cursor.position, self.clock.now())

    async def head_position(self) -> int:
        async with self.engine.connect() as connection:
            value = await connection.scalar(
                text(f"SELECT coalesce(max(position), 0) FROM {self.schema}.events")
            )
            return int(value)
