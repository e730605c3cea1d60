"""The issue's whole staff journey in one browser session: a referent signs in, screens a young
person and a mentor to admission, opens a cohort, confirms the proposal, records the pair's
intermediate review, and sees the dashboard's figures change at each step."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from services.common.web import PARIS
from tests.conftest import eventually
from tests.test_web_cohorts import in_pool, mentee_form, mentor_form
from tests.test_web_pairs import move_clock
from tests.web import body_text, check_page, sign_in


async def apply(stack, path: str, form: dict) -> str:
    async with httpx.AsyncClient(base_url=stack.urls["intake"], timeout=30) as client:
        answer = await client.post(path, json=form)
    assert answer.status_code == 201, answer.text
    return answer.json()["application_id"]


async def totals(page, stack) -> str:
    """The dashboard's per-cohort totals row, as read on the page."""
    await page.goto(f"{stack.backoffice}/tableau-de-bord")
    return await page.locator("#par-cohorte + div table tfoot").inner_text()


async def screen_to_admission(page, stack, application_id: str, region: str = "IDF") -> str:
    await page.goto(f"{stack.backoffice}/candidatures")
    await page.locator(f'a[href="/candidatures/{application_id}"]').click()
    instant = stack.clock.now().astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")
    await page.get_by_label("Date et heure de l'entretien").fill(instant)
    await page.get_by_role("button", name="Programmer l'entretien").click()
    assert "L'entretien est programmé." in await body_text(page)
    stack.clock.advance(timedelta(hours=2))
    await page.get_by_label("Avis après l'entretien").select_option("favourable")
    await page.get_by_role("button", name="Enregistrer l'avis").click()
    assert "L'avis sur l'entretien est enregistré." in await body_text(page)
    await page.get_by_role("button", name="Admettre la personne").click()
    assert "La personne est admise" in await body_text(page)
    async with stack.api("intake", "referent", region) as intake:
        return (await intake.get(f"/staff/applications/{application_id}")).json()[
            "application"]["person_id"]


async def test_a_referent_runs_a_programme_step_by_step_in_the_browser(web_stack, page_of):
    mentee_application = await apply(web_stack, "/applications/mentee", mentee_form())
    mentor_application = await apply(web_stack, "/applications/mentor", mentor_form())
    referent = await web_stack.staff("ines@cress-idf.example", "referent", "IDF",
                                     subject="ref-idf-1", name="Inès Martin")
    page = await page_of()
    await sign_in(page, web_stack, referent)
    assert "Bonjour Inès Martin" in await body_text(page)

    async def figures() -> str:
        return await totals(page, web_stack)

    applied = await eventually(lambda: _nonzero(figures), timeout=60)
    await check_page(page, "parcours-tableau-de-bord-avant")

    mentee = await screen_to_admission(page, web_stack, mentee_application)
    mentor = await screen_to_admission(page, web_stack, mentor_application)
    await in_pool(web_stack, "IDF", {mentee, mentor})
    admitted = await eventually(lambda: _changed(figures, applied), timeout=60)

    await page.goto(f"{web_stack.backoffice}/cohortes")
    await page.get_by_label("Objectif de binômes").fill("10")
    await page.get_by_role("button", name="Ouvrir la cohorte").click()
    assert "La cohorte est ouverte." in await body_text(page)
    await page.get_by_role("button", name="Calculer les propositions").click()
    assert "Les propositions ont été calculées." in await body_text(page)
    await page.get_by_role("button", name=re.compile(r"^Tout confirmer")).click()
    assert "Toutes les propositions en attente sont confirmées." in await body_text(page)
    await check_page(page, "parcours-cohorte")
    paired = await eventually(lambda: _changed(figures, admitted), timeout=60)

    await move_clock(web_stack, "2026-04-15")  # the journey started on 1 March
    async with web_stack.api("followup", "referent", "IDF", "ref-idf-1") as follow:
        [pair] = await eventually(lambda: _pairs(follow), timeout=60)
    await page.goto(f"{web_stack.backoffice}/binomes")
    await page.get_by_role("link", name=f"Binôme n° {pair['pair_id'][:8]}").click()
    form = "#f-bilan-intermediate-"
    await page.locator(f"{form}held").select_option("oui")
    await page.locator(f"{form}held_on").fill("2026-04-10")
    await page.locator(f"{form}assessment").select_option("on_track")
    await page.locator(f"{form}note-relationship_quality").select_option("5")
    await page.get_by_role("button", name="Enregistrer le bilan").first.click()
    assert "Le bilan est enregistré." in await body_text(page)
    await check_page(page, "parcours-binome")

    await page.goto(f"{web_stack.backoffice}/binomes")
    assert "réalisé" in await page.locator("tbody").inner_text()
    assert paired != admitted != applied
    await page.goto(f"{web_stack.backoffice}/tableau-de-bord")
    await check_page(page, "parcours-tableau-de-bord-apres")


async def _nonzero(figures) -> str | None:
    text = await figures()
    return text if re.search(r"[1-9]", text) else None


async def _changed(figures, before: str) -> str | None:
    text = await figures()
    return text if text != before else None


async def _pairs(follow) -> list[dict] | None:
    pairs = (await follow.get("/staff/pairs")).json()
    return pairs or None
