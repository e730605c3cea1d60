"""The dashboard of the back-office: the charts as pure functions (given/when/then tables), then
the page in a real browser for a referent and a national admin, its figures changing as the
programme moves, its date selector, a phone-size screenshot, and region isolation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.backoffice.charts import (
    Bar,
    bar_chart,
    labelled_months,
    month_label,
    month_range,
    percent_ticks,
    progress_chart,
    round_up,
    value_ticks,
)
from services.backoffice.pages.dashboard import (
    cohort_options,
    networking_view,
    objectives_view,
    outcomes_view,
    questionnaire_label,
)
from tests.conftest import eventually
from tests.test_intake_api import person
from tests.test_matching_api import _at_least, admit, mentor, pool_size
from tests.intake_client import token
from tests.web import body_text, check_page, sign_in

BRE = token("referent", "BRE", "ref-bre-1")

# --- axes ---------------------------------------------------------------------------------

MONTH_LABELS = [  # given a month -> then its name under the axis
    ("2027-01", "janv. 2027"), ("2026-02", "févr. 2026"), ("2026-03", "mars 2026"),
    ("2028-07", "juil. 2028"), ("2026-08", "août 2026"), ("2028-12", "déc. 2028"),
]


@pytest.mark.parametrize(("month", "label"), MONTH_LABELS)
def test_months_are_named_in_french(month, label):
    assert month_label(month) == label


def test_month_range_runs_across_years_to_december_2028():
    months = month_range("2026-01", "2028-12")
    assert len(months) == 36 and months[0] == "2026-01" and months[-1] == "2028-12"
    assert months[11:13] == ["2026-12", "2027-01"]


LABELLED = [  # given the axis' months -> then those named under it
    (("2026-01", "2028-12"), ["2026-01", "2026-07", "2027-01", "2027-07", "2028-01", "2028-07",
                              "2028-12"]),
    (("2026-04", "2028-12"), ["2026-04", "2026-07", "2027-01", "2027-07", "2028-01", "2028-07",
                              "2028-12"]),
    (("2026-06", "2028-12"), ["2026-07", "2027-01", "2027-07", "2028-01", "2028-07",
                              "2028-12"]),  # the first month, too close to July, is not named
    (("2028-11", "2028-12"), ["2028-12"]),
    (("2028-05", "2028-12"), ["2028-07", "2028-12"]),
    (("2027-05", "2027-09"), ["2027-05", "2027-09"]),  # July too close to September
    (("2028-09", "2028-12"), ["2028-09", "2028-12"]),
    (("2028-12", "2028-12"), ["2028-12"]),
]


@pytest.mark.parametrize(("span", "named"), LABELLED)
def test_the_axis_names_january_july_and_the_last_month_without_overlap(span, named):
    assert labelled_months(month_range(*span)) == named


VALUE_TICKS = [  # given top, step -> then the ticks
    (500, 100, [0, 100, 200, 300, 400, 500]),
    (600, 100, [0, 100, 200, 300, 400, 500, 600]),
    (1.0, 0.25, [0, 0.25, 0.5, 0.75, 1.0]),
]


@pytest.mark.parametrize(("top", "step", "ticks"), VALUE_TICKS)
def test_value_ticks(top, step, ticks):
    assert value_ticks(top, step) == ticks


@pytest.mark.parametrize(("value", "step", "rounded"), [
    (500, 100, 500), (501, 100, 600), (0, 100, 100), (1.3, 0.25, 1.5), (0.2, 0.25, 0.25)])
def test_round_up(value, step, rounded):
    assert round_up(value, step) == rounded


def test_percent_ticks_are_french():
    assert percent_ticks(0.5) == [(0, "0\u202f%"), (0.25, "25\u202f%"), (0.5, "50\u202f%")]


# --- the 500-by-2028 chart ------------------------------------------------------------------

def _progress(known: list[int]) -> str:
    months = month_range("2026-01", "2028-12")
    values = known + [None] * (len(months) - len(known))
    return str(progress_chart("c", list(zip(months, values, strict=True)), 500,
                              title="Vers 500", description="Deux axes"))


def test_the_progress_chart_has_both_axes_labelled_to_december_2028_and_0_to_500():
    svg = _progress([1, 3, 6])
    assert svg.startswith('<svg class="graphique" role="img" aria-labelledby="c-titre c-desc" '
                          'width="640" height="340" viewBox="0 0 640 340"')
    assert '<title id="c-titre">Vers 500</title>' in svg
    assert '<desc id="c-desc">Deux axes</desc>' in svg
    assert ">Mois</text>" in svg and ">Jeunes en binôme (cumul)</text>" in svg
    for label in ("janv. 2026", "juil. 2027", "déc. 2028"):
        assert f">{label}</text>" in svg
    for tick in ("0", "100", "200", "300", "400", "500"):
        assert f">{tick}</text>" in svg
    assert ">Objectif : 500 jeunes</text>" in svg


def test_the_cumulative_line_stops_at_the_last_known_month_and_the_needed_pace_runs_on():
    svg = _progress([1, 3, 6])
    points = re.search(r'class="courbe" points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3  # three months known, none drawn for the months to come
    needed = re.search(r'class="rythme-necessaire" x1="([\d.]+)" y1="([\d.]+)" '
                       r'x2="([\d.]+)" y2="([\d.]+)"', svg)
    assert needed.group(1) == points[-1].split(",")[0]  # from the last point…
    goal_y = re.search(r'class="objectif" x1="[\d.]+" y1="([\d.]+)"', svg).group(1)
    assert needed.group(4) == goal_y  # …to the goal in December 2028
    assert float(needed.group(3)) == 640 - 44  # the right end of the axis


def test_the_y_axis_grows_past_the_goal_when_it_is_exceeded():
    svg = _progress([650])
    assert ">700</text>" in svg and 'class="rythme-necessaire"' not in svg


def test_an_empty_programme_still_draws_both_axes_and_the_goal():
    svg = _progress([])
    assert 'class="courbe"' not in svg and ">déc. 2028</text>" in svg and "Objectif" in svg


# --- bars -----------------------------------------------------------------------------------

def test_bars_scale_to_the_maximum_and_write_their_figure():
    svg = str(bar_chart("b", [Bar("Bretagne — jeunes", 0.5, "10 / 20 (50 %)"),
                              Bar("Île-de-France — jeunes", None, "—")],
                        maximum=1.0, ticks=percent_ticks(1.0), axis_label="Part atteinte",
                        title="Objectifs", description="Par région",
                        reference=(1.0, "objectif")))
    label_width = 8 * len("Île-de-France — jeunes") + 16
    widths = re.findall(rf'class="barre" x="{label_width}" y="\d+" width="([\d.]+)"', svg)
    assert widths == ["130.0"]  # half of the 260 px of the axis; no bar without a figure
    assert ">10 / 20 (50 %)</text>" in svg and ">—</text>" in svg
    assert ">Part atteinte</text>" in svg and ">100\u202f%</text>" in svg
    assert ">Île-de-France — jeunes</text>" in svg and 'class="reference"' in svg
    assert 'role="img"' in svg and '<title id="b-titre">Objectifs</title>' in svg


def test_labels_are_escaped():
    svg = str(bar_chart("b", [Bar("<script>", 1, "1")], maximum=1, ticks=[], axis_label="x",
                        title="a & b", description="d"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg


# --- what the page makes of the reports ----------------------------------------------------

def _objective(region: str, cohort: str, admitted: int, objective: int = 20) -> dict:
    share = admitted / objective
    reached = {"objective": objective, "admitted": admitted, "paired": 0,
               "admitted_share": share, "paired_share": 0.0}
    return {"region": region, "cohort": cohort, "objectives_set": True, "mentees": reached,
            "mentors": reached}


OBJECTIVE_CASES = [  # given rows, the cohort chosen -> then the cohort shown, its regions
    ([_objective("BRE", "2026-03", 5), _objective("IDF", "2026-03", 30),
      _objective("BRE", "2026-06", 1)], "", "2026-06", ["BRE"]),
    ([_objective("BRE", "2026-03", 5), _objective("IDF", "2026-03", 30)], "2026-03", "2026-03",
     ["BRE", "IDF"]),
    ([], "", "", []),
]


@pytest.mark.parametrize(("rows", "chosen", "cohort", "regions"), OBJECTIVE_CASES)
def test_regions_side_by_side_for_the_chosen_or_latest_cohort(rows, chosen, cohort, regions):
    view = objectives_view(rows, chosen)
    assert view["cohort"] == cohort and [r["region"] for r in view["rows"]] == regions
    if regions:
        svg = str(view["chart"])
        assert "Bretagne — jeunes" in svg and "Part de l&#39;objectif atteinte" in svg
    else:
        assert view["chart"] is None


def test_an_objective_exceeded_widens_the_axis_past_100_percent():
    svg = str(objectives_view([_objective("IDF", "2026-03", 30)], "")["chart"])
    assert ">150\u202f%</text>" in svg and ">30 / 20 (150\u202f%)</text>" in svg


def test_cohort_options_are_the_programme_cohorts_in_french():
    options = cohort_options("", [{"cohort": "2029-03"}, {"cohort": "inconnue"}])
    assert options[0] == ("2026-03", "mars 2026") and options[-1] == ("2029-03", "mars 2029")
    assert len(options) == 13 and ("2028-12", "décembre 2028") in options


@pytest.mark.parametrize(("key", "label"), [
    ("mentee:end_of_programme", "Mentoré·e — Questionnaire de fin de programme"),
    ("mentor:post_programme", "Mentor — Questionnaire à six mois"),
    ("outcome:end_of_programme",
     "Situation relevée par le ou la référent·e — Questionnaire de fin de programme"),
])
def test_rating_sources_are_named_in_french(key, label):
    assert questionnaire_label(key) == label


def test_outcomes_become_charts_and_networking_figures_add_up():
    row = {"region": "BRE", "cohort": "2026-03", "positive_rate_end": 0.5,
           "positive_rate_six_months": None, "satisfaction_end": 4.25,
           "satisfaction_six_months": None,
           "indicators": {"mentee:end_of_programme": {"self_confidence": 3.5}}}
    view = outcomes_view([row])
    rates, satisfaction = (str(chart) for chart in view["charts"])
    assert ">Bretagne, mars 2026 — fin</text>" in rates and ">50\u202f%</text>" in rates
    assert ">4,2</text>" in satisfaction or ">4,3</text>" in satisfaction
    assert view["indicators"][0]["items"] == [("Confiance en soi", 3.5)]
    assert outcomes_view([]) == {"rows": [], "charts": []}
    events = [{"kind": "workshop", "registered": 4, "attended": 3},
              {"kind": "workshop", "registered": 2, "attended": 0}]
    figures = networking_view({"events": events, "registered": 6, "attended": 3})
    assert figures["rate"] == 0.5 and figures["by_kind"] == [
        ("Atelier", {"events": 2, "registered": 6, "attended": 3})]


# --- the page in a browser ------------------------------------------------------------------

DASHBOARD = "/tableau-de-bord"


async def _cohort_row(page, label: str, table: str = "Personnes par région et cohorte"
                      ) -> list[str]:
    """The figures of a row of a table (named by the start of its caption)."""
    within = page.get_by_role("table", name=re.compile(f"^{re.escape(table)}"))
    row = within.get_by_role("row").filter(has=page.get_by_role("rowheader", name=label,
                                                              exact=True))
    return [c.strip() for c in await row.get_by_role("cell").all_inner_texts()]


async def _figures_show(page, url: str, label: str, expected: list[str]) -> bool:
    await page.goto(url)
    return await _cohort_row(page, label) == expected


async def test_a_referent_sees_the_dashboard_and_its_figures_change(web_stack, page_of):
    email = await web_stack.staff("referente@cress-bre.example", "referent", "BRE")
    intake = web_stack.api("intake", "referent", "BRE", "ref-bre-1")
    page = await page_of()
    await sign_in(page, web_stack, email)
    await page.get_by_role("link", name="Tableau de bord").first.click()
    assert page.url.endswith(DASHBOARD)
    text = await body_text(page)
    assert "Région : Bretagne" in text and "Aucune candidature pour cette sélection." in text
    assert "Vers 500 jeunes accompagné·es fin 2028" in text
    assert "Aucun bilan en retard." in text
    svg = page.locator("svg#graphique-objectif-2028, svg[aria-labelledby^='graphique-objectif-"
                       "2028']")
    assert await svg.get_attribute("role") == "img"
    assert "déc. 2028" in await svg.inner_html()
    await check_page(page, "tableau-de-bord-referent-vide")

    # An application, then its admission: the figures change on reload.
    answer = await intake.post("/applications/mentee", json=person())
    assert answer.status_code == 201, answer.text
    url = web_stack.backoffice + DASHBOARD
    # Cohorte, candidatures, admis·es, binôme, actifs, terminés, arrêts, attente
    await eventually(lambda: _figures_show(page, url, "Bretagne, mars 2026",
                                           ["1", "0", "0", "0", "0", "0", "0"]))
    await admit(intake, person(sector_interests=["culture"]), "/applications/mentee")
    await admit(intake, mentor(sector_expertise=["culture"], capacity=1), "/applications/mentor")
    await eventually(lambda: _figures_show(page, url, "Bretagne, mars 2026",
                                           ["3", "2", "0", "0", "0", "0", "1"]))
    assert await _cohort_row(page, "Total") == ["3", "2", "0", "0", "0", "0", "1"]
    objectives = page.get_by_role("row").filter(has=page.get_by_role("rowheader",
                                                                      name=re.compile("^Bretagne")))
    cells = await objectives.last.get_by_role("cell").all_inner_texts()
    assert cells[:3] == ["20", "1", "5\u202f%"]  # mentees: objective, admitted, share

    # A pair: paired and active, no longer waiting; the chart's line starts.
    await _pair_the_admitted(web_stack)
    await eventually(lambda: _figures_show(page, url, "Bretagne, mars 2026",
                                           ["3", "2", "1", "1", "0", "0", "0"]))
    text = re.sub(r"\s+", " ", await body_text(page))
    assert "1 en binôme, sur un objectif de 500 jeunes" in text
    assert await page.locator("polyline.courbe").count() == 1
    await page.get_by_text("Les chiffres du graphique, mois par mois").click()
    assert await _cohort_row(page, "janvier 2026", "Jeunes mis·es en binôme") == ["1", "1"]
    await check_page(page, "tableau-de-bord-referent")

    # The mentee found a job and ended early: a positive outcome, charted.
    followup = web_stack.api("followup", "referent", "BRE", "ref-bre-1")
    pair_id = await _followed_pair(followup)
    web_stack.clock.set(datetime(2026, 2, 2, 9, 0, tzinfo=UTC))  # the journey has begun
    ended = await followup.post(f"/staff/pairs/{pair_id}/end", json={
        "reason": "mentee_found_job", "ended_by": "mentee"})
    assert ended.status_code == 200, ended.text
    recorded = await followup.post(f"/staff/pairs/{pair_id}/outcomes", json={
        "moment": "end", "situation": "job_or_training_in_ess", "satisfaction": 4})
    assert recorded.status_code == 201, recorded.text
    await eventually(lambda: _ended_early_shown(page, url))
    row = await _cohort_row(page, "Bretagne, mars 2026")
    assert row == ["3", "2", "1", "0", "0", "1", "0"], row
    outcomes = page.get_by_role("img", name="Sorties positives en fin de programme et six "
                                            "mois après")
    await eventually(lambda: _shown(page, url, outcomes))
    assert "100\u202f%" in await outcomes.inner_html()
    await check_page(page, "tableau-de-bord-referent-resultats")
    for client in (intake, followup):
        await client.aclose()


async def _pair_the_admitted(web_stack) -> None:
    """Through matching's API: open Bretagne's cohort, confirm every proposal."""
    async with web_stack.api("matching", "referent", "BRE", "ref-bre-1") as matching:
        await eventually(lambda: _at_least(pool_size(web_stack.runtimes["matching"]), 2))
        opened = await matching.post("/staff/cohorts", json={"region": "BRE",
                                                             "target_pairs": 1})
        assert opened.status_code == 201, opened.text
        run = await matching.post(f"/staff/cohorts/{opened.json()['cohort_id']}/proposals")
        for proposal in run.json()["proposals"]:
            confirmed = await matching.post(f"/staff/proposals/{proposal['match_id']}/confirm")
            assert confirmed.status_code == 200, confirmed.text


async def _followed_pair(followup) -> str:
    """The id of the one pair followup follows (once it has planned it)."""
    async def followed_pairs() -> list:
        return (await followup.get("/staff/pairs")).json()

    await eventually(lambda: _at_least(_count(followed_pairs()), 1))
    return (await followed_pairs())[0]["pair_id"]


async def _ended_early_shown(page, url: str) -> bool:
    await page.goto(url)
    return (await _cohort_row(page, "Total"))[5] == "1"


async def _count(items) -> int:
    return len(await items)


async def _shown(page, url: str, locator) -> bool:
    await page.goto(url)
    return await locator.count() == 1


async def test_the_date_selector_takes_a_plain_date_and_refuses_the_future(web_stack, page_of):
    email = await web_stack.staff("referente@cress-bre.example", "referent", "BRE")
    intake = web_stack.api("intake", "referent", "BRE", "ref-bre-1")
    await intake.post("/applications/mentee", json=person())
    page = await page_of()
    await sign_in(page, web_stack, email)
    url = web_stack.backoffice + DASHBOARD
    await eventually(lambda: _figures_show(page, url, "Bretagne, mars 2026",
                                           ["1", "0", "0", "0", "0", "0", "0"]))

    yesterday = (web_stack.clock.now() - timedelta(days=1)).date()
    await page.get_by_label("Situation à la fin du").fill(yesterday.isoformat())
    await page.get_by_role("button", name="Afficher").click()
    assert f"date={yesterday.isoformat()}" in page.url  # the choice stays in the address
    text = await body_text(page)
    assert "Situation à la fin du 11 janvier 2026" in text
    assert "Aucune candidature pour cette sélection." in text  # it came in today
    await check_page(page, "tableau-de-bord-date")

    await page.get_by_label("Situation à la fin du").fill("2026-03-01")
    await page.get_by_role("button", name="Afficher").click()
    field = page.get_by_label("Situation à la fin du")
    assert await field.get_attribute("aria-invalid") == "true"
    assert "L'instant demandé est dans le futur" in await page.locator(
        "#erreur-date").inner_text()
    await check_page(page, "tableau-de-bord-date-erreur")
    await intake.aclose()


async def test_a_national_admin_chooses_a_region_and_a_cohort_and_reads_it_on_a_phone(
        web_stack, page_of):
    email = await web_stack.staff("admin@cress.example", "admin")
    intake = web_stack.api("intake")
    await intake.post("/applications/mentee", json=person())  # Bretagne
    await intake.post("/applications/mentee", json=person(postcode="75011"))  # Île-de-France
    page = await page_of()
    await sign_in(page, web_stack, email)
    url = web_stack.backoffice + DASHBOARD
    await eventually(lambda: _figures_show(page, url, "Total",
                                           ["2", "0", "0", "0", "0", "0", "0"]))
    assert await _cohort_row(page, "Île-de-France, mars 2026") == ["1", "0", "0", "0", "0",
                                                                   "0", "0"]
    assert "toutes les régions" in await body_text(page)
    await check_page(page, "tableau-de-bord-national")

    await page.get_by_label("Région", exact=True).select_option(label="Île-de-France")
    await page.get_by_label("Cohorte", exact=True).select_option(label="mars 2026")
    await page.get_by_role("button", name="Afficher").click()
    assert "region=IDF" in page.url and "cohort=2026-03" in page.url
    assert await _cohort_row(page, "Total") == ["1", "0", "0", "0", "0", "0", "0"]
    assert "Bretagne, mars 2026" not in await body_text(page)

    phone = await page_of(390, 844)
    await sign_in(phone, web_stack, email)
    await phone.goto(page.url)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone: wide tables scroll in their box
    await check_page(phone, "tableau-de-bord-telephone")
    await intake.aclose()


async def test_a_breton_referent_cannot_see_ile_de_france(web_stack, page_of):
    email = await web_stack.staff("referente@cress-bre.example", "referent", "BRE")
    intake = web_stack.api("intake")
    await intake.post("/applications/mentee", json=person(postcode="75011"))
    await intake.post("/applications/mentee", json=person())
    page = await page_of()
    await sign_in(page, web_stack, email)
    url = web_stack.backoffice + DASHBOARD
    await eventually(lambda: _figures_show(page, url, "Total",
                                           ["1", "0", "0", "0", "0", "0", "0"]))
    text = await body_text(page)
    assert "Île-de-France" not in text  # neither in the tables nor in a selector
    assert await page.get_by_label("Région", exact=True).count() == 0

    answer = await page.goto(f"{url}?region=IDF")
    assert answer.status == 403
    assert "Accès refusé" in await body_text(page)
    await check_page(page, "tableau-de-bord-autre-region")
    await intake.aclose()


async def test_overdue_reviews_are_listed_with_links_to_their_pair(web_stack, page_of):
    email = await web_stack.staff("referente@cress-bre.example", "referent", "BRE")
    async with web_stack.api("intake", "referent", "BRE", "ref-bre-1") as intake:
        await admit(intake, person(sector_interests=["culture"]), "/applications/mentee")
        await admit(intake, mentor(sector_expertise=["culture"], capacity=1),
                    "/applications/mentor")
    await _pair_the_admitted(web_stack)
    async with web_stack.api("followup", "referent", "BRE", "ref-bre-1") as followup:
        pair_id = await _followed_pair(followup)
    # Months later, the intermediate review was never held: followup's own loop marks it
    # overdue after the grace period.
    followup_loop = web_stack.runtimes["followup"].state["followup"]
    # Due on 1 September (month 6 of the March cohort), overdue 30 days later.
    for month, day in ((9, 2), (10, 5)):
        web_stack.clock.set(datetime(2026, month, day, 9, 0, tzinfo=UTC))
        while await followup_loop.fire_due():  # what its loop does, at once
            pass
    async with web_stack.api("reporting", "referent", "BRE", "ref-bre-1") as reporting:
        async def listed() -> list:
            return (await reporting.get("/reports/reviews/overdue")).json()["reviews"]

        await eventually(listed)
    page = await page_of()
    await sign_in(page, web_stack, email)
    link = page.get_by_role("link", name=re.compile(r"^Binôme BRE-2026-03"))
    await eventually(lambda: _shown(page, web_stack.backoffice + DASHBOARD, link))
    assert await link.get_attribute("href") == f"/binomes/{pair_id}"
    item = await page.get_by_role("listitem").filter(has=link).inner_text()
    assert "bilan intermédiaire prévu le" in item and re.search(r"\d+ jours de retard", item)
    await check_page(page, "tableau-de-bord-bilans-en-retard")
