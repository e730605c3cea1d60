"""Scaling out: two replicas of a service share one durable consumer (and each runs a relay);
every event is handled once, nothing is doubled."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy import text

from services.common.clock import ManualClock
from services.common.runtime import ServiceRuntime
from services.intake.vault import generate_master_key
from services.registry import definition_of
from tests.conftest import eventually
from tests.intake_client import AUTH_SECRET, TODAY
from tests.jetstream import stored_events
from tests.services_client import running
from tests.test_intake_api import person


async def test_two_replicas_share_one_durable_consumer(settings):
    clock = ManualClock(TODAY)
    replica_settings = settings.model_copy(update={
        "auth_secret": AUTH_SECRET, "vault_master_key": generate_master_key(),
        "consumer_batch_size": 5})
    async with running(settings, "intake", "reporting", clock=clock) as svc, \
            AsyncExitStack() as stack:
        second = ServiceRuntime(definition_of("reporting"), replica_settings, clock)
        app = second.app()
        await stack.enter_async_context(app.router.lifespan_context(app))
        intake, intake_rt = svc["intake"]
        first = svc["reporting"][1]
        assert [r.durable for r in first.runners] == [r.durable for r in second.runners]
        for _ in range(15):
            assert (await intake.post("/applications/mentee", json=person())).status_code == 201

        async def intake_ids() -> set[str]:
            async with intake_rt.store.engine.connect() as conn:
                return set((await conn.execute(text(
                    "SELECT event_id::text FROM intake.events"))).scalars())

        async def archived() -> list[str]:
            async with first.store.engine.connect() as conn:
                return list((await conn.execute(text(
                    "SELECT event_id::text FROM reporting.archive"))).scalars())

        expected = await intake_ids()
        await eventually(lambda: _same(archived(), expected), timeout=60)
        async with first.store.engine.connect() as conn:
            processed = list((await conn.execute(text(
                "SELECT event_id::text FROM reporting.processed_events "
                "WHERE consumer = 'reporting-archive'"))).scalars())
        assert sorted(processed) == sorted(expected)
        assert sorted(await archived()) == sorted(expected)
        published = [e["event_id"] for e in await stored_events(settings.nats_url)]
        assert sorted(published) == sorted(expected)  # one copy each in the stream


async def _same(archived, expected: set[str]) -> bool:
    return set(await archived) == expected
