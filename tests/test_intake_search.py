"""Staff find a person who phones (by e-mail, or by name and birth date) and correct a
mistyped e-mail or phone, over HTTP against real PostgreSQL and NATS: region-scoped, never for
analysts, the vault re-encrypted, the lookup keys moved, and an event without personal data."""

from __future__ import annotations

from uuid import UUID

import pytest

from services.intake import domain
from tests.intake_client import intake_service, token
from tests.test_intake_api import MENTOR, person

BRE = token("referent", "BRE", "ref-bre-1")
IDF = token("referent", "IDF", "ref-idf-1")
ADMIN = token("admin", None, "adm-1")
ANALYST = token("analyst", None, "ana-1")
PERSON = UUID(int=7)


@pytest.fixture
async def intake(settings):
    async with intake_service(settings) as (client, runtime):
        yield client, runtime


async def apply(client, form: dict) -> dict:
    answer = await client.post("/applications/mentee", json=form)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def search(client, headers=BRE, **params):
    return await client.get("/staff/persons", headers=headers, params=params)


async def test_found_by_email_or_by_name_and_birth_date(intake):
    client, _ = intake
    form = person(email="Zoe.Search@Example.org", first_name="Zoé", last_name="Le Goff-Search")
    applied = await apply(client, form)
    await apply(client, person())  # someone else

    by_email = await search(client, email="  zoe.search@example.ORG ")
    assert by_email.status_code == 200, by_email.text
    [found] = by_email.json()
    assert (found["application_id"], found["role"], found["status"], found["region"]) == (
        applied["application_id"], "mentee", "routed", "BRE")
    # Normalised like the duplicate check: case, accents, hyphens do not matter.
    by_name = await search(client, first_name="ZOE", last_name="le goff search",
                           birth_date=form["birth_date"])
    assert [r["application_id"] for r in by_name.json()] == [applied["application_id"]]
    national = await search(client, ADMIN, email="zoe.search@example.org")
    assert len(national.json()) == 1

    nobody = await search(client, email="personne@example.org")
    assert (nobody.status_code, nobody.json()) == (200, [])
    wrong_day = await search(client, first_name="Zoé", last_name="Le Goff-Search",
                             birth_date="2003-02-02")
    assert wrong_day.json() == []


async def test_a_mentor_is_found_by_email(intake):
    client, _ = intake
    answer = await client.post("/applications/mentor", json={
        **MENTOR, "email": "mentor.search@example.org", "postcode": "29200"})
    [found] = (await search(client, email="mentor.search@example.org")).json()
    assert (found["application_id"], found["role"]) == (answer.json()["application_id"],
                                                        "mentor")


async def test_other_region_and_analysts_are_refused(intake):
    client, _ = intake
    form = person()
    await apply(client, form)  # Breton
    other_region = await search(client, IDF, email=form["email"])
    assert other_region.status_code == 403
    assert other_region.json()["errors"][0]["code"] == "forbidden_region"
    analyst = await search(client, ANALYST, email=form["email"])
    assert analyst.status_code == 403
    assert (await client.get("/staff/persons", params={"email": form["email"]})).status_code == 401


@pytest.mark.parametrize(("params", "code", "field"), [
    ({}, "search_criteria", "email"),
    ({"first_name": "Zoé", "last_name": "Kerhervé"}, "search_criteria", "email"),
    ({"email": "a@example.org", "first_name": "Zoé", "last_name": "K",
      "birth_date": "2003-02-01"}, "search_criteria", "email"),
    ({"email": "pas une adresse"}, "invalid_email", "email"),
    ({"first_name": "Zoé", "last_name": "K", "birth_date": "le 1er février"}, "invalid_date",
     "birth_date"),
])
async def test_malformed_searches(intake, params, code, field):
    client, _ = intake
    answer = await search(client, **params)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]  # French


async def test_correcting_the_email_moves_the_lookup_and_the_duplicate_check(intake):
    client, runtime = intake
    form = person(email="zoe.typo@exmaple.org")
    applied = await apply(client, form)
    detail = await client.get(f"/staff/applications/{applied['application_id']}", headers=BRE)
    person_id = detail.json()["application"]["person_id"]

    corrected = await client.put(f"/staff/persons/{person_id}/contact", headers=BRE, json={
        "email": "zoe.right@example.org", "phone": form["phone"]})  # the phone was right
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["corrected"] == ["email"]

    assert len((await search(client, email="zoe.right@example.org")).json()) == 1
    assert (await search(client, email="zoe.typo@exmaple.org")).json() == []
    identity = (await client.get(f"/staff/applications/{applied['application_id']}",
                                 headers=BRE)).json()["identity"]
    assert (identity["email"], identity["first_name"]) == ("zoe.right@example.org",
                                                           form["first_name"])
    # Applying again: the new e-mail is the duplicate; the old one is free again.
    again = await client.post("/applications/mentee", json={
        **person(), "email": "zoe.right@example.org"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["application_id"] == applied["application_id"]
    freed = await client.post("/applications/mentee", json={
        **person(), "email": "zoe.typo@exmaple.org"})
    assert freed.status_code == 201, freed.text

    [event] = [e for e in await runtime.store.read_stream(f"person-{person_id}")]
    assert event.type == "ContactDetailsCorrected" and event.region == "BRE"
    assert event.data.model_dump(mode="json") == {
        "person_id": person_id, "fields": ["email"], "corrected_by": "ref-bre-1"}
    dumped = event.model_dump_json()
    for secret in ("zoe", "example", "exmaple", form["phone"], form["last_name"]):
        assert secret not in dumped  # no personal data on the bus


async def test_corrections_refused(intake):
    client, runtime = intake
    first, second = person(), person()
    await apply(client, first)
    applied = await apply(client, second)
    detail = await client.get(f"/staff/applications/{applied['application_id']}", headers=BRE)
    person_id = detail.json()["application"]["person_id"]
    url = f"/staff/persons/{person_id}/contact"

    taken = await client.put(url, headers=BRE, json={"email": first["email"].upper()})
    assert taken.status_code == 409
    assert taken.json()["errors"][0] == {
        "code": "email_already_used", "field": "email",
        "message": taken.json()["errors"][0]["message"]}
    for body, code in (({}, "nothing_to_correct"), ({"email": "pas une adresse"},
                                                     "invalid_email"),
                       ({"phone": "appelez-moi"}, "invalid_format"),
                       ({"email": "a@example.org", "address": "1 rue"}, "unknown_field")):
        refused = await client.put(url, headers=BRE, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["code"] == code
    assert (await client.put(url, headers=IDF, json={"phone": "0600000000"})).status_code == 403
    assert (await client.put(url, headers=ANALYST, json={"phone": "0600000000"})
            ).status_code == 403
    unknown = await client.put("/staff/persons/00000000-0000-0000-0000-000000000009/contact",
                               headers=BRE, json={"phone": "0600000000"})
    assert unknown.status_code == 404
    same = await client.put(url, headers=BRE, json={"email": second["email"].upper()})
    assert (same.status_code, same.json()["corrected"]) == (200, [])
    assert await runtime.store.read_stream(f"person-{person_id}") == []  # nothing recorded
    # Still findable by the e-mail it always had.
    assert len((await search(client, email=second["email"])).json()) == 1


async def test_erasure_after_a_correction(intake):
    client, runtime = intake
    form = person()
    applied = await apply(client, form)
    person_id = (await client.get(f"/staff/applications/{applied['application_id']}",
                                  headers=BRE)).json()["application"]["person_id"]
    assert (await client.put(f"/staff/persons/{person_id}/contact", headers=BRE,
                             json={"phone": "+33 7 00 00 00 00"})).json()["corrected"] == ["phone"]
    erased = await client.delete(f"/staff/persons/{person_id}", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert [e.type for e in await runtime.store.read_stream(f"person-{person_id}")] == [
        "ContactDetailsCorrected", "PersonErased"]
    assert (await search(client, email=form["email"])).json() == []


# -- the pure rule: which fields really change ------------------------------------------------

CURRENT = {"email": "zoe@example.org", "phone": "+33 6 12 34 56 78", "first_name": "Zoé"}


@pytest.mark.parametrize(("requested", "fields"), [
    ({"email": "zoe.k@example.org"}, ("email",)),
    ({"phone": "+33 7 00 00 00 00"}, ("phone",)),
    ({"email": "zoe.k@example.org", "phone": "+33 7 00 00 00 00"}, ("email", "phone")),
    ({"email": " ZOE@example.org "}, None),  # the same address for the duplicate check
    ({"email": "zoe@example.org", "phone": "+33 6 12 34 56 78"}, None),
])
def test_which_contact_fields_change(requested, fields):
    events = domain.correct_contact(PERSON, CURRENT, requested, "ref-bre-1")
    if fields is None:
        assert events == []  # nothing changes: nothing recorded
    else:
        [event] = events
        assert event.model_dump() == {"person_id": PERSON, "fields": fields,
                                      "corrected_by": "ref-bre-1"}
