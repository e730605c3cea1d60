"""Consumer base on FastStream: durable JetStream pull consumers that lose nothing and count
nothing twice.

For every message, in stream order:

- one that is not trusted goes straight to the dead-letter subject: its subject must be one of
  our services' (``success.<region>.<intake|matching|followup>.<Type>``, code
  ``untrusted_subject``) and agree with the envelope's region, type and the service owning
  that type (``subject_mismatch``). Subscriptions already cover our services' subjects only
  and regions may not publish there; this check is the second line, shared by every consumer;
- an unreadable one (not JSON, unknown type, failing validation) goes straight to the
  dead-letter subject ``success.dlq.<service>`` with its reason, and is acknowledged;
- otherwise the handler runs in one database transaction that also records the event id in
  ``processed_events``; a redelivered event is recognised there and changes nothing;
- the message is acknowledged only after that transaction commits;
- when the handler fails, the message is redelivered with exponential back-off (we never let
  FastStream terminate it); after ``consumer_max_deliveries`` it goes to the dead-letter subject
  and the consumer moves on;
- when our own database is unreachable, the message is not at fault: it is redelivered with
  capped back-off for as long as the outage lasts, and never dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass

import nats.errors
import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy as NatsAckPolicy
from nats.js.errors import ServiceUnavailableError
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from events import EVENT_STREAM_NAME, Envelope, MalformedEvent, Service
from events.base import dead_letter_subject, load_event, load_trusted_event
from services.common import bus  # noqa: F401  (its fetch time-out fix keeps pull loops alive)
from services.common import tracing
from services.common.outage import is_database_outage
from services.common.settings import Settings
from services.common.store import EventStore, Transaction

log = structlog.get_logger(__name__)

_WHITESPACE = re.compile(r"\s")  # the characters str.isspace() accepts


def _header_names_checked_once() -> None:
    """nats-py parses every delivered message's headers (ours carry three or four) in Python,
    decoding each header name and checking it for whitespace one character at a time: a fifth
    of a consumer's CPU. The same parse, with each distinct name checked once (a few kinds of
    names come by; past ``_NAMES_KEPT`` distinct ones, the rest are checked every time)."""
    original = Client._parse_header_lines
    if getattr(original, "_success_patched", False):
        return
    names: dict[bytes, str | None] = {}

    def header_name(raw_name: bytes) -> str | None:
        try:
            key = raw_name.strip().decode("ascii")
        except UnicodeDecodeError:
            return None  # not a token: skipped, as nats-py does
        return None if _WHITESPACE.search(key) else key

    def parse_header_lines(raw: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in raw.split(b"\r\n"):
            raw_name, sep, value = line.partition(b":")
            if not sep:
                continue  # an empty or malformed line, as nats-py skips it
            try:
                key = names[raw_name]
            except KeyError:
                key = header_name(raw_name)
                if len(names) < _NAMES_KEPT:
                    names[raw_name] = key
            if key is not None:
                out[key] = value.strip().decode("utf-8", "replace")
        return out

    parse_header_lines._success_patched = True  # type: ignore[attr-defined]
    Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign]


_NAMES_KEPT = 256
_header_names_checked_once()

Handler = Callable[[Envelope, Transaction], Awaitable[None]]

# Subjects already found trusted, each with the (region, type) an event on it must have.
_AGREEING: dict[str, tuple[str, str]] = {}
_SUBJECTS_KEPT = 4096  # regions x event types; past it, the rest are checked every time


def load_trusted(subject: str, data: bytes) -> Envelope:
    """:func:`events.base.load_trusted_event`, the same verdicts, with its subject checks done
    once per subject: they cost as much as validating the event (splitting the subject,
    building the expected one from the type's service). A subject it accepted once is
    trusted for good and, being ``success.<region>.<service>.<Type>``, takes events of that
    region and type only; anything else goes through ``load_trusted_event`` itself."""
    expected = _AGREEING.get(subject)
    if expected is not None:
        envelope = load_event(data)  # the subject is trusted: its faults are the body's
        if (envelope.region, envelope.type) == expected:
            return envelope
    envelope = load_trusted_event(subject, data)  # raises with the reason
    if len(_AGREEING) < _SUBJECTS_KEPT:
        _AGREEING[subject] = (envelope.region, envelope.type)
    return envelope

DEAD_LETTERS = Counter(
    "success_dead_letters_total", "Messages sent to the dead-letter subject", ["service", "consumer", "code"]
)
EVENTS_HANDLED = Counter(
    "success_events_handled_total", "Events handled by a consumer", ["service", "consumer", "outcome"]
)


class NotReadyYet(Exception):
    """Raise from a handler when an event it depends on has not arrived yet: retried later."""


@dataclass(frozen=True)
class Consumer:
    """A durable consumer of a service: ``name`` is unique within the service; ``subject``
    one filter subject or several (e.g. :data:`events.base.DOMAIN_SUBJECTS`)."""

    name: str
    subject: str | tuple[str, ...]
    handle: Handler
    # Handlers that do not append events may share one transaction per pulled batch: far
    # fewer round trips. On any failure the batch is rolled back and redone one by one.
    batch: bool = False

    def durable(self, service: Service) -> str:
        return f"{service.value}-{self.name}"

    @property
    def filters(self) -> list[str]:
        return [self.subject] if isinstance(self.subject, str) else list(self.subject)


class _AlreadyProcessed(Exception):
    """A replica (or an earlier delivery) recorded the event first: roll back ours."""


class ConsumerRunner:
    """Delivers JetStream messages to one :class:`Consumer` with the guarantees above."""

    def __init__(
        self, service: Service, consumer: Consumer, store: EventStore, broker: NatsBroker,
        settings: Settings,
    ) -> None:
        self.service = service
        self.consumer = consumer
        self.durable = consumer.durable(service)
        self.store = store
        self.broker = broker
        self.settings = settings
        self._in_hand: asyncio.Task | None = None  # the last batch handed on

    def consumer_config(self) -> ConsumerConfig:
        """The durable consumer on the server, as the service creates or updates it at start
        (and the ops probe when it creates a vanished consumer again)."""
        filters = self.consumer.filters
        return ConsumerConfig(
            durable_name=self.durable,
            name=self.durable,
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=filters if len(filters) > 1 else None,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=NatsAckPolicy.EXPLICIT,
            ack_wait=60,
            max_deliver=-1,  # we bound deliveries ourselves, then dead-letter
            max_ack_pending=10_000,
        )

    def subscribe(self) -> None:
        settings = self.settings
        filters = self.consumer.filters
        subscriber = self.broker.subscriber(
            filters[0] if len(filters) == 1 else "",
            stream=JStream(EVENT_STREAM_NAME, declare=False),
            durable=self.durable,
            pull_sub=PullSub(batch_size=settings.consumer_batch_size,
                             timeout=settings.consumer_pull_timeout_s, batch=True),
            ack_policy=AckPolicy.MANUAL,
            config=ConsumerConfig(
                filter_subjects=filters if len(filters) > 1 else None,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=60,
                max_deliver=-1,  # we bound deliveries ourselves, then dead-letter
                max_ack_pending=10_000,
            ),
            decoder=_raw_body,
            title=f"{self.durable}",
            description=f"Consumer {self.durable} of the {self.service.value} service",
        )
        subscriber(self._on_batch)
        hand_on_what_has_arrived(subscriber, settings.consumer_batch_size,
                                 settings.consumer_pull_timeout_s)

    async def _on_batch(self, message: NatsMessage) -> None:
        """Hand the batch on and return once the batch before it is done: FastStream then
        fetches the next batch from JetStream while this one is handled. Batches are still
        handled one at a time, in order, and at most two are in hand."""
        raw_messages = message.raw_message
        if not isinstance(raw_messages, list):
            raw_messages = [raw_messages]
        previous = self._in_hand
        self._in_hand = asyncio.create_task(self._after(previous, raw_messages))
        if previous is not None:
            await asyncio.wait({previous})

    async def _after(self, previous: asyncio.Task | None, raws: list[Msg]) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await self._handle_batch(raws)
        except Exception as exc:  # unacknowledged: JetStream redelivers them after ack_wait
            log.error("batch abandoned", consumer=self.durable, error=repr(exc))

    async def drain(self) -> None:
        """Wait until every batch in hand is handled (before the connection closes)."""
        while self._in_hand is not None and not self._in_hand.done():
            await asyncio.wait({self._in_hand})

    async def _handle_batch(self, raw_messages: list[Msg]) -> None:
        if self.consumer.batch and len(raw_messages) > 1:
            if await self._deliver_together(raw_messages):
                return
        for raw in raw_messages:  # sequentially: the stream's order is kept
            await self.deliver(raw)

    async def _deliver_together(self, raws: list[Msg]) -> bool:
        """The happy path of a batch: every event in one transaction, acked after commit.
        False when anything is off; then nothing was committed."""
        try:
            parsed = [(raw, load_trusted(raw.subject, raw.data)) for raw in raws]
        except MalformedEvent:
            return False  # the one-by-one path dead-letters it
        handled = 0
        correlations = sorted(map(str, {e.correlation_id for _, e in parsed}))
        structlog.contextvars.bind_contextvars(
            consumer=self.durable,
            correlation_id=correlations[0] if len(correlations) == 1 else correlations)
        try:
            async with self.store.transaction() as tx:
                fresh = await tx.claim(self.durable, [e.event_id for _, e in parsed])
                for raw, envelope in parsed:
                    if envelope.event_id in fresh:
                        fresh.discard(envelope.event_id)  # a copy later in the batch is skipped
                        with self._span(raw, envelope):
                            await self.consumer.handle(envelope, tx)
                        handled += 1
        except Exception as exc:
            log.info("batch redone one by one", consumer=self.durable, reason=repr(exc))
            return False
        for raw in raws:
            await self._ack(raw)
        EVENTS_HANDLED.labels(self.service.value, self.durable, "processed").inc(handled)
        EVENTS_HANDLED.labels(self.service.value, self.durable, "duplicate").inc(
            len(raws) - handled)
        return True

    async def deliver(self, raw: Msg) -> None:
        deliveries = raw.metadata.num_delivered if raw.metadata else 1
        structlog.contextvars.bind_contextvars(consumer=self.durable)
        structlog.contextvars.unbind_contextvars("correlation_id", "event_id", "event_type")
        try:
            envelope = load_trusted(raw.subject, raw.data)
        except MalformedEvent as exc:
            await self._dead_letter(raw, exc.code, exc.reason, deliveries)
            return
        # Every log line while handling it carries the event's correlation id.
        structlog.contextvars.bind_contextvars(correlation_id=str(envelope.correlation_id),
                                               event_id=str(envelope.event_id),
                                               event_type=envelope.type)
        try:
            with self._span(raw, envelope):
                outcome = await self._handle(envelope)
        except Exception as exc:
            outage = is_database_outage(exc)
            if deliveries >= self.settings.consumer_max_deliveries and not outage:
                await self._dead_letter(raw, "handler_failed", repr(exc), deliveries)
                return
            delay = min(
                self.settings.consumer_backoff_s * 2 ** (deliveries - 1),
                self.settings.consumer_max_backoff_s,
            )
            log.warning("event handling failed, will retry", consumer=self.durable,
                        event_id=str(envelope.event_id), type=envelope.type,
                        deliveries=deliveries, retry_in_s=delay, error=repr(exc))
            EVENTS_HANDLED.labels(self.service.value, self.durable, "retried").inc()
            await raw.nak(delay=delay)
            return
        EVENTS_HANDLED.labels(self.service.value, self.durable, outcome).inc()
        await self._ack(raw)

    def _span(self, raw: Msg, envelope: Envelope):
        """The handling of one event, in the trace of the append that recorded it."""
        if not tracing.enabled():
            return nullcontext()
        return tracing.span(
            f"{self.durable} handle", parent=(raw.headers or {}).get(tracing.TRACEPARENT),
            kind=SpanKind.CONSUMER, attributes={
                "messaging.destination.name": raw.subject, "success.consumer": self.durable,
                "messaging.message.id": str(envelope.event_id), "success.event_type": envelope.type})

    async def _handle(self, envelope: Envelope) -> str:
        try:
            async with self.store.transaction() as tx:
                if await tx.was_processed(self.durable, envelope.event_id):
                    raise _AlreadyProcessed
                await self.consumer.handle(envelope, tx)
                if not await tx.mark_processed(self.durable, envelope.event_id):
                    raise _AlreadyProcessed  # a concurrent replica won: roll back ours
        except _AlreadyProcessed:
            return "duplicate"
        return "processed"

    async def _ack(self, raw: Msg) -> None:
        try:
            await raw.ack()
        except Exception as exc:  # committed already: a redelivery will be a no-op
            log.warning("ack failed after commit", consumer=self.durable, error=repr(exc))

    async def _dead_letter(self, raw: Msg, code: str, reason: str, deliveries: int) -> None:
        """Publish the original bytes with the reason, then ack. If publishing fails the
        message is not acked and comes back: a dead letter is never lost either."""
        stream_seq = raw.metadata.sequence.stream if raw.metadata else 0
        log.error("dead letter", consumer=self.durable, code=code, reason=reason,
                  subject=raw.subject, deliveries=deliveries, stream_seq=stream_seq)
        await self.broker.publish(
            raw.data,
            dead_letter_subject(self.service),
            headers={
                "Nats-Msg-Id": f"dlq:{self.durable}:{stream_seq}",
                "Success-Dlq-Code": code,
                "Success-Dlq-Reason": reason[:1000],
                "Success-Dlq-Subject": raw.subject,
                "Success-Dlq-Consumer": self.durable,
                "Success-Dlq-Deliveries": str(deliveries),
                "Success-Dlq-Stream-Seq": str(stream_seq),
            },
            stream=EVENT_STREAM_NAME,
        )
        DEAD_LETTERS.labels(self.service.value, self.durable, code).inc()
        await self._ack(raw)


def hand_on_what_has_arrived(subscriber, batch_size: int, timeout: float) -> None:
    """Make a FastStream batch pull subscriber hand on each pull as soon as it returns.

    FastStream 0.7 pulls again until the batch is full or its time-out ran out: an event
    waited up to a second at every hop. One nats-py ``fetch`` already does what we want: a
    ``no_wait`` pull that returns whatever is there at once (up to the whole batch when there
    is a backlog), and when nothing is, long-polls until the first message arrives or
    ``timeout`` runs out. The pull loop stays FastStream's task (started and stopped with
    the broker); what it hands on still goes through FastStream's middlewares."""

    async def consume_pull() -> None:
        while subscriber.running:
            try:
                messages = await subscriber.subscription.fetch(batch=batch_size, timeout=timeout)
            except nats.errors.TimeoutError:
                continue  # idle: long-poll again
            except (nats.errors.ConnectionClosedError, ServiceUnavailableError):
                # Unacknowledged messages come back from JetStream; do not spin meanwhile.
                await asyncio.sleep(0.1)
                continue
            if messages and subscriber.running:
                await subscriber.consume(messages)

    # FastStream's own loop, looked up when the broker starts it (checked: a FastStream
    # without it must fail here, not silently bring the second-long wait back).
    assert callable(getattr(subscriber, "_consume_pull", None)), type(subscriber)
    subscriber._consume_pull = consume_pull


async def _raw_body(message) -> bytes:
    """Hand the bytes to us untouched: parsing (and rejecting) is our job, not FastStream's."""
    return message.body
