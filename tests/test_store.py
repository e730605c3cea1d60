"""Event store against a real PostgreSQL: appends, optimistic concurrency, reads."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text

from services.common.store import ConcurrencyConflict, TransactionMisuse
from tests.factories import cohort_opened, metadata


async def test_append_then_read_stream_round_trips(store_factory):
    store = store_factory()
    written = await store.append("cohort-IDF-2025-09", 0, [cohort_opened(1), cohort_opened(2)],
                                 metadata())
    read = await store.read_stream("cohort-IDF-2025-09")
    assert read == written
    assert [e.stream_version for e in read] == [1, 2]
    assert read[0].data.target_pairs == 1


async def test_wrong_expected_version_is_a_conflict(store_factory):
    store = store_factory()
    await store.append("s", 0, [cohort_opened()], metadata())
    with pytest.raises(ConcurrencyConflict):
        await store.append("s", 0, [cohort_opened()], metadata())  # stream exists
    with pytest.raises(ConcurrencyConflict):
        await store.append("s", 5, [cohort_opened()], metadata())  # stream is not that far
    await store.append("s", 1, [cohort_opened()], metadata())
    assert len(await store.read_stream("s")) == 2


async def test_append_must_be_first_write_of_transaction(store_factory):
    store = store_factory()
    await store.append("existing", 0, [cohort_opened()], metadata())
    async with store.transaction() as tx:
        await tx.append("a", 0, [cohort_opened()], metadata())
        with pytest.raises(TransactionMisuse):
            await tx.append("b", 0, [cohort_opened()], metadata())
    async with store.transaction() as tx:
        tx.note_write()
        await tx.append("new", 0, [cohort_opened()], metadata())  # a new stream may follow
    async with store.transaction() as tx:
        tx.note_write()
        with pytest.raises(TransactionMisuse):
            await tx.append("existing", 1, [cohort_opened()], metadata())


async def test_read_all_returns_log_order(store_factory):
    store = store_factory()
    for i in range(5):
        await store.append(f"s{i}", 0, [cohort_opened(i + 1)], metadata())
    recorded = await store.read_all(after_position=0, limit=3)
    assert [r.envelope.data.target_pairs for r in recorded] == [1, 2, 3]
    rest = await store.read_all(after_position=recorded[-1].position)
    assert [r.envelope.data.target_pairs for r in rest] == [4, 5]


async def test_twenty_concurrent_writers_lose_nothing_and_conflict_correctly(store_factory):
    """20 writers x 200 events on 10 shared streams: every event lands exactly once, each
    stream's versions are contiguous, and every lost race was reported as a conflict."""
    store = store_factory(pool_size=20)
    writers, per_writer, streams = 20, 200, [f"stream-{i}" for i in range(10)]
    conflicts = 0

    async def writer(seed: int) -> None:
        nonlocal conflicts
        rng = random.Random(seed)
        for _ in range(per_writer):
            stream = rng.choice(streams)
            while True:
                version = len(await store.read_stream(stream))
                try:
                    await store.append(stream, version, [cohort_opened(seed + 1)], metadata())
                    break
                except ConcurrencyConflict:
                    conflicts += 1

    await asyncio.gather(*(writer(seed) for seed in range(writers)))

    total = 0
    for stream in streams:
        versions = [e.stream_version for e in await store.read_stream(stream)]
        assert versions == list(range(1, len(versions) + 1))
        total += len(versions)
    assert total == writers * per_writer
    by_writer = [0] * writers
    everything = await store.read_all(limit=10_000)
    for recorded in everything:
        by_writer[recorded.envelope.data.target_pairs - 1] += 1
    assert by_writer == [per_writer] * writers
    assert len({r.envelope.event_id for r in everything}) == writers * per_writer
    assert conflicts > 0  # the streams are contended: races happened and were caught


async def test_hot_connections_pass_from_command_to_command_and_leave_the_pool_to_others(
        store_factory):
    """Past its limit (the pool size) the hot path queues for its own connections: under
    saturation they go from one append to the next without SQLAlchemy's pool, which keeps
    its connections for everything else; a caller cancelled while queued loses none."""
    store = store_factory(pool_size=2)
    await asyncio.gather(*(store.append(f"hot-{i}", 0, [cohort_opened()], metadata())
                           for i in range(40)))
    assert len(await store.read_all(limit=100)) == 40
    hot = store._append_connections
    assert hot._held == 2
    async with hot.lease(), hot.lease():  # the hot path at its limit
        queued = asyncio.create_task(store.append("queued", 0, [cohort_opened()], metadata()))
        cancelled = asyncio.create_task(store.append("cancelled", 0, [cohort_opened()],
                                                     metadata()))
        await asyncio.sleep(0.05)
        assert not queued.done() and not cancelled.done()
        async with store.engine.connect() as a, store.engine.connect() as b:  # not starved
            assert await a.scalar(text("SELECT 1")) == await b.scalar(text("SELECT 1")) == 1
        cancelled.cancel()
    await queued
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert hot._held == 2 and not hot._waiters
    assert [e.stream for e in await store.read_stream("queued")] == ["queued"]
    assert await store.read_stream("cancelled") == []
