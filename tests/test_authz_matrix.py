"""The authorisation matrix: every operation of every service's OpenAPI document, called by
every kind of principal, against resources of Île-de-France.

The expected outcome comes from the policy table below, one line per operation: which roles
may call it and whether it is confined to the caller's region. An operation the OpenAPI
shows but the table does not name fails the test: a new endpoint cannot be forgotten.

No token: 401. Wrong role: 403. A Brittany principal on an Île-de-France resource: 403 (the
services answer 403 ``forbidden_region`` rather than hide existence). Allowed principals:
neither 401 nor 403 (a 409 or 422 of the rules is fine: the call went through the door).
Never a 5xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from fastapi import HTTPException
from sqlalchemy import text

from services.common.auth import Principal, StaffRole, require_regions
from services.common.clock import ManualClock
from tests.conftest import eventually
from tests.followup_client import followed, move_to
from tests.intake_client import TODAY, intake_service, token
from tests.openapi_cases import Operation, Sampler, operations
from tests.test_intake_api import person
from tests.test_matching_api import mentor, pool_size

SERVICES = ("intake", "matching", "followup", "reporting")
HOME, FOREIGN = "IDF", "BRE"
PARIS_POSTCODE = "75011"

REFERENT, ADMIN, ANALYST, MENTOR, SERVICE = "referent", "admin", "analyst", "mentor", "service"
READERS = frozenset({REFERENT, ADMIN, ANALYST})
ACTORS = frozenset({REFERENT, ADMIN})


@dataclass(frozen=True)
class Rule:
    """Who may call an operation. ``roles`` None: public. ``regional``: confined to the
    caller's region (the resource's, or the region asked for); otherwise the operation is a
    catalogue or a list that each caller sees filtered to their region."""

    roles: frozenset[str] | None
    regional: bool = True


PUBLIC = Rule(None, regional=False)
READ, ACT = Rule(READERS), Rule(ACTORS)
# The participants service acts for the person a verified personal link names.
FOR_PARTICIPANT, FOR_PARTICIPANT_READ = Rule(ACTORS | {SERVICE}), Rule(READERS | {SERVICE})
OPS = {f"{service} GET {path}": PUBLIC for service in SERVICES
       for path in ("/healthz", "/readyz")}

POLICY: dict[str, Rule] = {
    **OPS,
    # intake
    "intake POST /applications/mentee": PUBLIC,
    "intake POST /applications/referral": PUBLIC,
    "intake POST /applications/mentor": PUBLIC,
    "intake GET /vocabularies": PUBLIC,
    "intake GET /staff/applications": READ,
    "intake GET /staff/applications/{application_id}": READ,
    "intake POST /staff/applications/{application_id}/interviews": ACT,
    "intake POST /staff/applications/{application_id}/interviews/{interview_id}/outcome": ACT,
    "intake POST /staff/applications/{application_id}/admit": ACT,
    "intake POST /staff/applications/{application_id}/decline": ACT,
    "intake POST /staff/applications/{application_id}/withdrawal": ACT,
    "intake POST /staff/applications/{application_id}/reroute": ACT,
    # Every region's criteria: what a referent needs to reroute an applicant elsewhere.
    "intake GET /staff/regions": Rule(READERS, regional=False),
    "intake PUT /staff/regions/{region}": ACT,
    "intake DELETE /staff/persons/{person_id}": Rule(frozenset({ADMIN})),
    "intake GET /staff/persons/{person_id}/contact": Rule(frozenset({SERVICE})),
    "intake GET /staff/persons/{person_id}/data": Rule(frozenset({SERVICE})),
    "reporting GET /staff/persons/{person_id}/events": Rule(frozenset({SERVICE})),
    # A search answers what the caller's region holds; someone known elsewhere only: 403.
    "intake GET /staff/persons": Rule(ACTORS, regional=False),
    "intake PUT /staff/persons/{person_id}/contact": ACT,
    # matching
    "matching POST /staff/cohorts": ACT,
    "matching GET /staff/cohorts": Rule(READERS, regional=False),
    "matching POST /staff/cohorts/{cohort_id}/proposals": ACT,
    "matching GET /staff/cohorts/{cohort_id}/proposals": READ,
    "matching POST /staff/proposals/{match_id}/confirm": ACT,
    "matching POST /staff/proposals/{match_id}/decline": ACT,
    "matching POST /staff/proposals/{match_id}/cancel": ACT,
    "matching GET /staff/proposals": READ,
    "matching POST /staff/cohorts/{cohort_id}/pairs": ACT,
    "matching POST /staff/pairs/{pair_id}/end": ACT,
    "matching POST /staff/cohorts/{cohort_id}/launch": ACT,
    "matching GET /staff/pool": READ,
    # followup
    "followup GET /toolkit": PUBLIC,
    "followup GET /questionnaires": PUBLIC,
    "followup PUT /staff/referents/{referent_id}": ACT,
    "followup GET /staff/pairs": READ,
    "followup GET /staff/pairs/{pair_id}": FOR_PARTICIPANT_READ,
    "followup POST /staff/pairs/{pair_id}/referent": ACT,
    # A mentor only for their own pair: the mentor principal below is this pair's mentor.
    "followup POST /staff/pairs/{pair_id}/sessions": Rule(ACTORS | {MENTOR}),
    "followup POST /staff/pairs/{pair_id}/reviews/{kind}/schedule": ACT,
    "followup POST /staff/pairs/{pair_id}/reviews/{kind}": ACT,
    "followup POST /staff/pairs/{pair_id}/end": ACT,
    "followup POST /staff/pairs/{pair_id}/outcomes": ACT,
    "followup POST /staff/pairs/{pair_id}/questionnaires": FOR_PARTICIPANT,
    "followup POST /staff/questionnaires/annual": ACT,
    "followup POST /staff/networking-events": ACT,
    "followup GET /staff/networking-events": FOR_PARTICIPANT_READ,
    "followup POST /staff/networking-events/{networking_event_id}/registrations": FOR_PARTICIPANT,
    "followup POST /staff/networking-events/{networking_event_id}/attendance": FOR_PARTICIPANT,
    "followup GET /staff/networking-events/{networking_event_id}": READ,
    # reporting
    **{f"reporting GET /reports/{name}": READ
       for name in ("cohorts", "channels", "journeys", "outcomes", "progress", "networking",
                    "objectives", "reviews/overdue")},
    "reporting GET /dashboard": READ,
}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None = None
    region: str | None = None
    subject: str = "staff-1"
    own_pair: bool = True  # a mentor: the seeded pair's mentor, or another one

    def headers(self) -> dict[str, str]:
        return token(self.role, self.region, self.subject) if self.role else {}


def callers(mentor_id: str) -> list[Caller]:
    return [
        Caller("sans jeton"),
        Caller("référente IDF", REFERENT, HOME, "ref-idf-1"),
        Caller("référent BRE", REFERENT, FOREIGN, "ref-bre-1"),
        Caller("admin IDF", ADMIN, HOME, "adm-idf"),
        Caller("admin BRE", ADMIN, FOREIGN, "adm-bre"),
        Caller("admin national", ADMIN, None, "adm-nat"),
        Caller("analyste IDF", ANALYST, HOME, "ana-idf"),
        Caller("analyste national", ANALYST, None, "ana-nat"),
        Caller("mentor du binôme", MENTOR, None, mentor_id),
        Caller("autre mentor", MENTOR, None, str(uuid4()), own_pair=False),
        Caller("service", SERVICE, None, "followup"),
    ]


def expected(rule: Rule, caller: Caller) -> int | None:
    """The status the caller must get (401, 403), or None: let through (not 401/403)."""
    if rule.roles is None:
        return None
    if caller.role is None:
        return 401
    if caller.role not in rule.roles or (caller.role == MENTOR and not caller.own_pair):
        return 403
    if rule.regional and caller.region not in (None, HOME):
        return 403
    return None


# --- seeds: one resource of each kind in Île-de-France, through the APIs ----------------------

HOME_ADMIN = token(ADMIN, HOME, "adm-idf")


async def admitted(intake, form: dict, path: str) -> dict[str, str]:
    created = (await intake.post(path, json=form)).json()
    assert created["region"] == HOME, created
    application_id = created["application_id"]
    # Interviewed as soon as they applied: an opinion cannot precede the interview.
    detail = (await intake.get(f"/staff/applications/{application_id}",
                               headers=HOME_ADMIN)).json()
    booked = await intake.post(f"/staff/applications/{application_id}/interviews",
                               headers=HOME_ADMIN,
                               json={"scheduled_at": detail["application"]["submitted_at"]})
    assert booked.status_code == 201, booked.text
    interview_id = booked.json()["interview_id"]
    await intake.post(f"/staff/applications/{application_id}/interviews/{interview_id}/outcome",
                      headers=HOME_ADMIN, json={"outcome": "favourable"})
    done = await intake.post(f"/staff/applications/{application_id}/admit", headers=HOME_ADMIN)
    assert done.status_code == 200, done.text
    return {"application_id": application_id, "interview_id": interview_id,
            "person_id": done.json()["person_id"]}


async def seed(svc) -> dict[str, Any]:
    intake, _ = svc["intake"]
    matching, m_runtime = svc["matching"]
    follow, _ = svc["followup"]
    mentee = await admitted(intake, person(postcode=PARIS_POSTCODE, sector_interests=["culture"]),
                            "/applications/mentee")
    its_mentor = await admitted(intake, mentor(postcode=PARIS_POSTCODE,
                                               sector_expertise=["culture"], capacity=1),
                                "/applications/mentor")

    async def in_pool() -> bool:
        return await pool_size(m_runtime) >= 2

    await eventually(in_pool)
    opened = await matching.post("/staff/cohorts", headers=HOME_ADMIN,
                                 json={"region": HOME, "target_pairs": 1})
    assert opened.status_code == 201, opened.text
    cohort_id = opened.json()["cohort_id"]
    run = await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=HOME_ADMIN)
    [proposal] = run.json()["proposals"]
    confirmed = await matching.post(f"/staff/proposals/{proposal['match_id']}/confirm",
                                    headers=HOME_ADMIN)
    assert confirmed.status_code == 200, confirmed.text
    pair_id = confirmed.json()["pair_id"]

    async def followed_up() -> bool:
        return (await follow.get(f"/staff/pairs/{pair_id}", headers=HOME_ADMIN)).status_code == 200

    await eventually(followed_up)
    referent = await follow.put("/staff/referents/ref-idf-1", headers=HOME_ADMIN, json={
        "region": HOME, "email": "referente.idf@cress.example", "display_name": "Inès"})
    assert referent.status_code == 200, referent.text
    event = await follow.post("/staff/networking-events", headers=HOME_ADMIN, json={
        "region": HOME, "kind": "workshop", "audience": "current_pairs",
        "starts_at": "2026-04-01T18:00:00+02:00", "format": "remote"})
    assert event.status_code == 201, event.text
    return {
        "application_id": mentee["application_id"], "interview_id": mentee["interview_id"],
        "person_id": mentee["person_id"], "mentee_id": mentee["person_id"],
        "mentor_id": its_mentor["person_id"], "cohort_id": cohort_id,
        "match_id": proposal["match_id"], "pair_id": pair_id, "referent_id": "ref-idf-1",
        "networking_event_id": event.json()["networking_event_id"],
        "region": HOME, "to_region": HOME, "departement": "75", "departements": ["75"],
    }


def bodies() -> dict[str, Any]:
    """Whole bodies where the schema alone cannot make a valid one (identity checks)."""
    return {
        "intake POST /applications/mentee": lambda: person(postcode=PARIS_POSTCODE),
        "intake POST /applications/mentor": lambda: mentor(postcode=PARIS_POSTCODE),
        "intake PUT /staff/persons/{person_id}/contact": lambda: {"phone": "0612345678"},
        "intake POST /applications/referral": lambda: {
            "referrer": {"kind": "mission_locale_adviser", "first_name": "Paul",
                         "last_name": "Prescrit", "email": "prescripteur@example.org"},
            "young_person": person(postcode=PARIS_POSTCODE)},
    }


def destructive_last(operation: Operation) -> tuple[bool, str]:
    return operation.method == "DELETE", operation.key


async def documents(svc) -> dict[str, dict[str, Any]]:
    out = {}
    for name in SERVICES:
        answer = await svc[name][0].get("/openapi.json")
        assert answer.status_code == 200
        out[name] = answer.json()
    return out


# --- the matrix ---------------------------------------------------------------------------

@pytest.fixture
async def four_services(settings, mailbox):
    async with followed(settings, mailbox, ManualClock(TODAY), services=SERVICES) as svc:
        yield svc


async def test_every_operation_for_every_principal(four_services):
    svc = four_services
    seeds = await seed(svc)
    docs = await documents(svc)
    ops = sorted((op for name, doc in docs.items() for op in operations(name, doc)),
                 key=destructive_last)
    missing = sorted(op.key for op in ops if op.key not in POLICY)
    assert not missing, f"operations without a line in POLICY: {missing}"
    stale = sorted(set(POLICY) - {op.key for op in ops})
    assert not stale, f"POLICY lines of operations that no longer exist: {stale}"

    everyone = callers(seeds["mentor_id"])
    whole_bodies = bodies()
    failures: list[str] = []
    leaks = await lists_seen_from_another_region(svc, docs, ops, seeds, everyone)
    failures.extend(leaks)
    for op in ops:
        rule = POLICY[op.key]
        # Refusals first: an allowed call may change the resource (end a pair, erase a person).
        for caller in sorted(everyone, key=lambda c: expected(rule, c) is None):
            requests = [s.request(op, body=whole_bodies.get(op.key))
                        for s in samplers(docs[op.service], op, seeds, caller)]
            for url, query, body in [r for i, r in enumerate(requests) if r not in requests[:i]]:
                answer = await svc[op.service][0].request(op.method, url, params=query,
                                                          json=body, headers=caller.headers())
                failure = verdict(op, caller, expected(rule, caller), answer)
                if failure:
                    failures.append(f"{failure} (body: {json.dumps(body)[:200]})")
    assert not failures, "\n".join(failures)
    reporting, _ = svc["reporting"]
    for caller in everyone:
        if caller.region == FOREIGN:  # a cohort id names its region as well
            answer = await reporting.get("/reports/journeys", headers=caller.headers(),
                                         params={"cohort_id": seeds["cohort_id"]})
            assert answer.status_code == 403, (caller.name, answer.text)


def samplers(document: dict[str, Any], op: Operation, seeds: dict[str, Any],
             caller: Caller) -> list[Sampler]:
    """The body naming the resource's region; and for a principal of another region acting on
    a resource named in the path, also a body naming their own region (moving the resource,
    or its reminders, out of the region it belongs to)."""
    out = [Sampler(document, seeds)]
    if op.parameters("path") and caller.region not in (None, HOME):
        out.append(Sampler(document, seeds, {"region": caller.region,
                                             "to_region": caller.region}))
    return out


def verdict(op: Operation, caller: Caller, want: int | None, answer) -> str | None:
    where = f"{op.key} as {caller.name}: {answer.status_code} {answer.text[:200]}"
    if answer.status_code >= 500:
        return f"server error — {where}"
    if want is None:
        return f"refused, should pass — {where}" if answer.status_code in (401, 403) else None
    if answer.status_code != want:
        return f"expected {want} — {where}"
    codes = {e["code"] for e in answer.json()["errors"]}
    allowed = ({"unauthenticated"} if want == 401 else
               {"forbidden_role", "forbidden_region", "not_your_pair", "not_yourself"})
    return None if codes <= allowed else f"unexpected error code {codes} — {where}"


# Not lists: they need criteria, and a person known in another region only is a 403
# (tests/test_intake_search.py).
LOOKUPS = frozenset({"intake GET /staff/persons"})


async def lists_seen_from_another_region(svc, docs, ops: list[Operation], seeds: dict[str, Any],
                                        everyone: list[Caller]) -> list[str]:
    """Lists and reports asked without a region by a Brittany principal: they answer, but
    show nothing of the Île-de-France resources."""
    secrets = [seeds[k] for k in ("application_id", "person_id", "mentor_id", "cohort_id",
                                  "match_id", "pair_id", "networking_event_id")]
    foreign = [c for c in everyone if c.region == FOREIGN]
    failures = []
    for op in ops:
        rule = POLICY[op.key]
        if (op.method != "GET" or rule.roles is None or op.parameters("path")
                or any(p.get("required") for p in op.parameters("query"))
                or op.key in LOOKUPS):
            continue
        url, query, _ = Sampler(docs[op.service], seeds).request(op, optional_region=False)
        for caller in foreign:
            if expected(rule, caller) == 403 and caller.role not in rule.roles:
                continue
            answer = await svc[op.service][0].get(url, params=query, headers=caller.headers())
            where = f"{op.key} without region as {caller.name}"
            if answer.status_code != 200:
                failures.append(f"list refused — {where}: {answer.status_code} "
                                f"{answer.text[:200]}")
            elif seen := [s for s in secrets if s in answer.text]:
                failures.append(f"shows another region's {seen} — {where}")
    return failures


# --- what a refusal leaves behind: nothing --------------------------------------------------

async def test_a_refused_erasure_destroys_nothing(settings):
    async with intake_service(settings) as (intake, runtime):
        created = (await intake.post("/applications/mentee",
                                     json=person(postcode=PARIS_POSTCODE))).json()
        detail = await intake.get(f"/staff/applications/{created['application_id']}",
                                  headers=HOME_ADMIN)
        person_id = detail.json()["application"]["person_id"]
        service = token(SERVICE, None, "followup")

        refused = await intake.delete(f"/staff/persons/{person_id}",
                                      headers=token(ADMIN, FOREIGN, "adm-bre"))
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["code"] == "forbidden_region"
        assert (await intake.get(f"/staff/persons/{person_id}/contact",
                                 headers=service)).status_code == 200
        assert await runtime.store.read_stream(f"person-{person_id}") == []
        unknown = await intake.delete(f"/staff/persons/{uuid4()}",
                                      headers=token(ADMIN, FOREIGN, "adm-bre"))
        assert unknown.status_code == 404  # unknown to everyone, whatever their region

        erased = await intake.delete(f"/staff/persons/{person_id}", headers=HOME_ADMIN)
        assert erased.status_code == 200, erased.text
        assert (await intake.get(f"/staff/persons/{person_id}/contact",
                                 headers=service)).status_code == 404


async def test_a_region_keeps_its_referents_and_their_reminders(settings, mailbox):
    services = ("intake", "matching", "followup")
    clock = ManualClock(TODAY)
    async with followed(settings, mailbox, clock, services=services) as svc:
        seeds = await seed(svc)
        follow, runtime = svc["followup"]
        foreign_admin = token(ADMIN, FOREIGN, "adm-bre")

        taken = await follow.put("/staff/referents/ref-idf-1", headers=foreign_admin, json={
            "region": FOREIGN, "email": "ailleurs@example.org", "display_name": "Autre"})
        assert taken.status_code == 403, taken.text
        async with runtime.store.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT region, email FROM followup.referents WHERE referent_id = 'ref-idf-1'"
            ))).one()
        assert (row.region, row.email) == (HOME, "referente.idf@cress.example")

        mine = await follow.put("/staff/referents/ref-bre-1", headers=foreign_admin, json={
            "region": FOREIGN, "email": "referent.bre@cress.example", "display_name": "Yann"})
        assert mine.status_code == 200, mine.text
        path = f"/staff/pairs/{seeds['pair_id']}/referent"
        elsewhere = await follow.post(path, headers=HOME_ADMIN, json={"referent_id": "ref-bre-1"})
        assert elsewhere.status_code == 422, elsewhere.text
        assert elsewhere.json()["errors"][0]["code"] == "referent_other_region"
        assert elsewhere.json()["errors"][0]["field"] == "referent_id"
        home = await follow.post(path, headers=HOME_ADMIN, json={"referent_id": "ref-idf-1"})
        assert home.status_code == 200, home.text

        # Two weeks before month 6 the referent is asked to book the intermediate review.
        await move_to(svc, clock, date(2026, 8, 18))
        asked = mailbox.to("referente.idf@cress.example")
        assert any("bilan intermédiaire à planifier" in m["Subject"] for m in asked)
        # She moves to Brittany (a national admin records it): Île-de-France's reminders for
        # the pair she followed no longer reach her.
        moved = await follow.put("/staff/referents/ref-idf-1", headers=token(ADMIN, None, "nat"),
                                 json={"region": FOREIGN, "email": "ailleurs@example.org",
                                       "display_name": "Inès"})
        assert moved.status_code == 200, moved.text
        await move_to(svc, clock, date(2026, 9, 1))
        assert mailbox.to("ailleurs@example.org") == []
        async with runtime.store.engine.connect() as conn:
            skipped = (await conn.execute(text(
                "SELECT count(*) FROM followup.mails WHERE referent_id = 'ref-idf-1' AND "
                "skipped = 'no_contact'"))).scalar()
        assert skipped >= 1


@pytest.mark.parametrize(("region", "regions", "allowed"), [
    (None, set(), True),               # national staff: everything, even what has no region
    (None, {"IDF", "BRE"}, True),
    ("IDF", {"IDF"}, True),
    ("IDF", {"IDF", "BRE"}, False),    # a person known in two regions: national staff only
    ("IDF", set(), False),             # belongs to no known region: national staff only
    ("BRE", {"IDF"}, False),
])
def test_require_regions(region, regions, allowed):
    principal = Principal("adm-1", StaffRole.admin, region)
    if allowed:
        require_regions(principal, regions)
    else:
        with pytest.raises(HTTPException) as refused:
            require_regions(principal, regions)
        assert refused.value.status_code == 403
        assert refused.value.detail["errors"][0]["code"] == "forbidden_region"
