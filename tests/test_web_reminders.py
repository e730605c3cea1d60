"""Where a referent's reminders go, set in the back-office (followup's staff directory)."""

from __future__ import annotations

from tests.web import body_text, check_page, sign_in


async def test_a_referent_sets_where_their_reminders_go(web_stack, page_of):
    email = await web_stack.staff("ines@cress-idf.example", "referent", "IDF",
                                  subject="ref-idf-1", name="Inès Martin")
    page = await page_of()
    await sign_in(page, web_stack, email)
    await page.get_by_role("link", name="Mes rappels").first.click()
    assert await page.get_by_label("Adresse e-mail des rappels").input_value() == email
    assert await page.get_by_label("Identifiant du ou de la référent·e").count() == 0
    await check_page(page, "mes-rappels")

    await page.get_by_label("Adresse e-mail des rappels").fill("pas une adresse")
    await page.get_by_role("button", name="Enregistrer").click()
    assert await page.get_by_label("Adresse e-mail des rappels").get_attribute(
        "aria-invalid") == "true"
    await check_page(page, "mes-rappels-erreur")

    await page.get_by_label("Adresse e-mail des rappels").fill("rappels.ines@cress-idf.example")
    await page.get_by_role("button", name="Enregistrer").click()
    assert "les rappels de ce·tte référent·e partiront à cette adresse" in await body_text(page)
    async with web_stack.runtimes["followup"].store.engine.connect() as conn:
        from sqlalchemy import text

        row = (await conn.execute(text(
            "SELECT region, email FROM followup.referents WHERE referent_id = 'ref-idf-1'"))).one()
    assert tuple(row) == ("IDF", "rappels.ines@cress-idf.example")


async def test_an_analyst_has_no_reminder_page(web_stack, page_of):
    email = await web_stack.staff("analyste@cress.example", "analyst")
    page = await page_of()
    await sign_in(page, web_stack, email)
    assert await page.get_by_role("link", name="Mes rappels").count() == 0
    response = await page.goto(f"{web_stack.backoffice}/mes-rappels")
    assert response.status == 403 and "Accès refusé" in await body_text(page)
