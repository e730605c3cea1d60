"""Reporting HTTP API: the read models as JSON."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from services.common.runtime import runtime_of
from services.reporting.projections import load_funnel
from services.reporting.views import FunnelRow, funnel_rows

router = APIRouter(tags=["rapports"])


class CohortReport(BaseModel):
    rows: list[FunnelRow]
    totals: dict[str, int]


def cohort_report(rows: list[FunnelRow]) -> CohortReport:
    counters = [name for name, field in FunnelRow.model_fields.items() if field.annotation is int]
    return CohortReport(rows=rows, totals={c: sum(getattr(r, c) for r in rows) for c in counters})


@router.get("/cohorts", summary="Entonnoir par région, cohorte et canal de recrutement")
async def cohorts(
    request: Request,
    region: str | None = Query(None, pattern=r"^[A-Z]{3}$", description="ex. IDF"),
    cohort: str | None = Query(None, pattern=r"^\d{4}-\d{2}$", description="ex. 2025-09"),
) -> CohortReport:
    runtime = runtime_of(request)
    assert runtime.store is not None
    async with runtime.store.engine.connect() as connection:
        view = await load_funnel(connection)
    return cohort_report(funnel_rows(view, region, cohort))
