"""Matching back-office API: cohorts, the optimal proposals, staff confirmation, overrides,
early endings. Region-scoped staff tokens as in intake."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from events.base import RegionCode
from events.matching import CandidateLeftPool, RematchRequested
from events.vocabulary import (
    EarlyEndingReason,
    MatchDeclineReason,
    OverrideReason,
    Party,
    ProposalWithdrawalReason,
    cohort_for,
)
from services.common.auth import Principal, StaffRole, require_region, staff, visible_regions
from services.common.errors import DomainError
from services.common.runtime import runtime_of
from services.common.validation import COHORT_ID_PATTERN, Count, ProgrammeDate, Score
from services.matching.domain import ProposalStatus
from services.matching.workflow import Matching

router = APIRouter(prefix="/staff", tags=["appariement"])

Acting = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin))]
Reading = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin,
                                              StaffRole.analyst))]
CohortPath = Annotated[str, Field(pattern=COHORT_ID_PATTERN)]


def _matching(request: Request) -> Matching:
    return runtime_of(request).state["matching"]  # type: ignore[return-value]


def _scope(principal: Principal):
    return lambda region: require_region(principal, region)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CohortRequest(_Body):
    region: RegionCode
    starts_on: ProgrammeDate | None = Field(None, description="défaut : le prochain début de trimestre "
                                   "(mars, juin, septembre, décembre)")
    target_pairs: Count(1, 500)
    cut_off_on: ProgrammeDate | None = Field(None, description="date limite d'admission pour cette "
                                    "cohorte (défaut : 14 jours avant le début)")


@router.post("/cohorts", status_code=201, summary="Ouvrir une cohorte pour une région")
async def open_cohort(body: CohortRequest, request: Request, principal: Acting) -> dict[str, str]:
    require_region(principal, body.region)
    matching = _matching(request)
    starts_on = body.starts_on or date.fromisoformat(
        cohort_for(matching.clock.now().date()) + "-01")
    cut_off_on = body.cut_off_on or starts_on - timedelta(days=14)
    cohort_id = await matching.open_cohort(body.region, starts_on, body.target_pairs,
                                           cut_off_on, principal.subject)
    return {"cohort_id": cohort_id}


@router.get("/cohorts", summary="Les cohortes, leurs binômes et propositions")
async def cohorts(request: Request, principal: Reading) -> list[dict[str, Any]]:
    allowed = visible_regions(principal)
    async with _matching(request).store.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT e.stream, e.data, "
            " (SELECT count(*) FROM matching.pairs p WHERE p.cohort_id = e.data->>'cohort_id' "
            "   AND p.ended_on IS NULL) AS active_pairs, "
            " (SELECT count(*) FROM matching.proposals p WHERE p.cohort_id = e.data->>'cohort_id' "
            "   AND p.status = 'proposed') AS pending_proposals, "
            " EXISTS (SELECT 1 FROM matching.events l WHERE l.type = 'CohortLaunched' AND "
            "   l.data->>'cohort_id' = e.data->>'cohort_id') AS launched "
            "FROM matching.events e WHERE e.type = 'CohortOpened' ORDER BY e.position"))
        return [{**row.data, "region": row.data["cohort_id"][:3], "launched": row.launched,
                 "active_pairs": row.active_pairs, "pending_proposals": row.pending_proposals}
                for row in rows if allowed is None or row.data["cohort_id"][:3] in allowed]


class ProposalRun(_Body):
    min_score: Score = 0.35


@router.post("/cohorts/{cohort_id}/proposals", status_code=201,
             summary="Calculer les propositions optimales de la cohorte")
async def propose(cohort_id: CohortPath, request: Request, principal: Acting,
                  body: ProposalRun | None = None) -> dict[str, Any]:
    proposals, unmatched = await _matching(request).propose(
        cohort_id, principal.subject, _scope(principal), (body or ProposalRun()).min_score)
    return {"proposals": proposals, "unmatched": unmatched}


@router.get("/cohorts/{cohort_id}/proposals", summary="Les propositions et leur explication")
async def proposals(cohort_id: CohortPath, request: Request,
                    principal: Reading) -> list[dict[str, Any]]:
    require_region(principal, cohort_id[:3])
    async with _matching(request).store.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT match_id, mentee_id, mentor_id, origin, score, explanation, status, "
            "closed_reason FROM matching.proposals WHERE cohort_id = :c ORDER BY proposed_at"),
            {"c": cohort_id})
        return [dict(row._mapping) for row in rows]


@router.get("/proposals", summary="Les propositions de toutes les cohortes, dont celles en "
            "attente depuis trop longtemps")
async def all_proposals(request: Request, principal: Reading, region: RegionCode | None = None,
                        status: ProposalStatus | None = None,
                        stale_after_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
                        ) -> list[dict[str, Any]]:
    """``stale_after_days``: only the pending proposals made at least that many days ago."""
    if region is not None:
        require_region(principal, region)
    allowed = visible_regions(principal)
    matching = _matching(request)
    now = matching.clock.now()
    if stale_after_days is not None:
        if status not in (None, ProposalStatus.proposed):
            raise DomainError("stale_needs_pending", "Seules les propositions en attente "
                              "peuvent être anciennes.", "stale_after_days", status=422)
        status = ProposalStatus.proposed
    async with matching.store.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT match_id, cohort_id, region, mentee_id, mentor_id, origin, status, "
            "closed_reason, proposed_at, closed_at FROM matching.proposals "
            "WHERE (CAST(:region AS text) IS NULL OR region = :region) "
            "AND (CAST(:status AS text) IS NULL OR status = :status) "
            "AND (CAST(:before AS timestamptz) IS NULL OR proposed_at <= :before) "
            "ORDER BY proposed_at, match_id"),
            {"region": region, "status": status.value if status else None,
             "before": now - timedelta(days=stale_after_days)
             if stale_after_days is not None else None})
        return [{**row._mapping, "pending_days": (now - row.proposed_at).days
                 if row.status == ProposalStatus.proposed.value else None}
                for row in rows if allowed is None or row.region in allowed]


@router.post("/proposals/{match_id}/confirm", summary="Confirmer une proposition (binôme formé)")
async def confirm(match_id: UUID, request: Request, principal: Acting) -> dict[str, Any]:
    return await _matching(request).confirm(match_id, principal.subject, _scope(principal))


class DeclineRequest(_Body):
    reason: MatchDeclineReason
    declined_by: Party = Party.referent


@router.post("/proposals/{match_id}/decline",
             summary="Décliner une proposition (les personnes retournent au vivier)")
async def decline(match_id: UUID, body: DeclineRequest, request: Request,
                  principal: Acting) -> dict[str, str]:
    await _matching(request).decline(match_id, body.declined_by, body.reason, principal.subject,
                                     _scope(principal))
    return {"match_id": str(match_id), "status": "declined"}


class CancelRequest(_Body):
    reason: ProposalWithdrawalReason = ProposalWithdrawalReason.cancelled_by_referent


@router.post("/proposals/{match_id}/cancel",
             summary="Annuler une proposition en attente (les places se libèrent)")
async def cancel(match_id: UUID, request: Request, principal: Acting,
                 body: CancelRequest | None = None) -> dict[str, str]:
    reason = (body or CancelRequest()).reason
    if reason is ProposalWithdrawalReason.cohort_launched:
        raise DomainError("reason_reserved", "Ce motif est réservé au lancement de la cohorte.",
                          "reason", status=422)
    await _matching(request).cancel(match_id, reason, principal.subject, _scope(principal))
    return {"match_id": str(match_id), "status": "withdrawn", "reason": reason.value}


class OverrideRequest(_Body):
    mentee_id: UUID
    mentor_id: UUID
    reason: OverrideReason


@router.post("/cohorts/{cohort_id}/pairs", status_code=201,
             summary="Former un binôme à la main, avec un motif (dans la capacité du mentor)")
async def override(cohort_id: CohortPath, body: OverrideRequest, request: Request,
                   principal: Acting) -> dict[str, Any]:
    return await _matching(request).override(cohort_id, body.mentee_id, body.mentor_id,
                                             body.reason, principal.subject, _scope(principal))


class EndRequest(_Body):
    ended_on: ProgrammeDate
    reason: EarlyEndingReason | None = Field(None, description="absent : binôme arrivé au terme")
    ended_by: Party | None = None


@router.post("/pairs/{pair_id}/end", summary="Terminer un binôme (au terme, ou arrêt anticipé)")
async def end_pair(pair_id: UUID, body: EndRequest, request: Request,
                   principal: Acting) -> dict[str, Any]:
    if (body.reason is None) != (body.ended_by is None):
        raise DomainError("ending_incomplete", "Un arrêt anticipé demande un motif et qui l'a "
                          "décidé (ended_by) ; une fin au terme n'en demande pas.", "reason",
                          status=422)
    events = await _matching(request).end_pair(pair_id, body.reason, body.ended_by,
                                               body.ended_on, principal.subject,
                                               _scope(principal))
    left = next((e for e in events if isinstance(e, CandidateLeftPool)), None)
    return {"pair_id": str(pair_id), "status": "ended",
            "mentee": "left_pool" if left else "rematch" if any(
                isinstance(e, RematchRequested) for e in events) else "already_left",
            "left_reason": left.reason.value if left else None}


@router.post("/cohorts/{cohort_id}/launch", summary="Lancer la cohorte (les propositions "
             "encore en attente sont retirées : les personnes retournent au vivier)")
async def launch(cohort_id: CohortPath, request: Request, principal: Acting) -> dict[str, Any]:
    return await _matching(request).launch(cohort_id, principal.subject, _scope(principal))


@router.get("/pool", summary="Le vivier d'une région : qui attend, et pourquoi")
async def pool(region: RegionCode, request: Request, principal: Reading) -> dict[str, Any]:
    require_region(principal, region)
    mentees, mentors, rows = await _matching(request).pool(region)
    waiting = {r.person_id: r.waiting_reason for r in rows}
    return {
        "mentees": [{"person_id": str(c.person_id), "departement": c.departement,
                     "waiting_reason": waiting[c.person_id]} for c in mentees],
        "mentors": [{"person_id": str(c.person_id), "departement": c.departement,
                     "free_places": c.capacity, "waiting_reason": waiting[c.person_id]}
                    for c in mentors],
    }
