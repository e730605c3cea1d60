"""Dates before their time, end to end over HTTP against real PostgreSQL and NATS: the
cohort an applicant is told, an interview's outcome, and reviews of a pair whose cohort has not
started (refused with a French 422, nothing recorded)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.clock import ManualClock
from tests.followup_client import BRE, followed, followup_events, form_pairs, move_to
from tests.intake_client import TODAY, intake_service
from tests.test_intake_api import event_types, person


async def test_after_the_cut_off_the_answer_names_the_next_cohort(settings):
    # 2026-11-29: the 2026-12 cohort's cut-off (2026-11-17) has passed.
    async with intake_service(settings, ManualClock(datetime(2026, 11, 29, 10, tzinfo=UTC))) as (
            client, runtime):
        answer = await client.post("/applications/mentee", json=person())
        assert answer.status_code == 201, answer.text
        assert answer.json()["cohort"] == "2027-03"
        assert "cohorte qui démarre en mars 2027" in answer.json()["message"]
        [_, routed] = await runtime.store.read_stream(
            f"application-{answer.json()['application_id']}")
        assert routed.data.cohort == "2027-03"  # the routing counted toward that cohort
        listed = await client.get("/staff/applications", headers=BRE,
                                  params={"cohort": "2027-03"})
        assert [r["application_id"] for r in listed.json()] == [answer.json()["application_id"]]
        # The cut-off day itself still joins the cohort.
        runtime.clock.set(datetime(2026, 11, 17, 10, tzinfo=UTC))
        on_the_day = await client.post("/applications/mentee", json=person())
        assert on_the_day.json()["cohort"] == "2026-12"


async def test_an_interview_outcome_waits_for_the_interview(settings):
    async with intake_service(settings) as (client, runtime):
        application_id = (await client.post("/applications/mentee", json=person())
                          ).json()["application_id"]
        base = f"/staff/applications/{application_id}/interviews"
        before_applying = await client.post(base, headers=BRE, json={
            "scheduled_at": "2026-01-05T10:00:00+01:00"})
        assert before_applying.status_code == 422
        assert before_applying.json()["errors"][0]["code"] == "interview_before_application"
        booked = await client.post(base, headers=BRE, json={
            "scheduled_at": "2026-01-20T10:00:00+01:00"})
        assert booked.status_code == 201, booked.text
        outcome = f"{base}/{booked.json()['interview_id']}/outcome"

        early = await client.post(outcome, headers=BRE, json={"outcome": "favourable"})
        assert early.status_code == 422, early.text
        [error] = early.json()["errors"]
        assert (error["code"], error["field"]) == ("outcome_before_interview", "outcome")
        assert "après l'entretien" in error["message"]
        assert await event_types(runtime, application_id) == [
            "ApplicationReceived", "ApplicationRouted", "InterviewScheduled"]

        runtime.clock.set(datetime(2026, 1, 20, 9, 30, tzinfo=UTC))  # 10:30 in Paris
        held = await client.post(outcome, headers=BRE, json={"outcome": "favourable"})
        assert held.status_code == 200, held.text
        assert held.json()["status"] == "interviewed"


@pytest.fixture
async def pair_before_its_cohort(settings, mailbox):
    """A pair of cohort BRE-2026-03 formed on 2026-01-12: its journey starts on 2026-03-01."""
    clock = ManualClock(TODAY)
    async with followed(settings, mailbox, clock) as svc:
        [pair] = await form_pairs(svc, 1)
        yield svc, clock, pair


async def test_no_review_before_the_journey_starts(pair_before_its_cohort):
    svc, clock, pair = pair_before_its_cohort
    follow, _ = svc["followup"]
    base = f"/staff/pairs/{pair['pair_id']}"
    assert pair["starts_on"] == "2026-03-01"
    await move_to(svc, clock, date(2026, 2, 20))
    today = "2026-02-20"
    for kind, body in (
            ("intermediate", {"held": True, "held_on": today, "assessment": "on_track"}),
            ("final", {"held": True, "held_on": today, "assessment": "on_track"}),
            ("intermediate", {"held": False, "held_on": today})):
        refused = await follow.post(f"{base}/reviews/{kind}", headers=BRE, json=body)
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert (error["code"], error["field"]) == ("review_before_start", "held_on")
        assert "01/03/2026" in error["message"]
    booked = await follow.post(f"{base}/reviews/intermediate/schedule", headers=BRE, json={
        "scheduled_at": "2026-02-25T14:00:00+01:00", "format": "remote"})
    assert booked.status_code == 422
    assert booked.json()["errors"][0]["code"] == "review_before_start"
    session = await follow.post(f"{base}/sessions", headers=BRE, json={
        "held_on": "2025-12-01", "duration_minutes": 60, "format": "remote",
        "theme": "career_project", "used_toolkit": False})
    assert session.status_code == 422
    assert session.json()["errors"][0]["code"] == "before_journey"
    recorded = {e.type for e in await followup_events(svc, pair["pair_id"])}
    assert not recorded & {"ReviewCompleted", "ReviewScheduled", "FollowUpEnded",
                           "SessionLogged"}

    # Once the journey has started, the same review is accepted.
    await move_to(svc, clock, date(2026, 3, 2))
    held = await follow.post(f"{base}/reviews/intermediate", headers=BRE, json={
        "held": True, "held_on": "2026-03-02", "assessment": "on_track"})
    assert held.status_code == 201, held.text
    too_early = await follow.post(f"{base}/reviews/final", headers=BRE, json={
        "held": True, "held_on": (date(2026, 3, 2) - timedelta(days=1)).isoformat(),
        "assessment": "on_track"})
    assert too_early.json()["errors"][0]["code"] == "review_before_intermediate"
