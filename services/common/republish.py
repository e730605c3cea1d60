"""Disaster recovery: publish a service's log from PostgreSQL to JetStream again.

PostgreSQL is the system of record; JetStream only carries the events. When NATS lost its
data (disk gone, cluster rebuilt, ``sync_interval`` not set and a crash), ``success
republish`` sends every event of each service's log again, in log order, with
``Nats-Msg-Id = event_id`` as the relay does. Within the duplicate window JetStream drops
what it still has, so running it twice, or while the relays are publishing new events, never
doubles anything. Consumers record the events they processed, so what they see again changes
nothing; durable consumers that vanished with the data are created again by each service's
ops probe and read the stream from its first message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client

from events import EVENT_STREAM_NAME
from services.common import bus
from services.common.settings import Settings
from services.common.store import EventStore


@dataclass
class RepublishResult:
    service: str
    published: int = 0  # stored by JetStream
    duplicates: int = 0  # JetStream still had them (within the duplicate window)
    last_position: int = 0


async def republish_log(
    store: EventStore, nc: Client, settings: Settings, *, from_position: int = 0,
    batch_size: int = 500, progress: Callable[[int], None] | None = None,
) -> RepublishResult:
    """Publish every event after ``from_position``; waits for each batch's acknowledgements."""
    await bus.ensure_stream(nc, settings)
    js = nc.jetstream(timeout=settings.publish_ack_timeout_s)
    result = RepublishResult(store.schema, last_position=from_position)
    while True:
        rows = await store.read_wire(result.last_position, batch_size)
        if not rows:
            return result
        acks = [
            await js.publish_async(message.subject, message.payload, stream=EVENT_STREAM_NAME,
                                   headers={"Nats-Msg-Id": message.event_id})
            for _position, message in rows
        ]
        for ack in await asyncio.wait_for(asyncio.gather(*acks),
                                          settings.publish_ack_timeout_s * 3):
            if ack.duplicate:
                result.duplicates += 1
            else:
                result.published += 1
        result.last_position = rows[-1][0]
        if progress is not None:
            progress(len(rows))
