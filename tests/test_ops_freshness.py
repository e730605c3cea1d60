"""Fresh views: an event goes through at once, not when a batch is full or a poll comes round.

Each test makes the old wait (a pull's time-out, the relay's poll interval) an hour long, so
that only the mechanism under test can make the event arrive; no wall-clock bound."""

from __future__ import annotations

import json

from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from events import Service
from services.common import bus
from services.common.consumer import Consumer, ConsumerRunner
from tests.conftest import eventually
from tests.factories import cohort_opened, metadata
from tests.jetstream import stored_events
from tests.test_consumer import publish, sealed_event
from tests.test_relay import run_relay, stop

AN_HOUR = 3600.0
SUBJECT = "success.IDF.matching.CohortOpened"


class PullsRecorded(ConsumerRunner):
    """The real runner; it also notes how many messages each pull handed on."""

    pulls: list[int]

    async def _handle_batch(self, raw_messages: list[Msg]) -> None:
        self.pulls.append(len(raw_messages))
        await super()._handle_batch(raw_messages)


async def ensure_stream(settings) -> None:
    nc = await bus.connect(settings.nats_url, "test-setup")
    await bus.ensure_stream(nc, settings)
    await nc.close()


async def start_consumer(store, settings, handle, batch: bool) -> tuple[NatsBroker, PullsRecorded]:
    await ensure_stream(settings)
    broker = NatsBroker(settings.nats_url)
    runner = PullsRecorded(Service.reporting, Consumer("fresh", "success.*.*.*", handle,
                                                       batch=batch), store, broker, settings)
    runner.pulls = []
    runner.subscribe()
    await broker.start()
    return broker, runner


def patient(settings):
    """Pulls of 1000 events that, on an idle stream, would wait an hour for them."""
    return settings.model_copy(update={"consumer_batch_size": 1000,
                                       "consumer_pull_timeout_s": AN_HOUR})


async def test_a_lone_event_is_handed_on_without_waiting_for_a_full_batch(store_factory, settings):
    store = store_factory("reporting")
    seen: list[str] = []

    async def handle(envelope, tx) -> None:
        seen.append(str(envelope.event_id))

    broker, runner = await start_consumer(store, patient(settings), handle, batch=True)
    try:
        for stream in ("first", "second"):  # the second while the consumer idles again
            payload = await sealed_event(store, stream)
            await publish(settings.nats_url, SUBJECT, payload)
            await eventually(lambda p=payload: json.loads(p)["event_id"] in seen or None)
    finally:
        await broker.stop()
    assert runner.pulls == [1, 1]  # each pull returned with the one event there was


async def test_a_backlog_is_still_pulled_in_large_batches(store_factory, settings):
    store = store_factory("reporting")
    payloads = [await sealed_event(store, f"s{i}") for i in range(50)]
    await ensure_stream(settings)
    for payload in payloads:  # all stored before the consumer starts
        await publish(settings.nats_url, SUBJECT, payload)
    seen: list[str] = []

    async def handle(envelope, tx) -> None:
        seen.append(str(envelope.event_id))

    broker, runner = await start_consumer(store, patient(settings), handle, batch=True)
    try:
        await eventually(lambda: len(seen) >= len(payloads) or None)
    finally:
        await broker.stop()
    assert runner.pulls == [50]  # one pull, one transaction
    assert seen == [json.loads(p)["event_id"] for p in payloads]


async def test_an_append_wakes_the_relay_without_waiting_for_its_poll(store_factory, settings):
    store = store_factory("intake")
    relay, task = await run_relay(store, settings.model_copy(
        update={"relay_poll_interval_s": AN_HOUR}))
    try:
        expected: list[str] = []
        # A lone append (autocommit), then one in a command's transaction, each while idle.
        [first] = await store.append("lone", 0, [cohort_opened()], metadata())
        expected.append(str(first.event_id))
        await eventually(lambda: relay.published == 1 or None)
        async with store.transaction() as tx:
            [second] = await tx.append("in-tx", 0, [cohort_opened()], metadata())
        expected.append(str(second.event_id))
        await eventually(lambda: relay.published == 2 or None)
    finally:
        await stop(relay, task)
    published = [e["event_id"] for e in await stored_events(settings.nats_url)]
    assert published == expected
