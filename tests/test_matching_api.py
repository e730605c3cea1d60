"""Matching over HTTP with intake and reporting running: from admitted candidates to pairs,
capacity under concurrency, declines, overrides, early endings and rematch."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from services.reporting.projections import load_funnel
from tests.conftest import eventually
from tests.intake_client import token
from tests.services_client import running
from tests.test_intake_api import MENTOR, person

BRE = token("referent", "BRE", "ref-bre-1")


async def admitted(intake, form: dict, path: str) -> tuple[str, str]:
    """Through intake's API: apply, interview, admit. Returns (application id, person id)."""
    application_id = (await intake.post(path, json=form)).json()["application_id"]
    # Interviewed as soon as they applied: an opinion cannot precede the interview.
    detail = (await intake.get(f"/staff/applications/{application_id}", headers=BRE)).json()
    booked = (await intake.post(f"/staff/applications/{application_id}/interviews", headers=BRE,
                                json={"scheduled_at": detail["application"]["submitted_at"]})
              ).json()
    await intake.post(f"/staff/applications/{application_id}/interviews/"
                      f"{booked['interview_id']}/outcome", headers=BRE,
                      json={"outcome": "favourable"})
    done = await intake.post(f"/staff/applications/{application_id}/admit", headers=BRE)
    assert done.status_code == 200, done.text
    return application_id, done.json()["person_id"]


async def admit(intake, form: dict, path: str) -> str:
    """Through intake's API: apply, interview, admit. Returns the person id."""
    return (await admitted(intake, form, path))[1]


def mentor(**changes: Any) -> dict:
    return {**MENTOR, "email": f"mentor-{uuid.uuid4().hex[:8]}@example.org",
            "postcode": "29200", **changes}


async def pool_size(runtime) -> int:
    async with runtime.store.engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT count(*) FROM matching.pool WHERE left_reason IS NULL"))).scalar()


async def test_from_admitted_candidates_to_pairs_visible_in_reporting(settings):
    async with running(settings, "intake", "matching", "reporting") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        mentees = [await admit(intake, person(sector_interests=["culture"]), "/applications/mentee")
                   for _ in range(3)]
        mentors = [await admit(intake, mentor(sector_expertise=["culture"], capacity=1),
                               "/applications/mentor") for _ in range(2)]
        await eventually(lambda: _at_least(pool_size(m_runtime), 5))

        opened = await matching.post("/staff/cohorts", headers=BRE,
                                     json={"region": "BRE", "target_pairs": 2})
        assert opened.status_code == 201, opened.text
        cohort_id = opened.json()["cohort_id"]
        assert cohort_id == "BRE-2026-03"
        run = await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=BRE)
        assert run.status_code == 201, run.text
        proposals, unmatched = run.json()["proposals"], run.json()["unmatched"]
        assert len(proposals) == 2 and len(unmatched) == 1  # two mentors of capacity 1
        assert unmatched[0]["person_id"] in mentees and unmatched[0]["message"]
        assert all(p["explanation"] and p["score"]["total"] > 0 for p in proposals)
        assert {p["mentor_id"] for p in proposals} == set(mentors)

        first = await matching.post(f"/staff/proposals/{proposals[0]['match_id']}/confirm",
                                    headers=BRE)
        assert first.status_code == 200, first.text
        declined = await matching.post(f"/staff/proposals/{proposals[1]['match_id']}/decline",
                                       headers=BRE, json={"reason": "mentee_unavailable"})
        assert declined.status_code == 200
        again = await matching.post(f"/staff/proposals/{proposals[0]['match_id']}/confirm",
                                    headers=BRE)
        assert again.status_code == 409

        async def paired_in_reporting() -> bool:
            async with svc["reporting"][1].store.engine.connect() as conn:
                funnel = await load_funnel(conn)
            return sum(row.paired for row in funnel.rows.values()) == 1

        await eventually(paired_in_reporting)
        launched = await matching.post(f"/staff/cohorts/{cohort_id}/launch", headers=BRE)
        assert launched.json()["pair_count"] == 1
        assert launched.json()["withdrawn_proposals"] == []
        listed = (await matching.get("/staff/cohorts", headers=BRE)).json()
        assert [(c["cohort_id"], c["launched"], c["active_pairs"]) for c in listed] == [
            (cohort_id, True, 1)]
        waiting = (await matching.get("/staff/pool", params={"region": "BRE"},
                                      headers=BRE)).json()
        # The unmatched mentee waits with its reason; the declined one is back, no reason yet.
        assert sorted(str(m["waiting_reason"]) for m in waiting["mentees"]) == [
            "None", "no_capacity_left"]

        # How many more mentors for the target of 2 pairs? 1 pair formed; 1 proposal accepted
        # and 1 declined (50 %): 2 more proposals needed, 1 mentor place free again.
        out = subprocess.run(
            [sys.executable, "-m", "services.cli", "simulate-cohort", "--region", "BRE", "--json"],
            capture_output=True, text=True,
            env={**os.environ, "SUCCESS_DATABASE_URL": settings.database_url,
                 "SUCCESS_NATS_URL": settings.nats_url})
        assert out.returncode == 0, out.stderr
        estimate = json.loads(out.stdout)
        assert estimate["cohort"] == cohort_id
        assert estimate["estimate"]["pairs_needed"] == 1
        assert estimate["estimate"]["acceptance_rate"] == 0.5
        assert estimate["estimate"]["mentors_needed"] == 1
        assert "mentor" in estimate["summary"]


async def _at_least(value, n: int) -> bool:
    return (await value) >= n


async def test_fifty_concurrent_confirmations_for_a_capacity_one_mentor(settings):
    async with running(settings, "intake", "matching") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        the_mentor = await admit(intake, mentor(capacity=1), "/applications/mentor")
        mentees = await asyncio.gather(*(admit(intake, person(), "/applications/mentee")
                                         for _ in range(50)))
        await eventually(lambda: _at_least(pool_size(m_runtime), 51), timeout=60)
        cohort_id = (await matching.post("/staff/cohorts", headers=BRE, json={
            "region": "BRE", "target_pairs": 50})).json()["cohort_id"]
        answers = await asyncio.gather(*(matching.post(
            f"/staff/cohorts/{cohort_id}/pairs", headers=BRE,
            json={"mentee_id": mentee, "mentor_id": the_mentor, "reason": "known_affinity"})
            for mentee in mentees))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 49, codes
        assert all(a.json()["errors"][0]["code"] in ("conflict", "mentor_full")
                   for a in answers if a.status_code == 409)
        async with m_runtime.store.engine.connect() as conn:
            pairs = (await conn.execute(text("SELECT count(*) FROM matching.pairs"))).scalar()
        assert pairs == 1
        # The losers recorded nothing: one proposal, one pair.
        types = [e.type for e in await m_runtime.store.read_stream("pool-BRE")]
        assert types == ["MatchProposed", "PairFormed"]


async def test_early_ending_puts_the_mentee_back_and_never_reforms_the_pair(settings):
    async with running(settings, "intake", "matching") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        mentee = await admit(intake, person(), "/applications/mentee")
        first_mentor = await admit(intake, mentor(capacity=2), "/applications/mentor")
        await eventually(lambda: _at_least(pool_size(m_runtime), 2))
        cohort_id = (await matching.post("/staff/cohorts", headers=BRE, json={
            "region": "BRE", "target_pairs": 5})).json()["cohort_id"]
        pair = (await matching.post(f"/staff/cohorts/{cohort_id}/pairs", headers=BRE, json={
            "mentee_id": mentee, "mentor_id": first_mentor, "reason": "known_affinity"})).json()
        ended = await matching.post(f"/staff/pairs/{pair['pair_id']}/end", headers=BRE, json={
            "ended_on": "2026-04-01", "reason": "mismatch", "ended_by": "mentee"})
        assert ended.status_code == 200, ended.text
        types = [e.type for e in await m_runtime.store.read_stream("pool-BRE")]
        assert types == ["MatchProposed", "PairFormed", "PairEnded", "RematchRequested"]
        # Only the mentor they ended with is available: no proposal is made.
        run = (await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=BRE)).json()
        assert run["proposals"] == []
        # A new mentor arrives: the mentee is proposed to them.
        second_mentor = await admit(intake, mentor(), "/applications/mentor")
        await eventually(lambda: _at_least(pool_size(m_runtime), 3))
        run = (await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=BRE)).json()
        assert [(p["mentee_id"], p["mentor_id"]) for p in run["proposals"]] == [
            (mentee, second_mentor)]
        again = await matching.post(f"/staff/cohorts/{cohort_id}/pairs", headers=BRE, json={
            "mentee_id": mentee, "mentor_id": first_mentor, "reason": "known_affinity"})
        assert again.status_code == 409  # pending proposal elsewhere, or ended early before


async def test_pool_follows_intake_in_any_order(settings):
    """A withdrawal that arrives before the admission it follows leaves a tombstone."""
    from events import Metadata
    from events.intake import ApplicationWithdrawn, CandidateAdmitted
    from services.matching.pool import on_intake_event
    from tests.test_domain import admitted, envelope

    async with running(settings, "matching") as svc:
        _, runtime = svc["matching"]
        person_id = uuid.uuid4()
        admission = admitted(person_id)
        withdrawal = ApplicationWithdrawn(application_id=admission.application_id,
                                          person_id=person_id, role="mentee", reason="other")
        for event in (withdrawal, admission):  # out of order
            async with runtime.store.transaction() as tx:
                await on_intake_event(envelope(event), tx)
        assert await pool_size(runtime) == 0
        del Metadata, CandidateAdmitted


@pytest.mark.parametrize("role", ["analyst"])
async def test_matching_staff_rules(settings, role):
    async with running(settings, "matching") as svc:
        matching, _ = svc["matching"]
        assert (await matching.post("/staff/cohorts", json={"region": "BRE",
                                    "target_pairs": 2})).status_code == 401
        refused = await matching.post("/staff/cohorts", headers=token(role),
                                      json={"region": "BRE", "target_pairs": 2})
        assert refused.status_code == 403
        other = await matching.post("/staff/cohorts", headers=token("referent", "IDF"),
                                    json={"region": "BRE", "target_pairs": 2})
        assert other.status_code == 403
        bad = await matching.post("/staff/cohorts", headers=BRE, json={"region": "BRE",
                                  "target_pairs": 0})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "target_pairs"


async def test_candidates_admitted_after_the_cut_off_wait_for_the_next_cohort(settings):
    async with running(settings, "intake", "matching") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        await admit(intake, person(), "/applications/mentee")  # admitted on 2026-01-12
        await admit(intake, mentor(), "/applications/mentor")
        await eventually(lambda: _at_least(pool_size(m_runtime), 2))
        closed = (await matching.post("/staff/cohorts", headers=BRE, json={
            "region": "BRE", "target_pairs": 5, "starts_on": "2026-03-01",
            "cut_off_on": "2026-01-05"})).json()["cohort_id"]
        run = (await matching.post(f"/staff/cohorts/{closed}/proposals", headers=BRE)).json()
        # Nobody is silently left out: both wait for the next cohort, and say so.
        assert run["proposals"] == []
        assert sorted((u["role"], u["reason"]) for u in run["unmatched"]) == [
            ("mentee", "admitted_after_cut_off"), ("mentor", "admitted_after_cut_off")]
        assert all(u["message"] for u in run["unmatched"])
        following = (await matching.post("/staff/cohorts", headers=BRE, json={
            "region": "BRE", "target_pairs": 5, "starts_on": "2026-06-01"})).json()["cohort_id"]
        run = (await matching.post(f"/staff/cohorts/{following}/proposals", headers=BRE)).json()
        assert len(run["proposals"]) == 1
        bad = await matching.post("/staff/cohorts", headers=BRE, json={
            "region": "BRE", "target_pairs": 5, "starts_on": "2026-09-01",
            "cut_off_on": "2026-10-01"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "cut_off_after_start"
