"""The back-office's sign-in in a real browser: invitation, password, session, sign-out, CSRF,
throttling; every page in French, accessible."""

from __future__ import annotations

import re

import httpx

from services.backoffice.invitations import add_account
from tests.web import PASSWORD, body_text, check_page, sign_in


async def test_an_invited_referent_chooses_a_password_signs_in_and_out(web_stack, page_of,
                                                                      mailbox):
    from services.backoffice.invitations import send_invitation

    account, link = await add_account(web_stack.accounts, web_stack.settings,
                                      email="Ines.Martin@cress-idf.example", role="referent",
                                      region="IDF", name="Inès Martin")
    await send_invitation(web_stack.settings, account, link)
    mail = mailbox.to("ines.martin@cress-idf.example")[-1]
    text = mail.get_body(("plain",)).get_content()
    assert link in text and "mot de passe" in text
    assert link.startswith(web_stack.backoffice + "/invitation/")

    page = await page_of()
    await page.goto(web_stack.backoffice + "/")
    assert page.url.startswith(web_stack.backoffice + "/connexion")  # 401 leads to sign-in
    await check_page(page, "connexion")

    await page.goto(link)
    await check_page(page, "invitation")
    await page.get_by_label("Nouveau mot de passe").fill("court")
    await page.get_by_label("Le même mot de passe, à nouveau").fill("court")
    await page.get_by_role("button", name="Enregistrer le mot de passe").click()
    assert "au moins 12 caractères" in await body_text(page)
    await check_page(page, "invitation-erreur")
    await page.get_by_label("Nouveau mot de passe").fill(PASSWORD)
    await page.get_by_label("Le même mot de passe, à nouveau").fill(PASSWORD)
    await page.get_by_role("button", name="Enregistrer le mot de passe").click()
    assert "Votre mot de passe est enregistré" in await body_text(page)

    await page.goto(link)  # one use only
    assert "Lien d'invitation expiré ou déjà utilisé" in await body_text(page)

    await sign_in(page, web_stack, "ines.martin@cress-idf.example")
    assert "Bonjour Inès Martin" in await body_text(page)
    assert "référent·e (région IDF)" in await body_text(page)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "succes_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > 0
    await check_page(page, "accueil")

    await page.get_by_role("button", name="Se déconnecter").click()
    assert "Vous êtes déconnecté·e" in await body_text(page)
    await page.goto(web_stack.backoffice + "/")
    assert "/connexion" in page.url


async def test_wrong_passwords_are_throttled(web_stack, page_of):
    email = await web_stack.staff("bre@cress-bre.example", "referent", "BRE")
    page = await page_of()
    for _ in range(web_stack.settings.signin_max_failures):
        await sign_in(page, web_stack, email, "pas le bon mot de passe")
        assert "Adresse e-mail ou mot de passe incorrect" in await body_text(page)
    await sign_in(page, web_stack, email)  # the right one, too late
    text = await body_text(page)
    assert "Trop de tentatives de connexion infructueuses" in text
    assert re.search(r"réessayez après \d+ h \d\d", text)
    await check_page(page, "connexion-bloquee")


async def test_a_form_posted_without_its_csrf_token_is_refused(web_stack, page_of):
    email = await web_stack.staff("admin@cress.example", "admin")
    page = await page_of()
    await sign_in(page, web_stack, email)
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=web_stack.backoffice, cookies=cookies) as client:
        answer = await client.post("/deconnexion", data={})
        assert answer.status_code == 403 and "text/html" in answer.headers["content-type"]
        assert "Formulaire expiré ou invalide" in answer.text
        forged = await client.post("/deconnexion", data={"csrf": "forged"})
        assert forged.status_code == 403
        anonymous = await client.post("/connexion", data={"email": email, "password": PASSWORD})
        assert anonymous.status_code == 403
    await page.goto(web_stack.backoffice + "/")
    assert "Bonjour" in await body_text(page)  # still signed in: nothing happened


async def test_errors_are_french_pages_never_json(web_stack, page_of):
    page = await page_of()
    response = await page.goto(web_stack.backoffice + "/nulle-part")
    assert response.status == 404
    assert "Page introuvable" in await body_text(page)
    assert "{" not in await body_text(page)
    await check_page(page, "erreur-404")


async def test_a_huge_form_gets_a_french_page(web_stack):
    async with httpx.AsyncClient(base_url=web_stack.backoffice) as client:
        answer = await client.post("/connexion", content=b"email=" + b"a" * 200_000,
                                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    assert "Envoi trop volumineux" in answer.text
