"""Consumer base against real NATS and PostgreSQL: idempotence, retries, dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import asynccontextmanager

import nats
import pytest
from faststream.nats import NatsBroker
from sqlalchemy import text

from events import EVENT_STREAM_NAME, Service
from services.common import bus
from services.common.consumer import Consumer, ConsumerRunner
from tests.conftest import eventually
from tests.factories import cohort_opened, metadata
from tests.jetstream import stored_messages


@asynccontextmanager
async def running_consumer(store, settings, handle, subject="success.*.*.*", batch=False):
    nc = await bus.connect(settings.nats_url, "test-setup")
    await bus.ensure_stream(nc, settings)
    await nc.close()
    broker = NatsBroker(settings.nats_url)
    consumer = Consumer("test", subject, handle, batch=batch)
    ConsumerRunner(Service.reporting, consumer, store, broker, settings).subscribe()
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


async def publish(nats_url: str, subject: str, payload: bytes) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(subject, payload, stream=EVENT_STREAM_NAME,
                                     headers={"Nats-Msg-Id": uuid.uuid4().hex})
    finally:
        await nc.close()


async def sealed_event(store, stream: str = "s") -> bytes:
    [envelope] = await store.append(stream, 0, [cohort_opened()], metadata())
    return envelope.to_json()


async def counter_table(store) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(
            "CREATE TABLE IF NOT EXISTS reporting.handled (event_id uuid, n int DEFAULT 1)"))


async def handled(store) -> list[str]:
    async with store.engine.connect() as conn:
        return [str(r[0]) for r in await conn.execute(text("SELECT event_id FROM reporting.handled"))]


async def record(envelope, tx) -> None:
    await tx.connection.execute(text("INSERT INTO reporting.handled (event_id) VALUES (:id)"),
                                {"id": envelope.event_id})


async def dead_letters(nats_url: str) -> list[tuple[dict, dict]]:
    return [(h, b) for s, h, b in await stored_messages(nats_url, "success.dlq.")]


@pytest.mark.parametrize("batch", [False, True], ids=["one_by_one", "batched"])
async def test_redelivered_event_changes_nothing(store_factory, settings, batch):
    store = store_factory("reporting")
    await counter_table(store)
    payload = await sealed_event(store)
    event_id = json.loads(payload)["event_id"]
    async with running_consumer(store, settings, record, batch=batch):
        for _ in range(3):  # the same event three times (as after lost acks)
            await publish(settings.nats_url, "success.IDF.matching.CohortOpened", payload)
        second = await sealed_event(store, "other")
        await publish(settings.nats_url, "success.IDF.matching.CohortOpened", second)
        await eventually(lambda: _has(store, json.loads(second)["event_id"]))
    assert sorted(await handled(store)) == sorted([event_id, json.loads(second)["event_id"]])


async def _has(store, event_id: str) -> bool:
    return event_id in await handled(store)


async def test_malformed_messages_go_to_dead_letters_and_consumer_continues(store_factory, settings):
    store = store_factory("reporting")
    await counter_table(store)
    good = await sealed_event(store)
    unknown = json.dumps({**json.loads(good), "type": "NoSuchEvent"}).encode()
    invalid = json.dumps({**json.loads(good), "data": {"cohort_id": 42}}).encode()
    async with running_consumer(store, settings, record):
        for payload in (b"\xff not json", unknown, invalid, good):
            await publish(settings.nats_url, "success.IDF.matching.CohortOpened", payload)
        await eventually(lambda: _has(store, json.loads(good)["event_id"]))
        letters = await eventually(lambda: _n_dead_letters(settings.nats_url, 3))
    codes = [headers["Success-Dlq-Code"] for headers, _ in letters]
    assert codes == ["not_json", "unknown_type", "invalid"]
    assert all(h["Success-Dlq-Subject"] == "success.IDF.matching.CohortOpened" for h, _ in letters)
    assert "NoSuchEvent" in letters[1][0]["Success-Dlq-Reason"]


async def _n_dead_letters(nats_url: str, n: int):
    letters = await dead_letters(nats_url)
    return letters if len(letters) >= n else None


@pytest.mark.parametrize("batch", [False, True], ids=["one_by_one", "batched"])
async def test_transient_failures_are_retried_then_dead_lettered(store_factory, settings, batch):
    store = store_factory("reporting")
    await counter_table(store)
    flaky_payload = await sealed_event(store, "flaky")
    broken_payload = await sealed_event(store, "broken")
    after_payload = await sealed_event(store, "after")
    flaky_id, broken_id, after_id = (json.loads(p)["event_id"] for p in
                                     (flaky_payload, broken_payload, after_payload))
    attempts: dict[str, int] = {}

    async def handle(envelope, tx) -> None:
        key = str(envelope.event_id)
        attempts[key] = attempts.get(key, 0) + 1
        await record(envelope, tx)  # written, then rolled back when we raise below
        if key == broken_id or (key == flaky_id and attempts[key] < 3):
            raise RuntimeError("downstream unavailable")

    async with running_consumer(store, settings, handle, batch=batch):
        for payload in (flaky_payload, broken_payload, after_payload):
            await publish(settings.nats_url, "success.IDF.matching.CohortOpened", payload)
        await eventually(lambda: _has(store, after_id))
        await eventually(lambda: _has(store, flaky_id))
        [(headers, body)] = await eventually(lambda: _n_dead_letters(settings.nats_url, 1))
    if batch:  # a failed batch attempt comes on top of the one-by-one deliveries
        assert attempts[flaky_id] >= 3
        assert attempts[broken_id] >= settings.consumer_max_deliveries
    else:
        assert attempts[flaky_id] == 3
        assert attempts[broken_id] == settings.consumer_max_deliveries
    assert headers["Success-Dlq-Code"] == "handler_failed"
    assert "downstream unavailable" in headers["Success-Dlq-Reason"]
    assert body["event_id"] == broken_id
    assert sorted(await handled(store)) == sorted([flaky_id, after_id])  # failures left no trace


async def test_database_restart_delays_but_never_dead_letters(own_servers, clock):
    """PostgreSQL down for longer than all retry back-offs: events wait, none is lost or
    dead-lettered, and each is handled once when the database is back."""
    from services.common.settings import Settings
    from services.common.store import EventStore
    from tests.conftest import create_database

    pg, ns = own_servers
    database_url = await create_database(pg)
    settings = Settings(nats_url=ns.url, database_url=database_url, consumer_backoff_s=0.05,
                        consumer_max_backoff_s=0.5, consumer_max_deliveries=3)
    store = EventStore.connect(database_url, "reporting", clock=clock)
    await counter_table(store)
    payloads = [await sealed_event(store, f"s{i}") for i in range(5)]
    async with running_consumer(store, settings, record):
        await publish(ns.url, "success.IDF.matching.CohortOpened", payloads[0])
        await eventually(lambda: _has(store, json.loads(payloads[0])["event_id"]))
        pg.stop()
        for payload in payloads[1:]:
            await publish(ns.url, "success.IDF.matching.CohortOpened", payload)
        await asyncio.sleep(5)  # many deliveries fail meanwhile (max_deliveries is 3)
        pg.start()
        for payload in payloads:
            await eventually(lambda p=payload: _has(store, json.loads(p)["event_id"]), timeout=30)
    assert sorted(await handled(store)) == sorted(json.loads(p)["event_id"] for p in payloads)
    assert await dead_letters(ns.url) == []
    await store.dispose()


async def test_idle_fetches_time_out_the_way_faststream_expects(settings):
    """An empty pull must raise nats.errors.TimeoutError (which FastStream's loop handles),
    never a bare asyncio.TimeoutError that would kill and slowly restart the consumer."""
    import nats.errors

    nc = await bus.connect(settings.nats_url, "test-fetch")
    try:
        await bus.ensure_stream(nc, settings)
        sub = await nc.jetstream().pull_subscribe("success.*.*.*", durable="idle-probe",
                                                  stream=EVENT_STREAM_NAME)
        for timeout in (0.001, 0.01, 0.05, 0.2) * 5:
            try:
                assert await sub.fetch(batch=5, timeout=timeout) == []
            except nats.errors.TimeoutError:
                pass  # what FastStream handles
            except asyncio.TimeoutError:
                pytest.fail(f"bare asyncio.TimeoutError from fetch(timeout={timeout})")
    finally:
        await nc.close()


@pytest.mark.parametrize("batch", [False, True], ids=["one_by_one", "batched"])
async def test_batches_handled_while_the_next_is_fetched_keep_stream_order(
        store_factory, settings, batch):
    """The next batch is fetched while one is handled: still one batch at a time, in order."""
    store = store_factory("reporting")
    payloads = [await sealed_event(store, f"s{i}") for i in range(25)]
    expected = [json.loads(p)["event_id"] for p in payloads]
    seen: list[str] = []
    handling = 0

    async def handle(envelope, tx) -> None:
        nonlocal handling
        handling += 1
        assert handling == 1, "two batches handled at once"
        await asyncio.sleep(0.001)  # let the next fetch land meanwhile
        seen.append(str(envelope.event_id))
        handling -= 1

    small = settings.model_copy(update={"consumer_batch_size": 4})
    async with running_consumer(store, small, handle, batch=batch):
        for payload in payloads:
            await publish(settings.nats_url, "success.IDF.matching.CohortOpened", payload)
        await eventually(lambda: len(seen) >= len(expected))
    assert seen == expected


@pytest.mark.parametrize("batch", [False, True], ids=["one_by_one", "batched"])
async def test_events_off_their_own_subject_are_dead_lettered_and_consumer_continues(
        store_factory, settings, batch):
    store = store_factory("reporting")
    await counter_table(store)
    good = await sealed_event(store)  # a CohortOpened of IDF
    elsewhere = await sealed_event(store, "elsewhere")
    async with running_consumer(store, settings, record, batch=batch):
        for subject, payload in [("success.BRE.matching.CohortOpened", elsewhere),
                                 ("success.IDF.intake.CohortOpened", elsewhere),
                                 ("success.IDF.matching.PairFormed", elsewhere),
                                 ("success.idf.matching.CohortOpened", elsewhere),
                                 ("success.IDF.matching.CohortOpened", good)]:
            await publish(settings.nats_url, subject, payload)
        await eventually(lambda: _has(store, json.loads(good)["event_id"]))
        letters = await eventually(lambda: _n_dead_letters(settings.nats_url, 4))
    assert [(h["Success-Dlq-Subject"], h["Success-Dlq-Code"]) for h, _ in letters] == [
        ("success.BRE.matching.CohortOpened", "subject_mismatch"),
        ("success.IDF.intake.CohortOpened", "subject_mismatch"),
        ("success.IDF.matching.PairFormed", "subject_mismatch"),
        ("success.idf.matching.CohortOpened", "untrusted_subject")]
    assert await handled(store) == [json.loads(good)["event_id"]]
