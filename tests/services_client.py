"""Several services in-process against the test session's real PostgreSQL and NATS: each
with its own runtime (store, relay, consumers) as in production, sharing one event loop."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from services.common.clock import ManualClock
from services.common.runtime import ServiceRuntime
from services.intake.vault import generate_master_key
from services.registry import definition_of
from tests.intake_client import AUTH_SECRET, TODAY


@asynccontextmanager
async def running(settings, *services: str, clock: ManualClock | None = None):
    """Yields {service: (client, runtime)}."""
    clock = clock or ManualClock(TODAY)
    settings = settings.model_copy(update={  # a given vault key survives a restart
        "auth_secret": AUTH_SECRET,
        "vault_master_key": settings.vault_master_key or generate_master_key()})
    async with AsyncExitStack() as stack:
        out = {}
        for name in services:
            runtime = ServiceRuntime(definition_of(name), settings, clock)
            app = runtime.app()
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url=f"http://{name}"))
            out[name] = (client, runtime)
        yield out
