"""The imperative shell of reporting: the archive, the stored read models and the folds over
the archive (replay, time travel). The folds themselves are in :mod:`services.reporting.folds`.

Live path (:func:`archive_and_project`), per event, in the consumer's transaction (which also
records the event as processed):

1. lock the read models' checkpoint row (``view_state``) and bump its ``generation``: this
   serialises replicas, so archive positions are assigned in fold order;
2. archive the event (``ON CONFLICT (event_id) DO NOTHING``: a duplicate changes nothing);
3. fold it into the process's cached :class:`View` (reloaded from the rows when the cache is not
   of the previous generation: first use, another replica wrote, or a rolled-back transaction)
   and upsert only the rows it touched, with the checkpoint's new position.

Time travel folds the archive up to ``recorded_at <= as_of`` (when the system learned of an
event, so an answer for a past instant never changes afterwards, even if events about earlier
business dates arrive late), then applies every erasure known *now*: going back in time never
brings an erased person back.
"""

from __future__ import annotations

import asyncio
import gc
from contextlib import contextmanager
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from events import Envelope
from events.base import _CURRENT, upcast
from services.common import tracing
from services.common.store import Transaction, _driver
from services.reporting.folds import HANDLERS, TABLES, View, apply

log = structlog.get_logger(__name__)

SCHEMA = "reporting"
BATCH = 50_000
# Bump when a fold changes what it stores: every reporting process rebuilds the rows at start.
FOLD_VERSION = 5  # 4: objectives, admitted/paired by role, referent reassignments; 5: progress

_LOCK_SQL = (f"UPDATE {SCHEMA}.view_state SET generation = generation + 1 WHERE id = 1 "
             "RETURNING generation")
_ARCHIVE_SQL = (
    f"INSERT INTO {SCHEMA}.archive (event_id, type, region, stream, stream_version, "
    "occurred_at, recorded_at, envelope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING position")
_CHECKPOINT_SQL = (f"UPDATE {SCHEMA}.view_state SET position = $1, events = events + 1, "
                   "updated_at = $2 WHERE id = 1")
_UPSERT_SQL = (
    f"INSERT INTO {SCHEMA}.view_rows (view, key, data) "
    "SELECT v, k, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS t(v, k, d) "
    "ON CONFLICT (view, key) DO UPDATE SET data = EXCLUDED.data")
_DELETE_SQL = (f"DELETE FROM {SCHEMA}.view_rows WHERE (view, key) IN "
               "(SELECT * FROM unnest($1::text[], $2::text[]))")
_ERASED_SQL = (f"SELECT DISTINCT envelope->'data'->>'person_id' FROM {SCHEMA}.archive "
               "WHERE type = 'PersonErased'")


@dataclass
class _Cache:
    view: View | None = None
    generation: int = -1


def _cache_of(store: Any) -> _Cache:
    cache = getattr(store, "_reporting_view", None)
    if cache is None:
        cache = _Cache()
        store._reporting_view = cache
    return cache


async def archive_and_project(envelope: Envelope, tx: Transaction) -> None:
    tx.note_write()
    conn = await _driver(tx.connection)
    generation = await conn.fetchval(_LOCK_SQL)
    body = envelope.model_dump_json()
    position = await conn.fetchval(
        _ARCHIVE_SQL, envelope.event_id, envelope.type, envelope.region, envelope.stream,
        envelope.stream_version, envelope.occurred_at, envelope.recorded_at, body)
    cache = _cache_of(tx.store)
    if cache.view is None or cache.generation != generation - 1:
        cache.view = await load_view(conn)
    cache.generation = -1  # until the rows are written: a failure below means reload
    if position is not None:  # else already archived (re-published): already counted
        view = cache.view
        view.dirty.clear()
        with tracing.span("reporting.fold"):  # in the trace of the event's request
            apply(view, orjson.loads(body))
            await write_rows(conn, view, view.dirty)
        await conn.execute(_CHECKPOINT_SQL, position, tx.store.clock.now())
    cache.generation = generation


async def write_rows(conn: asyncpg.Connection, view: View,
                     keys: Iterable[tuple[str, str]]) -> None:
    upserts: tuple[list[str], list[str], list[str]] = ([], [], [])
    deletes: tuple[list[str], list[str]] = ([], [])
    for table, key in keys:
        row = view.tables[table].get(key)
        if row is None:
            deletes[0].append(table)
            deletes[1].append(key)
        else:
            upserts[0].append(table)
            upserts[1].append(key)
            upserts[2].append(orjson.dumps(row).decode())
    if upserts[0]:
        await conn.execute(_UPSERT_SQL, *upserts)
    if deletes[0]:
        await conn.execute(_DELETE_SQL, *deletes)


async def load_view(conn: asyncpg.Connection, tables: Iterable[str] | None = None) -> View:
    """The stored read models (all tables, or the given ones)."""
    names = list(tables) if tables is not None else list(TABLES)
    rows = await conn.fetch(
        f"SELECT view, key, data::text AS data FROM {SCHEMA}.view_rows WHERE view = ANY($1)",
        names)
    loaded: dict[str, dict[str, Any]] = {name: {} for name in names}
    loads = orjson.loads
    for row in rows:
        loaded[row["view"]][row["key"]] = loads(row["data"])
    return View(loaded)


# --- folding the archive: replay and time travel ------------------------------------------------


def decode(raw: str | bytes) -> dict[str, Any]:
    """An archived or received envelope as a lightweight dict, upcast if it is an old version."""
    event = orjson.loads(raw)
    current = _CURRENT.get(event.get("type"))
    if current is not None and event.get("schema_version", 0) < current.schema_version:
        event = upcast(event)  # (a newer version than ours is read as is, by field name)
    return event


# What a fold reads of an archived event: its type, region, business time and payload (the
# rest of the envelope is never looked at, so PostgreSQL does not even send it).
FOLD_COLUMNS = ("type, region, envelope->>'occurred_at' AS occurred_at, "
                "(envelope->>'schema_version')::int AS schema_version, "
                "(envelope->'data')::text AS data")


async def archive_batches(conn: asyncpg.Connection, *, as_of: datetime | None = None,
                          up_to: int | None = None, batch: int = BATCH,
                          columns: str = FOLD_COLUMNS
                          ) -> AsyncIterator[list[asyncpg.Record]]:
    """The archive in log order, in big batches from a server-side cursor (run inside a
    transaction). The next batch is requested before the current one is handed out, so
    PostgreSQL works on it while we fold."""
    cursor = await conn.cursor(
        f"SELECT {columns} FROM {SCHEMA}.archive "
        "WHERE ($1::timestamptz IS NULL OR recorded_at <= $1) "
        "AND ($2::bigint IS NULL OR position <= $2) ORDER BY position", as_of, up_to)
    pending = asyncio.ensure_future(cursor.fetch(batch))
    while True:
        rows = await pending
        if len(rows) < batch:
            if rows:
                yield rows
            return
        pending = asyncio.ensure_future(cursor.fetch(batch))
        await asyncio.sleep(0)  # let the request go out before folding
        yield rows


def _versions() -> dict[str, int]:
    return {name: model.schema_version for name, model in _CURRENT.items()}


def fold_rows(view: View, rows: list[asyncpg.Record]) -> None:
    """Fold archive rows of :data:`FOLD_COLUMNS` (the replay's hot loop: per-type dispatch of
    the pure folds on orjson-decoded payloads, no model per event)."""
    handlers = HANDLERS
    loads = orjson.loads
    versions = _versions()
    for row in rows:  # the record itself is the event the folds read (row["region"], ...)
        kind = row[0]
        handler = handlers.get(kind)
        if handler is None:
            continue
        payload = loads(row[4])
        if row[3] < versions.get(kind, 0):  # an old shape: upcast it like every reader does
            payload = upcast({"type": kind, "schema_version": row[3], "data": payload})["data"]
        handler(view, row, payload)
    view.dirty.clear()


async def erased_people(conn: asyncpg.Connection) -> list[str]:
    return [row[0] for row in await conn.fetch(_ERASED_SQL)]


def forget(view: View, people: Iterable[str]) -> View:
    for person_id in people:
        apply(view, {"type": "PersonErased", "data": {"person_id": person_id}})
    view.dirty.clear()
    return view


async def fold_archive(conn: asyncpg.Connection, *, as_of: datetime | None = None,
                       up_to: int | None = None,
                       progress: Callable[[int], None] | None = None) -> View:
    """Every read model folded from the archive (up to ``as_of`` / position ``up_to``), with
    every erasure known now applied. Runs in a repeatable-read snapshot of its own unless the
    connection is already in a transaction."""
    view = View(track=False)

    async def run() -> None:
        async for rows in archive_batches(conn, as_of=as_of, up_to=up_to):
            fold_rows(view, rows)
            if progress is not None:
                progress(len(rows))
        forget(view, await erased_people(conn))

    with _no_cyclic_gc():
        if conn.is_in_transaction():
            await run()
        else:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await run()
    return view


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A fold allocates millions of small dicts and lists that all stay alive: the cyclic
    collector would rescan them again and again (the replay slowing down as the view grows).
    Nothing a fold builds is cyclic garbage, so pause it (reference counting still frees)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def read_view(connection: AsyncConnection | asyncpg.Connection, *,
                    as_of: datetime | None = None, tables: Iterable[str] | None = None) -> View:
    """The read models now (stored rows) or as of an instant (folded from the archive)."""
    conn = connection if isinstance(connection, asyncpg.Connection) else await _driver(connection)
    if as_of is None:
        return await load_view(conn, tables)
    return await fold_archive(conn, as_of=as_of)


@dataclass(frozen=True)
class ReplayResult:
    events: int
    position: int
    equal: bool
    differences: list[str]
    view: View


async def replay(conn: asyncpg.Connection, *, write: bool = False,
                 progress: Callable[[int], None] | None = None) -> ReplayResult:
    """Rebuild every read model from the archive and compare it with the live rows, in one
    snapshot (the archive up to the live checkpoint). ``write`` replaces the live rows with
    the rebuilt ones (locking out the live path meanwhile)."""
    isolation = "read_committed" if write else "repeatable_read"
    async with conn.transaction(isolation=isolation, readonly=not write):
        if write:  # the live path archives under this lock: the archive stops growing
            await conn.execute(f"SELECT 1 FROM {SCHEMA}.view_state WHERE id = 1 FOR UPDATE")
            position = await conn.fetchval(
                f"SELECT coalesce(max(position), 0) FROM {SCHEMA}.archive")
        else:
            position = await conn.fetchval(
                f"SELECT position FROM {SCHEMA}.view_state WHERE id = 1")
        live = await load_view(conn)
        counted = 0

        def count(n: int) -> None:
            nonlocal counted
            counted += n
            if progress is not None:
                progress(n)

        rebuilt = await fold_archive(conn, up_to=position, progress=count)
        differences = compare(rebuilt, live)
        if write:
            await conn.execute(f"DELETE FROM {SCHEMA}.view_rows")
            keys = [(t, k) for t, table in rebuilt.tables.items() for k in table]
            for start in range(0, len(keys), BATCH):
                await write_rows(conn, rebuilt, keys[start:start + BATCH])
            await conn.execute(
                f"UPDATE {SCHEMA}.view_state SET generation = generation + 1, position = $1, "
                "events = $2, fold_version = $3, updated_at = now() WHERE id = 1",
                position, counted, FOLD_VERSION)
    return ReplayResult(counted, position, not differences, differences, rebuilt)


async def rebuild_if_stale(conn: asyncpg.Connection) -> bool:
    """At start: rebuild the stored read models when they were built by other folds (an
    upgrade added or changed one: ``FOLD_VERSION``) or lag the archive (upgraded from the
    single-document funnel). True if it rebuilt."""
    state = await conn.fetchrow(
        f"SELECT fold_version, position, (SELECT coalesce(max(position), 0) "
        f"FROM {SCHEMA}.archive) AS archived FROM {SCHEMA}.view_state WHERE id = 1")
    if state["fold_version"] == FOLD_VERSION and state["position"] >= state["archived"]:
        return False
    result = await replay(conn, write=True)
    log.info("read models rebuilt from the archive", events=result.events,
             previous_fold_version=state["fold_version"], fold_version=FOLD_VERSION)
    return True


def compare(rebuilt: View, live: View, limit: int = 20) -> list[str]:
    """Where two views differ (empty when equal)."""
    differences = []
    for name in TABLES:
        a, b = rebuilt.tables[name], live.tables[name]
        if a == b:
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                differences.append(f"{name}[{key}]: rejoué={a.get(key)!r} direct={b.get(key)!r}")
                if len(differences) >= limit:
                    return differences
    return differences


# --- compatibility: the funnel as models (tests and callers of the first version) -----------


@dataclass(frozen=True)
class FunnelView:
    rows: dict[str, Any]


async def load_funnel(connection: AsyncConnection) -> FunnelView:
    from services.reporting.queries import FunnelRow

    view = await read_view(connection, tables=["funnel"])
    return FunnelView({key: FunnelRow.model_validate(row) for key, row in view.funnel.items()})


async def fold_jetstream(nats_url: str, *, progress: Callable[[int], None] | None = None,
                         total: Callable[[int], None] | None = None) -> tuple[View, int]:
    """Every read model folded from the JetStream stream itself (from its first message,
    duplicates dropped by event id), for when the archive is in doubt."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from events import EVENT_STREAM_NAME
    from events.base import DOMAIN_SUBJECTS, expected_subject, untrusted_subject

    view = View(track=False)
    seen: set[str] = set()
    nc = await nats.connect(nats_url)
    with _no_cyclic_gc():
        try:
            js = nc.jetstream()
            info = await js.stream_info(EVENT_STREAM_NAME)
            if total is not None:
                total(info.state.messages)
            sub = await js.pull_subscribe(
                "", durable=None, stream=EVENT_STREAM_NAME,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE,
                                      max_ack_pending=-1, filter_subjects=list(DOMAIN_SUBJECTS)))
            handlers = HANDLERS
            while True:
                try:
                    messages = await sub.fetch(5_000, timeout=2)
                except Exception:  # nothing left to fetch
                    break
                for message in messages:
                    event = decode(message.data)
                    if untrusted_subject(message.subject) or message.subject != \
                            expected_subject(event.get("region"), event.get("type")):
                        continue  # never trusted (the consumer dead-lettered it)
                    if event["event_id"] in seen:
                        continue
                    seen.add(event["event_id"])
                    handler = handlers.get(event["type"])
                    if handler is not None:
                        handler(view, event, event["data"])
                view.dirty.clear()
                if progress is not None:
                    progress(len(messages))
                if messages[-1].metadata.num_pending == 0:
                    break
            await sub.unsubscribe()
        finally:
            await nc.close()
    return view, len(seen)
