"""Erasure searched for in the raw database files and the JetStream store; random JSON thrown
at every public endpoint never gets a 5xx nor stores anything when refused."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from events.geography import REGION_OF_DEPARTEMENT  # noqa: F401  (postcodes below are real)
from services.common.embedded import _pg_binaries
from tests.conftest import eventually
from tests.intake_client import intake_service, token
from tests.jetstream import stored_events
from tests.test_intake_api import MENTEE, MENTOR


def files_containing(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {n!r}" for n in needles if n in data]
    return hits


async def test_erased_person_is_nowhere_and_replay_still_works(settings, postgres, nats_server):
    unique = uuid.uuid4().hex[:10]
    name, email = f"Maëlys{unique}", f"maelys.{unique}@example.org"
    needles = [name.encode(), email.encode(), unique.encode()]
    async with intake_service(settings) as (client, runtime):
        created = await client.post("/applications/mentee", json={
            **MENTEE, "first_name": name, "email": email, "last_name": f"Le Bihan {unique}"})
        assert created.status_code == 201
        application_id = created.json()["application_id"]
        [received, *_] = await runtime.store.read_stream(f"application-{application_id}")
        person_id = received.data.person_id
        detail = await client.get(f"/staff/applications/{application_id}", headers=token("admin"))
        assert detail.json()["identity"]["email"] == email

        erased = await client.delete(f"/staff/persons/{person_id}", headers=token("admin"))
        assert erased.status_code == 200, erased.text
        again = await client.delete(f"/staff/persons/{person_id}", headers=token("admin"))
        assert again.status_code == 200  # idempotent: already erased
        detail = await client.get(f"/staff/applications/{application_id}", headers=token("admin"))
        assert detail.json()["identity"] is None
        assert (await client.post("/applications/mentee", json={**MENTEE, "email": email,
                "first_name": name})).status_code == 201  # not known any more: a new application

        await eventually(lambda: _published(settings.nats_url, "PersonErased", str(person_id)))
        # Replay still works: the stream loads, pseudonymous, without the vault.
        assert [e.type for e in await runtime.store.read_stream(f"application-{application_id}")][:2] == [
            "ApplicationReceived", "ApplicationRouted"]
        async with runtime.store.engine.connect() as conn:
            await conn.execute(text("CHECKPOINT"))
            database = (await conn.execute(text("SELECT current_database()"))).scalar()
    dump = subprocess.run(
        [_pg_binaries()["pg_dump"], "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
         database], capture_output=True, check=True).stdout
    assert not [n for n in needles if n in dump], "personal data found in pg_dump"
    assert files_containing(postgres.data_dir, needles) == []  # tables, WAL, logs
    assert files_containing(nats_server.data_dir, needles) == []  # the JetStream store


async def _published(nats_url: str, event_type: str, person_id: str) -> bool:
    return any(e["type"] == event_type and e["data"].get("person_id") == person_id
               for e in await stored_events(nats_url))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def mutated(form: dict) -> st.SearchStrategy:
    """A valid form with some fields dropped or replaced by random JSON."""
    keys = sorted(form)
    return st.tuples(
        st.lists(st.sampled_from(keys), max_size=3, unique=True),
        st.dictionaries(st.sampled_from(keys), JSON, max_size=3),
    ).map(lambda change: {**{k: v for k, v in form.items() if k not in change[0]}, **change[1]})


async def test_random_json_never_gets_a_5xx_and_stores_nothing_when_refused(settings):
    loop = asyncio.get_running_loop()
    async with intake_service(settings) as (client, runtime):

        statuses: list[int] = []

        async def probe(path: str, payload) -> None:
            async with runtime.store.engine.connect() as conn:
                before = (await conn.execute(text("SELECT count(*) FROM intake.events"))).scalar()
            response = await client.post(path, json=payload)
            statuses.append(response.status_code)
            assert response.status_code < 500, (path, payload, response.text)
            if response.status_code == 422:
                body = response.json()
                assert body["errors"] and all(e["code"] and e["message"] for e in body["errors"])
                async with runtime.store.engine.connect() as conn:
                    after = (await conn.execute(text("SELECT count(*) FROM intake.events"))).scalar()
                assert after == before, "a refused request stored something"

        referral = {"referrer": {"kind": "teacher", "first_name": "Paul", "last_name": "Roux",
                                 "email": "p.roux@lycee.example.org"}, "young_person": MENTEE}
        cases = [("/applications/mentee", MENTEE), ("/applications/mentor", MENTOR),
                 ("/applications/referral", referral)]

        @hypothesis_settings(max_examples=60, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def fuzz(data) -> None:
            path, form = data.draw(st.sampled_from(cases))
            payload = data.draw(st.one_of(JSON, mutated(form)))
            asyncio.run_coroutine_threadsafe(probe(path, payload), loop).result(timeout=30)

        await asyncio.to_thread(fuzz)
        assert len(statuses) >= 60 and 422 in statuses
