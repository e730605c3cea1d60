"""The participants' issue in one journey, as people live it: a young person applies through
the public form; staff screen, admit and pair her in the back-office; the kick-off e-mail
brings her personal link; at the end, the end-of-programme questionnaire arrives, she answers
it from its link, and the staff dashboard's impact indicators include her answers."""

from __future__ import annotations

import re

import httpx

from tests.conftest import eventually
from tests.test_matching_api import admit, mentor
from tests.test_web_backoffice_journey import screen_to_admission
from tests.test_web_participants_links import BRE, link_in, mail_to, paris
from tests.web import body_text, check_page, sign_in


async def test_a_young_person_applies_is_paired_and_answers_from_her_links(web_stack, page_of,
                                                                          mailbox):
    stack, clock = web_stack, web_stack.clock
    email = "nina.le-bihan@example.org"

    young = await page_of(390, 844)  # she applies from her phone
    await young.goto(f"{stack.participants}/candidater/jeune")
    await young.get_by_label(re.compile("^Prénom")).fill("Nina")
    await young.get_by_label(re.compile("^Nom")).fill("Le Bihan")
    await young.get_by_label("Adresse e-mail").fill(email)
    await young.get_by_label("Code postal").fill("29200")
    await young.get_by_label("Date de naissance").fill("2003-02-01")
    await young.get_by_label("Comment avez-vous connu le programme ?").select_option("website")
    await young.get_by_label("Culture", exact=True).check()
    await young.get_by_label("Le week-end").check()
    await young.get_by_label(re.compile("J'accepte que mes données")).check()
    await young.get_by_role("button", name="Envoyer la candidature").click()
    assert "mars 2026" in await body_text(young)
    await check_page(young, "parcours-jeune-candidature-envoyee")

    async with stack.api("intake") as intake:  # a mentor applied too, and was admitted
        await admit(intake, mentor(email="erwan@example.org", sector_expertise=["culture"],
                                   availability=["weekend"], capacity=1),
                    "/applications/mentor")
        [found] = (await intake.get("/staff/persons", params={"email": email})).json()
    application_id = found["application_id"]

    referent = await stack.staff("maelle@cress-bre.example", "referent", "BRE",
                                 subject="ref-bre-1", name="Maëlle")
    staff = await page_of()
    await sign_in(staff, stack, referent)
    await screen_to_admission(staff, stack, application_id, region="BRE")

    async with httpx.AsyncClient(base_url=stack.urls["matching"], headers=BRE) as matching:
        async def both_waiting() -> bool:
            pool = (await matching.get("/staff/pool", params={"region": "BRE"})).json()
            return len(pool["mentees"]) == 1 and len(pool["mentors"]) == 1

        await eventually(both_waiting, timeout=60)
    await staff.goto(f"{stack.backoffice}/cohortes")
    await staff.get_by_label("Objectif de binômes").fill("5")
    await staff.get_by_role("button", name="Ouvrir la cohorte").click()
    await staff.get_by_role("button", name="Calculer les propositions").click()
    await staff.get_by_role("button", name=re.compile(r"^Tout confirmer")).click()
    assert "Toutes les propositions en attente sont confirmées." in await body_text(staff)

    async with stack.api("followup") as follow:
        async def planned():
            return (await follow.get("/staff/pairs", headers=BRE)).json()

        [pair] = await eventually(planned, timeout=60)
    clock.set(paris(2026, 3, 1))
    kickoff = await mail_to(mailbox, email, "votre binôme démarre")
    await young.goto(link_in(kickoff))
    text = await body_text(young)
    assert "Votre binôme Succ'ess démarre" in text and "1er mars 2026" in text
    await check_page(young, "parcours-jeune-lancement")

    async with stack.api("followup") as follow:  # the referent's reviews, through the year
        clock.set(paris(2026, 9, 1, 11))
        held = await follow.post(f"/staff/pairs/{pair['pair_id']}/reviews/intermediate",
                                 headers=BRE, json={"held": True, "held_on": "2026-09-01",
                                                    "assessment": "on_track"})
        assert held.status_code == 201, held.text
        clock.set(paris(2027, 3, 1, 11))
        final = await follow.post(f"/staff/pairs/{pair['pair_id']}/reviews/final",
                                  headers=BRE, json={"held": True, "held_on": "2027-03-01",
                                                     "assessment": "on_track"})
        assert final.status_code == 201, final.text

    asked = await mail_to(mailbox, email, "votre avis sur votre année")
    await young.goto(link_in(asked))
    questions = young.locator("fieldset")
    for index in range(await questions.count()):
        await questions.nth(index).get_by_label("5", exact=False).first.check()
    await young.get_by_role("button", name="Envoyer mes réponses").click()
    assert "Vos réponses sont enregistrées" in await body_text(young)
    await check_page(young, "parcours-jeune-questionnaire-envoye")

    async def indicators_shown() -> bool:
        await staff.goto(f"{stack.backoffice}/tableau-de-bord")
        return "Questionnaire de fin de programme" in await body_text(staff)

    await eventually(indicators_shown, timeout=60, interval=1)
    await check_page(staff, "parcours-tableau-de-bord-questionnaire")

    # Her data: what the programme recorded of her year, beside what intake keeps.
    await young.goto(f"{stack.participants}/mes-donnees")
    await young.get_by_label(re.compile("^Adresse e-mail")).fill(email)
    await young.get_by_role("button", name="Recevoir mon lien personnel").click()
    access = await mail_to(mailbox, email, "Accès à vos données")
    await young.goto(re.search(r"https?://\S+/mes-donnees/acces/[A-Za-z0-9_-]+",
                               access.get_body(("plain",)).get_content()).group(0))
    text = await body_text(young)
    assert "Ce que le programme a enregistré de votre parcours" in text
    for step in ("Binôme formé (mise en binôme)", "Bilan réalisé (suivi du binôme)",
                 "Questionnaire rempli (suivi du binôme)"):
        assert step in text, step
    await check_page(young, "parcours-jeune-mes-donnees")
