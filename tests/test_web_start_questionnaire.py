"""The start of programme questionnaire in a real browser against the whole stack: the mentee
answers it from the kick-off link (the mentor's kick-off page is unchanged), the link is then
spent; at the end she answers the end questionnaire, and the staff dashboard compares start
and end over the mentees who answered both. Staff can also record it on a mentee's behalf."""

from __future__ import annotations

import httpx

from tests.conftest import eventually
from tests.test_web_pairs import IDF_REFERENT, formed_pairs, move_clock
from tests.test_web_participants_links import (
    BRE,
    form_a_pair,
    hold_both_reviews,
    link_in,
    mail_to,
    paris,
)
from tests.web import body_text, check_page, sign_in, staff_page_at

START_QUESTIONS = 5  # the five progress indicators, without satisfaction nor recommendation


async def answer_all(page, rating: str) -> None:
    questions = page.locator("fieldset")
    for index in range(await questions.count()):
        await questions.nth(index).get_by_label(rating, exact=False).first.check()
    await page.get_by_role("button", name="Envoyer mes réponses").click()


async def test_the_mentee_answers_at_the_kick_off_and_the_dashboard_compares(
        web_stack, page_of, mailbox):
    stack, clock = web_stack, web_stack.clock
    mentee_email, mentor_email = "awa.diallo@example.org", "loic.tanguy@example.org"
    pair = await form_a_pair(stack, mentee_email, mentor_email)
    pair_id = pair["pair_id"]

    clock.set(paris(2026, 3, 1))
    kickoff = link_in(await mail_to(mailbox, mentee_email, "votre binôme démarre"))
    page = await page_of()
    await page.goto(kickoff)
    text = await body_text(page)
    assert "Votre binôme Succ'ess démarre" in text and "1er mars 2026" in text  # as before
    assert "Questionnaire de début de programme" in text
    assert "Je connais l'économie sociale et solidaire et ses métiers." in text
    assert await page.locator("fieldset").count() == START_QUESTIONS
    await page.get_by_role("button", name="Envoyer mes réponses").click()  # nothing chosen
    assert await page.locator(".message-erreur").count() == START_QUESTIONS
    assert "Votre binôme Succ'ess démarre" in await body_text(page)
    await check_page(page, "lien-lancement-questionnaire-erreurs")
    await answer_all(page, "2")
    assert "Vos réponses sont enregistrées" in await body_text(page)
    assert await page.get_by_role("link", name="Revenir à ma page").count() == 0  # spent

    # The kick-off link is spent: reopened, a French page says what to do.
    answer = await page.goto(kickoff)
    assert answer.status == 410
    text = await body_text(page)
    assert "Vous avez déjà répondu au questionnaire de début de programme le 1er mars 2026" \
        in text and "contactez votre mentor" in text
    await check_page(page, "lien-lancement-deja-utilise")
    async with httpx.AsyncClient() as client:  # posting again records nothing more
        again = await client.post(kickoff, data={"ess_knowledge": "5"})
    assert again.status_code == 410

    # The mentor's kick-off page is unchanged: the first meeting, no questionnaire.
    mentor_page = await page_of()
    await mentor_page.goto(link_in(await mail_to(mailbox, mentor_email,
                                                 "votre binôme démarre")))
    text = await body_text(mentor_page)
    assert "Votre premier rendez-vous a eu lieu ?" in text
    assert "Questionnaire de début de programme" not in text

    async with stack.api("followup") as follow:
        recorded = (await follow.get(f"/staff/pairs/{pair_id}", headers=BRE)).json()
        assert {"kind": "start_of_programme", "respondent": "mentee"} in \
            recorded["questionnaires"]
        await hold_both_reviews(follow, clock, pair_id)

    await page.goto(link_in(await mail_to(mailbox, mentee_email, "votre avis sur votre année")))
    await answer_all(page, "4")
    assert "Vos réponses sont enregistrées" in await body_text(page)

    referent = await stack.staff("gwen@cress-bre.example", "referent", "BRE",
                                 subject="ref-bre-1", name="Gwen")
    staff = await page_of()
    await sign_in(staff, stack, referent)
    await staff.goto(f"{stack.backoffice}/binomes/{pair_id}")
    assert "Le ou la mentoré·e a répondu au questionnaire de début de programme." in \
        await body_text(staff)

    async def compared() -> bool:
        await staff.goto(f"{stack.backoffice}/tableau-de-bord")
        return "Indicateurs de progression au début et à la fin" in await body_text(staff)

    await eventually(compared, timeout=60, interval=1)
    table = staff.get_by_role("table", name="Indicateurs de progression au début et à la fin "
                                            "du programme")
    headings = await table.locator("thead th").all_inner_texts()
    assert headings == ["Indicateur", "Mentoré·es", "Au début", "À la fin", "Évolution"]
    row = await table.get_by_role("row", name="Connaissance de l'ESS").locator(
        "td").all_inner_texts()
    assert row == ["1", "2,0", "4,0", "+2,0"]
    assert await table.locator("tbody tr").count() == START_QUESTIONS
    await check_page(staff, "tableau-de-bord-debut-fin")


async def test_staff_record_the_start_questionnaire_for_a_mentee(web_stack, page_of):
    [pair] = await formed_pairs(web_stack, 1)
    await move_clock(web_stack, pair["starts_on"])
    referent = await web_stack.staff("yves@cress-idf.example", "referent", "IDF",
                                     subject=IDF_REFERENT, name="Yves")
    page = await page_of()
    await sign_in(page, web_stack, referent)
    await page.goto(f"{web_stack.backoffice}/binomes/{pair['pair_id']}")
    form = page.locator("form[action$='/questionnaire-debut']")
    await form.locator("select").first.select_option("3")  # one answer out of five
    await form.get_by_role("button", name="Enregistrer les réponses").click()
    assert "Réponses attendues pour" in await body_text(page)
    await check_page(page, "binome-questionnaire-debut-erreur")
    form = page.locator("form[action$='/questionnaire-debut']")
    for select in await form.locator("select").all():
        await select.select_option("3")
    await form.get_by_role("button", name="Enregistrer les réponses").click()
    text = await body_text(page)
    assert "Les réponses au questionnaire sont enregistrées." in text
    assert "Le ou la mentoré·e a répondu au questionnaire de début de programme." in text
    assert await page.locator("form[action$='/questionnaire-debut']").count() == 0


async def test_once_its_window_closed_the_kick_off_page_says_so_instead_of_a_form(
        web_stack, page_of, mailbox):
    """The kick-off link lasts longer than the start questionnaire's window when the
    intermediate review is held early: the mentee then reads why, not a form refused later."""
    stack, clock = web_stack, web_stack.clock
    mentee_email = "ines.martin@example.org"
    pair = await form_a_pair(stack, mentee_email, "marc.le-gall@example.org")
    clock.set(paris(2026, 3, 1))
    kickoff = link_in(await mail_to(mailbox, mentee_email, "votre binôme démarre"))
    clock.set(paris(2026, 4, 10, 11))
    async with stack.api("followup") as follow:
        held = await follow.post(f"/staff/pairs/{pair['pair_id']}/reviews/intermediate",
                                 headers=BRE, json={"held": True, "held_on": "2026-04-10",
                                                    "assessment": "on_track"})
        assert held.status_code == 201, held.text
        window = (await follow.get(f"/staff/pairs/{pair['pair_id']}", headers=BRE)).json()
    assert window["start_questionnaire"]["open"] is False
    assert window["start_questionnaire"]["code"] == "questionnaire_too_late"

    page = await page_of()
    answer = await page.goto(kickoff)
    assert answer.status == 200
    text = await body_text(page)
    assert "Votre binôme Succ'ess démarre" in text
    assert "Le bilan intermédiaire a eu lieu : le questionnaire de début de programme ne " \
        "peut plus être rempli." in text
    assert await page.locator("fieldset").count() == 0
    assert await page.get_by_role("button", name="Envoyer mes réponses").count() == 0
    await check_page(page, "lien-lancement-questionnaire-ferme")

    staff = await staff_page_at(stack, page_of, f"/binomes/{pair['pair_id']}",
                                "gaelle@cress-bretagne.example", "referent", "BRE", name="Gaëlle")
    text = await body_text(staff)
    assert "Pas de réponse enregistrée. Le bilan intermédiaire a eu lieu" in text
    assert await staff.locator("form[action$='/questionnaire-debut']").count() == 0
