"""The persons and regions pages in a real browser: finding someone, correcting their
contact details, erasure after a confirmation step (admins), regions' criteria (admins)."""

from __future__ import annotations

from tests.test_intake_api import person
from tests.test_web_applications import PARIS_POSTCODE, apply
from tests.web import body_text, check_page, sign_in


async def test_a_referent_finds_a_person_and_corrects_their_contact(web_stack, page_of):
    application = await apply(web_stack, person(postcode=PARIS_POSTCODE, first_name="Léa",
                                                last_name="Dupont-Morel",
                                                birth_date="2001-06-15",
                                                email="lea.dupont@example.org"))
    referent = await web_stack.staff("referente@cress-idf.example", "referent", "IDF",
                                     subject="ref-idf")
    page = await page_of()
    await sign_in(page, web_stack, referent)

    await page.goto(web_stack.backoffice + "/personnes")
    await check_page(page, "personnes")
    await page.get_by_label("Nom", exact=True).fill("dupont morel")  # hyphen, case ignored
    await page.get_by_role("button", name="Rechercher").click()
    assert "Indiquez soit l'e-mail, soit le nom, le prénom et la date de naissance." \
        in await body_text(page)
    await check_page(page, "personnes-erreur-recherche")
    await page.get_by_label("Prénom", exact=True).fill("lea")
    await page.get_by_label("Date de naissance").fill("2001-06-15")
    await page.get_by_role("button", name="Rechercher").click()
    assert await page.locator(f'a[href="/candidatures/{application}"]').count() == 1
    assert "Effacer" not in await body_text(page)  # erasure is for admins
    await check_page(page, "personnes-resultat")

    await page.get_by_label("Nouveau téléphone").fill("pas un numéro")
    await page.get_by_role("button", name="Corriger les coordonnées").click()
    assert "Le format n'est pas valide." in await body_text(page)
    assert await page.get_by_label("Nouveau téléphone").get_attribute("aria-invalid") == "true"
    await check_page(page, "personnes-erreur-coordonnees")

    await page.get_by_label("Nouveau téléphone").fill("06 11 22 33 44")
    await page.get_by_label("Nouvelle adresse e-mail").fill("lea.morel@example.org")
    await page.get_by_role("button", name="Corriger les coordonnées").click()
    assert "Les coordonnées sont corrigées." in await body_text(page)
    await page.locator(f'a[href="/candidatures/{application}"]').click()
    text = await body_text(page)
    assert "lea.morel@example.org" in text and "06 11 22 33 44" in text

    other = await page_of()
    await sign_in(other, web_stack, await web_stack.staff(
        "referent@cress-bre.example", "referent", "BRE", subject="ref-bre"))
    csrf = await other.locator('input[name="csrf"]').first.get_attribute("value")
    response = await other.goto(web_stack.backoffice + "/personnes?email=lea.morel@example.org")
    assert response.status == 403 and "Accès refusé" in await body_text(other)
    person_id = await _person_of(web_stack, application)
    answer = await other.request.post(
        f"{web_stack.backoffice}/personnes/{person_id}/coordonnees",
        form={"csrf": csrf, "new_phone": "0700000000"})
    assert answer.status == 403 and "Accès refusé" in await answer.text()


async def _person_of(stack, application: str) -> str:
    async with stack.api("intake", "admin") as admin:
        return (await admin.get(f"/staff/applications/{application}")).json()[
            "application"]["person_id"]


async def test_an_admin_erases_a_person_after_confirming(web_stack, page_of):
    application = await apply(web_stack, person(postcode=PARIS_POSTCODE, first_name="Noé",
                                                last_name="Effacé", email="noe@example.org"))
    admin = await web_stack.staff("admin@cress.example", "admin", subject="admin-national")
    page = await page_of()
    await sign_in(page, web_stack, admin)
    await page.goto(web_stack.backoffice + "/personnes?email=noe@example.org")
    await page.get_by_role("link", name="Effacer les données personnelles de cette personne…") \
        .click()
    assert "Effacer définitivement Noé Effacé ?" in await body_text(page)
    await check_page(page, "personne-effacement")

    await page.get_by_role("button", name="Effacer définitivement").click()
    assert "Cochez la case pour confirmer" in await body_text(page)
    await check_page(page, "personne-effacement-erreur")
    await page.get_by_label("Je confirme l'effacement définitif").check()
    await page.get_by_role("button", name="Effacer définitivement").click()
    assert "Les données personnelles de la personne ont été détruites définitivement" \
        in await body_text(page)
    await check_page(page, "personne-effacee")

    await page.goto(web_stack.backoffice + "/personnes?email=noe@example.org")
    assert "Personne ne correspond à cette recherche." in await body_text(page)
    await page.goto(f"{web_stack.backoffice}/candidatures/{application}")
    text = await body_text(page)
    assert "Candidature reçue" in text and "noe@example.org" not in text


async def test_an_admin_edits_a_regions_criteria_and_objectives(web_stack, page_of):
    admin = await web_stack.staff("admin@cress.example", "admin", subject="admin-national")
    page = await page_of()
    await sign_in(page, web_stack, admin)
    await page.goto(web_stack.backoffice + "/regions")
    assert "Bretagne (BRE)" in await body_text(page)
    await check_page(page, "regions")

    await page.get_by_role("link", name="Modifier Bretagne").click()
    await check_page(page, "region")
    await page.get_by_label("Départements desservis").fill("29, 22, 35, 56, 999")
    await page.get_by_label("Objectif de mentoré·es").fill("35")
    await page.get_by_role("button", name="Enregistrer").click()
    assert "Le format n'est pas valide." in await body_text(page)
    assert await page.get_by_label("Départements desservis").get_attribute("aria-invalid") \
        == "true"
    await check_page(page, "region-erreur")

    await page.get_by_label("Départements desservis").fill("29, 22, 35, 56, 44")
    await page.get_by_role("button", name="Enregistrer").click()
    text = await body_text(page)
    assert "Les critères et objectifs de la région sont enregistrés." in text
    assert "29, 22, 35, 56, 44" in text and "35" in text

    referent = await page_of()
    await sign_in(referent, web_stack, await web_stack.staff(
        "referent@cress-bre.example", "referent", "BRE", subject="ref-bre"))
    response = await referent.goto(web_stack.backoffice + "/regions")
    assert response.status == 403
    await referent.goto(web_stack.backoffice + "/")
    menu = referent.get_by_role("navigation", name="Menu principal")
    assert await menu.get_by_role("link", name="Régions").count() == 0
