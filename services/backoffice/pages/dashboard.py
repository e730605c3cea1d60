"""/tableau-de-bord: the staff's questions answered from reporting's read models.

Region, cohort and date are chosen in a GET form, so a view can be bookmarked and shared.
Reporting enforces the region (a regional account asking another region gets the French 403
page) and checks the date (a future or malformed one comes back next to the field).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from events.geography import REGIONS
from events.vocabulary import (
    COHORT_START_MONTHS,
    IMPACT_INDICATOR_LABELS,
    NETWORKING_EVENT_KIND_LABELS,
    QUESTIONNAIRE_KIND_LABELS,
    RESPONDENT_LABELS,
    REVIEW_KIND_LABELS,
)
from services.backoffice.charts import (
    Bar,
    bar_chart,
    percent_ticks,
    progress_chart,
    round_up,
    scale_ticks,
)
from services.backoffice.session import Staff, signed_in
from services.common.web import french_month, french_number, french_percent

router = APIRouter(dependencies=[Depends(signed_in)])

PATH = "/tableau-de-bord"
PROGRAMME_YEARS = (2026, 2027, 2028)
# The per-cohort table: (funnel counter(s), column heading)
COHORT_COLUMNS = [
    (("applications_mentees", "applications_mentors"), "Candidatures"),
    (("admitted",), "Admis·es"),
    (("paired",), "Mis·es en binôme"),
    (("active",), "Binômes actifs"),
    (("completed",), "Parcours terminés"),
    (("ended_early",), "Arrêts anticipés"),
    (("waiting",), "En attente de binôme"),
]
# The selectors' names in the address -> the reports' parameters
FIELD_OF_PARAMETER = {"as_of": "date", "region": "region", "cohort": "cohort"}


@dataclass(frozen=True)
class Selection:
    region: str  # "": every region the account may see
    cohort: str  # "": every cohort
    date: str  # "": now; else the end of that day (Paris)

    def params(self, *names: str) -> dict[str, str]:
        values = {"region": self.region, "cohort": self.cohort, "as_of": self.date}
        return {name: values[name] for name in names}


def selection_of(request: Request, staff: Staff) -> Selection:
    query = request.query_params
    region = query.get("region", "").strip() or (staff.account.region or "")
    return Selection(region=region, cohort=query.get("cohort", "").strip(),
                     date=query.get("date", "").strip())


# (path, parameters) of each report the page shows
REPORTS = {
    "cohorts": ("/reports/cohorts", ("region", "cohort", "as_of")),
    "objectives": ("/reports/objectives", ("region", "cohort", "as_of")),
    "progress": ("/reports/progress", ("region", "as_of")),
    "overdue": ("/reports/reviews/overdue", ("region", "as_of")),
    "outcomes": ("/reports/outcomes", ("region", "cohort", "as_of")),
    "networking": ("/reports/networking", ("region", "as_of")),
}


@router.get(PATH)
async def dashboard(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    chosen = selection_of(request, staff)
    backend = request.app.state.backend
    names = list(REPORTS)
    answers = await asyncio.gather(*(
        backend.call(staff.account, "reporting", "GET", REPORTS[name][0],
                     params=chosen.params(*REPORTS[name][1]), form=True) for name in names))
    errors = {FIELD_OF_PARAMETER.get(field, field): message
              for answer in answers if not answer.ok for field, message in answer.errors.items()}
    context: dict[str, Any] = {"title": "Tableau de bord", "chosen": chosen, "errors": errors,
                               "regions": await region_options(request, staff),
                               "region_fixed": bool(staff.account.region),
                               "region_name": REGIONS.get(chosen.region, chosen.region),
                               "columns": COHORT_COLUMNS, "count": count, "place": place,
                               "review_label": review_label}
    if errors:
        context["cohorts"] = cohort_options(chosen.cohort, [])
        return request.app.state.pages.html(request, "dashboard/page.html",
                                            {**context, "report": None}, status_code=422)
    report = dict(zip(names, (answer.body for answer in answers), strict=True))
    context["cohorts"] = cohort_options(chosen.cohort, report["cohorts"]["by_cohort"])
    context["report"] = {
        "cohorts": report["cohorts"],
        "objectives": objectives_view(report["objectives"]["rows"], chosen.cohort),
        "progress": progress_view(report["progress"]),
        "overdue": report["overdue"]["reviews"],
        "outcomes": outcomes_view(report["outcomes"]["rows"]),
        "start_and_end": start_and_end_view(report["outcomes"].get("start_and_end", [])),
        "networking": networking_view(report["networking"]),
    }
    return request.app.state.pages.html(request, "dashboard/page.html", context)


async def region_options(request: Request, staff: Staff) -> list[tuple[str, str]]:
    """National staff choose among the served regions; regional staff see theirs only."""
    if staff.account.region:
        return []
    regions = await request.app.state.backend.get(staff.account, "intake", "/staff/regions")
    return [(r["region"], r["name"]) for r in regions if r["served"]]


def cohort_options(chosen: str, seen: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The programme's cohorts (March, June, September, December of each year), and any
    other one with figures."""
    months = {f"{year}-{month:02d}" for year in PROGRAMME_YEARS for month in COHORT_START_MONTHS}
    months |= {row["cohort"] for row in seen if row["cohort"][:1].isdigit()}
    if chosen:
        months.add(chosen)
    return [(month, french_month(month)) for month in sorted(months)]


def french(labels: Mapping[Any, str], code: str) -> str:
    """A closed vocabulary's French label (its members are strings), else the code itself."""
    return labels.get(code, code)


def count(counts: dict[str, int], counters: tuple[str, ...]) -> int:
    return sum(counts.get(counter, 0) for counter in counters)


def place(region: str, cohort: str | None = None) -> str:
    """« Bretagne, mars 2026 »."""
    name = REGIONS.get(region, region)
    return f"{name}, {french_month(cohort)}" if cohort and cohort[:1].isdigit() else name


# --- regions against their objectives ---------------------------------------------------------

def objectives_view(rows: list[dict[str, Any]], chosen: str) -> dict[str, Any]:
    """The chosen cohort's rows (else the latest cohort's), with their bar chart."""
    cohort = chosen or max((r["cohort"] for r in rows), default="")
    shown = [r for r in rows if r["cohort"] == cohort]
    bars = [Bar(f"{REGIONS.get(r['region'], r['region'])} — {who}",
                r[role]["admitted_share"],
                f"{french_number(r[role]['admitted'])} / {french_number(r[role]['objective'])}"
                f" ({french_percent(r[role]['admitted_share'])})")
            for r in shown for role, who in (("mentees", "jeunes"), ("mentors", "mentors"))]
    top = round_up(max([1.0] + [b.value or 0 for b in bars]), 0.25)
    chart = bar_chart(
        "graphique-objectifs", bars, maximum=top, ticks=percent_ticks(top),
        axis_label="Part de l'objectif atteinte (admis·es)", reference=(1.0, "objectif"),
        title=f"Régions face à leurs objectifs, cohorte de {french_month(cohort)}",
        description="Pour chaque région, part de l'objectif de jeunes et de mentors admis·es "
        "dans la cohorte ; le tableau qui suit donne les chiffres.") if shown else None
    return {"cohort": cohort, "rows": shown, "chart": chart}


# --- the 500-by-2028 chart ----------------------------------------------------------------------

def progress_view(progress: dict[str, Any]) -> dict[str, Any]:
    months = [(m["month"], m["cumulative"]) for m in progress["months"]]
    chart = progress_chart(
        "graphique-objectif-2028", months, progress["goal"],
        title=f"Jeunes mis·es en binôme, cumul, vers l'objectif de "
        f"{french_number(progress['goal'])} fin 2028",
        description=f"Axe horizontal : les mois, de {french_month(months[0][0])} à "
        f"{french_month(months[-1][0])}. Axe vertical : jeunes mis·es en binôme depuis le "
        f"début, de 0 à {french_number(progress['goal'])} au moins. La courbe s'arrête au mois "
        f"en cours ({french_number(progress['mentees_paired'])} jeunes) ; la ligne "
        "horizontale marque l'objectif, la ligne pointillée le rythme nécessaire pour "
        "l'atteindre.")
    return {**progress, "chart": chart,
            "past": [m for m in progress["months"] if m["cumulative"] is not None]}


# --- outcomes and impact ----------------------------------------------------------------------

# Reporting keys ratings by "<respondent>:<questionnaire kind>"; "outcome" is the situation
# recorded by the referent (with the mentee's satisfaction), not a questionnaire's respondent.
RATING_SOURCE_LABELS = {**RESPONDENT_LABELS, "outcome": "Situation relevée par le ou la "
                        "référent·e"}


def questionnaire_label(key: str) -> str:
    """« Mentoré·e — Questionnaire de fin de programme » from ``mentee:end_of_programme``."""
    source, _, kind = key.partition(":")
    return f"{french(RATING_SOURCE_LABELS, source)} — {french(QUESTIONNAIRE_KIND_LABELS, kind)}"


def outcomes_view(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"rows": [], "charts": []}
    rates = [Bar(f"{place(r['region'], r['cohort'])} — {moment}", r[field],
                 french_percent(r[field]))
             for r in rows for field, moment in (("positive_rate_end", "fin"),
                                                 ("positive_rate_six_months", "+6 mois"))]
    ratings = [Bar(f"{place(r['region'], r['cohort'])} — {moment}", r[field],
                   french_number(r[field], 1) if r[field] is not None else "—")
               for r in rows for field, moment in (("satisfaction_end", "fin"),
                                                   ("satisfaction_six_months", "+6 mois"))]
    charts = [
        bar_chart("graphique-sorties", rates, maximum=1.0, ticks=percent_ticks(1.0),
                  axis_label="Part de sorties positives (emploi ou formation)",
                  title="Sorties positives en fin de programme et six mois après",
                  description="Part des jeunes en emploi ou en formation, par région et "
                  "cohorte ; les chiffres sont dans le tableau des résultats."),
        bar_chart("graphique-satisfaction", ratings, maximum=5, ticks=scale_ticks(),
                  axis_label="Satisfaction moyenne (de 1 à 5)",
                  title="Satisfaction en fin de programme et six mois après",
                  description="Satisfaction moyenne des jeunes, de 1 à 5, par région et "
                  "cohorte ; les chiffres sont dans le tableau des résultats."),
    ]
    indicators = []
    for index, (r, key, means) in enumerate(
            (r, key, means) for r in rows for key, means in r["indicators"].items()):
        label = f"{questionnaire_label(key)} ({place(r['region'], r['cohort'])})"
        items = [(french(IMPACT_INDICATOR_LABELS, name), mean) for name, mean in means.items()]
        indicators.append({"label": label, "items": items, "chart": bar_chart(
            f"graphique-indicateurs-{index}",
            [Bar(name, mean, french_number(mean, 1)) for name, mean in items],
            maximum=5, ticks=scale_ticks(), axis_label="Moyenne (de 1 à 5)",
            title=f"Indicateurs d'impact : {label}",
            description="Moyenne des réponses (de 1 à 5) pour chaque indicateur ; le "
            "tableau qui suit donne les mêmes chiffres.")})
    return {"rows": rows, "charts": charts, "indicators": indicators}


def signed_change(value: float) -> str:
    """« +1,5 », « −0,5 », « 0,0 »: an evolution reads with its sign."""
    text = french_number(abs(value), 1)
    if text == french_number(0, 1):
        return text
    return ("+" if value > 0 else "\u2212") + text


def start_and_end_view(progress: list[dict[str, Any]]) -> dict[str, Any]:
    """The progress indicators at the start and at the end of the programme, over the mentees
    who answered both questionnaires (reporting pairs them up)."""
    return {"mentees": max((p["mentees"] for p in progress), default=0),
            "items": [{"label": french(IMPACT_INDICATOR_LABELS, p["indicator"]),
                       "mentees": p["mentees"], "start": p["start"], "end": p["end"],
                       "change": signed_change(p["change"])} for p in progress]}


# --- networking -------------------------------------------------------------------------------

def networking_view(networking: dict[str, Any]) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for event in networking["events"]:
        kind = french(NETWORKING_EVENT_KIND_LABELS, event["kind"] or "—")
        figures = by_kind.setdefault(kind, {"events": 0, "registered": 0, "attended": 0})
        figures["events"] += 1
        figures["registered"] += event["registered"]
        figures["attended"] += event["attended"]
    registered = networking["registered"]
    return {"events": len(networking["events"]), "registered": registered,
            "attended": networking["attended"],
            "rate": networking["attended"] / registered if registered else None,
            "by_kind": sorted(by_kind.items())}


def review_label(kind: str) -> str:
    return french(REVIEW_KIND_LABELS, kind)
