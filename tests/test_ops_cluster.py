"""Beyond one machine: the services on a 3-node JetStream cluster with stream replicas 3.

The node leading the ``success`` stream is SIGKILLed in the middle of a load of
applications: another node takes over, the relays and consumers carry on, and the ledger
balances (every event once in the stream, once in reporting's archive, every application
counted once). The killed node comes back and catches up. Then two replicas of each
service share their durable consumers through the cluster, with the same ledger check.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import nats
import pytest
from sqlalchemy import text

from events import EVENT_STREAM_NAME
from events.base import PARTNER_STREAM_NAME
from services.common import bus
from services.common.embedded_cluster import ClusterNode, NatsCluster
from services.common.settings import Settings
from services.intake.vault import generate_master_key
from tests.conftest import create_database, eventually, server_dir
from tests.intake_client import token
from tests.jetstream import stored_events
from tests.services_client import running
from tests.test_intake_api import person
from tests.test_matching_api import admit, pool_size

NATIONAL = token("analyst", None, "ana-1")


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    with server_dir("cluster") as path, NatsCluster(path, size=3) as nodes:
        yield nodes


@pytest.fixture
async def cluster_settings(cluster, postgres, monkeypatch) -> Settings:
    """What production sets, from the environment as there; test pacing on top."""
    monkeypatch.setenv("SUCCESS_NATS_URL", cluster.url)  # the three nodes, comma-separated
    monkeypatch.setenv("SUCCESS_STREAM_REPLICAS", "3")
    settings = Settings(
        database_url=await create_database(postgres),
        vault_master_key=generate_master_key(),  # shared by intake's replicas
        relay_poll_interval_s=0.02, consumer_backoff_s=0.05, consumer_max_backoff_s=0.2,
        relay_max_backoff_s=0.5, publish_ack_timeout_s=2.0, ops_probe_interval_s=0.2,
        public_rate_per_minute=0,  # many forms from one address; test_api_edge checks the limit
        log_json=False)
    assert (settings.nats_url, settings.stream_replicas) == (cluster.url, 3)
    return settings


async def test_the_stream_leader_dies_under_load_and_nothing_is_lost_or_doubled(
        cluster, cluster_settings):
    async with running(cluster_settings, "intake", "reporting") as svc:
        intake, intake_rt = svc["intake"]
        reporting, reporting_rt = svc["reporting"]
        for name in (EVENT_STREAM_NAME, PARTNER_STREAM_NAME):
            info = await stream_info(cluster.url, name)
            assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2
        leader = cluster.node((await stream_info(cluster.url, EVENT_STREAM_NAME)).cluster.leader)

        applications, kill_after = 60, 20
        halfway = asyncio.Event()
        load = asyncio.create_task(apply_many(intake, applications, halfway, kill_after))
        await asyncio.wait_for(halfway.wait(), 60)
        published_at_kill = intake_rt.relay.published
        leader.kill()
        await asyncio.wait_for(load, 120)  # intake answers throughout: it needs PostgreSQL only

        survivors = [node for node in cluster.nodes if node.running]
        successor = await eventually(lambda: new_leader(survivors[0], leader), timeout=60)
        assert successor != leader.name
        expected = await eventually(lambda: ledger_balances(svc, survivors[0]), timeout=90)
        assert intake_rt.relay.published > published_at_kill  # the relay went on publishing
        assert await counted_applications(reporting) == applications

        # The killed node comes back with its data and catches up with the stream.
        await asyncio.to_thread(leader.start)  # the services keep running meanwhile
        await asyncio.to_thread(cluster.wait_for_meta_leader, 60)
        await eventually(lambda: replica_caught_up(survivors[0], leader), timeout=60)
        assert (await intake.post("/applications/mentee", json=person())).status_code == 201
        expected = await eventually(
            lambda: ledger_balances(svc, leader, more_than=len(expected)), timeout=60)
        assert await counted_applications(reporting) == applications + 1

        # Acknowledgements lost with the killed node come back as redeliveries once the
        # consumers' ack wait (60 s) runs out: handled already, so counted once.
        await eventually(lambda: consumers_caught_up(leader, reporting_rt), timeout=150)
        assert await ledger_balances(svc, leader) == expected
        assert await counted_applications(reporting) == applications + 1


async def test_two_replicas_of_each_service_share_their_consumers_through_the_cluster(
        cluster, cluster_settings):
    services = ("intake", "matching", "reporting", "followup")
    async with running(cluster_settings, *services) as first, \
            running(cluster_settings, *services) as second:
        for name in services:  # one durable consumer per (service, consumer), shared
            assert [r.durable for r in first[name][1].runners] == \
                   [r.durable for r in second[name][1].runners]
        intakes = [first["intake"][0], second["intake"][0]]
        applications, admitted = 30, 6
        await asyncio.gather(*(intakes[i % 2].post("/applications/mentee", json=person())
                               for i in range(applications - admitted)))
        for i in range(admitted):  # through either replica, as a load balancer would
            await admit(intakes[i % 2], person(), "/applications/mentee")

        node = cluster.nodes[0]
        await eventually(lambda: ledger_balances(first, node), timeout=90)
        await eventually(lambda: _equals(pool_size(second["matching"][1]), admitted), timeout=60)
        for replicas in (first, second):
            reporting = replicas["reporting"][0]
            assert await counted_applications(reporting) == applications
        for name, durable in (("matching", "matching-pool"), ("reporting", "reporting-archive")):
            handled = await rows(first[name][1], "SELECT event_id::text FROM "
                                 f"{name}.processed_events WHERE consumer = '{durable}'")
            assert len(handled) == len(set(handled))  # whichever replica took it, once


async def test_a_cluster_with_credentials_serves_only_its_user():
    with server_dir("cluster-auth") as path, \
            NatsCluster(path, size=3, user="services", password="s3cret-Pw") as nodes:
        names = {node.name for node in nodes.nodes}
        assert len(names) == 3 and nodes.wait_for_meta_leader() in names
        for node in nodes.nodes:  # the password is in the file, readable by us only
            assert node.config_path.stat().st_mode & 0o077 == 0
            assert node.url.startswith("nats://services:s3cret-Pw@127.0.0.1:")
            assert server_info(node)["auth_required"] is True
        settings = Settings(nats_url=nodes.url, stream_replicas=3)
        nc = await asyncio.wait_for(
            bus.connect(nodes.url, "cluster-test", max_reconnect_attempts=2), 30)
        try:
            await asyncio.wait_for(bus.ensure_stream(nc, settings), 30)
        finally:
            await nc.close()
        info = await stream_info(nodes.url, EVENT_STREAM_NAME)
        assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2


def server_info(node: ClusterNode) -> dict:
    """The INFO line a node greets every client with."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as sock:
        line = sock.makefile("rb").readline()
    assert line.startswith(b"INFO ")
    return json.loads(line[5:])


async def apply_many(intake, count: int, reached: asyncio.Event, signal_after: int) -> None:
    """``count`` mentee applications, four at a time; ``reached`` is set once
    ``signal_after`` of them are recorded."""
    done = 0
    for start in range(0, count, 4):
        answers = await asyncio.gather(*(intake.post("/applications/mentee", json=person())
                                         for _ in range(min(4, count - start))))
        assert [a.status_code for a in answers] == [201] * len(answers)
        done += len(answers)
        if done >= signal_after:
            reached.set()


async def stream_info(url: str, name: str):
    nc = await bus.connect(url, "cluster-test", max_reconnect_attempts=2)
    try:
        return await nc.jetstream(timeout=2).stream_info(name)
    finally:
        await nc.close()


async def new_leader(node: ClusterNode, dead: ClusterNode) -> str | None:
    try:
        leader = (await stream_info(node.url, EVENT_STREAM_NAME)).cluster.leader
    except Exception:  # no leader yet: the API does not answer
        return None
    return leader if leader and leader != dead.name else None


async def rows(runtime, sql: str) -> list[str]:
    async with runtime.store.engine.connect() as conn:
        return [row[0] for row in (await conn.execute(text(sql))).all()]


async def ledger_balances(svc, node: ClusterNode, more_than: int = 0) -> set[str] | None:
    """Every event of the services' logs exactly once in the stream (as ``node`` sees it) and
    exactly once in reporting's archive and its consumer's ledger; None until then."""
    logged: list[str] = []
    for name, (_client, runtime) in svc.items():  # each service's own event log
        logged += await rows(runtime, f"SELECT event_id::text FROM {name}.events")
    reporting = svc["reporting"][1]
    archived = await rows(reporting, "SELECT event_id::text FROM reporting.archive")
    handled = await rows(reporting, "SELECT event_id::text FROM reporting.processed_events "
                                    "WHERE consumer = 'reporting-archive'")
    if len(logged) <= more_than or sorted(archived) != sorted(logged):
        return None
    assert sorted(handled) == sorted(logged)
    try:
        in_stream = [e["event_id"] for e in await stored_events(node.url)]
    except Exception:  # the stream's leader not elected yet on that node's side
        return None
    if sorted(in_stream) != sorted(logged):
        assert len(in_stream) == len(set(in_stream)), "an event stored twice"
        return None
    return set(logged)


async def counted_applications(reporting) -> int:
    answer = await reporting.get("/reports/cohorts", headers=NATIONAL)
    assert answer.status_code == 200, answer.text
    return answer.json()["totals"]["applications_mentees"]


async def consumers_caught_up(node: ClusterNode, runtime) -> bool:
    """Every durable consumer of ``runtime`` has been delivered and has acknowledged every
    message of the stream it filters."""
    nc = await nats.connect(node.url)
    try:
        js = nc.jetstream(timeout=2)
        for runner in runtime.runners:
            info = await js.consumer_info(EVENT_STREAM_NAME, runner.durable)
            if info.num_pending or info.num_ack_pending:
                return False
        return True
    finally:
        await nc.close()


async def replica_caught_up(node: ClusterNode, restarted: ClusterNode) -> bool:
    """``restarted`` is a current replica of the stream again and stores all its messages."""
    try:
        info = await stream_info(node.url, EVENT_STREAM_NAME)
    except Exception:
        return False
    peers = {peer.name: peer for peer in info.cluster.replicas or []}
    if info.cluster.leader == restarted.name:
        return restarted.jetstream_report().get("messages") == info.state.messages
    peer = peers.get(restarted.name)
    return bool(peer and peer.current and not peer.lag
                and restarted.jetstream_report().get("messages") == info.state.messages)


async def _equals(value, expected) -> bool:
    return await value == expected
