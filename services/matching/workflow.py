"""The matching shell: each staff command (and each event that changes the pool) is one
database transaction around the pure domain: read the region's stream version, load the
region's state, ``decide``, append at the version read, then update the projections.

Every decision about a region's pool (proposals, pairs, endings, withdrawals, launches) is
appended to the region's stream ``pool-<region>``: capacity and pool membership are
region-wide rules, so any two concurrent decisions in a region conflict (the loser gets 409,
nothing recorded) instead of both passing on a stale state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from events import Envelope, EventData, Metadata
from events.followup import FollowUpEnded
from events.matching import (
    CandidateLeftPool,
    MatchDeclined,
    MatchProposed,
    PairEnded,
    PairFormed,
    ProposalWithdrawn,
    RematchRequested,
)
from events.vocabulary import (
    AvailabilitySlot,
    EarlyEndingReason,
    JobFamily,
    MatchDeclineReason,
    OverrideReason,
    Party,
    ProposalWithdrawalReason,
    Role,
    Sector,
)
from services.common.clock import Clock
from services.common.consumer import NotReadyYet
from services.common.errors import DomainError
from services.common.observability import current_correlation_id
from services.common.store import EventStore, Transaction
from services.matching import domain
from services.matching.domain import region_of
from services.matching.scoring import Candidate, explain

Check = Callable[[str], None]  # vets the region an action is about (staff scope)


def pool_stream(region: str) -> str:
    return f"pool-{region}"


def _candidate(row: Any, capacity: int = 1) -> Candidate:
    """An erased person's row keeps only role and region: an empty profile (they are out)."""
    return Candidate(
        person_id=row.person_id, role=Role(row.role), region=row.region,
        departement=row.departement or "", sectors=frozenset(map(Sector, row.sectors or ())),
        availability=frozenset(map(AvailabilitySlot, row.availability or ())),
        remote_ok=bool(row.remote_ok), aspirations=frozenset(map(JobFamily,
                                                                row.aspirations or ())),
        job_family=JobFamily(row.job_family) if row.job_family else None, capacity=capacity)


# -- the region's state, from its projections ------------------------------------------------


async def load_programme(conn: AsyncConnection, region: str) -> domain.Programme:
    """The region's folded state, as the projections hold it (they are updated in the same
    transaction as every event that changes them)."""
    pool = list(await conn.execute(text(
        "SELECT * FROM matching.pool WHERE region = :r"), {"r": region}))
    members = {r.person_id: domain.Member(_candidate(r, r.capacity or 1), r.admitted_at,
                                          rematch=r.waiting_since is not None)
               for r in pool if r.role is not None and r.admitted_at is not None}
    exits = {r.person_id: r.left_reason for r in pool if r.left_reason is not None}
    proposals = {r.match_id: domain.Proposal(r.match_id, r.cohort_id, r.mentee_id, r.mentor_id,
                                             r.origin, domain.ProposalStatus(r.status))
                 for r in await conn.execute(text(
                     "SELECT * FROM matching.proposals WHERE region = :r"), {"r": region})}
    pairs = {r.pair_id: domain.Pair(r.pair_id, r.cohort_id, r.mentee_id, r.mentor_id,
                                    active=r.ended_on is None, early=bool(r.ended_early))
             for r in await conn.execute(text(
                 "SELECT * FROM matching.pairs WHERE region = :r"), {"r": region})}
    cohorts = await conn.execute(text(
        "SELECT e.data, EXISTS (SELECT 1 FROM matching.events l WHERE l.type = "
        "'CohortLaunched' AND l.data->>'cohort_id' = e.data->>'cohort_id') AS launched "
        "FROM matching.events e WHERE e.type = 'CohortOpened' AND e.region = :r"), {"r": region})
    return domain.Programme(
        members=members, exits=exits, proposals=proposals, pairs=pairs,
        cohorts={row.data["cohort_id"]: domain.Cohort(
            row.data["cohort_id"], date.fromisoformat(row.data["starts_on"]),
            row.data["target_pairs"], date.fromisoformat(row.data["cut_off_on"]), row.launched)
            for row in cohorts})


async def stream_version(conn: AsyncConnection, stream: str) -> int:
    return (await conn.execute(text(
        "SELECT coalesce(max(stream_version), 0) FROM matching.events WHERE stream = :s"),
        {"s": stream})).scalar()


async def decide_in(tx: Transaction, region: str, command: Any, metadata: Metadata,
                    ) -> tuple[list[EventData], domain.Programme]:
    """One decision in ``tx``: the stream version is read before the state, so a decision
    committed meanwhile makes the append conflict. ``command`` may be a function of the state
    (e.g. the optimal proposals of the pool). Returns the events and the state before."""
    stream = pool_stream(region)
    version = await stream_version(tx.connection, stream)
    state = await load_programme(tx.connection, region)
    events = domain.decide(command(state) if callable(command) else command, state)
    await record(tx, stream, version, events, state, metadata)
    return events, state


async def record(tx: Transaction, stream: str, version: int, events: Sequence[EventData],
                 state: domain.Programme, metadata: Metadata) -> None:
    """Append first (the transaction's first write), then update the projections."""
    if not events:
        return
    await tx.append(stream, version, events, metadata)
    now = tx.store.clock.now()
    for event in events:
        await project(tx.connection, event, state, metadata.region, now)
        state = domain.evolve(event, state)


# -- projections -----------------------------------------------------------------------------


async def project(conn: AsyncConnection, event: EventData, state: domain.Programme,
                  region: str, at: datetime) -> None:
    """What each matching event changes in the SQL read models (mirrors ``domain.evolve``)."""
    if isinstance(event, MatchProposed):
        profiles = {m: state.members[m].profile for m in (event.mentee_id, event.mentor_id)}
        await conn.execute(text(
            "INSERT INTO matching.proposals (match_id, cohort_id, region, mentee_id, mentor_id, "
            "origin, score, explanation, status, proposed_at) VALUES (:m, :c, :r, :mentee, "
            ":mentor, :origin, CAST(:score AS jsonb), :why, 'proposed', :at)"),
            {"m": event.match_id, "c": event.cohort_id, "r": region, "mentee": event.mentee_id,
             "mentor": event.mentor_id, "origin": event.origin.value,
             "score": event.score.model_dump_json(),
             "why": explain(event.score, profiles[event.mentee_id], profiles[event.mentor_id]),
             "at": at})
    elif isinstance(event, (MatchDeclined, ProposalWithdrawn)):
        status = "declined" if isinstance(event, MatchDeclined) else "withdrawn"
        await conn.execute(text(
            "UPDATE matching.proposals SET status = :s, closed_reason = :why, closed_at = :at "
            "WHERE match_id = :m"),
            {"s": status, "why": event.reason.value, "at": at, "m": event.match_id})
    elif isinstance(event, PairFormed):
        await conn.execute(text(
            "INSERT INTO matching.pairs (pair_id, match_id, cohort_id, region, mentee_id, "
            "mentor_id, formed_at) VALUES (:pair, :m, :c, :r, :mentee, :mentor, :at)"),
            {"pair": event.pair_id, "m": event.match_id, "c": event.cohort_id, "r": region,
             "mentee": event.mentee_id, "mentor": event.mentor_id, "at": at})
        await conn.execute(text(
            "UPDATE matching.proposals SET status = 'confirmed', closed_at = :at "
            "WHERE match_id = :m"), {"m": event.match_id, "at": at})
        await conn.execute(text(
            "UPDATE matching.pool SET waiting_reason = NULL, waiting_since = NULL "
            "WHERE person_id IN (:mentee, :mentor)"),
            {"mentee": event.mentee_id, "mentor": event.mentor_id})
    elif isinstance(event, PairEnded):
        await conn.execute(text(
            "UPDATE matching.pairs SET ended_on = :on, ended_early = :early WHERE pair_id = :p"),
            {"on": event.ended_on, "early": event.early, "p": event.pair_id})
    elif isinstance(event, RematchRequested):  # back in the pool, ahead of later arrivals
        await conn.execute(text(
            "UPDATE matching.pool SET waiting_since = coalesce(admitted_at, :at), "
            "waiting_reason = NULL WHERE person_id = :p"), {"p": event.person_id, "at": at})
    elif isinstance(event, CandidateLeftPool):
        await conn.execute(text(
            "UPDATE matching.pool SET left_reason = coalesce(left_reason, :why), "
            "waiting_reason = NULL WHERE person_id = :p"),
            {"p": event.person_id, "why": event.reason.value})


# -- the service -----------------------------------------------------------------------------


class Matching:
    def __init__(self, store: EventStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def _meta(self, region: str, actor: str) -> Metadata:
        return Metadata(region=region, actor=actor, correlation_id=current_correlation_id())

    # -- cohorts ----------------------------------------------------------------------------

    async def open_cohort(self, region: str, starts_on: date, target_pairs: int,
                          cut_off_on: date, actor: str) -> str:
        cohort_id = f"{region}-{starts_on:%Y-%m}"
        async with self.store.transaction() as tx:
            events = [e.data for e in await tx.read_stream(f"cohort-{cohort_id}")]
            decided = domain.decide(
                domain.OpenCohort(cohort_id, starts_on, target_pairs, cut_off_on),
                domain.cohort_from(events))
            await tx.append(f"cohort-{cohort_id}", len(events), decided,
                            self._meta(region, actor))
        return cohort_id

    async def launch(self, cohort_id: str, actor: str, check: Check) -> dict[str, Any]:
        """Launch a cohort: its still-pending proposals are withdrawn first, and both people
        of each return to the pool for the next cohort."""
        region = region_of(cohort_id)
        check(region)
        async with self.store.transaction() as tx:
            events, _ = await decide_in(
                tx, region, domain.Launch(cohort_id, self.clock.now().date()),
                self._meta(region, actor))
        withdrawn = [e for e in events if isinstance(e, ProposalWithdrawn)]
        launched = events[-1]
        return {
            "cohort_id": cohort_id, "pair_count": launched.pair_count,
            "withdrawn_proposals": [str(e.match_id) for e in withdrawn],
            "returned_to_pool": sorted({str(p) for e in withdrawn
                                        for p in (e.mentee_id, e.mentor_id)}),
            "message": (f"{len(withdrawn)} proposition(s) encore en attente retirée(s) : les "
                        "personnes concernées retournent au vivier pour la cohorte suivante."
                        if withdrawn else "Aucune proposition en attente."),
        }

    # -- the pool and the optimal assignment ------------------------------------------------

    async def pool(self, region: str) -> tuple[list[Candidate], list[Candidate], list[Any]]:
        """(mentees waiting, mentors with free places — capacity set to their free places,
        pool rows) of a region."""
        async with self.store.engine.connect() as conn:
            state = await load_programme(conn, region)
            rows = list(await conn.execute(text(
                "SELECT * FROM matching.pool WHERE region = :r AND left_reason IS NULL"),
                {"r": region}))
        mentees = [m.profile for m in domain.waiting_mentees(state, region)]
        mentors = [replace(m.profile, capacity=n)
                   for m, n in domain.mentors_with_places(state, region)]
        return mentees, mentors, rows

    async def propose(self, cohort_id: str, actor: str, check: Check,
                      min_score: float) -> tuple[list[dict], list[dict]]:
        region = region_of(cohort_id)
        check(region)
        unmatched: list = []

        def plan(state: domain.Programme) -> domain.Propose:
            proposals, left_out = domain.plan_proposals(state, cohort_id, min_score)
            unmatched.extend(left_out)
            return domain.Propose(cohort_id, proposals)

        async with self.store.transaction() as tx:
            events, state = await decide_in(tx, region, plan, self._meta(region, actor))
            for miss in unmatched:
                await tx.connection.execute(text(
                    "UPDATE matching.pool SET waiting_reason = :reason WHERE person_id = :p"),
                    {"reason": miss.reason, "p": miss.person_id})
        return ([self._proposal_view(e, state) for e in events],
                [{"person_id": str(m.person_id), "role": m.role.value, "reason": m.reason,
                  "message": m.message} for m in unmatched])

    def _proposal_view(self, event: MatchProposed, state: domain.Programme) -> dict:
        return {"match_id": str(event.match_id), "cohort_id": event.cohort_id,
                "mentee_id": str(event.mentee_id), "mentor_id": str(event.mentor_id),
                "origin": event.origin.value, "score": event.score.model_dump(),
                "explanation": explain(event.score, state.members[event.mentee_id].profile,
                                       state.members[event.mentor_id].profile),
                "status": "proposed"}

    # -- staff decisions --------------------------------------------------------------------

    async def _region_of_proposal(self, match_id: UUID) -> str:
        async with self.store.engine.connect() as conn:
            region = (await conn.execute(text(
                "SELECT region FROM matching.proposals WHERE match_id = :m"),
                {"m": match_id})).scalar()
        if region is None:
            raise DomainError("proposal_not_found", "Proposition introuvable.")
        return region

    async def confirm(self, match_id: UUID, actor: str, check: Check) -> dict:
        region = await self._region_of_proposal(match_id)
        check(region)
        try:
            async with self.store.transaction() as tx:
                [formed], _ = await decide_in(tx, region, domain.Confirm(match_id, uuid4()),
                                              self._meta(region, actor))
        except IntegrityError:  # the last guard: one active pair per mentee
            raise DomainError("mentee_already_paired",
                              "Cette personne vient d'être mise en binôme par ailleurs.") from None
        return _pair_view(formed)

    async def decline(self, match_id: UUID, declined_by: Party, reason: MatchDeclineReason,
                      actor: str, check: Check) -> None:
        region = await self._region_of_proposal(match_id)
        check(region)
        async with self.store.transaction() as tx:
            await decide_in(tx, region, domain.DeclineProposal(match_id, declined_by, reason),
                            self._meta(region, actor))

    async def cancel(self, match_id: UUID, reason: ProposalWithdrawalReason, actor: str,
                     check: Check) -> None:
        region = await self._region_of_proposal(match_id)
        check(region)
        async with self.store.transaction() as tx:
            await decide_in(tx, region, domain.CancelProposal(match_id, reason),
                            self._meta(region, actor))

    async def override(self, cohort_id: str, mentee_id: UUID, mentor_id: UUID,
                       reason: OverrideReason, actor: str, check: Check) -> dict:
        """Pair two candidates by hand: the referent's proposal and the pair are appended
        together, or nothing is (capacity and pool membership checked first)."""
        region = region_of(cohort_id)
        check(region)
        command = domain.PairByHand(cohort_id, mentee_id, mentor_id, reason, uuid4(), uuid4())
        try:
            async with self.store.transaction() as tx:
                events, _ = await decide_in(tx, region, command, self._meta(region, actor))
        except IntegrityError:
            raise DomainError("mentee_already_paired",
                              "Cette personne vient d'être mise en binôme par ailleurs.") from None
        return _pair_view(events[-1])

    async def end_pair(self, pair_id: UUID, reason: EarlyEndingReason | None,
                       ended_by: Party | None, ended_on: date, actor: str,
                       check: Check) -> list[EventData]:
        async with self.store.engine.connect() as conn:
            region = (await conn.execute(text(
                "SELECT region FROM matching.pairs WHERE pair_id = :p"), {"p": pair_id})).scalar()
        if region is None:
            raise DomainError("pair_not_found", "Binôme introuvable.")
        check(region)
        async with self.store.transaction() as tx:
            events, _ = await decide_in(tx, region, domain.EndPair(pair_id, ended_on, reason,
                                                                   ended_by),
                                        self._meta(region, actor))
        return events


def _pair_view(formed: PairFormed) -> dict:
    return {"pair_id": str(formed.pair_id), "match_id": str(formed.match_id),
            "cohort_id": formed.cohort_id, "mentee_id": str(formed.mentee_id),
            "mentor_id": str(formed.mentor_id)}


async def on_followup_ended(envelope: Envelope, tx: Transaction) -> None:
    """Followup ended a journey (completed after the final review, or early): end the pair
    here too, which rematches the mentee or takes them out of the pool."""
    data = envelope.data
    if not isinstance(data, FollowUpEnded):
        return
    row = (await tx.connection.execute(text(
        "SELECT region, ended_on FROM matching.pairs WHERE pair_id = :p"),
        {"p": data.pair_id})).first()
    if row is None:
        raise NotReadyYet(f"pair {data.pair_id} not formed here yet")
    if row.ended_on is not None:
        return  # ended here first (matching's own endpoint): followup only followed
    await decide_in(tx, row.region, domain.EndPair(data.pair_id, data.ended_on, data.reason,
                                                   data.ended_by), Metadata(
        region=row.region, actor=envelope.actor, correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id))
