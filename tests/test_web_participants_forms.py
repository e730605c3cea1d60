"""The public application forms in a real browser against the real stack: errors next to the
fields, then the confirmation with the cohort; one application per form display; the
honeypot; CORS on intake's public endpoints; the client's address forwarded to intake's rate
limit only with our proof."""

from __future__ import annotations

import re
import uuid

import httpx

from services.common.limits import client_address, forwarded_client_headers
from tests.intake_client import intake_service
from tests.test_intake_api import person
from tests.web import body_text, check_page


def unique() -> str:
    return uuid.uuid4().hex[:8]


async def applications_of(stack, email: str) -> list[dict]:
    async with stack.api("intake") as intake:
        answer = await intake.get("/staff/persons", params={"email": email})
        assert answer.status_code == 200, answer.text
        return answer.json()


async def test_a_young_person_applies_errors_next_to_fields_then_the_cohort(web_stack, page_of):
    tag = unique()
    email = f"zoe.{tag}@example.org"
    page = await page_of()
    await page.goto(web_stack.participants + "/")
    await check_page(page, "participants-accueil")
    await page.get_by_role("link", name=re.compile("Je suis jeune")).click()
    assert page.url.endswith("/candidater/jeune")
    await check_page(page, "candidature-jeune")

    await page.get_by_label(re.compile("^Prénom")).fill("Zoé")
    await page.get_by_label(re.compile("^Nom")).fill(f"Kerhervé{tag}")
    await page.get_by_label("Adresse e-mail").fill("zoe-sans-domaine")
    await page.get_by_label("Code postal").fill("2920")
    await page.get_by_role("button", name="Envoyer la candidature").click()
    text = await body_text(page)
    assert "La demande n'a pas été enregistrée" not in text  # every error sits by its field
    for field in ("email", "postcode", "birth_date", "channel", "availability",
                  "sector_interests", "consent_data_processing"):
        error = page.locator(f"#erreur-{field}")
        assert await error.count() == 1, field
        assert await error.is_visible(), field
    assert "Ce champ est obligatoire" in await page.locator("#erreur-birth_date").inner_text()
    described = await page.locator("#f-email").get_attribute("aria-describedby")
    assert "erreur-email" in described
    assert await page.locator("#f-email").get_attribute("aria-invalid") == "true"
    assert await page.get_by_label(re.compile("^Prénom")).input_value() == "Zoé"  # kept
    await check_page(page, "candidature-jeune-erreurs")

    await page.get_by_label("Adresse e-mail").fill(email)
    await page.get_by_label("Code postal").fill("29200")
    await page.get_by_label("Date de naissance").fill("2003-02-01")
    await page.get_by_label("Comment avez-vous connu le programme ?").select_option(
        "mission_locale")
    await page.get_by_label("Environnement et transition écologique").check()
    await page.get_by_label("En semaine, en soirée").check()
    await page.get_by_label(re.compile("J'accepte que mes données")).check()
    await page.get_by_role("button", name="Envoyer la candidature").click()
    assert "/candidater/jeune/merci" in page.url
    text = await body_text(page)
    assert "Merci, votre candidature est enregistrée" in text
    assert "cohorte qui démarre en mars 2026" in text
    assert "entretien de motivation" in text
    await check_page(page, "candidature-jeune-merci")

    [application] = await applications_of(web_stack, email)
    assert application["role"] == "mentee" and application["region"] == "BRE"
    assert application["cohort"] == "2026-03"

    await page.goto(web_stack.participants + "/candidater/jeune")  # the same person again
    await page.get_by_label(re.compile("^Prénom")).fill("Zoé")
    await page.get_by_label(re.compile("^Nom")).fill(f"Kerhervé{tag}")
    await page.get_by_label("Adresse e-mail").fill(email)
    await page.get_by_label("Code postal").fill("29200")
    await page.get_by_label("Date de naissance").fill("2003-02-01")
    await page.get_by_label("Comment avez-vous connu le programme ?").select_option("website")
    await page.get_by_label("Culture", exact=True).check()
    await page.get_by_label("Le week-end").check()
    await page.get_by_label(re.compile("J'accepte que mes données")).check()
    await page.get_by_role("button", name="Envoyer la candidature").click()
    assert "Vous avez déjà candidaté" in await body_text(page)
    assert len(await applications_of(web_stack, email)) == 1


async def test_the_form_reads_well_on_a_phone(web_stack, page_of):
    page = await page_of(390, 844)
    for slug in ("jeune", "orientation", "mentor"):
        await page.goto(f"{web_stack.participants}/candidater/{slug}")
        await check_page(page, f"candidature-{slug}-telephone")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{slug}: the page scrolls sideways ({width}px)"


async def test_a_mentor_below_three_years_gets_the_reason_in_french(web_stack, page_of):
    page = await page_of()
    await page.goto(web_stack.participants + "/candidater/mentor")
    await check_page(page, "candidature-mentor")
    await page.get_by_label(re.compile("^Prénom")).fill("Paul")
    await page.get_by_label(re.compile("^Nom")).fill(f"Mentor{unique()}")
    await page.get_by_label("Adresse e-mail").fill(f"paul.{unique()}@example.org")
    await page.get_by_label("Code postal").fill("75011")
    await page.get_by_label("Comment avez-vous connu le programme ?").select_option("website")
    await page.get_by_label("Années d'expérience dans l'ESS").fill("2")
    await page.get_by_label("Vous y êtes").select_option("employee")
    await page.get_by_label("Votre structure").fill("Coopérative du Faubourg")
    await page.get_by_label("Votre métier").select_option("management")
    await page.get_by_label("Culture", exact=True).check()
    await page.get_by_label(re.compile("Combien de jeunes")).select_option("2")
    await page.get_by_label("Votre motivation").fill("Transmettre.")
    await page.get_by_label("En semaine, en journée").check()
    await page.get_by_label(re.compile("J'accepte que mes données")).check()
    await page.get_by_role("button", name="Envoyer la candidature").click()
    text = await body_text(page)
    assert "Candidature non retenue" in text
    assert "Moins de 3 ans d'expérience dans l'ESS" in text
    await check_page(page, "candidature-mentor-refusee")


async def test_a_referrer_registers_a_young_person(web_stack, page_of):
    tag = unique()
    page = await page_of()
    await page.goto(web_stack.participants + "/candidater/orientation")
    await check_page(page, "candidature-orientation")
    await page.get_by_label("Vous êtes").select_option("mission_locale_adviser")
    await page.get_by_label("Votre prénom").fill("Claire")
    await page.get_by_label("Votre nom").fill("Prescrit")
    await page.get_by_label("Votre adresse e-mail").fill("claire@mission-locale.example")
    await page.get_by_label(re.compile("^Prénom")).fill("Lina")
    await page.get_by_label(re.compile("^Nom")).fill(f"Orientée{tag}")
    await page.get_by_label(re.compile("^Adresse e-mail")).fill(f"lina.{tag}@example.org")
    await page.get_by_label("Code postal").fill("75011")
    await page.get_by_label("Date de naissance").fill("2004-05-06")
    await page.get_by_label("Comment avez-vous connu le programme ?").select_option(
        "mission_locale")
    await page.get_by_label("Action sociale").check()
    await page.get_by_label("En semaine, en journée").check()
    await page.get_by_label(re.compile("Le ou la jeune accepte")).check()
    await page.get_by_role("button", name="Envoyer la candidature").click()
    assert "cohorte qui démarre en mars 2026" in await body_text(page)
    [application] = await applications_of(web_stack, f"lina.{tag}@example.org")
    assert application["channel"] == "referrer" and application["region"] == "IDF"


def _filled(key: str, email: str, **extra: str) -> dict:
    return {"first_name": "Inès", "last_name": f"Double{unique()}", "email": email,
            "birth_date": "2002-03-04", "postcode": "75011", "channel": "website",
            "sector_interests": "culture", "availability": "weekend",
            "consent_data_processing": "oui", "idempotency_key": key, **extra}


async def test_a_double_submit_makes_one_application(web_stack):
    email = f"double.{unique()}@example.org"
    async with httpx.AsyncClient(base_url=web_stack.participants) as client:
        form = await client.get("/candidater/jeune")
        key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', form.text).group(1)
        filled = _filled(key, email)
        first = await client.post("/candidater/jeune", data=filled)
        second = await client.post("/candidater/jeune", data=filled)
    assert first.status_code == second.status_code == 303
    assert "statut=routed" in first.headers["location"]
    assert second.headers["location"] == first.headers["location"]  # replayed, not a duplicate
    assert len(await applications_of(web_stack, email)) == 1


async def test_a_filled_honeypot_looks_like_success_and_records_nothing(web_stack, page_of):
    email = f"robot.{unique()}@example.org"
    page = await page_of()
    await page.goto(web_stack.participants + "/candidater/jeune")
    trap = page.locator("#f-site_web")
    assert await trap.get_attribute("tabindex") == "-1"
    assert await trap.get_attribute("autocomplete") == "off"
    assert not await trap.is_visible() or (await trap.bounding_box())["x"] < 0
    assert await page.get_by_label("Ne pas remplir").count() == 1
    async with httpx.AsyncClient(base_url=web_stack.participants) as client:
        answer = await client.post("/candidater/jeune", data=_filled(
            "robot", email, site_web="https://spam.example"), follow_redirects=True)
    assert answer.status_code == 200
    assert "Merci, votre candidature est bien reçue" in answer.text
    assert await applications_of(web_stack, email) == []


async def test_cors_only_for_the_allowed_origins_and_the_public_forms(settings):
    allowed, other = "https://www.cress-bretagne.example", "https://ailleurs.example"
    settings = settings.model_copy(update={"public_allowed_origins": f"{allowed}, "
                                           "https://www.cress-idf.example"})
    async with intake_service(settings) as (client, _runtime):
        preflight = {"Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,idempotency-key"}
        ok = await client.options("/applications/mentee", headers={"Origin": allowed,
                                                                   **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == allowed
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert "idempotency-key" in ok.headers["access-control-allow-headers"].lower()
        refused = await client.options("/applications/mentee", headers={"Origin": other,
                                                                        **preflight})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers

        posted = await client.post("/applications/mentee", json=person(),
                                   headers={"Origin": allowed})
        assert posted.status_code == 201
        assert posted.headers["access-control-allow-origin"] == allowed
        foreign = await client.post("/applications/mentor", json={},
                                    headers={"Origin": other})
        assert "access-control-allow-origin" not in foreign.headers

        staff = await client.get("/staff/applications", headers={"Origin": allowed})
        assert "access-control-allow-origin" not in staff.headers  # public forms only
        staff_preflight = await client.options("/staff/applications", headers={
            "Origin": allowed, **preflight})
        assert "access-control-allow-origin" not in staff_preflight.headers


async def test_without_allowed_origins_no_cors_at_all(settings):
    async with intake_service(settings) as (client, _runtime):
        posted = await client.post("/applications/mentee", json=person(),
                                   headers={"Origin": "https://www.cress-idf.example"})
        assert posted.status_code == 201
        assert "access-control-allow-origin" not in posted.headers


SECRET = "secret de test"


def scope(address: str | None = None, proof: str | None = None) -> dict:
    headers = []
    if address is not None:
        headers.append((b"success-client-address", address.encode()))
    if proof is not None:
        headers.append((b"success-forwarding-proof", proof.encode()))
    return {"client": ("10.0.0.5", 41000), "headers": headers}


def test_the_client_address_is_ours_to_vouch_for_only():
    good = forwarded_client_headers(SECRET, "203.0.113.7")
    assert client_address(scope("203.0.113.7", good["Success-Forwarding-Proof"]), SECRET) == \
        "203.0.113.7"
    # another address with that proof, a forged proof, no proof, no secret: the socket's
    assert client_address(scope("198.51.100.1", good["Success-Forwarding-Proof"]), SECRET) == \
        "10.0.0.5"
    assert client_address(scope("203.0.113.7", "0" * 64), SECRET) == "10.0.0.5"
    assert client_address(scope("203.0.113.7"), SECRET) == "10.0.0.5"
    assert client_address(scope("203.0.113.7", good["Success-Forwarding-Proof"]), None) == \
        "10.0.0.5"
    bogus = forwarded_client_headers(SECRET, "pas une adresse")
    assert client_address(scope("pas une adresse", bogus["Success-Forwarding-Proof"]),
                          SECRET) == "10.0.0.5"


async def test_the_rate_limit_counts_the_forwarded_person_not_our_server(settings):
    settings = settings.model_copy(update={"public_rate_burst": 1,
                                           "public_rate_per_minute": 1})
    async with intake_service(settings) as (client, runtime):
        secret = runtime.settings.auth_secret

        async def apply(address: str | None, forged: bool = False) -> int:
            headers = forwarded_client_headers(secret, address)
            if forged and headers:
                headers["Success-Forwarding-Proof"] = "f" * 64
            return (await client.post("/applications/mentee", json=person(),
                                      headers=headers)).status_code

        assert await apply("203.0.113.7") == 201
        assert await apply("203.0.113.7") == 429  # the same person, again
        assert await apply("198.51.100.1") == 201  # someone else behind the same server
        assert await apply("192.0.2.10", forged=True) == 201  # the socket's own bucket…
        assert await apply("192.0.2.11", forged=True) == 429  # …which a forger cannot leave


def test_intake_error_fields_map_to_the_form_fields():
    from services.participants.pages.applications import FORMS, form_field

    given_then = [
        ("email", "email"), ("availability.0", "availability"),
        ("young_person.birth_date", "birth_date"), ("young_person.sector_interests.2",
                                                    "sector_interests"),
        ("referrer.kind", "referrer_kind"), ("referrer.email", "referrer_email"),
        ("Idempotency-Key", "Idempotency-Key"), (None, ""), ("", ""),
    ]
    for api_field, expected in given_then:
        assert form_field(api_field) == expected, api_field
    referral = FORMS["orientation"].body({
        "referrer_kind": "teacher", "referrer_first_name": "Ana", "email": "a@b.fr",
        "availability": ["weekend"], "consent_data_processing": "oui", "capacity": "2"})
    assert referral == {"referrer": {"kind": "teacher", "first_name": "Ana"},
                        "young_person": {"email": "a@b.fr", "availability": ["weekend"],
                                         "remote_ok": False, "consent_data_processing": True}}
    mentor = FORMS["mentor"].body({"years_in_ess": "5", "capacity": "deux"})
    assert mentor["years_in_ess"] == 5 and mentor["capacity"] == "deux"  # intake says why
