"""The back-office's follow-up pages in a real browser: pairs and their reviews, the overdue
reviews, a pair's actions, networking events and the annual review; a Bretagne referent sees
and does nothing of Île-de-France's."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import eventually
from tests.intake_client import token
from tests.test_intake_api import person
from tests.test_matching_api import mentor, pool_size
from tests.web import body_text, check_page, sign_in

PARIS = ZoneInfo("Europe/Paris")
IDF_REFERENT = "ref-idf-1"
IDF_POSTCODE = "75011"


async def formed_pairs(web_stack, count: int) -> list[dict]:
    """``count`` pairs of cohort IDF-2026-03, confirmed by IDF_REFERENT (arranged through the
    services' APIs); the journeys as followup lists them."""
    headers = token("referent", "IDF", IDF_REFERENT)
    async with web_stack.api("intake") as intake, web_stack.api("matching") as matching, \
            web_stack.api("followup") as follow:
        for _ in range(count):
            await admit(intake, headers, person(postcode=IDF_POSTCODE,
                                                sector_interests=["culture"]),
                        "/applications/mentee")
            await admit(intake, headers, mentor(postcode=IDF_POSTCODE,
                                                sector_expertise=["culture"], capacity=1),
                        "/applications/mentor")

        async def in_pool() -> bool:
            return await pool_size(web_stack.runtimes["matching"]) >= 2 * count

        await eventually(in_pool)
        opened = await matching.post("/staff/cohorts", headers=headers,
                                     json={"region": "IDF", "target_pairs": count})
        assert opened.status_code == 201, opened.text
        run = await matching.post(f"/staff/cohorts/{opened.json()['cohort_id']}/proposals",
                                  headers=headers)
        assert len(run.json()["proposals"]) == count, run.text
        for proposal in run.json()["proposals"]:
            confirmed = await matching.post(f"/staff/proposals/{proposal['match_id']}/confirm",
                                            headers=headers)
            assert confirmed.status_code == 200, confirmed.text

        async def planned() -> list[dict] | None:
            pairs = (await follow.get("/staff/pairs", headers=headers)).json()
            return pairs if len(pairs) == count else None

        return await eventually(planned)


async def admit(intake, headers, form: dict, path: str) -> None:
    """Apply, interview (at the application's instant), admit."""
    application_id = (await intake.post(path, json=form)).json()["application_id"]
    detail = (await intake.get(f"/staff/applications/{application_id}", headers=headers)).json()
    booked = await intake.post(f"/staff/applications/{application_id}/interviews",
                               headers=headers,
                               json={"scheduled_at": detail["application"]["submitted_at"]})
    assert booked.status_code == 201, booked.text
    await intake.post(f"/staff/applications/{application_id}/interviews/"
                      f"{booked.json()['interview_id']}/outcome", headers=headers,
                      json={"outcome": "favourable"})
    admitted = await intake.post(f"/staff/applications/{application_id}/admit", headers=headers)
    assert admitted.status_code == 200, admitted.text


async def move_clock(web_stack, day: str, hour: int = 10) -> None:
    """The business clock to ``day`` (Paris time); the timers due by then fire."""
    web_stack.clock.set(datetime.combine(datetime.fromisoformat(day).date(), time(hour),
                                         tzinfo=PARIS))
    followup = web_stack.runtimes["followup"].state["followup"]
    while await followup.fire_due():
        pass


async def csrf_of(page) -> str:
    return await page.locator("input[name=csrf]").first.get_attribute("value")


async def post_as(page, web_stack, path: str, data: dict) -> httpx.Response:
    """A form posted with the page's session and CSRF token, outside the browser."""
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=web_stack.backoffice, cookies=cookies) as client:
        return await client.post(path, data={"csrf": await csrf_of(page), **data})


async def test_a_referent_records_a_review_and_sees_the_overdue_ones(web_stack, page_of):
    recorded, late = await formed_pairs(web_stack, 2)
    referent = await web_stack.staff("ines@cress-idf.example", "referent", "IDF",
                                     subject=IDF_REFERENT, name="Inès Martin")
    # Past the start, the due date (1 September) and its grace period: both reviews overdue.
    await move_clock(web_stack, "2026-10-12")
    async with web_stack.api("followup", "referent", "IDF", IDF_REFERENT) as follow:
        async def overdue() -> bool:
            pairs = (await follow.get("/staff/pairs")).json()
            return all(p["reviews"]["intermediate"]["status"] == "overdue" for p in pairs)

        await eventually(overdue)

    page = await page_of()
    await sign_in(page, web_stack, referent)
    await page.goto(f"{web_stack.backoffice}/binomes")
    assert "2 binômes" in await body_text(page)
    assert (await page.locator("tbody").inner_text()).count("en retard") == 2
    await check_page(page, "binomes")

    await page.get_by_role("link", name=f"Binôme n° {recorded['pair_id'][:8]}").click()
    assert f"Binôme n° {recorded['pair_id'][:8]}" in await body_text(page)
    await check_page(page, "binome")

    # A session, declared through the pair's page.
    await page.locator("#f-seance-held_on").fill("2026-10-05")
    await page.locator("#f-seance-duration_minutes").fill("90")
    await page.locator("#f-seance-format").select_option("remote")
    await page.locator("#f-seance-theme").select_option("career_project")
    await page.get_by_label("Une fiche de la boîte à outils a servi").check()
    await page.get_by_role("button", name="Déclarer la séance").click()
    text = await body_text(page)
    assert "La séance est enregistrée." in text
    assert "5 octobre 2026" in text and "Projet professionnel" in text

    # The intermediate review: a date in the future is refused next to its field.
    form = "#f-bilan-intermediate-"
    await page.locator(f"{form}held").select_option("oui")
    await page.locator(f"{form}held_on").fill("2026-10-20")
    await page.locator(f"{form}assessment").select_option("on_track")
    await page.locator(f"{form}note-relationship_quality").select_option("4")
    await page.get_by_role("button", name="Enregistrer le bilan").first.click()
    error = page.locator("#erreur-bilan-intermediate-held_on")
    assert await error.count() == 1 and await error.inner_text()
    assert await page.locator(f"{form}held_on").get_attribute("aria-invalid") == "true"
    assert await page.locator(f"{form}note-relationship_quality").input_value() == "4"
    await check_page(page, "binome-bilan-erreur")

    await page.locator(f"{form}held_on").fill("2026-10-09")
    await page.get_by_role("button", name="Enregistrer le bilan").first.click()
    text = await body_text(page)
    assert "Le bilan est enregistré." in text
    assert "Tenu : Le binôme fonctionne bien" in text

    # With no other referent account in the region, the new referent's id is typed.
    assert await page.locator("input#f-referent-referent_id").count() == 1
    # Once the region has other referents, staff pick one by name: only the pair's region's
    # referents are offered, not the pair's own one nor another region's.
    await web_stack.staff("paul@cress-idf.example", "referent", "IDF", subject="ref-idf-2",
                          name="Paul Durand")
    await web_stack.staff("yann@cress-bre.example", "referent", "BRE", subject="ref-bre-2")
    await page.reload()
    choice = page.locator("select#f-referent-referent_id")
    offered = await choice.locator("option").all_inner_texts()
    assert offered == ["Choisir dans la liste", "Paul Durand (ref-idf-2)"]
    await check_page(page, "binome-referents")
    await choice.select_option("ref-idf-2")
    await page.get_by_role("button", name="Confier le binôme").click()
    assert "Le binôme est confié" in await body_text(page)
    assert "ref-idf-2" in await body_text(page)

    await page.goto(f"{web_stack.backoffice}/binomes?statut=active")
    rows = page.locator("tbody tr")
    recorded_row = rows.filter(has_text=recorded["pair_id"][:8])
    assert "réalisé" in await recorded_row.inner_text()
    assert "en retard" in await rows.filter(has_text=late["pair_id"][:8]).inner_text()

    await page.goto(f"{web_stack.backoffice}/bilans-en-retard")
    text = await body_text(page)
    assert "1 bilan en retard" in text
    row = await page.locator("tbody tr").inner_text()
    assert late["pair_id"][:8] in row and "Bilan intermédiaire" in row
    assert "1er septembre 2026" in row and "41" in row and IDF_REFERENT in row
    assert recorded["pair_id"][:8] not in text
    await check_page(page, "bilans-en-retard")

    # An analyst of the region reads the pair's page, with no action on it.
    analyst = await web_stack.staff("analyste@cress-idf.example", "analyst", "IDF")
    reader = await page_of()
    await sign_in(reader, web_stack, analyst)
    await reader.goto(f"{web_stack.backoffice}/binomes/{late['pair_id']}")
    assert "en retard" in await body_text(reader)
    assert await reader.locator("main form").count() == 0

    # Bretagne sees none of it, and can do nothing to it.
    bre = await web_stack.staff("maelle@cress-bre.example", "referent", "BRE",
                                subject="ref-bre-1")
    other = await page_of()
    await sign_in(other, web_stack, bre)
    await other.goto(f"{web_stack.backoffice}/binomes")
    assert "Aucun binôme" in await body_text(other)
    await other.goto(f"{web_stack.backoffice}/bilans-en-retard")
    assert "Aucun bilan en retard" in await body_text(other)
    answer = await other.goto(f"{web_stack.backoffice}/binomes/{late['pair_id']}")
    assert answer.status == 403 and "Accès refusé" in await body_text(other)
    await check_page(other, "binome-autre-region")
    await other.goto(f"{web_stack.backoffice}/binomes")
    refused = await post_as(other, web_stack, f"/binomes/{late['pair_id']}/arret",
                            {"arret-ended_by": "referent", "arret-reason": "other"})
    assert refused.status_code == 403 and "Accès refusé" in refused.text
    async with web_stack.api("followup", "referent", "IDF", IDF_REFERENT) as follow:
        assert (await follow.get(f"/staff/pairs/{late['pair_id']}")).json()["status"] == "active"


async def test_networking_events_and_the_annual_review(web_stack, page_of):
    [pair] = await formed_pairs(web_stack, 1)
    await move_clock(web_stack, "2026-03-02")
    referent = await web_stack.staff("ines@cress-idf.example", "referent", "IDF",
                                     subject=IDF_REFERENT)
    page = await page_of()
    await sign_in(page, web_stack, referent)
    await page.goto(f"{web_stack.backoffice}/evenements")
    assert "Aucun évènement programmé" in await body_text(page)

    # In person without a place: refused next to the département.
    await page.get_by_label("Type d'évènement").select_option("workshop")
    await page.get_by_label("Public").select_option("current_pairs")
    await page.get_by_label("Date et heure de début (heure de Paris)").fill("2026-03-20T18:30")
    await page.get_by_label("Format").select_option("in_person")
    await page.get_by_role("button", name="Programmer l'évènement").click()
    assert await page.locator("#erreur-departement").count() == 1
    await check_page(page, "evenements-erreur")
    await page.get_by_label("Département du lieu").fill("75")
    await page.get_by_role("button", name="Programmer l'évènement").click()
    text = await body_text(page)
    assert "L'évènement est programmé." in text
    assert "20 mars 2026 à 18 h 30" in text  # Paris time, as typed
    event_url = page.url.split("?")[0]

    # Register the pair's mentee, chosen from the audience.
    await page.get_by_label("Mentoré·e ou mentor du public de l'évènement").select_option(
        f"mentee:{pair['mentee_id']}")
    await page.get_by_role("button", name="Inscrire").click()
    assert "L'inscription est enregistrée." in await body_text(page)
    await check_page(page, "evenement")

    # Attendance only once it has started.
    await page.get_by_role("button", name=f"Présent·e : n° {pair['mentee_id'][:8]}").click()
    assert "La présence se note une fois l'événement commencé." in await body_text(page)
    await move_clock(web_stack, "2026-03-21")
    await page.goto(event_url)
    await page.get_by_role("button", name=f"Présent·e : n° {pair['mentee_id'][:8]}").click()
    assert "La présence est enregistrée." in await body_text(page)

    await page.goto(f"{web_stack.backoffice}/evenements")
    row = await page.locator("tbody tr").inner_text()
    assert "Atelier" in row and "Binômes en cours" in row and "1\t1" in row.replace(" ", "")
    await check_page(page, "evenements")

    # The annual review: every question answered, or nothing is recorded.
    await page.get_by_role("link", name="Bilan annuel").click()
    await page.get_by_role("button", name="Enregistrer la réponse").first.click()
    assert "La demande n'a pas été enregistrée" in await body_text(page)
    await check_page(page, "bilan-annuel-erreur")
    referent_form = page.locator("form").filter(
        has=page.locator("#f-annuel-referent-reponse-satisfaction"))
    await page.locator("#f-annuel-referent-reponse-satisfaction").select_option("4")
    await page.locator("#f-annuel-referent-reponse-would_recommend").select_option("5")
    await referent_form.get_by_role("button", name="Enregistrer la réponse").click()
    assert "La réponse anonyme au bilan annuel est enregistrée." in await body_text(page)
    await check_page(page, "bilan-annuel")

    # Bretagne: no IDF event in the list, the IDF event's page refused.
    bre = await web_stack.staff("maelle@cress-bre.example", "referent", "BRE",
                                subject="ref-bre-1")
    other = await page_of()
    await sign_in(other, web_stack, bre)
    await other.goto(f"{web_stack.backoffice}/evenements")
    assert "Aucun évènement programmé" in await body_text(other)
    answer = await other.goto(event_url)
    assert answer.status == 403 and "Accès refusé" in await body_text(other)
    await other.goto(f"{web_stack.backoffice}/evenements")
    refused = await post_as(other, web_stack, event_url.removeprefix(web_stack.backoffice)
                            + "/inscriptions", {"person": f"mentor:{pair['mentor_id']}"})
    assert refused.status_code == 403
