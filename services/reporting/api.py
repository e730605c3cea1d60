"""Reporting HTTP API: every read model as JSON (now, or ``as_of`` an instant), for staff.

Every staff role may read; a regional token sees its region only (asking for another is a
403), a national one sees every region. ``as_of`` takes an instant or a bare date (the end of
that day, Paris time; today's date: now).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import TypeAdapter, ValidationError

from events.vocabulary import joinable_cohort
from services.common.api import error_body
from services.common.auth import Principal, require_region, staff, visible_regions
from services.common.runtime import runtime_of
from services.common.validation import (
    COHORT_ID_PATTERN,
    COHORT_MONTH_PATTERN,
    PARIS,
    Instant,
    instant_or_day,
)
from services.reporting import queries
from services.reporting.folds import View
from services.reporting.projections import read_view

router = APIRouter(prefix="/reports", tags=["rapports"])

Region = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="région, ex. IDF")]
Cohort = Annotated[str | None, Query(pattern=COHORT_MONTH_PATTERN,
                                     description="cohorte (mois de démarrage), ex. 2026-03")]
AsOf = Annotated[str | None, Query(
    max_length=64,
    description="instant ISO 8601 avec fuseau (ex. 2026-01-31T23:59:59+01:00), ou date seule "
    "(ex. 2026-01-31 : la fin de cette journée, heure de Paris ; la date du jour : maintenant) "
    ": les vues telles qu'elles étaient alors (événements enregistrés jusqu'à cet instant)")]
Reader = Annotated[Principal, Depends(staff())]


def scope(principal: Principal, region: str | None) -> set[str] | None:
    if region is not None:
        require_region(principal, region)
    return visible_regions(principal)


_INSTANT = TypeAdapter(Instant)


def _invalid(message: str, field: str) -> HTTPException:
    return HTTPException(422, detail=error_body("invalid_datetime", message, field))


def parse_instant(value: str | None, now: datetime, field: str = "as_of") -> datetime | None:
    """An ISO 8601 instant with its time zone, or a bare date (the end of that day in Paris;
    today's: ``now``), not in the future; else a 422 saying why in French."""
    if value is None:
        return None
    try:
        instant = instant_or_day(value)
    except ValueError:
        raise _invalid("Instant invalide : une date AAAA-MM-JJ ou un instant ISO 8601 avec "
                       "fuseau horaire (ex. 2026-01-31T23:59:59+01:00) est attendu.",
                       field) from None
    if instant.tzinfo is None:
        raise _invalid("Précisez le fuseau horaire de l'instant (ex. 2026-01-31T23:59:59+01:00 "
                       "ou …Z), ou donnez une date seule (AAAA-MM-JJ).", field)
    try:
        instant = _INSTANT.validate_python(instant)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise HTTPException(422, detail=error_body(error["type"], error["msg"], field)) from None
    if instant > now:
        if len(value) == 10 and instant.date() == now.astimezone(PARIS).date():
            return now  # today, so far
        raise HTTPException(422, detail=error_body(
            "as_of_in_future", "L'instant demandé est dans le futur : choisissez un instant "
            "passé (ou omettez as_of pour l'état actuel).", field))
    return instant


async def view_for(request: Request, as_of: str | None,
                   tables: list[str]) -> tuple[View, datetime | None]:
    """The tables now, or as they were at ``as_of`` (checked first: a French 422)."""
    runtime = runtime_of(request)
    assert runtime.store is not None
    instant = parse_instant(as_of, runtime.clock.now())
    async with runtime.store.engine.connect() as connection:
        return await read_view(connection, as_of=instant, tables=tables), instant


def day_of(request: Request, instant: datetime | None) -> date:
    """The programme's day (Paris) of the instant asked, or of now."""
    return (instant or runtime_of(request).clock.now()).astimezone(PARIS).date()


@router.get("/cohorts", summary="Entonnoir par région, cohorte et canal de recrutement")
async def cohorts(request: Request, principal: Reader, region: Region = None,
                  cohort: Cohort = None, as_of: AsOf = None) -> queries.CohortReport:
    regions = scope(principal, region)
    view, as_of = await view_for(request, as_of, ["funnel"])
    return queries.cohort_report(view, regions=regions, region=region, cohort=cohort,
                                 as_of=as_of)


@router.get("/channels", summary="Conversion des canaux de recrutement")
async def channels(request: Request, principal: Reader, region: Region = None,
                   as_of: AsOf = None) -> queries.ChannelReport:
    regions = scope(principal, region)
    view, as_of = await view_for(request, as_of, ["channels"])
    return queries.channel_report(view, regions=regions, region=region, as_of=as_of)


@router.get("/journeys", summary="Parcours des binômes : bilans, séances, activité")
async def journeys(
    request: Request, principal: Reader, region: Region = None,
    cohort_id: Annotated[str | None, Query(pattern=COHORT_ID_PATTERN,
                                           description="ex. IDF-2026-03")] = None,
    status: Annotated[str | None, Query(pattern=r"^(active|completed|ended_early)$")] = None,
    as_of: AsOf = None,
) -> queries.JourneyReport:
    regions = scope(principal, region)
    if cohort_id is not None:  # a cohort belongs to the region its id starts with
        require_region(principal, cohort_id[:3])
    view, as_of = await view_for(request, as_of, ["journeys"])
    return queries.journey_report(view, regions=regions, region=region, cohort_id=cohort_id,
                                  status=status, as_of=as_of)


@router.get("/outcomes", summary="Sorties positives, satisfaction et indicateurs d'impact")
async def outcomes(request: Request, principal: Reader, region: Region = None,
                   cohort: Cohort = None, as_of: AsOf = None) -> queries.OutcomeReport:
    regions = scope(principal, region)
    view, as_of = await view_for(request, as_of, ["outcomes"])
    return queries.outcome_report(view, regions=regions, region=region, cohort=cohort,
                                  as_of=as_of)


@router.get("/progress", summary="Progression vers 500 jeunes accompagnés en 2028")
async def progress(request: Request, principal: Reader, region: Region = None,
                   as_of: AsOf = None) -> queries.ProgressReport:
    regions = scope(principal, region)
    view, as_of = await view_for(request, as_of, ["progress"])
    today = day_of(request, as_of)
    return queries.progress_report(view, today=today, regions=regions, region=region,
                                   as_of=as_of)


@router.get("/networking", summary="Événements de réseautage et participation")
async def networking(request: Request, principal: Reader, region: Region = None,
                     as_of: AsOf = None) -> queries.NetworkingReport:
    regions = scope(principal, region)
    view, as_of = await view_for(request, as_of, ["networking"])
    return queries.networking_report(view, regions=regions, region=region, as_of=as_of)


@router.get("/objectives", summary="Régions côte à côte face à leurs objectifs, par cohorte")
async def objectives(request: Request, principal: Reader, region: Region = None,
                     cohort: Cohort = None, as_of: AsOf = None) -> queries.ObjectivesReport:
    regions = scope(principal, region)
    view, as_of = await view_for(request, as_of, ["funnel", "objectives"])
    settings = runtime_of(request).settings
    return queries.objectives_report(
        view, default_mentees=settings.objective_mentees,
        default_mentors=settings.objective_mentors, served=settings.served_region_codes(),
        current=joinable_cohort(day_of(request, as_of)), regions=regions, region=region,
        cohort=cohort, as_of=as_of)


@router.get("/reviews/overdue", summary="Bilans en retard, les plus en retard d'abord")
async def overdue_reviews(request: Request, principal: Reader, region: Region = None,
                          as_of: AsOf = None) -> queries.OverdueReport:
    regions = scope(principal, region)
    view, as_of = await view_for(request, as_of, ["journeys"])
    return queries.overdue_report(view, today=day_of(request, as_of), regions=regions,
                                  region=region, as_of=as_of)
