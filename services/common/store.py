"""PostgreSQL event store (SQLAlchemy 2 async + asyncpg), shared by every service.

Each service owns a PostgreSQL schema holding an append-only ``events`` table that doubles as
the outbox: ``position`` orders the log, ``event_id`` is unique forever, ``(stream,
stream_version)`` is unique (optimistic concurrency), and ``tx_id`` (the writing transaction's
id) lets the relay publish in a commit-safe order (see :meth:`EventStore.read_unpublished`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from events import Envelope, EventData, Metadata, load_event
from events.base import seal
from services.common.clock import Clock, get_clock

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


class Transaction:
    """One database transaction of a command or a consumer: append, read, mark processed."""

    def __init__(self, store: EventStore, connection: AsyncConnection) -> None:
        self.store = store
        self.connection = connection
        self._wrote = False

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
    ) -> list[Envelope]:
        """Append ``events`` to ``stream`` if it is exactly at ``expected_version``.

        Must be the first write of the transaction: the transaction id is then taken *after*
        the previous version of the stream committed, so ordering the outbox by transaction id
        keeps every stream's order (the relay relies on it).
        """
        if self._wrote:
            raise TransactionMisuse("append must be the first and only append of a transaction")
        if not events:
            return []
        self._wrote = True
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
        params = {
            "ids": [e.event_id for e in envelopes],
            "types": [e.type for e in envelopes],
            "versions": [e.schema_version for e in envelopes],
            "stream_versions": [e.stream_version for e in envelopes],
            "occurred": [e.occurred_at for e in envelopes],
            "data": [e.data.model_dump_json() for e in envelopes],
            "stream": stream,
            "region": metadata.region,
            "recorded": now,
            "correlation": metadata.correlation_id,
            "causation": metadata.causation_id,
            "actor": metadata.actor,
            "expected": expected_version,
        }
        try:
            result = await self.connection.execute(self.store._append_sql, params)
        except IntegrityError as exc:
            if "stream_version" in str(exc.orig):
                raise ConcurrencyConflict(stream, expected_version) from None
            raise
        if len(result.fetchall()) != len(envelopes):
            raise ConcurrencyConflict(stream, expected_version)
        return envelopes

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
        self._wrote = True
        result = await self.connection.execute(
            text(
                f"INSERT INTO {self.schema}.processed_events (consumer, event_id, processed_at) "
                "VALUES (:consumer, :event_id, :at) ON CONFLICT DO NOTHING RETURNING event_id"
            ),
            {"consumer": consumer, "event_id": event_id, "at": self.store.clock.now()},
        )
        return result.first() is not None

    async def was_processed(self, consumer: str, event_id: UUID) -> bool:
        result = await self.connection.execute(
            text(
                f"SELECT 1 FROM {self.schema}.processed_events "
                "WHERE consumer = :consumer AND event_id = :event_id"
            ),
            {"consumer": consumer, "event_id": event_id},
        )
        return result.first() is not None


class EventStore:
    """The event log of one service, in its own PostgreSQL schema."""

    def __init__(self, engine: AsyncEngine, schema: str, clock: Clock | None = None) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.engine = engine
        self.schema = schema
        self.clock = clock or get_clock()
        # One statement: the expected version must exist (or be 0 for a new stream); a
        # version already taken fails the (stream, stream_version) unique index.
        self._append_sql = text(
            f"""
            INSERT INTO {schema}.events ({_COLUMNS})
            SELECT id, type, v, :stream, sv, :region, occ, :recorded, :correlation,
                   :causation, :actor, d::jsonb
            FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:versions AS int[]),
                        CAST(:stream_versions AS int[]), CAST(:occurred AS timestamptz[]),
                        CAST(:data AS text[])) AS t(id, type, v, sv, occ, d)
            WHERE CAST(:expected AS int) = 0 OR EXISTS (
                SELECT 1 FROM {schema}.events
                WHERE stream = :stream AND stream_version = CAST(:expected AS int))
            RETURNING position
            """
        )

    @classmethod
    def connect(
        cls, database_url: str, schema: str, *, clock: Clock | None = None, pool_size: int = 10
    ) -> EventStore:
        engine = create_async_engine(
            async_database_url(database_url), pool_size=pool_size, max_overflow=pool_size,
            pool_pre_ping=True,
        )
        return cls(engine, schema, clock)

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.engine.begin() as connection:
            yield Transaction(self, connection)

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[EventData],
        metadata: Metadata,
        *,
        occurred_at: datetime | None = None,
    ) -> list[Envelope]:
        """Append in a transaction of its own. Raises :class:`ConcurrencyConflict`."""
        async with self.transaction() as tx:
            return await tx.append(
                stream, expected_version, events, metadata, occurred_at=occurred_at
            )

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

    async def read_unpublished(
        self, after: Cursor, limit: int
    ) -> list[tuple[Cursor, str, bytes, Envelope]]:
        """Events after ``after`` whose writing transactions can no longer commit.

        Only rows of transactions older than the oldest one still running are returned,
        ordered by (transaction id, position). A transaction still open holds back everything
        that committed after it started, so nothing is ever skipped when commits happen out
        of order. Returns (cursor, subject, wire bytes, envelope) tuples.
        """
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text(
                    f"SELECT tx_id::text AS tx, position, {_COLUMNS} FROM {self.schema}.events "
                    "WHERE (tx_id, position) > (CAST(:tx AS xid8), :position) "
                    "AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) "
                    "ORDER BY tx_id, position LIMIT :limit"
                ),
                {"tx": after.tx_id, "position": after.position, "limit": limit},
            )
            out = []
            for row in rows:
                envelope = _row_to_envelope(row)
                out.append(
                    (Cursor(int(row.tx), row.position), envelope.subject, envelope.to_json(), envelope)
                )
            return out

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
        async with self.engine.begin() as connection:
            await connection.execute(
                text(
                    f"INSERT INTO {self.schema}.relay_checkpoints (name, tx_id, position, updated_at) "
                    "VALUES (:name, CAST(:tx AS xid8), :position, :at) "
                    "ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, "
                    "position = EXCLUDED.position, updated_at = EXCLUDED.updated_at"
                ),
                {"name": name, "tx": cursor.tx_id, "position": cursor.position,
                 "at": self.clock.now()},
            )

    async def head_position(self) -> int:
        async with self.engine.connect() as connection:
            value = await connection.scalar(
                text(f"SELECT coalesce(max(position), 0) FROM {self.schema}.events")
            )
            return int(value)
