"""The applications pages in a real browser: the region's inbox, an application screened to
admission, region isolation, what analysts see."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from services.backoffice.intake_labels import pending_interviews, timeline
from services.backoffice.pages.forms import paris_instant
from tests.test_intake_api import person
from tests.web import body_text, check_page, sign_in

PARIS_POSTCODE, BREST_POSTCODE = "75011", "29200"


async def apply(stack, form: dict) -> str:
    """A young person applies through intake's public form; returns the application id."""
    async with httpx.AsyncClient(base_url=stack.urls["intake"], timeout=30) as client:
        answer = await client.post("/applications/mentee", json=form)
    assert answer.status_code == 201, answer.text
    return answer.json()["application_id"]


@pytest.mark.parametrize(("typed", "sent"), [
    ("2026-01-13T14:00", "2026-01-13T14:00:00+01:00"),  # winter: UTC+1
    ("2026-07-13T14:00", "2026-07-13T14:00:00+02:00"),  # summer: UTC+2
    ("", ""),
    ("pas une date", "pas une date"),  # passed on: the service's French 422 says why
])
def test_a_typed_paris_time_becomes_an_instant_with_its_offset(typed, sent):
    assert paris_instant(typed) == sent


INTERVIEW = {"interview_id": "i-1", "kind": "motivation", "format": "remote",
             "scheduled_at": "2026-01-13T13:00:00+00:00"}


@pytest.mark.parametrize(("event", "sentence"), [
    ({"type": "ApplicationReceived", "data": {"role": "mentor", "channel": "website",
                                              "departement": "29"}},
     "Candidature reçue (mentor, canal : site internet, département 29)."),
    ({"type": "ApplicationRejected", "data": {"reasons": ["mentee_too_old"]}},
     "Candidature refusée : conditions non remplies (plus de 30 ans)."),
    ({"type": "ApplicationRouted", "data": {"to_region": "OCC", "basis": "waiting_list"}},
     "Mise en liste d'attente : la région Occitanie ne participe pas encore au programme."),
    ({"type": "InterviewScheduled", "data": INTERVIEW},
     "Entretien de motivation programmé le 13 janvier 2026 à 14 h 00 (à distance)."),
    ({"type": "InterviewCompleted", "data": {**INTERVIEW, "outcome": "reserved"}},
     "Entretien de motivation passé : avis réservé."),
    ({"type": "ApplicationWithdrawn", "data": {"reason": "no_response"}},
     "Retrait enregistré (motif : sans nouvelles)."),
    ({"type": "SomethingNew", "data": {}}, "Évènement enregistré."),
])
def test_each_event_of_the_history_reads_as_a_french_sentence(event, sentence):
    assert timeline([{"at": "2026-01-12T09:00:00+00:00", **event}])[0]["text"] == sentence


def test_only_interviews_without_an_opinion_wait_for_one():
    second = {**INTERVIEW, "interview_id": "i-2"}
    history = [{"type": "InterviewScheduled", "data": INTERVIEW},
               {"type": "InterviewCompleted", "data": {**INTERVIEW, "outcome": "reserved"}},
               {"type": "InterviewScheduled", "data": second}]
    assert [i["interview_id"] for i in pending_interviews(history)] == ["i-2"]


def application_links(page):
    return page.get_by_role("link", name=re.compile(r"^Candidature du "))


async def test_a_referent_screens_an_application_to_admission(web_stack, page_of):
    idf = await apply(web_stack, person(postcode=PARIS_POSTCODE, first_name="Inès",
                                        email="ines.kerherve@example.org"))
    bre = await apply(web_stack, person(postcode=BREST_POSTCODE))
    referent = await web_stack.staff("referente@cress-idf.example", "referent", "IDF",
                                     subject="ref-idf")
    page = await page_of()
    await sign_in(page, web_stack, referent)

    await page.goto(web_stack.backoffice + "/candidatures")
    await check_page(page, "candidatures")
    assert await application_links(page).count() == 1  # the region's inbox only
    assert await page.locator(f'a[href="/candidatures/{bre}"]').count() == 0
    assert "Orientée vers une région" in await body_text(page)

    await page.get_by_role("link", name="Nouvelles depuis hier").click()
    assert await page.locator(f'a[href="/candidatures/{idf}"]').count() == 1
    await page.get_by_label("Statut").select_option("admitted")
    await page.get_by_role("button", name="Filtrer").click()
    assert "Aucune candidature ne correspond." in await body_text(page)

    await page.get_by_label("Adresse e-mail").fill("ines.kerherve@example.org")
    await page.get_by_role("button", name="Rechercher").click()
    assert "Candidatures de la personne recherchée" in await body_text(page)
    await check_page(page, "candidatures-recherche")
    await page.locator(f'a[href="/candidatures/{idf}"]').click()

    text = await body_text(page)
    assert "Inès" in text and "ines.kerherve@example.org" in text  # identity from the vault
    assert "Candidature reçue (mentoré·e, canal : mission locale, département 75)" in text
    assert "Orientée vers la région Île-de-France" in text
    await check_page(page, "candidature")

    await page.get_by_label("Date et heure de l'entretien").fill("2026-01-05T10:00")
    await page.get_by_role("button", name="Programmer l'entretien").click()
    assert "L'entretien ne peut pas précéder la candidature" in await body_text(page)
    field = page.get_by_label("Date et heure de l'entretien")
    assert await field.get_attribute("aria-invalid") == "true"
    await check_page(page, "candidature-erreur-entretien")

    await field.fill("2026-01-13T14:00")
    await page.get_by_role("button", name="Programmer l'entretien").click()
    text = await body_text(page)
    assert "L'entretien est programmé." in text
    assert "Entretien de motivation programmé le 13 janvier 2026 à 14 h 00" in text

    await page.get_by_label("Avis après l'entretien").select_option("favourable")
    await page.get_by_role("button", name="Enregistrer l'avis").click()
    assert "L'avis se donne après l'entretien" in await body_text(page)  # not yet held
    await check_page(page, "candidature-erreur-avis")

    web_stack.clock.advance(timedelta(days=2))
    await page.get_by_label("Avis après l'entretien").select_option("favourable")
    await page.get_by_role("button", name="Enregistrer l'avis").click()
    text = await body_text(page)
    assert "L'avis sur l'entretien est enregistré." in text
    assert "Entretien de motivation passé : avis favorable." in text

    await page.get_by_role("button", name="Admettre la personne").click()
    assert "La personne est admise" in await body_text(page)
    assert await page.locator("#statut").inner_text() == "Admis·e"
    await check_page(page, "candidature-admise")

    await page.goto(web_stack.backoffice + "/candidatures?status=admitted")
    assert await page.locator(f'a[href="/candidatures/{idf}"]').count() == 1


async def test_a_referent_declines_withdraws_and_reroutes_with_french_messages(web_stack,
                                                                              page_of):
    declined = await apply(web_stack, person(postcode=PARIS_POSTCODE))
    moved = await apply(web_stack, person(postcode=PARIS_POSTCODE))
    referent = await web_stack.staff("referent@cress-idf.example", "referent", "IDF",
                                     subject="ref-idf-2")
    page = await page_of()
    await sign_in(page, web_stack, referent)

    await page.goto(f"{web_stack.backoffice}/candidatures/{declined}")
    await page.get_by_label("Motif du refus").select_option("project_not_aligned")
    await page.get_by_role("button", name="Ne pas retenir la candidature").click()
    text = await body_text(page)
    assert "La candidature n'est pas retenue" in text and "Non retenue" in text
    assert "Candidature non retenue (motif : projet éloigné du programme)." in text

    await page.goto(f"{web_stack.backoffice}/candidatures/{moved}")
    await page.get_by_label("Région de destination").select_option("OCC")  # not served
    await page.get_by_label("Motif de la réorientation").select_option("closer_to_home")
    await page.get_by_role("button", name="Réorienter").click()
    assert "La région OCC ne participe pas au programme." in await body_text(page)
    await check_page(page, "candidature-erreur-reorientation")
    await page.get_by_label("Région de destination").select_option("BRE")
    await page.get_by_label("Motif de la réorientation").select_option("closer_to_home")
    await page.get_by_role("button", name="Réorienter").click()
    assert "La candidature est réorientée vers la région choisie." in await body_text(page)
    assert page.url.endswith("/candidatures?fait=rerouted")  # no longer in the IDF inbox
    assert await page.locator(f'a[href="/candidatures/{moved}"]').count() == 0
    response = await page.goto(f"{web_stack.backoffice}/candidatures/{moved}")
    assert response.status == 403 and "Accès refusé" in await body_text(page)

    admin = await web_stack.staff("admin@cress.example", "admin", subject="admin-national")
    national = await page_of()
    await sign_in(national, web_stack, admin)
    await national.goto(f"{web_stack.backoffice}/candidatures/{moved}")
    assert "Réorientée à la main vers la région Bretagne (venant de la région Île-de-France " \
           "; motif : plus proche du domicile)." in await body_text(national)

    withdrawn = await apply(web_stack, person(postcode=PARIS_POSTCODE))
    await page.goto(f"{web_stack.backoffice}/candidatures/{withdrawn}")
    await page.get_by_label("Motif du retrait").select_option("no_response")
    await page.get_by_role("button", name="Enregistrer le retrait").click()
    text = await body_text(page)
    assert "Le retrait est enregistré." in text and "Retirée" in text


async def test_a_bre_referent_cannot_see_or_act_on_idf_applications(web_stack, page_of):
    idf = await apply(web_stack, person(postcode=PARIS_POSTCODE, email="idf.jeune@example.org"))
    bre = await apply(web_stack, person(postcode=BREST_POSTCODE))
    referent = await web_stack.staff("referent@cress-bre.example", "referent", "BRE",
                                     subject="ref-bre")
    page = await page_of()
    await sign_in(page, web_stack, referent)

    await page.goto(web_stack.backoffice + "/candidatures")
    assert await page.locator(f'a[href="/candidatures/{bre}"]').count() == 1
    assert await page.locator(f'a[href="/candidatures/{idf}"]').count() == 0
    await page.goto(web_stack.backoffice + "/candidatures?region=IDF")
    assert "Accès refusé" in await body_text(page)
    response = await page.goto(web_stack.backoffice + "/candidatures?cohort=mars")
    assert response.status == 422 and "Le format n'est pas valide." in await body_text(page)
    assert await page.get_by_label("Cohorte").get_attribute("aria-invalid") == "true"
    await check_page(page, "candidatures-erreur-filtre")

    response = await page.goto(f"{web_stack.backoffice}/candidatures/{idf}")
    assert response.status == 403
    text = await body_text(page)
    assert "Accès refusé" in text and "idf.jeune@example.org" not in text
    await check_page(page, "candidature-autre-region")

    await page.goto(web_stack.backoffice + "/candidatures")
    csrf = await page.locator('input[name="csrf"]').first.get_attribute("value")
    for path, form in ((f"/candidatures/{idf}/retrait", {"withdrawal_reason": "other"}),
                       (f"/candidatures/{idf}/admission", {}),
                       (f"/candidatures/{idf}/reorientation",
                        {"to_region": "BRE", "reroute_reason": "other"})):
        answer = await page.request.post(web_stack.backoffice + path,
                                         form={"csrf": csrf, **form})
        assert answer.status == 403, path
        assert "Accès refusé" in await answer.text()

    response = await page.goto(web_stack.backoffice + "/candidatures?email=idf.jeune@example.org")
    assert response.status == 403  # the person is known in IDF only

    async with web_stack.api("intake", "admin") as admin:  # nothing was recorded
        detail = (await admin.get(f"/staff/applications/{idf}")).json()
    assert detail["application"]["status"] == "routed"


async def test_an_analyst_sees_no_identity_and_no_action(web_stack, page_of):
    idf = await apply(web_stack, person(postcode=PARIS_POSTCODE, email="vu@example.org"))
    analyst = await web_stack.staff("analyste@cress.example", "analyst", subject="analyste-1")
    page = await page_of()
    await sign_in(page, web_stack, analyst)

    await page.goto(web_stack.backoffice + "/candidatures")
    assert await page.get_by_role("button", name="Rechercher").count() == 0
    await page.locator(f'a[href="/candidatures/{idf}"]').click()
    text = await body_text(page)
    assert "Historique" in text and "Candidature reçue" in text
    assert "vu@example.org" not in text and "Identité" not in text
    assert await page.locator("main form").count() == 0
    await check_page(page, "candidature-analyste")
    response = await page.goto(web_stack.backoffice + "/personnes")
    assert response.status == 403
