"""The reporting service against real PostgreSQL and NATS: the archive and live read models,
replay equals live, time travel on a scripted history, erasure, and the HTTP API."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import nats
import orjson
import pytest
from sqlalchemy import text

from events import Envelope
from services.common.store import raw_database_url
from services.reporting.projections import fold_archive, load_view, replay
from tests.conftest import eventually
from tests.intake_client import token
from tests.reporting_history import (
    EXPECTED_TOTALS,
    MENTEE_A,
    T1,
    T2,
    T3,
    admitted,
    envelope,
    erased,
    pair_formed,
    planned,
    received,
    scripted_history,
)
from tests.services_client import running

NATIONAL = token("analyst", None, "ana-1")
BRE = token("referent", "BRE", "ref-bre-1")
IDF = token("referent", "IDF", "ref-idf-1")


async def publish(nats_url: str, envelopes: list[Envelope], *, twice: bool = False) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for env in envelopes:
            for _ in range(2 if twice else 1):
                await js.publish(env.subject, env.to_json(),
                                 headers={"Nats-Msg-Id": str(env.event_id)})
    finally:
        await nc.close()


async def archived(runtime) -> int:
    async with runtime.store.engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM reporting.archive"))).scalar()


async def raw(runtime):
    conn = await asyncpg.connect(raw_database_url(runtime.settings.database_url))
    return conn, conn


async def test_live_read_models_equal_the_replay_and_time_travel_knows_the_past(
        settings, nats_url, clock):
    clock.set(T3)
    history = scripted_history()
    async with running(settings, "reporting", clock=clock) as svc:
        client, runtime = svc["reporting"]
        await publish(nats_url, history[:8])
        # A re-published event (same event_id past the dedupe window) is archived once.
        again = history[0]
        await publish(nats_url, history[8:])
        nc = await nats.connect(nats_url)
        await nc.publish(again.subject, again.to_json())  # no Nats-Msg-Id: a true duplicate
        await nc.flush()
        await nc.close()
        await eventually(lambda: _equals(archived(runtime), len(history)))

        answer = await client.get("/reports/cohorts", headers=NATIONAL)
        assert answer.status_code == 200, answer.text
        totals = answer.json()["totals"]
        assert {k: totals[k] for k in EXPECTED_TOTALS[T3]} == EXPECTED_TOTALS[T3]

        # Time travel through the API: the scripted answers at each instant.
        for instant, expected in EXPECTED_TOTALS.items():
            past = await client.get("/reports/cohorts", headers=NATIONAL,
                                    params={"as_of": instant.isoformat()})
            assert past.status_code == 200, past.text
            assert {k: past.json()["totals"][k] for k in expected} == expected, instant
        at_t2 = (await client.get("/reports/journeys", headers=NATIONAL,
                                  params={"as_of": T2.isoformat()})).json()
        assert [j["status"] for j in at_t2["journeys"]] == ["active"]
        assert at_t2["journeys"][0]["reviews"]["intermediate"]["status"] == "planned"
        now = (await client.get("/reports/journeys", headers=NATIONAL)).json()
        assert now["journeys"][0]["reviews"]["intermediate"]["status"] == "done"
        assert now["journeys"][0]["status"] == "completed"
        outcomes = (await client.get("/reports/outcomes", headers=NATIONAL)).json()
        assert outcomes["rows"][0]["in_ess_rate_end"] == 1.0
        at_t1 = (await client.get("/reports/outcomes", headers=NATIONAL,
                                  params={"as_of": T1.isoformat()})).json()
        assert at_t1["rows"] == []
        progress = (await client.get("/reports/progress", headers=NATIONAL)).json()
        assert progress["mentees_paired"] == 1 and progress["by_month"] == {"2025-09": 1}

        # Replay from the archive equals the live rows, table by table.
        conn, driver = await raw(runtime)
        try:
            result = await replay(driver)
            assert result.equal, result.differences
            assert result.events == len(history)
            live = await load_view(driver)
            assert live.tables == result.view.tables
        finally:
            await conn.close()


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def test_a_restarted_service_and_a_rolled_back_cache_stay_equal_to_the_replay(
        settings, nats_url, clock):
    people = [uuid4() for _ in range(30)]
    first = [envelope(received(p)) for p in people]
    second = [envelope(admitted(p)) for p in people[:10]]
    async with running(settings, "reporting", clock=clock) as svc:
        _, runtime = svc["reporting"]
        await publish(nats_url, first)
        await eventually(lambda: _equals(archived(runtime), 30))
    # Restarted: the cache is rebuilt from the rows, the consumer resumes.
    async with running(settings, "reporting", clock=clock) as svc:
        client, runtime = svc["reporting"]
        # Another writer changed the rows behind this process's back (e.g. a `replay --write`):
        # the generation moved, so the cached view is reloaded before the next event.
        conn, driver = await raw(runtime)
        try:
            await replay(driver, write=True)
        finally:
            await conn.close()
        await publish(nats_url, second)
        await eventually(lambda: _equals(archived(runtime), 40))
        totals = (await client.get("/reports/cohorts", headers=NATIONAL)).json()["totals"]
        assert (totals["applications_mentees"], totals["admitted"], totals["waiting"]) == (30, 10, 10)
        conn, driver = await raw(runtime)
        try:
            result = await replay(driver)
            assert result.equal, result.differences
        finally:
            await conn.close()


async def test_erasure_removes_the_person_from_every_read_model_and_from_time_travel(
        settings, nats_url, clock):
    mentor, pair = uuid4(), uuid4()
    history = [envelope(received(MENTEE_A)), envelope(admitted(MENTEE_A)),
               envelope(pair_formed(pair, MENTEE_A, mentor)),
               envelope(planned(pair, MENTEE_A, mentor))]
    async with running(settings, "reporting", clock=clock) as svc:
        client, runtime = svc["reporting"]
        await publish(nats_url, history)
        await eventually(lambda: _equals(archived(runtime), 4))
        before = (await client.get("/reports/journeys", headers=NATIONAL)).json()
        assert before["journeys"][0]["mentee_id"] == str(MENTEE_A)
        await publish(nats_url, [envelope(erased(MENTEE_A))])
        await eventually(lambda: _equals(archived(runtime), 5))
        conn, driver = await raw(runtime)
        try:
            rows = await driver.fetch("SELECT view, key, data::text FROM reporting.view_rows")
            assert rows and not any(str(MENTEE_A) in r["key"] or str(MENTEE_A) in r["data"]
                                    for r in rows)
            # Going back to before the erasure does not bring the person back.
            past = await fold_archive(driver, as_of=history[-1].recorded_at)
            assert str(MENTEE_A) not in orjson.dumps(past.tables).decode()
            result = await replay(driver)
            assert result.equal, result.differences
        finally:
            await conn.close()
        after = (await client.get("/reports/journeys", headers=NATIONAL)).json()
        assert after["journeys"][0]["mentee_id"] is None
        assert (await client.get("/reports/cohorts", headers=NATIONAL)).json()["totals"][
            "paired"] == 1


@pytest.mark.parametrize("path", ["/reports/cohorts", "/reports/channels", "/reports/journeys",
                                  "/reports/outcomes", "/reports/progress",
                                  "/reports/networking", "/reports/objectives",
                                  "/reports/reviews/overdue"])
async def test_every_report_is_region_scoped(settings, nats_url, clock, path):
    async with running(settings, "reporting", clock=clock) as svc:
        client, runtime = svc["reporting"]
        bre, idf = uuid4(), uuid4()
        await publish(nats_url, [envelope(received(bre)), envelope(admitted(bre)),
                                 envelope(received(idf), region="IDF"),
                                 envelope(pair_formed(uuid4(), bre, uuid4()))])
        await eventually(lambda: _equals(archived(runtime), 4))

        missing = await client.get(path)
        assert missing.status_code == 401
        assert missing.json()["errors"][0]["code"] == "unauthenticated"
        assert missing.json()["errors"][0]["field"] == "authorization"
        forbidden = await client.get(path, headers=BRE, params={"region": "IDF"})
        assert forbidden.status_code == 403
        assert forbidden.json()["errors"][0]["code"] == "forbidden_region"
        assert "région" in forbidden.json()["errors"][0]["message"]
        ok = await client.get(path, headers=BRE)
        assert ok.status_code == 200, ok.text
        assert "IDF" not in ok.text
        assert (await client.get(path, headers=IDF)).status_code == 200


async def test_bad_parameters_are_422_with_french_messages(settings, clock):
    async with running(settings, "reporting", clock=clock) as svc:
        client, _ = svc["reporting"]
        cases = [
            ({"as_of": "2026-01-01T10:00:00"}, "as_of", "invalid_datetime"),
            ({"as_of": "hier"}, "as_of", "invalid_datetime"),
            ({"as_of": "2999-01-01T10:00:00Z"}, "as_of", "as_of_in_future"),
            ({"region": "bretagne"}, "region", "invalid_format"),
            ({"cohort": "2026-04"}, "cohort", "invalid_format"),
        ]
        for params, field, code in cases:
            answer = await client.get("/reports/cohorts", headers=NATIONAL, params=params)
            assert answer.status_code == 422, (params, answer.text)
            [error] = answer.json()["errors"]
            assert (error["field"], error["code"]) == (field, code), error
            assert error["message"] and error["message"] != "Valeur invalide."
        schema = (await client.get("/openapi.json")).json()
        assert {"/reports/cohorts", "/reports/journeys", "/reports/outcomes", "/reports/progress",
                "/reports/networking", "/reports/channels"} <= set(schema["paths"])


async def test_stale_read_models_are_rebuilt_from_the_archive_at_start(settings, nats_url, clock):
    """After an upgrade that changes a fold (or from the single-document funnel), the service
    rebuilds the rows from the archive when it starts."""
    people = [uuid4() for _ in range(5)]
    async with running(settings, "reporting", clock=clock) as svc:
        _, runtime = svc["reporting"]
        await publish(nats_url, [envelope(received(p)) for p in people])
        await eventually(lambda: _equals(archived(runtime), 5))
    conn = await asyncpg.connect(raw_database_url(settings.database_url))
    try:
        await conn.execute("DELETE FROM reporting.view_rows")
        await conn.execute("UPDATE reporting.view_state SET fold_version = 0, position = 0")
        async with running(settings, "reporting", clock=clock) as svc:
            client, _ = svc["reporting"]

            async def rebuilt() -> bool:
                answer = await client.get("/reports/cohorts", headers=NATIONAL)
                return answer.json()["totals"]["applications_mentees"] == 5
            await eventually(rebuilt)
        assert (await replay(conn)).equal
    finally:
        await conn.close()
