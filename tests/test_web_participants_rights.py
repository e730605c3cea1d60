"""Data rights without asking anyone, in a real browser against the real stack: a person asks
for their link, sees and downloads their data, corrects their phone, withdraws their consent,
then has themselves erased through the e-mailed confirmation link; afterwards the same
searches as the erasure test find nothing of them. Reused, tampered and expired links get
French pages saying what to do."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import timedelta

from services.common.clock import get_clock
from services.common.embedded import _pg_binaries
from services.common.links import LinkPurpose, seal
from tests.conftest import eventually
from tests.test_intake_api import MENTEE
from tests.test_intake_erasure_and_fuzz import files_containing
from tests.web import body_text, check_page

LINK = re.compile(r"https?://\S+/mes-donnees/(?:acces|effacement)/[A-Za-z0-9_-]+")


def link_in(mail) -> str:
    return LINK.search(mail.get_body(("plain",)).get_content()).group(0)


async def apply(stack, **fields) -> dict:
    async with stack.api("intake") as intake:
        created = await intake.post("/applications/mentee", json={**MENTEE, **fields})
        assert created.status_code == 201, created.text
        return created.json()


async def test_a_person_sees_downloads_corrects_withdraws_and_erases_their_data(
        web_stack, page_of, mailbox, postgres, nats_server):
    tag = uuid.uuid4().hex[:10]
    name, email = f"Maëlys{tag}", f"maelys.{tag}@example.org"
    new_phone = f"07 {tag[:2]} 11 22 33".replace("a", "1").replace("b", "2").replace(
        "c", "3").replace("d", "4").replace("e", "5").replace("f", "6")
    created = await apply(web_stack, first_name=name, last_name=f"Le Bihan {tag}", email=email,
                          phone="06 12 34 56 78")

    page = await page_of()
    await page.goto(web_stack.participants + "/mes-donnees")
    await check_page(page, "mes-donnees")
    await page.get_by_label(re.compile("^Adresse e-mail")).fill("pas-une-adresse")
    await page.get_by_role("button", name="Recevoir mon lien personnel").click()
    assert "Indiquez une adresse e-mail valide" in await page.locator(
        "#erreur-email").inner_text()
    await check_page(page, "mes-donnees-erreur")

    unknown = f"inconnu.{tag}@example.org"  # the same answer, and no e-mail
    await page.get_by_label(re.compile("^Adresse e-mail")).fill(unknown)
    await page.get_by_role("button", name="Recevoir mon lien personnel").click()
    answer_for_unknown = await body_text(page)
    assert "Si cette adresse est connue du programme, un lien personnel" in answer_for_unknown
    assert mailbox.to(unknown) == []

    await page.goto(web_stack.participants + "/mes-donnees")
    await page.get_by_label(re.compile("^Adresse e-mail")).fill(email.upper())
    await page.get_by_role("button", name="Recevoir mon lien personnel").click()
    assert await body_text(page) == answer_for_unknown
    await check_page(page, "mes-donnees-envoye")
    [mail] = mailbox.to(email)
    assert mail["Subject"] == "Accès à vos données Succ'ess"
    assert mail.get_body(("html",)) is not None
    access = link_in(mail)
    assert access.startswith(web_stack.participants + "/mes-donnees/acces/")
    assert tag not in access and "maelys" not in access.lower()  # nothing readable

    await page.goto(access)
    text = await body_text(page)
    assert name in text and email in text and "06 12 34 56 78" in text
    assert "Orientée vers une région" in text and "Candidature reçue" in text
    assert "Environnement et transition écologique" in text  # the answers, in French
    await check_page(page, "mes-donnees-acces")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name=re.compile("Télécharger mes données")).click()
    download = await download_info.value
    assert download.suggested_filename == "mes-donnees-succes.json"
    exported = json.loads(open(await download.path(), encoding="utf-8").read())
    assert exported["identity"]["email"] == email
    [application] = exported["applications"]
    assert application["application"]["application_id"] == created["application_id"]
    assert [e["type"] for e in application["history"]] == ["ApplicationReceived",
                                                            "ApplicationRouted"]

    await page.get_by_label(re.compile("^Téléphone")).fill(new_phone)
    await page.get_by_role("button", name="Enregistrer mes coordonnées").click()
    text = await body_text(page)
    assert "Vos coordonnées sont corrigées" in text and new_phone in text
    assert "Coordonnées corrigées" in text  # the programme recorded it
    await page.get_by_label(re.compile("^Adresse e-mail")).fill("autre@")
    await page.get_by_role("button", name="Enregistrer mes coordonnées").click()
    assert await page.locator("#erreur-email").count() == 1
    await check_page(page, "mes-donnees-correction-erreur")

    await page.goto(access)
    await page.get_by_role("button", name="Retirer mon consentement").click()
    text = await body_text(page)
    assert "Votre consentement est retiré" in text and "Retirée" in text
    async with web_stack.api("intake") as intake:
        detail = await intake.get(f"/staff/applications/{created['application_id']}")
        assert detail.json()["application"]["status"] == "withdrawn"
        withdrawn = [e for e in detail.json()["history"] if e["type"] == "ApplicationWithdrawn"]
        assert withdrawn[0]["data"]["reason"] == "consent_withdrawn"

    await page.get_by_role("button", name="Demander l'effacement de mes données").click()
    assert "Un lien de confirmation de l'effacement" in await body_text(page)
    erasure_mail = mailbox.to(email)[-1]
    assert erasure_mail["Subject"] == "Confirmez l'effacement de vos données Succ'ess"
    erasure = link_in(erasure_mail)
    assert "/mes-donnees/effacement/" in erasure

    await page.goto(erasure)
    await check_page(page, "effacement-confirmation")
    await page.get_by_role("button", name="Confirmer l'effacement définitif").click()
    assert "Vos données sont effacées" in await body_text(page)
    await check_page(page, "effacement-fait")

    await page.goto(erasure)  # single use
    text = await body_text(page)
    assert "Lien déjà utilisé" in text and "Mes données" in text
    await check_page(page, "lien-deja-utilise")
    tampered = erasure[:-3] + ("AAA" if not erasure.endswith("AAA") else "BBB")
    response = await page.goto(tampered)
    assert response.status == 400
    assert "Lien invalide" in await body_text(page)
    await check_page(page, "lien-invalide")
    await page.goto(access)  # the access link still opens, on nothing
    assert "Aucune donnée" in await body_text(page)

    async with web_stack.api("intake") as intake:
        assert (await intake.get("/staff/persons", params={"email": email})).json() == []
        detail = await intake.get(f"/staff/applications/{created['application_id']}")
        assert detail.json()["identity"] is None
        async def published() -> bool:  # PersonErased reached reporting's archive
            async with web_stack.runtimes["reporting"].store.engine.connect() as conn:
                from sqlalchemy import text as sql
                return bool((await conn.execute(sql(
                    "SELECT count(*) FROM reporting.archive WHERE type = 'PersonErased'"))
                ).scalar())
        await eventually(published)
    database = web_stack.settings.database_url.rsplit("/", 1)[-1]
    dump = subprocess.run(
        [_pg_binaries()["pg_dump"], "-h", "127.0.0.1", "-p", str(postgres.port), "-U",
         "postgres", database], capture_output=True, check=True).stdout
    needles = [name.encode(), email.encode(), tag.encode(), new_phone.encode()]
    assert not [n for n in needles if n in dump], "personal data found in pg_dump"
    assert files_containing(postgres.data_dir, needles) == []
    assert files_containing(nats_server.data_dir, needles) == []


async def test_an_expired_link_says_to_ask_again(web_stack, page_of):
    created = await apply(web_stack, email=f"expire.{uuid.uuid4().hex[:8]}@example.org",
                          last_name=f"Expire{uuid.uuid4().hex[:8]}")
    async with web_stack.api("intake") as intake:
        detail = await intake.get(f"/staff/applications/{created['application_id']}")
    person_id = detail.json()["application"]["person_id"]
    old = get_clock().now() - timedelta(hours=3)
    token = seal(web_stack.settings.auth_secret, LinkPurpose.data_access, person_id, person_id,
                 old)
    page = await page_of()
    response = await page.goto(f"{web_stack.participants}/mes-donnees/acces/{token}")
    assert response.status == 410
    text = await body_text(page)
    assert "Lien expiré" in text and "Demandez-en un nouveau" in text
    await check_page(page, "lien-expire")
    # A link made for another purpose opens nothing here.
    other = seal(web_stack.settings.auth_secret, LinkPurpose.erasure, person_id, person_id,
                 get_clock().now())
    response = await page.goto(f"{web_stack.participants}/mes-donnees/acces/{other}")
    assert response.status == 400


async def test_asking_for_links_is_rate_limited_per_address(web_stack):
    import httpx

    web_stack.settings.__dict__.update(public_rate_per_minute=1, public_rate_burst=2)
    try:
        async with httpx.AsyncClient(base_url=web_stack.participants) as client:
            answers = [await client.post("/mes-donnees", data={
                "email": f"personne.{n}@example.org"}) for n in range(3)]
    finally:
        web_stack.settings.__dict__.update(public_rate_per_minute=0, public_rate_burst=10)
    assert [a.status_code for a in answers] == [303, 303, 429]
    assert "Trop de demandes" in answers[2].text and "text/html" in answers[2].headers[
        "content-type"]
