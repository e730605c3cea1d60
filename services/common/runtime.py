"""A service process: HTTP API (FastAPI), outbox relay and consumers (FastStream), wired once.

Each service only declares what is its own (:class:`ServiceDefinition`): its consumers and
its HTTP routes. Start-up order: migrations, event store, JetStream stream, consumers, relay.
Shutdown stops taking messages, lets the relay finish its batch, then closes connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from prometheus_client import REGISTRY, Gauge, make_asgi_app

from events import Service, envelope_model
from events.base import current_types, dead_letter_subject, SUBJECT_PREFIX
from services.common import bus, tracing
from services.common.api import install_error_handlers, install_error_schema, install_offline_docs
from services.common.clock import (
    Clock,
    ControlledClock,
    follow_shared_clock,
    get_clock,
    sync_shared_clock,
)
from services.common.limits import (
    BodySizeLimit,
    PublicCors,
    RateLimit,
    TokenBuckets,
    public_endpoint,
)
from services.common.consumer import Consumer, ConsumerRunner
from services.common.metrics import OpsProbe
from services.common.observability import install_correlation_middleware
from services.common.outage import DATABASE, NATS, OutageWatch
from services.common.migrate import migrate
from services.common.relay import OutboxRelay
from services.common.settings import Settings, get_settings
from services.common.stack import resolve_urls
from services.common.store import EventStore, raw_database_url
from services.common.tracing import configure_tracing

log = structlog.get_logger(__name__)

RELAY_PUBLISHED = Gauge("success_relay_published_events", "Events the outbox relay published "
                        "since the process started", ["service"])


@dataclass(frozen=True)
class ServiceDefinition:
    service: Service
    description: str
    consumers: Sequence[Consumer] = ()
    routers: Sequence[APIRouter] = ()
    # Called once the store is open, e.g. to attach service state to the app.
    on_start: Callable[["ServiceRuntime"], None] | None = None
    # A loop the service runs beside its consumers (followup's timers), cancelled at stop.
    background: Callable[["ServiceRuntime"], Coroutine[Any, Any, None]] | None = None
    tags: Sequence[str] = field(default_factory=tuple)


def build_broker(definition: ServiceDefinition, nats_url: str | None = None) -> NatsBroker:
    """The FastStream broker of a service, with a publisher declared per event type it owns
    (for the AsyncAPI document; the outbox relay does the actual publishing)."""
    broker = NatsBroker(
        bus.servers(nats_url or "nats://127.0.0.1:4222"), max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        # FastStream's lines through our logging (JSON); one per message only in DEBUG.
        logger=logging.getLogger("success.faststream"), log_level=logging.DEBUG,
        middlewares=[NatsPrometheusMiddleware(registry=REGISTRY,
                                              app_name=definition.service.value)],
    )
    service = definition.service
    for event_type, data_cls in current_types().items():
        if data_cls.service != service:
            continue
        broker.publisher(
            f"{SUBJECT_PREFIX}.{{region}}.{service.value}.{event_type}",
            schema=envelope_model(event_type),
            title=f"{SUBJECT_PREFIX}.{{region}}.{service.value}.{event_type}",
            description=(data_cls.__doc__ or "").strip(),
        )
    broker.publisher(
        dead_letter_subject(service),
        title=dead_letter_subject(service),
        description="Messages this service could not handle, with the reason in headers.",
    )
    return broker


class ServiceRuntime:
    def __init__(
        self, definition: ServiceDefinition, settings: Settings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.definition = definition
        self.service = definition.service
        self.settings = settings or get_settings()
        self.clock = clock or get_clock()
        self.store: EventStore | None = None
        self.broker: NatsBroker | None = None
        self.relay: OutboxRelay | None = None
        self._relay_task: asyncio.Task | None = None
        self._background: asyncio.Task | None = None
        self._clock_task: asyncio.Task | None = None
        self.probe: OpsProbe | None = None
        self._probe_task: asyncio.Task | None = None
        self.runners: list[ConsumerRunner] = []
        self.ready = False
        self.state: dict[str, object] = {}  # what a service's on_start attaches (e.g. intake)
        self.outages = OutageWatch(self.service.value, self.settings.outage_retry_after_s,
                                   {DATABASE: self._database_answers, NATS: self._nats_answers})

    async def start(self) -> None:
        nats_url, database_url = resolve_urls(self.settings)
        await migrate(database_url, [self.service])
        await self._follow_shared_clock(database_url)
        self.store = EventStore.connect(database_url, self.service.value, clock=self.clock)
        self.broker = build_broker(self.definition, nats_url)
        if self.definition.on_start:  # before consumers: their handlers may need its state
            self.definition.on_start(self)
        for consumer in self.definition.consumers:
            runner = ConsumerRunner(self.service, consumer, self.store, self.broker, self.settings)
            runner.subscribe()
            self.runners.append(runner)
        await self._prepare_jetstream(nats_url)
        await self.broker.start()
        self.relay = OutboxRelay(self.store, nats_url, self.settings)
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.service}-relay")
        relay = self.relay
        RELAY_PUBLISHED.labels(self.service.value).set_function(lambda: relay.published)
        self.probe = OpsProbe(self.service, self.settings, nats_url, self.store, self.runners,
                              relay)
        self._probe_task = asyncio.create_task(self.probe.run(), name=f"{self.service}-probe")
        if self.definition.background:
            self._background = asyncio.create_task(self.definition.background(self),
                                                   name=f"{self.service}-background")
        self.ready = True
        log.info("service started", service=self.service.value)

    async def _follow_shared_clock(self, database_url: str) -> None:
        """With ``SUCCESS_CLOCK_CONTROL``, a :class:`ControlledClock` follows the shared one."""
        if isinstance(self.clock, ControlledClock) and self.settings.clock_control:
            url = raw_database_url(database_url)
            await sync_shared_clock(self.clock, url, self.settings.clock_start)
            self._clock_task = asyncio.create_task(follow_shared_clock(
                self.clock, url, self.settings.clock_refresh_s), name=f"{self.service}-clock")

    async def _prepare_jetstream(self, nats_url: str, attempts: int = 120) -> None:
        """The streams, and our durable consumers as declared now (filters included)."""
        for attempt in range(attempts):
            try:
                nc = await bus.connect(nats_url, f"{self.service}-setup", max_reconnect_attempts=0)
                try:
                    await bus.ensure_stream(nc, self.settings)
                    await bus.ensure_consumers(nc, [r.consumer_config() for r in self.runners])
                finally:
                    await nc.close()
                return
            except Exception as exc:
                if attempt == attempts - 1:
                    raise
                log.warning("NATS not reachable yet", error=repr(exc))
                await asyncio.sleep(0.5)

    async def _database_answers(self) -> None:
        assert self.store is not None
        await self.store.head_position()

    async def _nats_answers(self) -> None:
        if self.broker is None or not await self.broker.ping(timeout=2.0):
            raise ConnectionError("NATS does not answer")

    async def stop(self) -> None:
        self.ready = False
        if self._clock_task is not None:
            self._clock_task.cancel()
            await asyncio.gather(self._clock_task, return_exceptions=True)
        await self.outages.stop()
        if self._background is not None:
            self._background.cancel()
            await asyncio.gather(self._background, return_exceptions=True)
        if self.probe is not None and self._probe_task is not None:
            await self.probe.stop()
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        if self.broker is not None:
            for runner in self.runners:  # what is in hand is handled and acknowledged
                await runner.drain()
            await self.broker.stop()  # no new messages; in-flight handlers finish
            for runner in self.runners:  # a batch handed on while stopping
                await runner.drain()
        if self.relay is not None and self._relay_task is not None:
            self.relay.stop()
            await asyncio.wait_for(self._relay_task, 30)
        if self.store is not None:
            await self.store.dispose()
        log.info("service stopped", service=self.service.value)

    def app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=f"Succ'ess — {self.service.value}",
            description=self.definition.description,
            lifespan=lifespan,
            docs_url=None, redoc_url=None,  # /docs is served offline below; no ReDoc (a CDN)
        )
        app.state.runtime = self
        app.state.auth_secret = self.settings.auth_secret
        app.state.outages = self.outages  # what the error handlers report an outage to
        install_error_handlers(app)
        install_offline_docs(app)
        install_correlation_middleware(app)
        install_limits(app, self.settings)
        configure_tracing(self.settings.otlp_endpoint, self.service.value)
        tracing.instrument_app(app, excluded=["/healthz", "/readyz", "/metrics"])

        @app.get("/healthz", tags=["ops"], summary="Le processus répond (liveness)")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/readyz", tags=["ops"],
                 summary="Base et NATS joignables, consommateurs attachés (readiness)")
        async def readyz(request: Request) -> JSONResponse:
            checks = await self.readiness()
            ok = all(checks.values())
            return JSONResponse(status_code=200 if ok else 503,
                                content={"status": "ready" if ok else "not_ready", "checks": checks})

        for router in self.definition.routers:
            app.include_router(router)
        app.mount("/metrics", make_asgi_app(REGISTRY))  # Prometheus, FastStream's included
        return app

    async def readiness(self) -> dict[str, bool]:
        checks = {"started": self.ready, "database": False, "nats": False, "consumers": False}
        if self.store is not None:
            try:
                await self.store.head_position()
                checks["database"] = True
            except Exception:
                pass
        if self.broker is not None:
            try:
                checks["nats"] = bool(await self.broker.ping(timeout=2.0))
            except Exception:
                pass
        if self.probe is not None and checks["nats"]:
            try:  # every durable consumer exists on the server
                checks["consumers"] = await asyncio.wait_for(
                    self.probe.consumers_attached(), 5.0)
            except Exception:
                pass
        return checks


def install_limits(app: FastAPI, settings: Settings) -> None:
    """Bounded bodies everywhere, a bounded rate on the public endpoints (outermost: refused
    before anything is parsed), and both documented in the OpenAPI."""
    rate_limited = public_endpoint if settings.public_rate_per_minute > 0 else (
        lambda _method, _path: False)
    if settings.public_rate_per_minute > 0:
        app.add_middleware(RateLimit, applies=public_endpoint, buckets=TokenBuckets(
            settings.public_rate_per_minute, settings.public_rate_burst),
            forwarding_secret=settings.auth_secret)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    origins = settings.public_allowed_origin_list()
    if origins:  # outermost: refusals (413, 429) carry the CORS headers too
        app.add_middleware(PublicCors, origins=origins)
    install_error_schema(app, rate_limited)


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime
