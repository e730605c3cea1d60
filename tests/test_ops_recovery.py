"""Disaster recovery: NATS loses its whole data directory while the services run; `success
republish` sends the logs again from PostgreSQL and every consumer and read model converges,
nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from sqlalchemy import text

from services.common.settings import Settings
from tests.conftest import create_database, eventually
from tests.jetstream import stored_events
from tests.services_client import running
from tests.test_intake_api import person
from tests.test_matching_api import admit, mentor, pool_size


async def rows(runtime, sql: str) -> list:
    async with runtime.store.engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def log_ids(svc) -> set[str]:
    ids: set[str] = set()
    for name in ("intake", "matching", "reporting"):
        ids |= {r[0] for r in await rows(svc[name][1],
                                          f"SELECT event_id::text FROM {name}.events")}
    return ids


def report_totals(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env.update(SUCCESS_NATS_URL=settings.nats_url, SUCCESS_DATABASE_URL=settings.database_url)
    done = subprocess.run([sys.executable, "-m", "services.cli", "report", "cohorts", "--json"],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)["totals"]


def republish(settings, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env.update(SUCCESS_NATS_URL=settings.nats_url, SUCCESS_DATABASE_URL=settings.database_url,
               COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "services.cli", "republish", *args],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def converged(svc, settings, mentees: int, mentors: int):
    """Every event of the logs archived by reporting, the pool complete, the report right."""
    ids = await log_ids(svc)
    archived = {r[0] for r in await rows(svc["reporting"][1],
                                          "SELECT event_id::text FROM reporting.archive")}
    if archived != ids or await pool_size(svc["matching"][1]) != mentees + mentors:
        return None
    totals = report_totals(settings)
    if (totals["applications_mentees"], totals["applications_mentors"], totals["admitted"]) \
            != (mentees, mentors, mentees + mentors):
        return None
    return ids


async def test_nats_loses_its_data_and_republish_restores_everything(own_servers):
    pg, ns = own_servers
    database_url = await create_database(pg)
    settings = Settings(
        nats_url=ns.url, database_url=database_url, relay_poll_interval_s=0.02,
        consumer_backoff_s=0.05, consumer_max_backoff_s=0.2, relay_max_backoff_s=0.5,
        publish_ack_timeout_s=2.0, ops_probe_interval_s=0.2, log_json=False)
    async with running(settings, "intake", "matching", "reporting") as svc:
        intake = svc["intake"][0]
        for _ in range(3):
            await admit(intake, person(), "/applications/mentee")
        for _ in range(2):
            await admit(intake, mentor(), "/applications/mentor")
        before = await eventually(lambda: converged(svc, settings, 3, 2), timeout=60)
        processed_before = await rows(svc["matching"][1],
                                      "SELECT count(*) FROM matching.processed_events")

        # NATS loses everything: stream, durable consumers, the dedupe memory.
        ns.stop()
        shutil.rmtree(ns.data_dir)
        ns.start()
        assert await stored_events(ns.url) == []

        # Life goes on meanwhile: new events flow through the relays to the new stream...
        await admit(intake, person(), "/applications/mentee")
        for name in ("intake", "matching", "reporting"):  # durables are back
            ready = await eventually(lambda n=name: _ready(svc[n][0]), timeout=60)
            assert ready["checks"]["consumers"] is True

        # ...and the history comes back from PostgreSQL.
        table = republish(settings)
        assert "intake" in table and "matching" in table
        after = await eventually(lambda: converged(svc, settings, 4, 2), timeout=90)
        assert after > before

        # Nothing doubled: each event once in the stream, once per consumer.
        stream_ids = [e["event_id"] for e in await stored_events(ns.url)]
        assert sorted(stream_ids) == sorted(after)
        for name, consumer in (("matching", "matching-pool"),
                               ("reporting", "reporting-archive")):
            processed = await rows(svc[name][1],
                                   f"SELECT event_id::text FROM {name}.processed_events "
                                   f"WHERE consumer = '{consumer}'")
            ids = [r[0] for r in processed]
            assert len(ids) == len(set(ids))
        processed_now = await rows(svc["matching"][1],
                                   "SELECT count(*) FROM matching.processed_events")
        intake_events = await rows(svc["intake"][1], "SELECT count(*) FROM intake.events")
        assert processed_now[0][0] == intake_events[0][0] > processed_before[0][0]

        # Running it again changes nothing: JetStream still has every event.
        [again] = json.loads(republish(settings, "--service", "intake", "--json"))
        assert again == {"service": "intake", "published": 0,
                         "duplicates": intake_events[0][0],
                         "last_position": again["last_position"]}
        assert sorted(e["event_id"] for e in await stored_events(ns.url)) == sorted(after)


async def _ready(client):
    response = await client.get("/readyz")
    return response.json() if response.status_code == 200 else None
