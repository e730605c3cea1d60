"""Intake, matching and followup in-process on the real servers, with a real SMTP server:
pairs are formed through intake's and matching's APIs, then followed by followup."""

from __future__ import annotations

from collections import Counter
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text

from services.common.clock import ManualClock
from services.followup.workflow import Followup, HttpContactBook
from tests.conftest import eventually
from tests.intake_client import TODAY, token
from tests.services_client import running
from tests.test_intake_api import person
from tests.test_matching_api import admit, mentor, pool_size

PARIS = ZoneInfo("Europe/Paris")
REFERENT = "ref-bre-1"
BRE = token("referent", "BRE", REFERENT)
REFERENT_EMAIL = "referente.bretagne@cress.example"


def followup_settings(settings, mailbox) -> Any:
    return settings.model_copy(update={**mailbox.settings_update(),
                                       "followup_poll_interval_s": 0.2})


@asynccontextmanager
async def followed(settings, mailbox, clock: ManualClock | None = None,
                   services: tuple[str, ...] = ("intake", "matching", "followup")):
    """Yields {service: (client, runtime)}; followup reads contacts from this intake."""
    clock = clock or ManualClock(TODAY)
    async with running(followup_settings(settings, mailbox), *services, clock=clock) as svc:
        if "followup" in svc and "intake" in svc:
            connect_contacts(svc)
        yield svc


def connect_contacts(svc) -> None:
    intake_client, _ = svc["intake"]
    followup = followup_of(svc)
    followup.contacts = HttpContactBook(followup.settings, transport=intake_client._transport,
                                        base_url="http://intake")


def followup_of(svc) -> Followup:
    return svc["followup"][1].state["followup"]


async def form_pairs(svc, count: int) -> list[dict]:
    """``count`` pairs in cohort BRE-2026-03, confirmed by REFERENT; returns the journeys as
    followup lists them (once it has planned them all)."""
    intake, _ = svc["intake"]
    matching, m_runtime = svc["matching"]
    follow, _ = svc["followup"]
    for _ in range(count):
        await admit(intake, person(sector_interests=["culture"]), "/applications/mentee")
        await admit(intake, mentor(sector_expertise=["culture"], capacity=1),
                    "/applications/mentor")
    await eventually(lambda: _at_least(pool_size(m_runtime), 2 * count))
    opened = await matching.post("/staff/cohorts", headers=BRE,
                                 json={"region": "BRE", "target_pairs": count})
    cohort_id = opened.json()["cohort_id"]
    run = await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=BRE)
    for proposal in run.json()["proposals"]:
        confirmed = await matching.post(f"/staff/proposals/{proposal['match_id']}/confirm",
                                        headers=BRE)
        assert confirmed.status_code == 200, confirmed.text

    async def planned() -> bool:
        return len((await follow.get("/staff/pairs", headers=BRE)).json()) == count

    await eventually(planned)
    answer = await follow.put(f"/staff/referents/{REFERENT}", headers=BRE, json={
        "region": "BRE", "email": REFERENT_EMAIL, "display_name": "Maëlle"})
    assert answer.status_code == 200, answer.text
    return (await follow.get("/staff/pairs", headers=BRE)).json()


async def _at_least(value, n: int) -> bool:
    return (await value) >= n


async def move_to(svc, clock: ManualClock, day: date, hour: int = 10) -> None:
    """Move the clock to ``day`` (Paris time) and let every timer due by then fire, and every
    reminder go out, as the service's own loop would."""
    clock.set(datetime.combine(day, time(hour), tzinfo=PARIS))
    followup = followup_of(svc)
    while await followup.fire_due():
        pass

    async def all_sent() -> bool:  # the service's own loop may be sending some right now
        await followup.send_pending()
        return not await scalar(svc["followup"][1], "SELECT count(*) FROM followup.mails WHERE "
                                "sent_at IS NULL AND skipped IS NULL AND next_attempt_at <= :now",
                                now=clock.now())

    await eventually(all_sent)


async def followup_events(svc, pair_id: str | UUID | None = None) -> list[Any]:
    store = svc["followup"][1].store
    events = [e for e in await store.read_all(limit=100_000)]
    envelopes = [e.envelope for e in events]
    if pair_id is None:
        return envelopes
    return [e for e in envelopes if str(getattr(e.data, "pair_id", "")) == str(pair_id)]


def types(envelopes) -> Counter:
    return Counter(e.type for e in envelopes)


async def scalar(runtime, sql: str, **params) -> Any:
    async with runtime.store.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()
