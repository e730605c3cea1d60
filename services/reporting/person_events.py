"""What the programme recorded about one person, for their self-service access right: the
types, dates and regions of the archived events naming them or their pairs (every
service's), never the events' data. Only the participants' pages call it (service token), after the person opened
their own personal link."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import text

from events.base import current_types
from services.common.auth import Principal, StaffRole, staff
from services.common.runtime import runtime_of

router = APIRouter(prefix="/staff", tags=["services internes"])
ServiceCall = Annotated[Principal, Depends(staff(StaffRole.service))]


class RecordedEvent(BaseModel):
    type: str
    service: str
    region: str
    at: datetime


@router.get("/persons/{person_id}/events", summary="Ce que le programme a enregistré sur une "
            "personne (services internes : droit d'accès en libre-service)")
async def person_events(person_id: UUID, request: Request,
                        principal: ServiceCall) -> list[RecordedEvent]:
    runtime = runtime_of(request)
    assert runtime.store is not None
    # Every id an event names is a UUID in its envelope's text. A pair's events (reviews,
    # questionnaires) name the pair, not the person: the person's pairs are found first.
    async with runtime.store.engine.connect() as conn:
        pairs = (await conn.execute(text(
            "SELECT DISTINCT envelope->'data'->>'pair_id' FROM reporting.archive "
            "WHERE type = 'PairFormed' AND strpos(envelope::text, :id) > 0"),
            {"id": str(person_id)})).scalars().all()
        ids = [str(person_id), *[pair for pair in pairs if pair]]
        rows = (await conn.execute(text(
            "SELECT type, region, recorded_at FROM reporting.archive "
            "WHERE EXISTS (SELECT 1 FROM unnest(CAST(:ids AS text[])) AS named(id) "
            "WHERE strpos(envelope::text, named.id) > 0) ORDER BY position"),
            {"ids": ids})).all()
    services = {name: data.service.value for name, data in current_types().items()}
    return [RecordedEvent(type=row.type, service=services.get(row.type, "?"), region=row.region,
                          at=row.recorded_at) for row in rows]
