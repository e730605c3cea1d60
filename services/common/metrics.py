"""Prometheus metrics of the platform (besides FastStream's own), and the probe that keeps the
gauges current and tells readiness whether every consumer is attached.

Metrics (all labelled by ``service``):

- ``success_events_appended_total{type}``: events appended to the service's store;
- ``success_event_store_head_position``: last position of the service's log;
- ``success_relay_published_events``: events the relay published since the process started;
- ``success_relay_lag_events``: committed events the relay has not published yet;
- ``success_consumer_pending_messages{consumer}``: messages waiting for a durable consumer
  (JetStream's ``num_pending``), ``success_consumer_ack_pending_messages{consumer}``:
  delivered and not yet acknowledged, ``success_consumer_redelivered_messages{consumer}``;
- ``success_consumer_attached{consumer}``: 1 when the durable consumer exists on the server;
- ``success_dead_letters_total{consumer,code}`` (counted when dead-lettering) and
  ``success_dead_letters_waiting``: dead letters in JetStream not replayed yet.

The probe refreshes the gauges every ``ops_probe_interval_s``. When a durable consumer is
gone from the server (NATS lost its data and came back empty, see ``success republish``) the
probe creates it again with its configuration, so the service's pull loop picks up whatever
is published from then on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from nats.js.errors import NotFoundError
from prometheus_client import Counter, Gauge

from events import EVENT_STREAM_NAME, Service
from events.base import dead_letter_subject
from services.common import bus

if TYPE_CHECKING:
    from services.common.consumer import ConsumerRunner
    from services.common.relay import OutboxRelay
    from services.common.settings import Settings
    from services.common.store import EventStore

log = structlog.get_logger(__name__)

EVENTS_APPENDED = Counter("success_events_appended_total",
                          "Events appended to the service's event store", ["service", "type"])
STORE_HEAD = Gauge("success_event_store_head_position", "Last position of the service's log",
                   ["service"])
RELAY_LAG = Gauge("success_relay_lag_events", "Committed events the relay has not published",
                  ["service"])
CONSUMER_PENDING = Gauge("success_consumer_pending_messages",
                         "Messages waiting for a durable consumer (JetStream num_pending)",
                         ["service", "consumer"])
CONSUMER_ACK_PENDING = Gauge("success_consumer_ack_pending_messages",
                             "Messages delivered to a consumer and not acknowledged yet",
                             ["service", "consumer"])
CONSUMER_REDELIVERED = Gauge("success_consumer_redelivered_messages",
                             "Messages being redelivered to a consumer", ["service", "consumer"])
CONSUMER_ATTACHED = Gauge("success_consumer_attached",
                          "1 when the durable consumer exists on the NATS server",
                          ["service", "consumer"])
DEAD_LETTERS_WAITING = Gauge("success_dead_letters_waiting",
                             "Dead letters of the service in JetStream, not replayed yet",
                             ["service"])


class OpsProbe:
    """Looks at JetStream and the store for one service; refreshes the gauges."""

    def __init__(self, service: Service, settings: Settings, nats_url: str,
                 store: EventStore, runners: Sequence[ConsumerRunner],
                 relay: OutboxRelay | None = None) -> None:
        self.service = service
        self.settings = settings
        self.nats_url = nats_url
        self.store = store
        self.runners = list(runners)
        self.relay = relay
        self._nc = None
        self._stopping = asyncio.Event()
        self.attached: dict[str, bool] = {r.durable: False for r in self.runners}

    async def _js(self):
        if self._nc is None or self._nc.is_closed:
            self._nc = await bus.connect(self.nats_url, f"{self.service.value}-ops")
        return self._nc.jetstream(timeout=2.0)

    async def consumers_attached(self, repair: bool = False) -> bool:
        """True when every durable consumer of the service exists on the server."""
        js = await self._js()
        for runner in self.runners:
            try:
                info = await js.consumer_info(EVENT_STREAM_NAME, runner.durable)
            except NotFoundError:
                self.attached[runner.durable] = False
                CONSUMER_ATTACHED.labels(self.service.value, runner.durable).set(0)
                if repair:
                    await self._recreate(js, runner)
                continue
            self.attached[runner.durable] = True
            labels = (self.service.value, runner.durable)
            CONSUMER_ATTACHED.labels(*labels).set(1)
            CONSUMER_PENDING.labels(*labels).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(*labels).set(info.num_ack_pending or 0)
            CONSUMER_REDELIVERED.labels(*labels).set(info.num_redelivered or 0)
        return all(self.attached.values())

    async def _recreate(self, js, runner: ConsumerRunner) -> None:
        try:
            await bus.ensure_stream(self._nc, self.settings)
            await js.add_consumer(EVENT_STREAM_NAME, runner.consumer_config())
            log.warning("durable consumer was gone from NATS: created again",
                        consumer=runner.durable)
        except Exception as exc:
            log.warning("durable consumer could not be created again", consumer=runner.durable,
                        error=repr(exc))

    async def refresh(self) -> None:
        service = self.service.value
        STORE_HEAD.labels(service).set(await self.store.head_position())
        if self.relay is not None:
            RELAY_LAG.labels(service).set(await self.store.unpublished_count(self.relay.cursor))
        await self.consumers_attached(repair=True)
        js = await self._js()
        subject = dead_letter_subject(self.service)
        try:
            info = await js.stream_info(EVENT_STREAM_NAME, subjects_filter=subject)
            DEAD_LETTERS_WAITING.labels(service).set((info.state.subjects or {}).get(subject, 0))
        except NotFoundError:
            DEAD_LETTERS_WAITING.labels(service).set(0)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS or PostgreSQL away: readiness says so
                log.info("ops probe could not refresh", error=repr(exc))
            try:
                await asyncio.wait_for(self._stopping.wait(), self.settings.ops_probe_interval_s)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stopping.set()
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:
                pass
            self._nc = None
