"""Every follow-up staff action over HTTP: who may do it (401, 403), malformed input (422,
nothing stored), networking events from scheduling to attendance, annual answers."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.clock import ManualClock
from tests.followup_client import BRE, followed, followup_events, form_pairs, move_to, scalar
from tests.intake_client import TODAY, token

ANALYST = token("analyst", "BRE", "ana-1")
IDF = token("referent", "IDF", "ref-idf-1")
MENTOR_ANSWERS = {"mentor_satisfaction": 5, "would_recommend": 4}


def actions(pair_id: str, event_id: str) -> list[tuple[str, str, dict, dict]]:
    """(method, path, a valid body, a malformed body) of every staff action."""
    pair = f"/staff/pairs/{pair_id}"
    return [
        ("POST", f"{pair}/referent", {"referent_id": "ref-bre-2"}, {"referent_id": "no spaces"}),
        ("POST", f"{pair}/sessions", {"held_on": "2026-03-02", "duration_minutes": 60,
                                      "format": "remote", "theme": "career_project",
                                      "used_toolkit": False},
         {"held_on": "2026-03-02", "duration_minutes": 2, "format": "remote",
          "theme": "career_project", "used_toolkit": False}),
        ("POST", f"{pair}/reviews/intermediate/schedule",
         {"scheduled_at": "2026-08-20T14:00:00+02:00", "format": "in_person"},
         {"scheduled_at": "2026-08-20T14:00:00", "format": "in_person"}),
        ("POST", f"{pair}/reviews/intermediate", {"held": True, "held_on": "2026-03-02",
                                                   "assessment": "needs_support",
                                                   "concerns": ["availability"]},
         {"held": True, "held_on": "2026-03-02", "assessment": "great"}),
        ("POST", f"{pair}/end", {"reason": "mismatch", "ended_by": "referent"},
         {"reason": "bored", "ended_by": "referent"}),
        ("POST", f"{pair}/outcomes", {"moment": "end", "situation": "job_seeking"},
         {"moment": "end", "situation": "job_seeking", "satisfaction": 9}),
        ("POST", f"{pair}/questionnaires", {"kind": "annual", "respondent": "mentor",
                                            "answers": {"satisfaction": 4,
                                                        "would_recommend": 5}},
         {"kind": "annual", "respondent": "mentor", "answers": {"satisfaction": "beaucoup"}}),
        ("POST", "/staff/questionnaires/annual", {"region": "BRE", "respondent": "partner",
                                                   "answers": {"satisfaction": 4,
                                                               "would_recommend": 4}},
         {"region": "BRE", "respondent": "president", "answers": {}}),
        ("POST", "/staff/networking-events", {"region": "BRE", "kind": "networking",
                                               "audience": "all",
                                               "starts_at": "2026-06-01T18:00:00+02:00",
                                               "format": "in_person", "departement": "29"},
         {"region": "BRE", "kind": "party", "audience": "all",
          "starts_at": "2026-06-01T18:00:00+02:00", "format": "in_person"}),
        ("POST", f"/staff/networking-events/{event_id}/registrations",
         {"person_id": "00000000-0000-0000-0000-000000000001", "role": "mentee"},
         {"person_id": "not-a-uuid", "role": "mentee"}),
        ("POST", f"/staff/networking-events/{event_id}/attendance",
         {"person_id": "00000000-0000-0000-0000-000000000001", "attended": True},
         {"person_id": "00000000-0000-0000-0000-000000000001", "attended": "peut-être"}),
        ("PUT", "/staff/referents/ref-bre-1", {"region": "BRE", "email": "m@cress.example",
                                               "display_name": "Maëlle"},
         {"region": "BRE", "email": "pas une adresse", "display_name": "Maëlle"}),
    ]


async def event_count(svc) -> int:
    return await scalar(svc["followup"][1], "SELECT count(*) FROM followup.events")


@pytest.fixture
async def one_pair(settings, mailbox):
    clock = ManualClock(TODAY)
    async with followed(settings, mailbox, clock) as svc:
        [pair] = await form_pairs(svc, 1)
        await move_to(svc, clock, date(2026, 3, 2))
        follow, _ = svc["followup"]
        scheduled = await follow.post("/staff/networking-events", headers=BRE, json={
            "region": "BRE", "kind": "workshop", "audience": "current_pairs",
            "starts_at": "2026-04-01T18:00:00+02:00", "format": "remote"})
        assert scheduled.status_code == 201, scheduled.text
        await move_to(svc, clock, date(2026, 3, 2))  # its invitations sent: nothing pending
        assert len([m for m in mailbox.messages if "invitation" in m["Subject"]]) == 2
        yield svc, clock, pair, scheduled.json()["networking_event_id"]


async def test_who_may_act_and_malformed_input(one_pair):
    svc, _clock, pair, event_id = one_pair
    follow, _ = svc["followup"]
    for method, path, body, malformed in actions(pair["pair_id"], event_id):
        before = await event_count(svc)
        anonymous = await follow.request(method, path, json=body)
        assert anonymous.status_code == 401, path
        assert anonymous.json()["errors"][0]["code"] == "unauthenticated"
        analyst = await follow.request(method, path, json=body, headers=ANALYST)
        assert analyst.status_code == 403 and analyst.json()["errors"][0]["code"] == \
            "forbidden_role", path
        other_region = await follow.request(method, path, json=body, headers=IDF)
        assert other_region.status_code == 403, (path, other_region.text)
        assert other_region.json()["errors"][0]["code"] == "forbidden_region"
        bad = await follow.request(method, path, json=malformed, headers=BRE)
        assert bad.status_code == 422, (path, bad.text)
        error = bad.json()["errors"][0]
        assert error["code"] and error["field"] and error["message"], path
        not_json = await follow.request(method, path, content=b"{", headers={
            **BRE, "content-type": "application/json"})
        assert not_json.status_code == 422, path
        assert await event_count(svc) == before, f"{path} stored something"


async def test_reading_is_region_scoped(one_pair):
    svc, _clock, pair, _event_id = one_pair
    follow, _ = svc["followup"]
    assert len((await follow.get("/staff/pairs", headers=ANALYST)).json()) == 1
    assert (await follow.get("/staff/pairs", headers=IDF)).json() == []
    assert (await follow.get(f"/staff/pairs/{pair['pair_id']}", headers=IDF)).status_code == 403
    assert (await follow.get("/staff/pairs")).status_code == 401
    assert (await follow.get(f"/staff/pairs/{pair['mentee_id']}", headers=BRE)).status_code == 404


async def test_a_mentor_declares_only_their_own_sessions(one_pair):
    svc, _clock, pair, _event_id = one_pair
    follow, _ = svc["followup"]
    session = {"held_on": "2026-03-02", "duration_minutes": 45, "format": "remote",
               "theme": "ess_discovery", "used_toolkit": True}
    mine = await follow.post(f"/staff/pairs/{pair['pair_id']}/sessions", json=session,
                             headers=token("mentor", "BRE", pair["mentor_id"]))
    assert mine.status_code == 201, mine.text
    someone_else = await follow.post(f"/staff/pairs/{pair['pair_id']}/sessions", json=session,
                                     headers=token("mentor", "BRE", pair["mentee_id"]))
    assert someone_else.status_code == 403
    assert someone_else.json()["errors"][0]["code"] == "not_your_pair"
    # A mentor's token opens nothing else.
    review = await follow.post(f"/staff/pairs/{pair['pair_id']}/reviews/intermediate",
                               json={"held": False, "held_on": "2026-03-02"},
                               headers=token("mentor", "BRE", pair["mentor_id"]))
    assert review.status_code == 403
    logged = [e for e in await followup_events(svc, pair["pair_id"])
              if e.type == "SessionLogged"]
    assert [e.data.logged_by for e in logged] == ["mentor"] and logged[0].actor == \
        pair["mentor_id"]


async def test_networking_event_from_schedule_to_attendance(one_pair):
    svc, clock, pair, event_id = one_pair
    follow, _ = svc["followup"]
    path = f"/staff/networking-events/{event_id}"
    for person, role in ((pair["mentee_id"], "mentee"), (pair["mentor_id"], "mentor")):
        registered = await follow.post(f"{path}/registrations", headers=BRE,
                                       json={"person_id": person, "role": role})
        assert registered.status_code == 201, registered.text
    stranger = await follow.post(f"{path}/registrations", headers=BRE, json={
        "person_id": "00000000-0000-0000-0000-000000000001", "role": "mentee"})
    assert stranger.status_code == 409
    assert stranger.json()["errors"][0]["code"] == "not_in_audience"
    early = await follow.post(f"{path}/attendance", headers=BRE,
                              json={"person_id": pair["mentee_id"], "attended": True})
    assert early.json()["errors"][0]["code"] == "event_not_started"
    await move_to(svc, clock, date(2026, 4, 2))
    for person, attended in ((pair["mentee_id"], True), (pair["mentor_id"], False)):
        answer = await follow.post(f"{path}/attendance", headers=BRE,
                                   json={"person_id": person, "attended": attended})
        assert answer.status_code == 200, answer.text
    [listed] = (await follow.get("/staff/networking-events", headers=BRE)).json()
    assert (listed["registered"], listed["attended"], listed["departement"]) == (2, 1, None)


async def test_annual_answers_and_catalogues(one_pair):
    svc, _clock, pair, _event_id = one_pair
    follow, _ = svc["followup"]
    partner = await follow.post("/staff/questionnaires/annual", headers=BRE, json={
        "region": "BRE", "respondent": "partner",
        "answers": {"satisfaction": 3, "would_recommend": 4}})
    assert partner.status_code == 201, partner.text
    mentor = await follow.post(f"/staff/pairs/{pair['pair_id']}/questionnaires", headers=BRE,
                               json={"kind": "annual", "respondent": "mentor",
                                     "answers": {"satisfaction": 5, "would_recommend": 5}})
    assert mentor.status_code == 201, mentor.text
    answered = [e.data for e in await followup_events(svc) if e.type == "QuestionnaireAnswered"]
    assert sorted((a.respondent.value, a.person_id is None) for a in answered) == [
        ("mentor", False), ("partner", True)]
    wrong = await follow.post(f"/staff/pairs/{pair['pair_id']}/questionnaires", headers=BRE,
                              json={"kind": "post_programme", "respondent": "mentee",
                                    "answers": {"satisfaction": 5}})
    assert wrong.status_code == 409 and wrong.json()["errors"][0]["code"] == "pair_not_ended"
    catalogue = (await follow.get("/questionnaires")).json()
    mentee_end = next(q for q in catalogue["questionnaires"] if q["kind"] == "end_of_programme"
                      and q["respondent"] == "mentee")
    assert len(mentee_end["questions"]) == 7 and catalogue["current_version"] == 1
    toolkit = (await follow.get("/toolkit")).json()
    assert {"mentee_guide", "mentor_guide"} <= {r["resource"] for r in toolkit["resources"]}
    assert all(t["label"] for t in toolkit["themes"])
