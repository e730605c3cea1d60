"""Outbox relay against real PostgreSQL and NATS: commit order, crashes, NATS outages."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import defaultdict

from services.common import bus
from services.common.relay import OutboxRelay
from services.common.settings import Settings
from services.common.store import Cursor
from tests.conftest import create_database, eventually
from tests.factories import cohort_opened, metadata
from tests.jetstream import stored_events, stored_messages


def assert_each_once_in_stream_order(published: list[dict], expected_ids: set[str]) -> None:
    ids = [e["event_id"] for e in published]
    assert len(ids) == len(set(ids)), "an event was published twice"
    assert set(ids) == expected_ids, "an event is missing"
    versions: dict[str, list[int]] = defaultdict(list)
    for event in published:
        versions[event["stream"]].append(event["stream_version"])
    for stream, seen in versions.items():
        assert seen == sorted(seen), f"{stream} published out of order: {seen}"


async def run_relay(store, settings, **kwargs) -> tuple[OutboxRelay, asyncio.Task]:
    relay = OutboxRelay(store, settings.nats_url, settings, **kwargs)
    return relay, asyncio.create_task(relay.run())


async def stop(relay: OutboxRelay, task: asyncio.Task) -> None:
    relay.stop()
    await asyncio.wait_for(task, 10)


async def test_out_of_order_commits_are_never_skipped(store_factory, settings):
    store = store_factory()
    relay, task = await run_relay(store, settings)
    ids: set[str] = set()
    ids |= {str(e.event_id) for e in await store.append("early", 0, [cohort_opened()], metadata())}

    held_open = asyncio.Event()
    release = asyncio.Event()

    async def slow_writer() -> None:
        async with store.transaction() as tx:
            written = await tx.append("slow", 0, [cohort_opened(), cohort_opened()], metadata())
            ids.update(str(e.event_id) for e in written)
            held_open.set()
            await release.wait()  # commit only after later transactions committed

    slow = asyncio.create_task(slow_writer())
    await held_open.wait()
    for i in range(5):  # later transactions commit while the slow one is open
        written = await store.append(f"fast-{i % 2}", i // 2, [cohort_opened(i + 1)], metadata())
        ids.update(str(e.event_id) for e in written)
    await asyncio.sleep(0.5)  # give the relay many polls while the slow transaction is open
    # Everything that committed after the slow transaction began is held back behind it.
    assert relay.published == 1
    release.set()
    await slow
    written = await store.append("slow", 2, [cohort_opened()], metadata())  # after it committed
    ids.update(str(e.event_id) for e in written)

    await eventually(lambda: relay.published >= len(ids))
    await stop(relay, task)
    published = await stored_events(settings.nats_url)
    assert_each_once_in_stream_order(published, ids)
    slow_versions = [e["stream_version"] for e in published if e["stream"] == "slow"]
    assert slow_versions == [1, 2, 3]


async def test_relay_killed_between_publish_and_checkpoint_publishes_nothing_twice(
    store_factory, settings
):
    store = store_factory()
    ids = set()
    for i in range(20):
        ids |= {str(e.event_id) for e in await store.append(f"s{i % 3}", i // 3, [cohort_opened()], metadata())}
    # A real process, SIGKILLed after JetStream acknowledged its first batch of 7.
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.helpers.crashing_relay", settings.nats_url, settings.database_url],
        timeout=60,
    )
    assert crashed.returncode == -9
    assert len(await stored_events(settings.nats_url)) == 7  # published, not checkpointed
    relay, task = await run_relay(store, settings)  # restarts from the old checkpoint
    await eventually(lambda: relay.published >= len(ids))
    await stop(relay, task)
    assert relay.published == len(ids)  # it did re-send the first batch...
    assert_each_once_in_stream_order(await stored_events(settings.nats_url), ids)  # ...deduped


async def test_relay_survives_nats_stopped_for_30_seconds(own_servers, clock):
    pg, ns = own_servers
    database_url = await create_database(pg)
    settings = Settings(nats_url=ns.url, database_url=database_url, relay_poll_interval_s=0.02,
                        relay_max_backoff_s=2.0, publish_ack_timeout_s=2.0)
    from services.common.store import EventStore

    store = EventStore.connect(database_url, "intake", clock=clock)
    relay, task = await run_relay(store, settings)
    ids = set()
    for i in range(10):
        ids |= {str(e.event_id) for e in await store.append("before", i, [cohort_opened()], metadata())}
    await eventually(lambda: relay.published >= 10)

    ns.stop()
    for i in range(10):  # the service keeps accepting commands during the outage
        ids |= {str(e.event_id) for e in await store.append("during", i, [cohort_opened()], metadata())}
    await asyncio.sleep(30)  # a 30 s outage (infrastructure time, not business time)
    assert relay.published == 10
    ns.start()

    await eventually(lambda: relay.published >= 20, timeout=60)
    for i in range(5):
        ids |= {str(e.event_id) for e in await store.append("after", i, [cohort_opened()], metadata())}
    await eventually(lambda: relay.published >= 25)
    await stop(relay, task)
    await store.dispose()
    assert_each_once_in_stream_order(await stored_events(ns.url), ids)


async def test_relay_survives_a_postgresql_restart(own_servers, clock):
    pg, ns = own_servers
    database_url = await create_database(pg)
    settings = Settings(nats_url=ns.url, database_url=database_url, relay_poll_interval_s=0.02,
                        relay_max_backoff_s=1.0)
    from services.common.store import EventStore

    store = EventStore.connect(database_url, "intake", clock=clock)
    relay, task = await run_relay(store, settings)
    ids = {str(e.event_id) for e in await store.append("a", 0, [cohort_opened()], metadata())}
    await eventually(lambda: relay.published >= 1)
    pg.stop()
    await asyncio.sleep(3)  # the relay fails to poll meanwhile and keeps retrying
    pg.start()
    ids |= {str(e.event_id) for e in await store.append("a", 1, [cohort_opened()], metadata())}
    await eventually(lambda: relay.published >= 2, timeout=30)
    await stop(relay, task)
    await store.dispose()
    assert_each_once_in_stream_order(await stored_events(ns.url), ids)


async def test_batches_go_out_atomically_and_the_checkpoint_is_current_at_stop(
    store_factory, settings
):
    store = store_factory()
    ids = set()
    for i in range(12):
        ids |= {str(e.event_id) for e in await store.append(f"s{i}", 0, [cohort_opened()], metadata())}
    relay, task = await run_relay(store, settings.model_copy(update={"relay_batch_size": 5}))
    await eventually(lambda: relay.published >= len(ids))
    await stop(relay, task)
    messages = await stored_messages(settings.nats_url)
    assert relay.atomic  # the server took every batch whole
    commits = [h for _s, h, _b in messages if h.get("Nats-Batch-Commit") == "1"]
    assert len(commits) == 3  # batches of 5, 5 and 2, one acknowledged commit each
    assert_each_once_in_stream_order([b for _s, _h, b in messages], ids)
    # The checkpoint written in the background while the next batch went out is current.
    assert await store.load_checkpoint(relay.name) == relay.cursor


async def test_a_half_sent_atomic_batch_stores_nothing_and_the_relay_sends_it_whole(
    store_factory, settings
):
    """A relay dying between the plain publishes of a batch and its commit leaves nothing in
    JetStream (the server drops an uncommitted batch); its successor sends the batch whole."""
    store = store_factory()
    ids = set()
    for i in range(6):
        ids |= {str(e.event_id) for e in await store.append(f"s{i}", 0, [cohort_opened()], metadata())}
    nc = await bus.connect(settings.nats_url, "half-batch")
    await bus.ensure_stream(nc, settings)
    first = await store.read_unpublished(Cursor(), 3)
    for sequence, message in enumerate(first, start=1):  # no commit follows
        await nc.publish(message.subject, message.payload, headers={
            "Nats-Msg-Id": message.event_id, "Nats-Batch-Id": "dead-relay",
            "Nats-Batch-Sequence": str(sequence)})
    await nc.flush()
    await nc.close()
    assert await stored_events(settings.nats_url) == []
    relay, task = await run_relay(store, settings)
    await eventually(lambda: relay.published >= len(ids))
    await stop(relay, task)
    assert_each_once_in_stream_order(await stored_events(settings.nats_url), ids)


async def test_a_stream_without_atomic_batches_gets_one_publish_per_event(store_factory, settings):
    """A stream (or server) refusing atomic batches: the relay publishes event by event."""
    store = store_factory()
    ids = set()
    for i in range(4):
        ids |= {str(e.event_id) for e in await store.append(f"s{i}", 0, [cohort_opened()], metadata())}
    nc = await bus.connect(settings.nats_url, "plain-stream")
    await nc.jetstream().add_stream(_without_atomic(settings))
    relay = OutboxRelay(store, settings.nats_url, settings)
    relay._nc = nc  # connected to this stream as is (run() would enable atomic batches)
    try:
        assert await relay.publish_once() == 4
        await relay._checkpoint_written()
    finally:
        await nc.close()
    assert not relay.atomic
    assert_each_once_in_stream_order(await stored_events(settings.nats_url), ids)


def _without_atomic(settings):
    config = bus.stream_config(settings)
    config.allow_atomic = False
    return config


async def test_a_busy_relay_carries_many_commits_per_read(store_factory, settings):
    """Once caught up, reads are at least relay_linger_s apart: appends that each wake the
    relay go out in a few batches, not one read (and publish and checkpoint) each. A relay
    idle for longer than that reads at once (the first event below)."""
    store = store_factory()
    relay, task = await run_relay(store, settings.model_copy(update={"relay_linger_s": 1.0}))
    reads = []
    read = store.read_unpublished

    async def counted(after, limit):
        reads.append(after)
        return await read(after, limit)

    store.read_unpublished = counted  # the real read, counted
    try:
        ids = {str(e.event_id) for e in await store.append("first", 0, [cohort_opened()],
                                                           metadata())}
        await eventually(lambda: relay.published == 1)
        reads.clear()
        started = asyncio.get_running_loop().time()
        for i in range(30):  # each commit wakes the relay
            ids |= {str(e.event_id) for e in await store.append(
                f"busy-{i % 3}", i // 3, [cohort_opened()], metadata())}
        await eventually(lambda: relay.published == len(ids))
        lingered = asyncio.get_running_loop().time() - started
    finally:
        await stop(relay, task)
    # At most one read per second of the run (plus the one in flight and the last, empty).
    assert len(reads) <= lingered / 1.0 + 3, (len(reads), lingered)
    assert_each_once_in_stream_order(await stored_events(settings.nats_url), ids)
