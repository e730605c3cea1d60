"""The matching rules over HTTP, on real PostgreSQL and NATS: completion takes the mentee out
for good, a refused manual pair records nothing, proposals end with their people and at the
cohort's launch, and early endings rematch or take the mentee out depending on the reason."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import nats
from sqlalchemy import text

from events import Metadata
from events.base import seal
from events.followup import FollowUpEnded
from services.common.clock import ManualClock
from tests.conftest import eventually
from tests.intake_client import TODAY, token
from tests.services_client import running
from tests.test_intake_api import person
from tests.test_matching_api import BRE, admitted, mentor

ADMIN = token("admin")


async def in_pool(runtime, *people: str) -> bool:
    async with runtime.store.engine.connect() as conn:
        found = (await conn.execute(text(
            "SELECT count(*) FROM matching.pool WHERE person_id = ANY(:p) AND role IS NOT NULL"),
            {"p": [uuid.UUID(p) for p in people]})).scalar()
    return found == len(people)


async def waiting(matching) -> tuple[set[str], dict[str, int]]:
    """(mentees waiting, mentors' free places) from GET /staff/pool."""
    pool = (await matching.get("/staff/pool", params={"region": "BRE"}, headers=BRE)).json()
    return ({m["person_id"] for m in pool["mentees"]},
            {m["person_id"]: m["free_places"] for m in pool["mentors"]})


async def open_cohort(matching, starts_on: str = "2026-03-01") -> str:
    opened = await matching.post("/staff/cohorts", headers=BRE, json={
        "region": "BRE", "target_pairs": 10, "starts_on": starts_on})
    assert opened.status_code == 201, opened.text
    return opened.json()["cohort_id"]


async def types_in(runtime) -> list[str]:
    return [e.type for e in await runtime.store.read_stream("pool-BRE")]


async def test_a_mentee_who_completed_is_never_proposed_again(settings):
    async with running(settings, "intake", "matching") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        _, ines = await admitted(intake, person(), "/applications/mentee")
        _, hugo = await admitted(intake, person(), "/applications/mentee")
        _, the_mentor = await admitted(intake, mentor(capacity=2), "/applications/mentor")
        await eventually(lambda: in_pool(m_runtime, ines, hugo, the_mentor))
        cohort_id = await open_cohort(matching)
        pairs = {}
        for mentee in (ines, hugo):
            made = await matching.post(f"/staff/cohorts/{cohort_id}/pairs", headers=BRE, json={
                "mentee_id": mentee, "mentor_id": the_mentor, "reason": "known_affinity"})
            assert made.status_code == 201, made.text
            pairs[mentee] = made.json()["pair_id"]

        # Inès completes through matching's endpoint; Hugo through followup's FollowUpEnded.
        done = await matching.post(f"/staff/pairs/{pairs[ines]}/end", headers=BRE,
                                   json={"ended_on": "2027-03-01"})
        assert done.status_code == 200, done.text
        assert done.json()["mentee"] == "left_pool" and done.json()["left_reason"] == "completed"
        await publish(settings.nats_url, FollowUpEnded(
            pair_id=uuid.UUID(pairs[hugo]), cohort_id=cohort_id, mentee_id=uuid.UUID(hugo),
            mentor_id=uuid.UUID(the_mentor), ended_on=date(2027, 3, 1), early=False,
            reason=None, ended_by=None))

        async def both_left() -> bool:
            return (await types_in(m_runtime)).count("CandidateLeftPool") == 2

        await eventually(both_left)
        mentees, mentors = await waiting(matching)
        assert mentees == set() and mentors == {the_mentor: 2}  # the places come back

        # The next cohort proposes neither of them, only a newcomer.
        _, newcomer = await admitted(intake, person(), "/applications/mentee")
        await eventually(lambda: in_pool(m_runtime, newcomer))
        following = await open_cohort(matching, "2026-06-01")
        run = (await matching.post(f"/staff/cohorts/{following}/proposals", headers=BRE)).json()
        assert [p["mentee_id"] for p in run["proposals"]] == [newcomer]
        again = await matching.post(f"/staff/cohorts/{following}/pairs", headers=BRE, json={
            "mentee_id": ines, "mentor_id": the_mentor, "reason": "known_affinity"})
        assert again.status_code == 422 and again.json()["errors"][0]["code"] == (
            "mentee_not_in_pool")


async def publish(nats_url: str, data) -> None:
    """As followup's relay would: the event on its subject, deduplicated by its id."""
    envelope = seal(data, event_id=uuid.uuid4(), stream=f"journey-{data.pair_id}",
                    stream_version=9, metadata=Metadata(region="BRE", actor="ref-001",
                                                        correlation_id=uuid.uuid4()),
                    occurred_at=TODAY, recorded_at=TODAY)
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(envelope.subject, envelope.to_json(),
                                     headers={"Nats-Msg-Id": str(envelope.event_id)})
    finally:
        await nc.close()


async def test_a_refused_manual_pair_records_nothing(settings):
    async with running(settings, "intake", "matching") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        mentees = [(await admitted(intake, person(), "/applications/mentee"))[1]
                   for _ in range(4)]
        solo = (await admitted(intake, mentor(capacity=1), "/applications/mentor"))[1]
        other = (await admitted(intake, mentor(capacity=1), "/applications/mentor"))[1]
        await eventually(lambda: in_pool(m_runtime, *mentees, solo, other))
        cohort_id = await open_cohort(matching)

        def pair(mentee: str, with_mentor: str):
            return matching.post(f"/staff/cohorts/{cohort_id}/pairs", headers=BRE, json={
                "mentee_id": mentee, "mentor_id": with_mentor, "reason": "known_affinity"})

        assert (await pair(mentees[0], solo)).status_code == 201
        before = await types_in(m_runtime)
        full = await pair(mentees[1], solo)
        assert full.status_code == 409 and full.json()["errors"][0]["code"] == "mentor_full"
        assert await types_in(m_runtime) == before  # no proposal left behind
        assert mentees[1] in (await waiting(matching))[0]

        # Two referents pair two people with the same one-place mentor at the same time.
        answers = await asyncio.gather(pair(mentees[2], other), pair(mentees[3], other))
        assert sorted(a.status_code for a in answers) == [201, 409]
        loser = mentees[3] if answers[0].status_code == 201 else mentees[2]
        assert (await types_in(m_runtime)).count("MatchProposed") == 2  # one per pair formed
        assert loser in (await waiting(matching))[0]
        listed = (await matching.get(f"/staff/cohorts/{cohort_id}/proposals",
                                     headers=BRE)).json()
        assert sorted(p["status"] for p in listed) == ["confirmed", "confirmed"]


async def test_proposals_end_with_their_people_by_cancellation_and_at_launch(settings):
    clock = ManualClock(TODAY)
    async with running(settings, "intake", "matching", clock=clock) as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        leaving_app, leaving = await admitted(intake, person(), "/applications/mentee")
        _, cancelled = await admitted(intake, person(), "/applications/mentee")
        _, pending = await admitted(intake, person(), "/applications/mentee")
        # Far from every mentor (35, not a neighbour of 29) and not remote: left out.
        _, orphan = await admitted(intake, person(postcode="35000"), "/applications/mentee")
        mentors = [(await admitted(intake, mentor(capacity=1), "/applications/mentor"))[1]
                   for _ in range(3)]
        await eventually(lambda: in_pool(m_runtime, leaving, cancelled, pending, orphan,
                                         *mentors))
        cohort_id = await open_cohort(matching)
        run = (await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=BRE)).json()
        proposal_of = {p["mentee_id"]: p for p in run["proposals"]}
        assert set(proposal_of) == {leaving, cancelled, pending}
        assert [(u["person_id"], u["reason"]) for u in run["unmatched"]] == [
            (orphan, "no_mentor_nearby")]

        # A mentee withdraws in intake: their proposal is withdrawn, the place freed.
        gone = await intake.post(f"/staff/applications/{leaving_app}/withdrawal", headers=BRE,
                                 json={"reason": "no_longer_interested"})
        assert gone.status_code == 200, gone.text
        freed = proposal_of[leaving]["mentor_id"]

        async def withdrawn_for_leaving() -> bool:
            rows = (await matching.get("/staff/proposals", headers=BRE,
                                       params={"status": "withdrawn"})).json()
            return [(r["mentee_id"], r["closed_reason"]) for r in rows] == [
                (leaving, "mentee_left_pool")]

        await eventually(withdrawn_for_leaving)
        assert (await waiting(matching))[1] == {freed: 1}

        # A referent cancels one: the mentee waits again; cancelling twice is refused.
        match_id = proposal_of[cancelled]["match_id"]
        done = await matching.post(f"/staff/proposals/{match_id}/cancel", headers=BRE,
                                   json={"reason": "cancelled_by_referent"})
        assert done.status_code == 200, done.text
        twice = await matching.post(f"/staff/proposals/{match_id}/cancel", headers=BRE)
        assert twice.status_code == 409 and twice.json()["errors"][0]["code"] == (
            "proposal_closed")
        reserved = await matching.post(f"/staff/proposals/{proposal_of[pending]['match_id']}"
                                       "/cancel", headers=BRE,
                                       json={"reason": "cohort_launched"})
        assert reserved.status_code == 422 and reserved.json()["errors"][0]["field"] == "reason"
        assert cancelled in (await waiting(matching))[0]

        # Ten days on, the last one is still pending: it is stale after 7 days, not after 30.
        clock.advance(timedelta(days=10))
        stale = (await matching.get("/staff/proposals", headers=BRE,
                                    params={"stale_after_days": 7, "region": "BRE"})).json()
        assert [(r["mentee_id"], r["pending_days"]) for r in stale] == [(pending, 10)]
        assert (await matching.get("/staff/proposals", headers=BRE,
                                   params={"stale_after_days": 30})).json() == []
        idf = token("referent", "IDF")
        assert (await matching.get("/staff/proposals", headers=idf,
                                   params={"region": "BRE"})).status_code == 403
        assert (await matching.get("/staff/proposals", headers=idf)).json() == []
        bad = await matching.get("/staff/proposals", headers=BRE, params={"status": "lost"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"

        # The launch withdraws it: both return to the pool for the next cohort.
        launched = await matching.post(f"/staff/cohorts/{cohort_id}/launch", headers=BRE)
        assert launched.status_code == 200, launched.text
        answer = launched.json()
        assert answer["pair_count"] == 0
        assert answer["withdrawn_proposals"] == [proposal_of[pending]["match_id"]]
        assert set(answer["returned_to_pool"]) == {pending, proposal_of[pending]["mentor_id"]}
        assert "retourne" in answer["message"]
        mentees, places = await waiting(matching)
        assert {pending, cancelled, orphan} <= mentees and leaving not in mentees
        assert places == {m: 1 for m in mentors}
        listed = (await matching.get("/staff/proposals", headers=BRE)).json()
        assert sorted(r["closed_reason"] for r in listed) == [
            "cancelled_by_referent", "cohort_launched", "mentee_left_pool"]


async def test_a_mentors_erasure_withdraws_their_proposal(settings):
    async with running(settings, "intake", "matching") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        _, mentee = await admitted(intake, person(), "/applications/mentee")
        _, erased = await admitted(intake, mentor(capacity=1), "/applications/mentor")
        await eventually(lambda: in_pool(m_runtime, mentee, erased))
        cohort_id = await open_cohort(matching)
        run = (await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=BRE)).json()
        [proposal] = run["proposals"]
        assert (await intake.delete(f"/staff/persons/{erased}", headers=ADMIN)).status_code == 200

        async def withdrawn() -> bool:
            rows = (await matching.get("/staff/proposals", headers=BRE)).json()
            return [(r["match_id"], r["status"], r["closed_reason"]) for r in rows] == [
                (proposal["match_id"], "withdrawn", "mentor_left_pool")]

        await eventually(withdrawn)
        assert mentee in (await waiting(matching))[0]
        confirm = await matching.post(f"/staff/proposals/{proposal['match_id']}/confirm",
                                      headers=BRE)
        assert confirm.status_code == 409


async def test_an_early_ending_rematches_or_takes_the_mentee_out_by_reason(settings):
    async with running(settings, "intake", "matching") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        trained = (await admitted(intake, person(), "/applications/mentee"))[1]
        mismatched = (await admitted(intake, person(), "/applications/mentee"))[1]
        the_mentor = (await admitted(intake, mentor(capacity=2), "/applications/mentor"))[1]
        await eventually(lambda: in_pool(m_runtime, trained, mismatched, the_mentor))
        cohort_id = await open_cohort(matching)
        ends = {}
        for mentee, reason in ((trained, "mentee_found_training"), (mismatched, "mismatch")):
            made = (await matching.post(f"/staff/cohorts/{cohort_id}/pairs", headers=BRE, json={
                "mentee_id": mentee, "mentor_id": the_mentor, "reason": "known_affinity"})).json()
            ends[mentee] = await matching.post(f"/staff/pairs/{made['pair_id']}/end",
                                               headers=BRE, json={
                                                   "ended_on": "2026-05-01", "reason": reason,
                                                   "ended_by": "mentee"})
        assert ends[trained].status_code == 200, ends[trained].text
        assert ends[trained].json()["mentee"] == "left_pool"
        assert ends[trained].json()["left_reason"] == "found_training"
        assert ends[mismatched].json()["mentee"] == "rematch"
        mentees, places = await waiting(matching)
        assert mentees == {mismatched} and places == {the_mentor: 2}
        assert (await types_in(m_runtime)).count("CandidateLeftPool") == 1
