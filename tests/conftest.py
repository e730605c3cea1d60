"""Real servers for the whole test session: PostgreSQL and NATS (JetStream) on free ports.

Each test gets a fresh database (every service schema migrated) and an empty ``success``
stream. Tests that restart or kill servers start their own with :func:`own_servers`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js.errors import NotFoundError

from events import EVENT_STREAM_NAME
from services.common.clock import ManualClock
from services.common.embedded import NatsServer, PostgresServer
from services.common.migrate import migrate
from services.common.settings import Settings
from services.common.store import EventStore, raw_database_url

os.environ.setdefault("SUCCESS_LOG_JSON", "false")

pytest_plugins = ["tests.web"]  # the whole system and a browser, for the web pages' tests


@contextmanager
def server_dir(name: str) -> Iterator[Path]:
    """A data directory outside pytest's temporary root: a pytest session starting meanwhile
    (another checkout's) resets that root to mode 700, which PostgreSQL, running as its own
    OS user under root, could then no longer enter."""
    path = Path(tempfile.mkdtemp(prefix=f"success-test-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with server_dir("pg") as path:
        server = PostgresServer(path / "data").start()
        yield server
        server.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


async def create_database(postgres: PostgresServer) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(raw_database_url(postgres.url).rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    await migrate(url)
    return url


async def reset_stream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        try:
            await nc.jetstream().delete_stream(EVENT_STREAM_NAME)
        except NotFoundError:
            pass
    finally:
        await nc.close()


@pytest.fixture
async def database_url(postgres) -> str:
    return await create_database(postgres)


@pytest.fixture
async def nats_url(nats_server) -> str:
    await reset_stream(nats_server.url)
    return nats_server.url


@pytest.fixture
def settings(nats_url, database_url) -> Settings:
    return Settings(
        nats_url=nats_url, database_url=database_url, relay_poll_interval_s=0.02,
        consumer_backoff_s=0.05, consumer_max_backoff_s=0.2, relay_max_backoff_s=0.5,
        publish_ack_timeout_s=2.0, log_json=False,
        public_rate_per_minute=0,  # many forms from one address; test_api_edge checks the limit
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store_factory(database_url, clock) -> AsyncIterator:
    stores: list[EventStore] = []

    def make(schema: str = "intake", pool_size: int = 10) -> EventStore:
        store = EventStore.connect(database_url, schema, clock=clock, pool_size=pool_size)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.dispose()


@pytest.fixture
def own_servers() -> Iterator[tuple[PostgresServer, NatsServer]]:
    """Servers private to one test, which it may stop, kill and restart."""
    with server_dir("own") as path:
        pg = PostgresServer(path / "pg").start()
        ns = NatsServer(path / "nats").start()
        yield pg, ns
        ns.stop()
        pg.stop()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory for `success up` (see server_dir)."""
    with server_dir("up") as path:
        yield path / "data"


async def eventually(check, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``check`` (sync or async) until it returns a truthy value; infrastructure time only."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
def mailbox():
    """A real SMTP server on a free loopback port; settings.model_copy(update=
    mailbox.settings_update()) points a service at it."""
    from tests.mailbox import Mailbox

    box = Mailbox().start()
    yield box
    box.stop()
