"""A dependency down is not a bug: 503 with Retry-After and a French message on every
endpoint, one log line when PostgreSQL goes and one when it is back (real servers)."""

from __future__ import annotations

import asyncio

import asyncpg
import nats.errors
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from services.common.outage import DATABASE, NATS, outage_of
from services.common.settings import Settings
from tests.conftest import create_database, eventually
from tests.intake_client import intake_service, token
from tests.services_client import running
from tests.test_intake_api import person
from tests.test_ops_observability import Captured

UNAVAILABLE = {"errors": [{
    "code": "unavailable", "field": None,
    "message": "Service momentanément indisponible ; réessayez dans 2 secondes."}]}


def _wrapped(cause: BaseException) -> Exception:
    """An error raised while handling ``cause`` (as a repository re-raising would)."""
    try:
        raise cause
    except BaseException:
        try:
            raise RuntimeError("while saving")
        except RuntimeError as exc:
            return exc


@pytest.mark.parametrize(("error", "dependency"), [
    (ConnectionRefusedError(111, "Connect call failed"), DATABASE),
    (OperationalError("SELECT 1", {}, ConnectionResetError()), DATABASE),
    (asyncpg.CannotConnectNowError("the database system is starting up"), DATABASE),
    (asyncpg.ConnectionDoesNotExistError("connection was closed"), DATABASE),
    (_wrapped(ConnectionRefusedError(111, "Connect call failed")), DATABASE),
    (nats.errors.ConnectionClosedError(), NATS),
    (nats.errors.NoServersError(), NATS),
    (nats.errors.TimeoutError(), NATS),
    (IntegrityError("INSERT", {}, Exception("duplicate key")), None),
    (ValueError("a bug"), None),
    (KeyError("a bug"), None),
])
def test_which_dependency_an_error_says_is_down(error, dependency):
    assert outage_of(error) == dependency


async def _post_until_created(client) -> None:
    async def created() -> bool:
        return (await client.post("/applications/mentee", json=person())).status_code == 201
    await eventually(created, timeout=60, interval=0.2)


async def test_postgres_down_answers_503_and_logs_one_line_per_transition(own_servers):
    pg, ns = own_servers
    settings = Settings(
        nats_url=ns.url, database_url=await create_database(pg), relay_poll_interval_s=0.02,
        consumer_backoff_s=0.05, consumer_max_backoff_s=0.2, relay_max_backoff_s=0.5,
        publish_ack_timeout_s=2.0, outage_retry_after_s=2, log_json=False,
        public_rate_per_minute=0)  # many forms from one address
    with Captured() as logs:
        async with intake_service(settings) as (client, _runtime):
            assert (await client.post("/applications/mentee", json=person())).status_code == 201

            await asyncio.to_thread(pg.stop)
            answers = [await client.post("/applications/mentee", json=person())
                       for _ in range(20)]
            answers.append(await client.get("/staff/applications", headers=token("admin")))
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "2"
                assert answer.json() == UNAVAILABLE
            down = [e for e in logs if e["event"] == "dependency down"]
            assert len(down) == 1
            assert (down[0]["dependency"], down[0]["service"]) == ("database", "intake")
            assert not [e for e in logs if e["event"] == "unexpected error"]

            await asyncio.to_thread(pg.start)
            await _post_until_created(client)
            await eventually(lambda: [e for e in logs if e["event"] == "dependency back"],
                             timeout=60)
            [back] = [e for e in logs if e["event"] == "dependency back"]
            assert back["dependency"] == "database" and back["down_at"] == down[0]["down_at"]
            assert back["back_at"] >= back["down_at"]
            assert len([e for e in logs if e["event"] == "dependency down"]) == 1


async def test_every_service_answers_503_while_postgres_is_down(own_servers):
    pg, ns = own_servers
    settings = Settings(
        nats_url=ns.url, database_url=await create_database(pg), relay_poll_interval_s=0.02,
        consumer_backoff_s=0.05, consumer_max_backoff_s=0.2, relay_max_backoff_s=0.5,
        publish_ack_timeout_s=2.0, outage_retry_after_s=2, log_json=False,
        public_rate_per_minute=0)  # many forms from one address
    reads = {"matching": "/staff/cohorts", "reporting": "/reports/cohorts"}
    with Captured() as logs:
        async with running(settings, *reads) as svc:
            for name, path in reads.items():
                answer = await svc[name][0].get(path, headers=token("admin"))
                assert answer.status_code == 200, answer.text

            await asyncio.to_thread(pg.stop)
            for name, path in reads.items():
                for _ in range(5):
                    answer = await svc[name][0].get(path, headers=token("admin"))
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["Retry-After"] == "2"
                    assert answer.json() == UNAVAILABLE
            down = sorted(e["service"] for e in logs if e["event"] == "dependency down")
            assert down == ["matching", "reporting"]
            assert not [e for e in logs if e["event"] == "unexpected error"]

            await asyncio.to_thread(pg.start)

            async def answered() -> bool:
                return all([(await svc[name][0].get(path, headers=token("admin"))).status_code
                            == 200 for name, path in reads.items()])
            await eventually(answered, timeout=60, interval=0.2)
            await eventually(lambda: len([e for e in logs if e["event"] == "dependency back"])
                             == 2, timeout=60)
