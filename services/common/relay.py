"""Outbox relay: publishes a service's committed events to JetStream, in order, exactly once.

The relay reads the events table (the outbox) after its checkpoint in commit-safe order
(:meth:`EventStore.read_unpublished`), publishes each event with ``Nats-Msg-Id = event_id``,
waits for JetStream to acknowledge the batch, then stores its checkpoint. A crash between
publish and checkpoint republishes the batch, which JetStream drops as duplicates (its
duplicate window is far longer than the relay's worst retry). When NATS is unreachable the
relay retries with capped back-off and catches up.

A batch goes out as one JetStream *atomic batch* (ADR-50, nats-server >= 2.12.1): plain
publishes and a single acknowledged commit, all stored or none. That costs a quarter of the
CPU of one acknowledged publish per event. JetStream refuses a whole atomic batch when any
of its ids was already stored; that batch (a republish after a crash) then goes out one
acknowledged publish per event, so the duplicates alone are dropped. A server that cannot
take atomic batches gets per-event publishes from then on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from uuid import uuid4

import structlog
from nats.aio.client import Client
from nats.errors import NoRespondersError

from events import EVENT_STREAM_NAME
from services.common import bus, tracing
from services.common.settings import Settings
from services.common.store import Cursor, EventStore, OutboxMessage

log = structlog.get_logger(__name__)

Hook = Callable[[list], Awaitable[None]]

# JetStream's limit of messages in one atomic batch (its error 10199 above it).
ATOMIC_BATCH_MAX = 1000
# A refused atomic batch goes out one by one. When the refusal says the stream or server
# cannot take atomic batches at all (10174: not enabled on the stream; 0: an acknowledgement
# of a server that ignored the batch headers), every later batch does too.
_ATOMIC_UNAVAILABLE = {0, 10174}


# First re-read after a wake-up that found nothing to publish (see OutboxRelay._pause).
RECHECK_S = 0.02

class AtomicBatchRefused(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


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
        # How long to wait before the next read when idle: short right after a wake-up (the
        # append that woke us may still be hidden behind an older transaction still running),
        # doubling back to the poll interval.
        self._pause = settings.relay_poll_interval_s
        self.published = 0
        self.cursor = Cursor()
        self.lag = 0
        # Cleared for good when the server or stream cannot take atomic batches.
        self.atomic = settings.relay_atomic_batches
        self._prefetch: tuple[Cursor, asyncio.Task[list[OutboxMessage]]] | None = None
        # When the last read started (event-loop time), and whether it came back full (a
        # backlog: the next one does not linger).
        self._last_read = float("-inf")
        self._behind = False
        self._running = False  # inside run(): only then is the next batch read ahead
        self._saving: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Publish until :meth:`stop`; never gives up on a transient failure."""
        backoff = 0.1
        self._running = True
        try:
            while not self._stopping.is_set():
                try:
                    if self._nc is None:  # first start, or NATS was away when we started
                        self._nc = await bus.connect(self.nats_url, f"{self.store.schema}-relay")
                        await bus.ensure_stream(self._nc, self.settings)
                        await self._checkpoint_written()
                        self.cursor = await self.store.load_checkpoint(self.name)
                    moved = await self.publish_once()
                    backoff = 0.1
                    if not moved:
                        poll = self.settings.relay_poll_interval_s
                        woken = await self._idle(self._pause)
                        self._pause = RECHECK_S if woken else min(self._pause * 2, poll)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # NATS or PostgreSQL away: retry, never skip
                    log.warning("relay retrying", error=repr(exc), retry_in_s=backoff,
                                schema=self.store.schema)
                    # A lost connection comes back by itself (nats-py reconnects); a stream
                    # that is gone (NATS data wiped) is recreated by connecting afresh.
                    connected = self._nc is not None and self._nc.is_connected
                    stream_gone = (isinstance(exc, NoRespondersError)
                                   or "no response from stream" in str(exc))
                    if connected and stream_gone:
                        await self._close()
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.settings.relay_max_backoff_s)
        finally:
            self._running = False
            self._drop_prefetch()
            try:  # a stopping relay leaves its checkpoint current
                await self._checkpoint_written()
            except Exception as exc:
                log.warning("relay checkpoint not saved at stop", error=repr(exc),
                            schema=self.store.schema)
            await self._close()

    async def publish_once(self) -> int:
        """Publish the next batch; returns how many events it covered.

        Pipelined: the following batch is read while JetStream stores this one, and this
        batch's checkpoint is written while the next one is published. Checkpoints are still
        written in order and only after JetStream acknowledged what they cover."""
        batch = await self._next_batch()
        if not batch:
            await self._checkpoint_written()  # idle: the checkpoint is current
            self.lag = 0
            return 0
        assert self._nc is not None
        after = batch[-1].cursor
        self._behind = len(batch) == self.settings.relay_batch_size
        if self._running:  # a lone call (tests, tools) leaves no read behind it
            self._prefetch = (after, asyncio.create_task(self._read(after)))
        try:
            await self._publish(batch)
            if self._after_publish is not None:
                await self._after_publish(batch)
        except BaseException:
            self._drop_prefetch()  # read after a batch that is not out yet
            raise
        self.cursor = after
        await self._checkpoint_written()
        self._saving = asyncio.create_task(self.store.save_checkpoint(self.name, after))
        self.published += len(batch)
        self.lag = len(batch) if len(batch) == self.settings.relay_batch_size else 0
        return len(batch)

    async def _next_batch(self) -> list[OutboxMessage]:
        if self._prefetch is not None and self._prefetch[0] == self.cursor:
            task = self._prefetch[1]
            self._prefetch = None
            try:
                return await task
            except Exception as exc:  # read again below
                log.info("relay prefetch failed", error=repr(exc), schema=self.store.schema)
        self._drop_prefetch()
        return await self._read(self.cursor)

    async def _read(self, after: Cursor) -> list[OutboxMessage]:
        """Read the batch after ``after``. A commit of this process from now on wakes the
        relay when idle, whether or not the read sees it: no wake-up is lost.

        Once caught up, reads are at least ``relay_linger_s`` apart. Under load every
        request's commit wakes the relay, and most reads would carry one or two events (or
        none: commits hidden behind a transaction still running), each read, publish and
        checkpoint costing the process and PostgreSQL about as much as the request that
        woke it. Waiting lets one batch carry all of them. A relay idle for longer than that
        reads at once, so an event on a quiet stack goes out with no added delay."""
        loop = asyncio.get_running_loop()
        wait = self._last_read + self.settings.relay_linger_s - loop.time()
        if wait > 0 and not self._behind:
            await self._sleep(wait)
            if self._stopping.is_set():  # cut short by stop(): nothing more goes out
                return []
        self._last_read = loop.time()
        self.store.appended.clear()
        return await self.store.read_unpublished(after, self.settings.relay_batch_size)

    def _drop_prefetch(self) -> None:
        if self._prefetch is not None:
            self._prefetch[1].cancel()
            self._prefetch = None

    async def _checkpoint_written(self) -> None:
        """Wait for the checkpoint being written, if any (its failure is raised here)."""
        saving, self._saving = self._saving, None
        if saving is not None:
            await saving

    async def _publish(self, batch: list[OutboxMessage]) -> None:
        """Every message of ``batch`` stored in JetStream (or already there), in order."""
        if not tracing.enabled():  # the stored trace context, if any, goes on as it is
            await self._publish_chunks(batch)
            return
        # The trace of each append goes on in a publish span, carried in the headers.
        with tracing.producer_spans(
                "relay.publish", [m.traceparent for m in batch],
                [{"messaging.destination.name": m.subject, "messaging.message.id": m.event_id}
                 for m in batch]) as traceparents:
            await self._publish_chunks(
                [m._replace(traceparent=t) for m, t in zip(batch, traceparents, strict=True)])

    async def _publish_chunks(self, batch: list[OutboxMessage]) -> None:
        for start in range(0, len(batch), ATOMIC_BATCH_MAX):
            chunk = batch[start:start + ATOMIC_BATCH_MAX]
            if self.atomic:
                try:
                    await self._publish_atomic(chunk)
                    continue
                except AtomicBatchRefused as refused:  # e.g. 10201: an id already stored
                    if refused.code in _ATOMIC_UNAVAILABLE:
                        log.warning("atomic batches refused, publishing one by one from now on",
                                    reason=str(refused), schema=self.store.schema)
                        self.atomic = False
            await self._publish_each(chunk)

    async def _publish_atomic(self, chunk: list[OutboxMessage]) -> None:
        assert self._nc is not None
        batch_id = uuid4().hex
        for sequence, message in enumerate(chunk[:-1], start=1):
            # Written to the socket in order; JetStream stores them in that order.
            await self._nc.publish(message.subject, message.payload, headers=_headers(
                message, {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(sequence)}))
        last = chunk[-1]
        reply = await self._nc.request(
            last.subject, last.payload, timeout=self.settings.publish_ack_timeout_s,
            headers=_headers(last, {"Nats-Batch-Id": batch_id,
                                    "Nats-Batch-Sequence": str(len(chunk)),
                                    "Nats-Batch-Commit": "1"}))
        ack = json.loads(reply.data or b"{}")
        if "error" in ack:
            raise AtomicBatchRefused(ack["error"].get("err_code", 0),
                                     ack["error"].get("description", ""))
        if ack.get("count") != len(chunk):
            # A server without atomic batches stored the commit alone, acknowledged, and the
            # rest unacknowledged: publish them all again, acknowledged (duplicates dropped).
            raise AtomicBatchRefused(0, f"not an atomic batch acknowledgement: {ack}")

    async def _publish_each(self, chunk: list[OutboxMessage]) -> None:
        assert self._nc is not None
        js = self._nc.jetstream(timeout=self.settings.publish_ack_timeout_s)
        acks = [
            await js.publish_async(message.subject, message.payload, stream=EVENT_STREAM_NAME,
                                   headers=_headers(message))
            for message in chunk
        ]
        await asyncio.wait_for(asyncio.gather(*acks), self.settings.publish_ack_timeout_s)

    async def _idle(self, seconds: float) -> bool:
        """Wait for the next poll, or less: an append of this process wakes us at once.
        True when an append woke us."""
        woken = asyncio.ensure_future(self.store.appended.wait())
        try:
            await self._sleep(seconds, woken)
        finally:
            woken.cancel()
        return woken.done() and not woken.cancelled()

    async def _sleep(self, seconds: float, *also: asyncio.Future) -> None:
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({stopping, *also}, timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    def stop(self) -> None:
        self._stopping.set()

    async def _close(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:
                pass
            self._nc = None


def _headers(message: OutboxMessage, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"Nats-Msg-Id": message.event_id, **(extra or {})}
    if message.traceparent:
        headers[tracing.TRACEPARENT] = message.traceparent
    return headers
