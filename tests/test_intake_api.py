"""Intake over HTTP against real PostgreSQL and NATS: the three ways in, eligibility,
duplicates, idempotency, routing with the fairness rule, staff actions and their 401/403."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from events.intake import RegionSettingsChanged
from tests.intake_client import intake_service, token

MENTEE: dict[str, Any] = {
    "first_name": "Zoé", "last_name": "Kerhervé", "email": "zoe.kerherve@example.org",
    "phone": "+33 6 12 34 56 78", "birth_date": "2003-02-01", "postcode": "29200",
    "channel": "mission_locale", "establishment": "Mission locale du pays de Brest",
    "sector_interests": ["environment_ecology", "culture"], "aspirations": ["project_development"],
    "career_goals": "Travailler dans une coopérative d'énergie citoyenne.",
    "availability": ["weekday_evening"], "remote_ok": False, "consent_data_processing": True,
}
MENTOR: dict[str, Any] = {
    "first_name": "Karim", "last_name": "Benali", "email": "k.benali@example.org",
    "postcode": "75011", "channel": "recruitment_webinar", "years_in_ess": 8,
    "employment_status": "employee", "organisation": "Coopérative Alpha",
    "sector_expertise": ["culture", "social_action"], "job_family": "project_development",
    "capacity": 2, "availability": ["weekend"], "motivation": "Transmettre.",
    "consent_data_processing": True,
}


def person(**changes: Any) -> dict[str, Any]:
    """A different young person each time (unique e-mail and name) unless told otherwise."""
    unique = uuid.uuid4().hex[:8]
    return {**MENTEE, "email": f"jeune-{unique}@example.org", "last_name": f"Nom{unique}", **changes}


async def scalar(runtime, sql: str, **params) -> Any:
    async with runtime.store.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def event_types(runtime, application_id: str) -> list[str]:
    return [e.type for e in await runtime.store.read_stream(f"application-{application_id}")]


@pytest.fixture
async def intake(settings):
    async with intake_service(settings) as (client, runtime):
        yield client, runtime


# -- three ways in --------------------------------------------------------------------------

async def test_mentee_application_is_received_and_routed(intake):
    client, runtime = intake
    response = await client.post("/applications/mentee", json=MENTEE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["region"], body["cohort"]) == ("routed", "BRE", "2026-03")
    assert await event_types(runtime, body["application_id"]) == [
        "ApplicationReceived", "ApplicationRouted"]
    [received, routed] = await runtime.store.read_stream(f"application-{body['application_id']}")
    assert received.data.age_band.value == "21-25" and received.data.departement == "29"
    assert routed.data.basis.value == "departement"
    dumped = received.model_dump_json() + routed.model_dump_json()
    for secret in ("Zoé", "Kerhervé", "zoe.kerherve", "2003-02-01", "29200", "coopérative"):
        assert secret not in dumped  # personal data never enters an event


async def test_referral_registers_a_young_person(intake):
    client, runtime = intake
    referral = {"referrer": {"kind": "mission_locale_adviser", "first_name": "Anne",
                             "last_name": "Le Goff", "email": "a.legoff@ml-brest.example.org",
                             "organisation": "Mission locale de Brest"},
                "young_person": person()}
    response = await client.post("/applications/referral", json=referral)
    assert response.status_code == 201, response.text
    [received, _] = await runtime.store.read_stream(f"application-{response.json()['application_id']}")
    assert received.data.channel.value == "referrer"
    assert received.data.referrer_kind.value == "mission_locale_adviser"


async def test_mentor_application(intake):
    client, runtime = intake
    response = await client.post("/applications/mentor", json=MENTOR)
    assert response.status_code == 201, response.text
    assert response.json()["region"] == "IDF"
    [received, _] = await runtime.store.read_stream(f"application-{response.json()['application_id']}")
    assert (received.data.role.value, received.data.capacity, received.data.years_in_ess) == (
        "mentor", 2, 8)


# -- eligibility ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "form", "reason"),
    [
        ("/applications/mentee", {"birth_date": "2008-01-13"}, "mentee_too_young"),  # 17
        ("/applications/mentee", {"birth_date": "1995-01-11"}, "mentee_too_old"),  # 31
        ("/applications/mentor", {"years_in_ess": 2}, "mentor_too_little_experience"),
    ],
)
async def test_ineligible_applications_are_refused_and_counted(intake, path, form, reason):
    client, runtime = intake
    base = person() if path.endswith("mentee") else {**MENTOR, "email": f"{uuid.uuid4().hex}@x.org"}
    response = await client.post(path, json={**base, **form})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "rejected"
    assert [r["code"] for r in body["reasons"]] == [reason]
    assert "ESS" in body["reasons"][0]["message"] or "ans" in body["reasons"][0]["message"]
    assert await event_types(runtime, body["application_id"]) == [
        "ApplicationReceived", "ApplicationRejected"]
    assert await scalar(runtime, "SELECT count(*) FROM intake.vault") == 0
    assert await scalar(runtime, "SELECT count(*) FROM intake.blind_index") == 0


async def test_18_and_30_on_the_day_are_eligible(intake):
    client, _ = intake
    for birth in ("2008-01-12", "1995-01-13"):  # 18 today; 30 until tomorrow
        response = await client.post("/applications/mentee", json=person(birth_date=birth))
        assert response.json()["status"] == "routed", birth


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"consent_data_processing": False}, "consent_required", "consent_data_processing"),
        ({"postcode": "99999"}, "unknown_postcode", "postcode"),
        ({"email": "pas-un-email"}, "invalid_email", "email"),
        ({"sector_interests": []}, "too_short", "sector_interests"),
        ({"sector_interests": ["astrologie"]}, "invalid_choice", "sector_interests.0"),
        ({"birth_date": "01/02/2003"}, "invalid_date", "birth_date"),
        ({"unexpected": 1}, "unknown_field", "unexpected"),
    ],
)
async def test_malformed_requests_get_422_and_store_nothing(intake, change, code, field):
    client, runtime = intake
    response = await client.post("/applications/mentee", json=person(**change))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"code": code, "field": field} in [{"code": e["code"], "field": e["field"]} for e in errors]
    assert all(e["message"] for e in errors)
    assert await scalar(runtime, "SELECT count(*) FROM intake.events") == 0


# -- duplicates and idempotency --------------------------------------------------------------

async def test_the_same_person_twice_gets_the_existing_application(intake):
    client, runtime = intake
    first = (await client.post("/applications/mentee", json=MENTEE)).json()
    same_email = await client.post("/applications/mentee", json={
        **MENTEE, "email": " Zoe.Kerherve@EXAMPLE.org ", "last_name": "Autre"})
    same_identity = await client.post("/applications/mentee", json={
        **MENTEE, "email": "autre@example.org", "first_name": "zoe", "last_name": "KERHERVE"})
    for duplicate in (same_email, same_identity):
        assert duplicate.status_code == 200
        assert duplicate.json()["application_id"] == first["application_id"]
        assert duplicate.json()["duplicate"] is True
    assert await scalar(runtime, "SELECT count(*) FROM intake.applications") == 1


async def test_concurrent_duplicates_make_one_application(intake):
    client, runtime = intake
    form = person()
    answers = await asyncio.gather(*(client.post("/applications/mentee", json=form)
                                     for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert len({a.json()["application_id"] for a in answers}) == 1
    assert await scalar(runtime, "SELECT count(*) FROM intake.applications") == 1


async def test_idempotency_key_replays_the_same_answer(intake):
    client, runtime = intake
    form = person()
    headers = {"Idempotency-Key": "form-submit-42"}
    answers = await asyncio.gather(*(client.post("/applications/mentee", json=form, headers=headers)
                                     for _ in range(5)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["application_id"] for a in answers}) == 1
    reused = await client.post("/applications/mentee", json=person(), headers=headers)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert await scalar(runtime, "SELECT count(*) FROM intake.applications") == 1


async def test_a_refused_duplicate_records_nothing_even_with_a_key(intake):
    client, runtime = intake
    form = person()
    first = await client.post("/applications/mentee", json=form)
    counts = [await scalar(runtime, f"SELECT count(*) FROM intake.{table}")
              for table in ("events", "vault", "blind_index", "idempotency_keys")]
    for _ in range(2):  # the key is not kept with a duplicate: the same answer again
        again = await client.post("/applications/mentee", json=form,
                                  headers={"Idempotency-Key": "second-tab"})
        assert again.status_code == 200
        assert again.json()["application_id"] == first.json()["application_id"]
    assert [await scalar(runtime, f"SELECT count(*) FROM intake.{table}")
            for table in ("events", "vault", "blind_index", "idempotency_keys")] == counts


# -- routing --------------------------------------------------------------------------------

async def test_routing_decision_tree_and_fairness(intake):
    client, runtime = intake
    admin = token("admin")

    async def submit(**changes):
        response = await client.post("/applications/mentee", json=person(**changes))
        assert response.status_code == 201, response.text
        [_, routed] = await runtime.store.read_stream(f"application-{response.json()['application_id']}")
        return routed.data

    # Only IDF and BRE take part. 75 -> IDF by département; 69 (ARA) -> waiting list.
    assert (await submit(postcode="75011")).basis.value == "departement"
    waiting = await submit(postcode="69001")
    assert (waiting.to_region, waiting.basis.value) == ("ARA", "waiting_list")

    # A border case: Bretagne also takes Loire-Atlantique (44) in its criteria.
    put = await client.put("/staff/regions/BRE", headers=admin, json={
        "served": True, "departements": ["22", "29", "35", "56", "44"],
        "objective_mentees": 2, "objective_mentors": 2})
    assert put.status_code == 200, put.text
    border = await submit(postcode="44000")
    assert (border.to_region, border.basis.value) == ("BRE", "departement")

    # Remote-friendly: both regions fit; the one furthest from its objective wins.
    await client.put("/staff/regions/IDF", headers=admin, json={
        "served": True, "departements": ["75", "77", "78", "91", "92", "93", "94", "95"],
        "objective_mentees": 100, "objective_mentors": 100})
    remote = await submit(postcode="75011", remote_ok=True)  # IDF 1/100 vs BRE 1/2
    assert (remote.to_region, remote.basis.value) == ("IDF", "fairness")
    assert set(remote.candidate_regions) == {"IDF", "BRE"}

    # Auvergne-Rhône-Alpes joins: its waiting list is routed to it.
    joined = await client.put("/staff/regions/ARA", headers=admin, json={
        "served": True, "departements": ["01", "03", "07", "15", "26", "38", "42", "43", "63",
                                         "69", "73", "74"],
        "objective_mentees": 10, "objective_mentors": 10})
    assert joined.json()["routed_from_waiting_list"] == [str(waiting.application_id)]
    events = await runtime.store.read_stream(f"application-{waiting.application_id}")
    assert (events[-1].data.to_region, events[-1].data.basis.value) == ("ARA", "region_joined")


FAIRNESS_CASES = [
    # (objectives IDF, BRE), routed so far (IDF, BRE), home -> expected region
    ((10, 10), (0, 0), "IDF", "IDF"),  # tie: the home region
    ((10, 10), (5, 1), "IDF", "BRE"),
    ((10, 2), (1, 1), "BRE", "IDF"),  # BRE reached half its objective, IDF a tenth
    ((0, 10), (0, 9), "IDF", "BRE"),  # IDF wants no one this cohort
]


@pytest.mark.parametrize(("objectives", "routed", "home", "expected"), FAIRNESS_CASES)
def test_fairness_rule_table(objectives, routed, home, expected):
    from services.intake import domain

    settings = {
        "IDF": domain.RegionSettings("IDF", True, ("75",), "2026-03", objectives[0], 0),
        "BRE": domain.RegionSettings("BRE", True, ("29",), "2026-03", objectives[1], 0),
    }
    departement = "75" if home == "IDF" else "29"
    decision = domain.route(departement, True, domain.Role.mentee, settings,
                            {"IDF": routed[0], "BRE": routed[1]})
    assert decision.to_region == expected


# -- staff back-office ----------------------------------------------------------------------

async def test_from_application_to_admitted_candidate(intake):
    client, runtime = intake
    application_id = (await client.post("/applications/mentee", json=person())).json()["application_id"]
    referent = token("referent", "BRE", "ref-bre-1")
    booked = await client.post(f"/staff/applications/{application_id}/interviews", headers=referent,
                               json={"scheduled_at": "2026-01-20T10:00:00+01:00", "format": "remote"})
    assert booked.status_code == 201, booked.text
    interview_id = booked.json()["interview_id"]
    assert booked.json()["application"]["status"] == "interview_scheduled"
    runtime.clock.advance(timedelta(days=8))  # the interview has taken place
    done = await client.post(f"/staff/applications/{application_id}/interviews/{interview_id}/outcome",
                             headers=referent, json={"outcome": "favourable"})
    assert done.json()["status"] == "interviewed"
    admitted = await client.post(f"/staff/applications/{application_id}/admit", headers=referent)
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["status"] == "admitted"
    assert await event_types(runtime, application_id) == [
        "ApplicationReceived", "ApplicationRouted", "InterviewScheduled", "InterviewCompleted",
        "CandidateAdmitted"]
    again = await client.post(f"/staff/applications/{application_id}/admit", headers=referent)
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "invalid_transition"

    detail = await client.get(f"/staff/applications/{application_id}", headers=referent)
    assert detail.json()["identity"]["first_name"] == "Zoé"
    analyst = await client.get(f"/staff/applications/{application_id}", headers=token("analyst"))
    assert analyst.status_code == 200 and analyst.json()["identity"] is None


async def test_decline_withdraw_and_reroute(intake):
    client, runtime = intake
    bre = token("referent", "BRE", "ref-bre-1")
    ids = [(await client.post("/applications/mentee", json=person())).json()["application_id"]
           for _ in range(3)]
    declined = await client.post(f"/staff/applications/{ids[0]}/decline", headers=bre,
                                 json={"reason": "project_not_aligned"})
    assert declined.json()["status"] == "declined"
    withdrawn = await client.post(f"/staff/applications/{ids[1]}/withdrawal", headers=bre,
                                  json={"reason": "found_job_or_training"})
    assert withdrawn.json()["status"] == "withdrawn"
    moved = await client.post(f"/staff/applications/{ids[2]}/reroute", headers=bre,
                              json={"to_region": "IDF", "reason": "applicant_request"})
    assert (moved.json()["status"], moved.json()["region"]) == ("routed", "IDF")
    [*_, routed] = await runtime.store.read_stream(f"application-{ids[2]}")
    assert (routed.data.from_region, routed.data.basis.value) == ("BRE", "manual")
    # Now in IDF: the Breton referent may no longer act on it.
    refused = await client.post(f"/staff/applications/{ids[2]}/decline", headers=bre,
                                json={"reason": "other"})
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "forbidden_region"


async def test_listing_is_filtered_and_region_scoped(intake):
    client, _ = intake
    await client.post("/applications/mentee", json=person())  # BRE
    await client.post("/applications/mentee", json=person(postcode="93200"))  # IDF
    await client.post("/applications/mentor", json=MENTOR)  # IDF
    bre = await client.get("/staff/applications", headers=token("referent", "BRE"))
    assert [r["region"] for r in bre.json()] == ["BRE"]
    idf_mentors = await client.get("/staff/applications", params={"role": "mentor"},
                                   headers=token("admin"))
    assert [r["role"] for r in idf_mentors.json()] == ["mentor"]
    assert len((await client.get("/staff/applications", params={"cohort": "2026-03"},
                                 headers=token("analyst"))).json()) == 3
    other = await client.get("/staff/applications", params={"region": "IDF"},
                             headers=token("referent", "BRE"))
    assert other.status_code == 403


async def test_submission_dates_are_filtered_as_days_in_paris(intake):
    client, runtime = intake
    runtime.clock.set(datetime(2026, 1, 11, 23, 30, tzinfo=UTC))  # the 12th, 00:30 in Paris
    await client.post("/applications/mentee", json=person())

    async def listed(**params: str) -> int:
        return len((await client.get("/staff/applications", params=params,
                                     headers=token("admin"))).json())

    assert await listed(submitted_from="2026-01-12") == 1
    assert await listed(submitted_to="2026-01-11") == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/staff/applications", None),
        ("post", "/staff/applications/{id}/admit", None),
        ("post", "/staff/applications/{id}/decline", {"reason": "other"}),
        ("post", "/staff/applications/{id}/withdrawal", {"reason": "other"}),
        ("post", "/staff/applications/{id}/reroute", {"to_region": "IDF", "reason": "other"}),
        ("post", "/staff/applications/{id}/interviews",
         {"scheduled_at": "2026-01-20T10:00:00+01:00"}),
        ("put", "/staff/regions/BRE", {"served": True, "departements": ["29"],
                                       "objective_mentees": 1, "objective_mentors": 1}),
        ("delete", "/staff/persons/{person}", None),
    ],
)
async def test_staff_actions_need_credentials_role_and_region(intake, method, path, body):
    client, _ = intake
    created = (await client.post("/applications/mentee", json=person())).json()
    url = path.format(id=created["application_id"], person=uuid.uuid4())
    kwargs = {"json": body} if body is not None else {}
    missing = await client.request(method, url, **kwargs)
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["code"] == "unauthenticated"
    forged = await client.request(method, url, headers={"Authorization": "Bearer abc.def.ghi"},
                                  **kwargs)
    assert forged.status_code == 401
    if method != "get":
        analyst = await client.request(method, url, headers=token("analyst"), **kwargs)
        assert analyst.status_code == 403
        assert analyst.json()["errors"][0]["code"] == "forbidden_role"
    if "persons" not in url and "regions" not in url:
        other_region = await client.request(method, url, headers=token("referent", "IDF"),
                                            **kwargs)
        if method == "get":  # the list is simply limited to the referent's region
            assert all(r["region"] == "IDF" for r in other_region.json())
        else:
            assert other_region.status_code == 403
            assert other_region.json()["errors"][0]["code"] == "forbidden_region"
    elif "regions" in url:
        other_region = await client.request(method, url, headers=token("referent", "IDF"), **kwargs)
        assert other_region.status_code == 403
    else:
        referent = await client.request(method, url, headers=token("referent", "BRE"), **kwargs)
        assert referent.status_code == 403


async def test_vocabularies_for_the_form(intake):
    client, _ = intake
    body = (await client.get("/vocabularies")).json()
    assert body["sector_vocabulary_version"] == 1
    assert {"code": "housing", "label": "Logement"} in body["sectors"]
    assert all(entry["label"] for entry in body["channels"])


async def test_health_and_metrics(intake):
    client, _ = intake
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["nats"] is True
    await client.post("/applications/mentee", json=person())
    metrics = (await client.get("/metrics/")).text
    assert "success_relay_published_events" in metrics


async def test_region_settings_are_reused_briefly_and_a_change_applies(intake, monkeypatch):
    """Submissions reuse the regions' settings for SETTINGS_REUSE_S: a change made through
    this process applies to the very next application; one made by another intake process
    (another Intake over the same database) once that delay has passed."""
    from services.intake import workflow

    client, runtime = intake
    now = [1000.0]
    monkeypatch.setattr(workflow, "_monotonic", lambda: now[0])

    async def region_of(postcode: str) -> str:
        response = await client.post("/applications/mentee", json=person(postcode=postcode))
        assert response.status_code == 201, response.text
        return response.json()["region"]

    assert await region_of("44000") == "PDL"  # Loire-Atlantique: not served yet
    put = await client.put("/staff/regions/BRE", headers=token("admin"), json={
        "served": True, "departements": ["22", "29", "35", "56", "44"],
        "objective_mentees": 5, "objective_mentors": 5})
    assert put.status_code == 200, put.text
    assert await region_of("44000") == "BRE"  # at once: the change went through here

    here = runtime.state["intake"]
    elsewhere = workflow.Intake(runtime.store, here.vault,
                                runtime.settings, runtime.clock)
    await elsewhere.change_region(RegionSettingsChanged(
        region="BRE", served=True, departements=("22", "29", "35", "56"),
        cohort=here.current_cohort(), objective_mentees=5, objective_mentors=5), "ref-002")
    assert await region_of("44000") in {"BRE", "PDL"}  # within the delay: either
    now[0] += workflow.SETTINGS_REUSE_S
    assert await region_of("44000") == "PDL"  # after it: the other process's change
