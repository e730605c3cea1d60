"""Personal links in a real browser against the whole stack: a mentee and a mentor admitted
and paired by staff get the kick-off e-mail, follow its link; the mentor declares sessions
from the kick-off and the monthly reminder; both are invited to a networking event, register,
then say they came; at the end the end-of-programme questionnaire arrives, is answered from
its link and reaches reporting; a reused, a tampered and an expired link get French pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import eventually
from tests.intake_client import token
from tests.test_intake_api import person
from tests.test_matching_api import admit, mentor, pool_size
from tests.web import body_text, check_page

PARIS = ZoneInfo("Europe/Paris")
BRE = token("referent", "BRE", "ref-bre-1")
LINK = re.compile(r"https?://[^\s/]+/lien/[A-Za-z0-9_-]+")


def link_in(message) -> str:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    [found] = set(LINK.findall(text))
    assert found in html  # the same link in both parts
    return found


async def mail_to(mailbox, address: str, subject: str):
    async def arrived():
        return [m for m in mailbox.to(address) if subject in m["Subject"]]

    [message] = await eventually(arrived, timeout=30)
    return message


def paris(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=PARIS).astimezone(UTC)


async def form_a_pair(stack, mentee_email: str, mentor_email: str) -> dict:
    async with stack.api("intake") as intake, stack.api("matching") as matching, \
            stack.api("followup") as follow:
        await admit(intake, person(email=mentee_email, sector_interests=["culture"]),
                    "/applications/mentee")
        await admit(intake, mentor(email=mentor_email, sector_expertise=["culture"],
                                   capacity=1), "/applications/mentor")
        await eventually(lambda: _at_least(pool_size(stack.runtimes["matching"]), 2))
        opened = await matching.post("/staff/cohorts", headers=BRE,
                                     json={"region": "BRE", "target_pairs": 1})
        run = await matching.post(f"/staff/cohorts/{opened.json()['cohort_id']}/proposals",
                                  headers=BRE)
        [proposal] = run.json()["proposals"]
        confirmed = await matching.post(f"/staff/proposals/{proposal['match_id']}/confirm",
                                        headers=BRE)
        assert confirmed.status_code == 200, confirmed.text

        async def planned():
            return (await follow.get("/staff/pairs", headers=BRE)).json()

        [pair] = await eventually(planned)
        return pair


async def hold_both_reviews(follow, clock, pair_id: str) -> None:
    """The Bretagne referent records the intermediate (1 September 2026) and the final
    review (1 March 2027) of a pair started on 1 March 2026: the journey completes."""
    for kind, day in (("intermediate", (2026, 9, 1)), ("final", (2027, 3, 1))):
        clock.set(paris(*day, 11))
        held = await follow.post(f"/staff/pairs/{pair_id}/reviews/{kind}", headers=BRE,
                                 json={"held": True, "held_on": "%04d-%02d-%02d" % day,
                                       "assessment": "on_track"})
        assert held.status_code == 201, held.text


async def _at_least(value, n: int) -> bool:
    return (await value) >= n


async def pair_now(stack, pair_id: str) -> dict:
    async with stack.api("followup") as follow:
        return (await follow.get(f"/staff/pairs/{pair_id}", headers=BRE)).json()


async def declare(page, day: str, minutes: str = "90") -> None:
    await page.get_by_label("Date de la séance").fill(day)
    await page.get_by_label("Durée en minutes").fill(minutes)
    await page.get_by_label("Format de la séance").select_option("in_person")
    await page.get_by_label("Thème abordé").select_option("career_project")
    await page.get_by_role("button", name="Déclarer la séance").click()


async def test_a_mentoring_year_answered_from_personal_links(web_stack, page_of, mailbox):
    stack, clock = web_stack, web_stack.clock
    mentee_email, mentor_email = "lina.morvan@example.org", "yann.le-gall@example.org"
    pair = await form_a_pair(stack, mentee_email, mentor_email)
    pair_id = pair["pair_id"]

    # Kick-off: both get the e-mail, in text and HTML, with a personal link.
    clock.set(paris(2026, 3, 1))
    kickoff_mentee = await mail_to(mailbox, mentee_email, "votre binôme démarre")
    kickoff_mentor = await mail_to(mailbox, mentor_email, "votre binôme démarre")
    assert kickoff_mentee.get_content_type() == "multipart/alternative"
    mentee_link = link_in(kickoff_mentee)
    assert mentee_link.startswith(stack.participants + "/lien/")
    assert pair_id not in mentee_link and "lina" not in mentee_link.lower()

    page = await page_of()
    await page.goto(mentee_link)
    text = await body_text(page)
    assert "Votre binôme Succ'ess démarre" in text and "1er mars 2026" in text
    assert "Guide du ou de la mentoré·e" in text  # the toolkit, from followup's API
    assert "Déclarer la séance" not in text  # the mentor declares sessions
    await check_page(page, "lien-lancement-mentore")

    # The mentor declares the first meeting from the kick-off page.
    mentor_page = await page_of()
    await mentor_page.goto(link_in(kickoff_mentor))
    await check_page(mentor_page, "lien-lancement-mentor")
    await declare(mentor_page, "2026-03-01")
    assert "Votre séance est enregistrée" in await body_text(mentor_page)
    await check_page(mentor_page, "lien-merci")
    assert (await pair_now(stack, pair_id))["sessions"] == 1
    # The same form posted twice (a double click): one session.
    mentor_link = link_in(kickoff_mentor)
    async with httpx.AsyncClient() as client:
        form = (await client.get(mentor_link)).text
        [submission] = re.findall(r'name="submission" value="([^"]+)"', form)
        posted = {"submission": submission, "held_on": "2026-03-01", "duration_minutes": "30",
                  "format": "remote", "theme": "getting_to_know"}
        first = await client.post(mentor_link, data=posted)
        second = await client.post(mentor_link, data=posted)
    assert first.status_code == 303 and second.status_code == 409
    assert "text/html" in second.headers["content-type"]
    assert "Ce formulaire a déjà été envoyé" in second.text
    assert (await pair_now(stack, pair_id))["sessions"] == 2

    # A networking event: its audience is invited, registers from the link, then says it came.
    async with stack.api("followup") as follow:
        scheduled = await follow.post("/staff/networking-events", headers=BRE, json={
            "region": "BRE", "kind": "networking", "audience": "current_pairs",
            "starts_at": paris(2026, 3, 20, 18).isoformat(), "format": "remote"})
        assert scheduled.status_code == 201, scheduled.text
    invitation = await mail_to(mailbox, mentee_email, "invitation")
    assert "20 mars 2026" in invitation["Subject"]
    await mail_to(mailbox, mentor_email, "invitation")
    await page.goto(link_in(invitation))
    await check_page(page, "lien-reseautage-inscription")
    await page.get_by_role("button", name="Je m'inscris").click()
    assert "Vous êtes inscrit·e" in await body_text(page)

    # A month later: the mentor's reminder to declare sessions; a session in the future is
    # refused next to its field, in French, on a phone's screen.
    clock.set(paris(2026, 4, 1))
    reminder = await mail_to(mailbox, mentor_email, "séances du mois")
    phone = await page_of(390, 844)
    await phone.goto(link_in(reminder))
    await declare(phone, "2026-04-15")
    field_error = phone.locator("#erreur-held_on")
    assert "futur" in (await field_error.inner_text()).lower() or \
        "avenir" in (await field_error.inner_text()).lower()
    assert await phone.get_by_label("Date de la séance").get_attribute(
        "aria-describedby") is not None
    await check_page(phone, "lien-seance-erreur-mobile")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await declare(phone, "2026-03-25")
    assert "Votre séance est enregistrée" in await body_text(phone)
    assert (await pair_now(stack, pair_id))["sessions"] == 3

    # After the event started, the same invitation link asks whether they came.
    await page.goto(link_in(invitation))
    await check_page(page, "lien-reseautage-presence")
    await page.get_by_role("button", name="Envoyer").click()
    assert "votre présence est enregistrée" in await body_text(page)
    async with stack.api("followup") as follow:
        [event] = (await follow.get("/staff/networking-events", headers=BRE)).json()
    assert (event["registered"], event["attended"]) == (1, 1)

    # The year goes by; staff record the reviews; the final one completes the journey.
    async with stack.api("followup") as follow:
        await hold_both_reviews(follow, clock, pair_id)

    # The end-of-programme questionnaire arrives, and is answered from its link.
    asked = await mail_to(mailbox, mentee_email, "votre avis sur votre année")
    asked_mentor = await mail_to(mailbox, mentor_email, "votre avis sur votre année")
    end_link = link_in(asked)
    await page.goto(end_link)
    await check_page(page, "lien-questionnaire")
    questions = page.locator("fieldset")
    assert await questions.count() == 7
    await page.get_by_role("button", name="Envoyer mes réponses").click()  # nothing chosen
    assert await page.locator(".message-erreur").count() == 7
    await check_page(page, "lien-questionnaire-erreurs")
    for index in range(7):
        await questions.nth(index).get_by_label("4", exact=False).first.check()
    await page.get_by_role("button", name="Envoyer mes réponses").click()
    assert "Vos réponses sont enregistrées" in await body_text(page)

    async with stack.api("reporting", "admin") as reporting:
        async def indicators():
            rows = (await reporting.get("/reports/outcomes")).json()["rows"]
            return [r["indicators"] for r in rows if "mentee:end_of_programme" in
                    r["indicators"]]

        [found] = await eventually(indicators, timeout=30)
        assert found["mentee:end_of_programme"]["satisfaction"] == 4

    # The same link again: already answered.
    await page.goto(end_link)
    text = await body_text(page)
    assert "Vous avez déjà répondu le 1er mars 2027" in text
    await check_page(page, "lien-deja-utilise")

    # A tampered link: not valid, with what to do.
    mentor_end = link_in(asked_mentor)
    tampered = mentor_end[:-3] + ("AAA" if not mentor_end.endswith("AAA") else "BBB")
    await page.goto(tampered)
    text = await body_text(page)
    assert "Ce lien n'est pas valide" in text and "copiez-le en entier" in text.lower()
    await check_page(page, "lien-altere")

    # Past its expiry (60 days): expired, with the day it expired.
    clock.set(clock.now() + timedelta(days=61))
    await page.goto(mentor_end)
    text = await body_text(page)
    assert "Ce lien a expiré le 30 avril 2027" in text
    assert "demandez un nouveau lien" in text
    await check_page(page, "lien-expire")

    # Six months after the end: the six-month questionnaire; meanwhile the summer's annual
    # review (June 2027) asked both, each through the pair they were in.
    clock.set(paris(2027, 9, 1))
    six_months = await mail_to(mailbox, mentee_email, "six mois après")
    await page.goto(link_in(six_months))
    assert "Questionnaire six mois après" in await body_text(page)
    await check_page(page, "lien-questionnaire-six-mois")
    for index in range(await page.locator("fieldset").count()):
        await page.locator("fieldset").nth(index).get_by_label("5", exact=False).first.check()
    await page.get_by_role("button", name="Envoyer mes réponses").click()
    assert "Vos réponses sont enregistrées" in await body_text(page)

    async def annual_2027():
        return [m for m in mailbox.to(mentor_email) if "bilan annuel" in m["Subject"]
                and "2027" in m.get_body(("plain",)).get_content()]

    [annual] = await eventually(annual_2027, timeout=30)
    await page.goto(link_in(annual))
    assert "Questionnaire du bilan annuel 2027" in await body_text(page)
    for index in range(await page.locator("fieldset").count()):
        await page.locator("fieldset").nth(index).get_by_label("3", exact=False).first.check()
    await page.get_by_role("button", name="Envoyer mes réponses").click()
    assert "Vos réponses sont enregistrées" in await body_text(page)
    async with stack.api("followup") as follow:
        answered = (await follow.get(f"/staff/pairs/{pair_id}", headers=BRE)).json()
    assert answered["status"] == "ended"
    async with stack.api("reporting", "admin") as reporting:
        async def both_answered():
            rows = (await reporting.get("/reports/outcomes")).json()["rows"]
            kinds = {k for r in rows for k in r["indicators"]}
            return {"mentee:post_programme", "mentor:annual"} <= kinds

        assert await eventually(both_answered, timeout=30)
