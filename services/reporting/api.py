"""Reporting HTTP API: every read model as JSON (now, or ``as_of`` an instant), for staff.

Every staff role may read; a regional token sees its region only (asking for another is a
403), a national one sees every region.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import TypeAdapter, ValidationError

from services.common.api import error_body
from services.common.auth import Principal, require_region, staff, visible_regions
from services.common.runtime import runtime_of
from services.common.validation import COHORT_ID_PATTERN, COHORT_MONTH_PATTERN, Instant
from services.reporting import queries
from services.reporting.folds import View
from services.reporting.projections import read_view

router = APIRouter(prefix="/reports", tags=["rapports"])

Region = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="région, ex. IDF")]
Cohort = Annotated[str | None, Query(pattern=COHORT_MONTH_PATTERN,
                                     description="cohorte (mois de démarrage), ex. 2026-03")]
AsOf = Annotated[str | None, Query(
    json_schema_extra={"format": "date-time"},
    description="instant ISO 8601 avec fuseau (ex. 2026-01-31T23:59:59+01:00) : les vues "
    "telles qu'elles étaient alors (événements enregistrés jusqu'à cet instant)")]
Reader = Annotated[Principal, Depends(staff())]


def scope(principal: Principal, region: str | None) -> set[str] | None:
    if region is not None:
        require_region(principal, region)
    return visible_regions(principal)


_INSTANT = TypeAdapter(Instant)


def parse_instant(value: str | None, field: str = "as_of") -> datetime | None:
    """An ISO 8601 instant with its time zone, or a 422 saying so in French."""
    if value is None:
        return None
    try:
        return _INSTANT.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "datetime_out_of_range":
            raise HTTPException(422, detail=error_body(error["type"], error["msg"], field)) from None
        naive = error["type"] == "timezone_aware"
        raise HTTPException(422, detail=error_body(
            "invalid_datetime",
            "Précisez le fuseau horaire de l'instant (ex. 2026-01-31T23:59:59+01:00 ou …Z)."
            if naive else "Instant invalide : format ISO 8601 attendu, avec fuseau horaire "
            "(ex. 2026-01-31T23:59:59+01:00).", field)) from None


async def view_for(request: Request, as_of: datetime | None, tables: list[str]) -> View:
    runtime = runtime_of(request)
    assert runtime.store is not None
    if as_of is not None and as_of > runtime.clock.now():
        raise HTTPException(422, detail=error_body(
            "as_of_in_future", "L'instant demandé est dans le futur : choisissez un instant "
            "passé (ou omettez as_of pour l'état actuel).", "as_of"))
    async with runtime.store.engine.connect() as connection:
        return await read_view(connection, as_of=as_of, tables=tables)


@router.get("/cohorts", summary="Entonnoir par région, cohorte et canal de recrutement")
async def cohorts(request: Request, principal: Reader, region: Region = None,
                  cohort: Cohort = None, as_of: AsOf = None) -> queries.CohortReport:
    regions = scope(principal, region)
    as_of = parse_instant(as_of)
    view = await view_for(request, as_of, ["funnel"])
    return queries.cohort_report(view, regions=regions, region=region, cohort=cohort,
                                 as_of=as_of)


@router.get("/channels", summary="Conversion des canaux de recrutement")
async def channels(request: Request, principal: Reader, region: Region = None,
                   as_of: AsOf = None) -> queries.ChannelReport:
    regions = scope(principal, region)
    as_of = parse_instant(as_of)
    view = await view_for(request, as_of, ["channels"])
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
    as_of = parse_instant(as_of)
    view = await view_for(request, as_of, ["journeys"])
    return queries.journey_report(view, regions=regions, region=region, cohort_id=cohort_id,
                                  status=status, as_of=as_of)


@router.get("/outcomes", summary="Sorties positives, satisfaction et indicateurs d'impact")
async def outcomes(request: Request, principal: Reader, region: Region = None,
                   cohort: Cohort = None, as_of: AsOf = None) -> queries.OutcomeReport:
    regions = scope(principal, region)
    as_of = parse_instant(as_of)
    view = await view_for(request, as_of, ["outcomes"])
    return queries.outcome_report(view, regions=regions, region=region, cohort=cohort,
                                  as_of=as_of)


@router.get("/progress", summary="Progression vers 500 jeunes accompagnés en 2028")
async def progress(request: Request, principal: Reader, region: Region = None,
                   as_of: AsOf = None) -> queries.ProgressReport:
    regions = scope(principal, region)
    as_of = parse_instant(as_of)
    view = await view_for(request, as_of, ["progress"])
    today = (as_of or runtime_of(request).clock.now()).date()
    return queries.progress_report(view, today=today, regions=regions, region=region,
                                   as_of=as_of)


@router.get("/networking", summary="Événements de réseautage et participation")
async def networking(request: Request, principal: Reader, region: Region = None,
                     as_of: AsOf = None) -> queries.NetworkingReport:
    regions = scope(principal, region)
    as_of = parse_instant(as_of)
    view = await view_for(request, as_of, ["networking"])
    return queries.networking_report(view, regions=regions, region=region, as_of=as_of)
