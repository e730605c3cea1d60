"""Outbox relay: publishes a service's committed events to JetStream, in order, exactly once.

The relay reads the events table (the outbox) after its checkpoint in commit-safe order
(:meth:`EventStore.read_unpublished`), publishes each event with ``Nats-Msg-Id = event_id``,
waits for every JetStream acknowledgement, then stores its checkpoint. A crash between
publish and checkpoint republishes the batch, which JetStream drops as duplicates (its
duplicate window is far longer than the relay's worst retry). When NATS is unreachable the
relay retries with capped back-off and catches up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.client import Client

from events import EVENT_STREAM_NAME
from services.common import bus
from services.common.settings import Settings
from services.common.store import Cursor, EventStore

log = structlog.get_logger(__name__)

Hook = Callable[[list], Awaitable[None]]


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        nats_url: str,
        settings: Settings,
        *,
        name: str = "jetstream",
        after_publish: Hook | None = None,
    ) -> None:
        self.store = store
        self.nats_url = nats_url
        self.settings = settings
        self.name = name
        self._after_publish = after_publish  # fault injection in tests
        self._nc: Client | None = None
        self._stopping = asyncio.Event()
        self.published = 0
        self.cursor = Cursor()
        self.lag = 0

    async def run(self) -> None:
        """Publish until :meth:`stop`; never gives up on a transient failure."""
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    if self._nc is None:  # first start, or NATS was away when we started
                        self._nc = await bus.connect(self.nats_url, f"{self.store.schema}-relay")
                        await bus.ensure_stream(self._nc, self.settings)
                        self.cursor = await self.store.load_checkpoint(self.name)
                    moved = await self.publish_once()
                    backoff = 0.1
                    if not moved:
                        await self._sleep(self.settings.relay_poll_interval_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # NATS or PostgreSQL away: retry, never skip
                    log.warning("relay retrying", error=repr(exc), retry_in_s=backoff,
                                schema=self.store.schema)
                    # A lost connection comes back by itself (nats-py reconnects); a stream
                    # that is gone (NATS data wiped) is recreated by connecting afresh.
                    connected = self._nc is not None and self._nc.is_connected
                    if connected and "no response from stream" in str(exc):
                        await self._close()
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.settings.relay_max_backoff_s)
        finally:
            await self._close()

    async def publish_once(self) -> int:
        """Publish the next batch; returns how many events it covered."""
        batch = await self.store.read_unpublished(self.cursor, self.settings.relay_batch_size)
        if not batch:
            self.lag = 0
            return 0
        assert self._nc is not None
        js = self._nc.jetstream(timeout=self.settings.publish_ack_timeout_s)
        acks = []
        for message in batch:
            # Written to the socket in order; JetStream stores them in that order.
            acks.append(
                await js.publish_async(
                    message.subject,
                    message.payload,
                    stream=EVENT_STREAM_NAME,
                    headers={"Nats-Msg-Id": message.event_id},
                )
            )
        await asyncio.wait_for(asyncio.gather(*acks), self.settings.publish_ack_timeout_s)
        if self._after_publish is not None:
            await self._after_publish(batch)
        self.cursor = batch[-1].cursor
        await self.store.save_checkpoint(self.name, self.cursor)
        self.published += len(batch)
        self.lag = len(batch) if len(batch) == self.settings.relay_batch_size else 0
        return len(batch)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def stop(self) -> None:
        self._stopping.set()

    async def _close(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:
                pass
            self._nc = None
