"""Cohorts, proposals and the pool in a real browser: a referent opens a cohort, computes its
proposals, confirms them (one, then all the rest), cancels one, pairs by hand and launches the
cohort after a confirmation step; a BRE referent sees and acts on nothing of Île-de-France; an
analyst reads without names or actions; national staff choose the region."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import eventually
from tests.test_intake_api import MENTOR, person
from tests.web import body_text, check_page, sign_in

IDF_POSTCODE = "75011"


def mentee_form(**changes: Any) -> dict:
    return person(**{"postcode": IDF_POSTCODE, "sector_interests": ["culture"],
                     "availability": ["weekday_evening"], **changes})


def mentor_form(**changes: Any) -> dict:
    return {**MENTOR, "email": f"mentor-{uuid.uuid4().hex[:8]}@example.org",
            "last_name": f"Mentor{uuid.uuid4().hex[:6]}", "postcode": IDF_POSTCODE,
            "sector_expertise": ["culture"], "availability": ["weekday_evening"],
            "capacity": 1, **changes}


async def admit(intake: httpx.AsyncClient, path: str, form: dict) -> str:
    """Apply, interview and admit through intake's API; returns the person id."""
    created = await intake.post(path, json=form)
    assert created.status_code == 201, created.text
    application_id = created.json()["application_id"]
    detail = (await intake.get(f"/staff/applications/{application_id}")).json()
    booked = await intake.post(f"/staff/applications/{application_id}/interviews",
                               json={"scheduled_at": detail["application"]["submitted_at"]})
    await intake.post(f"/staff/applications/{application_id}/interviews/"
                      f"{booked.json()['interview_id']}/outcome", json={"outcome": "favourable"})
    admitted = await intake.post(f"/staff/applications/{application_id}/admit")
    assert admitted.status_code == 200, admitted.text
    return admitted.json()["person_id"]


async def admit_people(stack, region: str, mentees: int, mentors: int,
                       postcode: str = IDF_POSTCODE) -> tuple[list[str], list[str]]:
    async with stack.api("intake", "referent", region, f"arrange-{region}") as intake:
        mentee_ids = [await admit(intake, "/applications/mentee", mentee_form(postcode=postcode))
                      for _ in range(mentees)]
        mentor_ids = [await admit(intake, "/applications/mentor", mentor_form(postcode=postcode))
                      for _ in range(mentors)]
    await in_pool(stack, region, {*mentee_ids, *mentor_ids})
    return mentee_ids, mentor_ids


async def in_pool(stack, region: str, person_ids: set[str]) -> None:
    """Matching learns of admissions from intake's events: wait until it has."""
    async with stack.api("matching", "referent", region) as matching:
        async def arrived() -> bool:
            pool = (await matching.get("/staff/pool", params={"region": region})).json()
            return person_ids <= {p["person_id"] for p in [*pool["mentees"], *pool["mentors"]]}

        await eventually(arrived, timeout=60)


def row_of(page, person_id: str):
    return page.locator("tr", has_text=person_id[:8])


async def test_a_referent_opens_a_cohort_confirms_its_proposals_and_launches_it(web_stack,
                                                                                page_of):
    mentees, mentors = await admit_people(web_stack, "IDF", mentees=4, mentors=3)
    email = await web_stack.staff("ines@cress-idf.example", "referent", "IDF", name="Inès")
    page = await page_of()
    await sign_in(page, web_stack, email)

    await page.goto(web_stack.backoffice + "/cohortes")
    assert "Aucune cohorte n'est ouverte" in await body_text(page)
    await check_page(page, "cohortes")
    await page.get_by_label("Objectif de binômes").fill("0")
    await page.get_by_role("button", name="Ouvrir la cohorte").click()
    error = page.locator("#erreur-target_pairs")
    assert await error.count() == 1 and await error.inner_text()  # French, next to the field
    assert await page.get_by_label("Objectif de binômes").get_attribute("aria-invalid") == "true"
    await check_page(page, "cohortes-erreur")

    await page.get_by_label("Objectif de binômes").fill("3")
    await page.get_by_role("button", name="Ouvrir la cohorte").click()
    assert page.url.startswith(web_stack.backoffice + "/cohortes/IDF-2026-03?")
    text = await body_text(page)
    assert "La cohorte est ouverte." in text and "1er mars 2026" in text
    await check_page(page, "cohorte")

    await page.get_by_label("Score minimal").fill("2")
    await page.get_by_role("button", name="Calculer les propositions").click()
    assert await page.locator("#erreur-min_score").count() == 1
    await check_page(page, "cohorte-erreur")

    await page.get_by_label("Score minimal").fill("0,35")
    await page.get_by_role("button", name="Calculer les propositions").click()
    text = await body_text(page)
    assert "Les propositions ont été calculées." in text
    assert "Score global" in text and "Même département (75)" in text
    assert "Zoé Nom" in text and "Karim Mentor" in text  # names, for those who act
    assert "Tout confirmer (3)" in text
    left_out = set(mentees) - {m for m in mentees if await row_of(page, m).locator(
        "button", has_text="Confirmer").count()}
    assert len(left_out) == 1  # three mentors of one place each for four mentees
    [waiting] = left_out
    assert "ont été attribués à d'autres" in await row_of(page, waiting).inner_text()
    await check_page(page, "cohorte-propositions")

    # One confirmed on its own, one cancelled, then a pair by hand in the freed place.
    pending = [m for m in mentees if m != waiting]
    await row_of(page, pending[0]).get_by_role("button", name="Confirmer").click()
    assert "le binôme est formé" in await body_text(page)
    await row_of(page, pending[1]).get_by_role("button", name="Annuler la proposition").click()
    assert "La proposition est annulée" in await body_text(page)
    await page.locator("#f-mentee_id").select_option(waiting)
    [free_mentor] = [m for m in mentors if await page.locator(
        f'#f-mentor_id option[value="{m}"]').count()]
    await page.locator("#f-mentor_id").select_option(free_mentor)
    await page.locator("#f-reason").select_option("known_affinity")
    await page.get_by_role("button", name="Former le binôme").click()
    assert "Le binôme est formé à la main." in await body_text(page)

    await page.get_by_role("button", name="Tout confirmer (1)").click()
    text = await body_text(page)
    assert "Toutes les propositions en attente sont confirmées." in text
    assert "Aucune proposition en attente." in text
    pairs = page.locator("table[aria-labelledby=titre-binomes] tbody tr")
    assert await pairs.count() == 3
    assert "Choix du ou de la référent·e" in await page.locator(
        "table[aria-labelledby=titre-binomes]").inner_text()

    # A new mentor: the cancelled mentee is proposed again, still pending at the launch.
    _, [late_mentor] = await admit_people(web_stack, "IDF", mentees=0, mentors=1)
    await page.get_by_role("button", name="Calculer les propositions").click()
    assert "Tout confirmer (1)" in await body_text(page)

    await page.get_by_role("link", name="Lancer la cohorte IDF-2026-03…").click()
    text = await body_text(page)
    assert "1 proposition(s) encore en attente seront retirées" in text
    assert pending[1][:8] in text and late_mentor[:8] in text
    await check_page(page, "cohorte-lancement")
    await page.get_by_role("button", name="Confirmer le lancement").click()
    text = await body_text(page)
    assert "La cohorte est lancée." in text
    assert "Lancée" in await page.locator(".chiffres").inner_text()
    withdrawn = page.locator("table[aria-labelledby=titre-lancement]")
    assert pending[1][:8] in await withdrawn.inner_text()
    assert late_mentor[:8] in await withdrawn.inner_text()
    await check_page(page, "cohorte-lancee")

    await page.goto(web_stack.backoffice + "/vivier")
    text = await body_text(page)
    assert "Vivier de la région IDF" in text and pending[1][:8] in text
    await check_page(page, "vivier")


async def test_region_isolation_and_what_analysts_and_national_staff_see(web_stack, page_of):
    [idf_mentee], _ = await admit_people(web_stack, "IDF", mentees=1, mentors=1)
    async with web_stack.api("matching", "referent", "IDF") as matching:
        assert (await matching.post("/staff/cohorts", json={
            "region": "IDF", "target_pairs": 5})).status_code == 201
        run = await matching.post("/staff/cohorts/IDF-2026-03/proposals")
        [proposal] = run.json()["proposals"]
    async with web_stack.api("matching", "referent", "BRE") as matching:
        assert (await matching.post("/staff/cohorts", json={
            "region": "BRE", "target_pairs": 2})).status_code == 201

    email = await web_stack.staff("yann@cress-bre.example", "referent", "BRE", name="Yann")
    page = await page_of()
    await sign_in(page, web_stack, email)
    await page.goto(web_stack.backoffice + "/cohortes")
    text = await body_text(page)
    assert "BRE-2026-03" in text and "IDF" not in text

    for path in ("/cohortes/IDF-2026-03", "/cohortes/IDF-2026-03/lancement",
                 "/vivier?region=IDF"):
        response = await page.goto(web_stack.backoffice + path)
        assert response.status == 403, path
        assert "Accès refusé" in await body_text(page)
        assert idf_mentee[:8] not in await body_text(page)
    await check_page(page, "cohorte-autre-region")

    await page.goto(web_stack.backoffice + "/vivier")
    assert "Vivier de la région BRE" in await body_text(page)
    assert idf_mentee[:8] not in await body_text(page)

    await page.goto(web_stack.backoffice + "/cohortes")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=web_stack.backoffice, cookies=cookies) as client:
        for path in (f"/cohortes/IDF-2026-03/propositions/{proposal['match_id']}/confirmation",
                     "/cohortes/IDF-2026-03/tout-confirmer", "/cohortes/IDF-2026-03/lancement",
                     "/cohortes/IDF-2026-03/calcul"):
            refused = await client.post(path, data={"csrf": csrf})
            assert refused.status_code == 403, path
            assert "Accès refusé" in refused.text and "text/html" in refused.headers[
                "content-type"]
    async with web_stack.api("matching", "referent", "IDF") as matching:
        [still] = (await matching.get("/staff/cohorts/IDF-2026-03/proposals")).json()
        assert still["status"] == "proposed"  # nothing happened
        assert not any(c["launched"] for c in (await matching.get("/staff/cohorts")).json())

    analyst = await web_stack.staff("analyste@cress-idf.example", "analyst", "IDF")
    page = await page_of()
    await sign_in(page, web_stack, analyst)
    await page.goto(web_stack.backoffice + "/cohortes/IDF-2026-03")
    text = await body_text(page)
    assert idf_mentee[:8] in text and "Zoé" not in text  # pseudonyms only
    assert await page.locator("main form").count() == 0
    assert "Ouvrir une cohorte" not in text

    admin = await web_stack.staff("admin@cress.example", "admin")
    page = await page_of()
    await sign_in(page, web_stack, admin)
    await page.goto(web_stack.backoffice + "/vivier")
    await page.get_by_label("Région").select_option("IDF")
    await page.get_by_label("Propositions en attente depuis au moins (jours)").fill("0")
    await page.get_by_role("button", name="Afficher").click()
    text = await body_text(page)
    assert "Vivier de la région IDF" in text
    assert "Propositions en attente depuis au moins 0" in text
    assert "Cohorte IDF-2026-03" in text  # the pending proposal, with its cohort
    await check_page(page, "vivier-national")


async def test_a_referent_declines_one_proposal_then_all_the_others(web_stack, page_of):
    mentees, _ = await admit_people(web_stack, "IDF", mentees=3, mentors=3)
    async with web_stack.api("matching", "referent", "IDF") as matching:
        assert (await matching.post("/staff/cohorts", json={
            "region": "IDF", "target_pairs": 3})).status_code == 201
    email = await web_stack.staff("ines@cress-idf.example", "referent", "IDF")
    page = await page_of()
    await sign_in(page, web_stack, email)
    await page.goto(web_stack.backoffice + "/cohortes/IDF-2026-03")
    await page.get_by_role("button", name="Calculer les propositions").click()
    assert "Tout refuser (3)" in await body_text(page)

    row = row_of(page, mentees[0])
    await row.get_by_label("Motif du refus").select_option("too_far")
    await row.get_by_role("button", name="Refuser").click()
    text = await body_text(page)
    assert "La proposition est refusée" in text and "Tout refuser (2)" in text
    closed = page.locator("table[aria-labelledby=titre-closes]")
    assert "Trop éloignés géographiquement" in await closed.inner_text()

    await page.locator("#f-decline_reason").select_option("referent_judgement")
    await page.get_by_role("button", name="Tout refuser (2)").click()
    text = await body_text(page)
    assert "Toutes les propositions en attente sont refusées." in text
    assert "Aucune proposition en attente." in text
    assert (await closed.inner_text()).count("Appréciation du ou de la référent·e") == 2
    await check_page(page, "cohorte-refus")
