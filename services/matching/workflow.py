"""The matching shell: pool queries, the optimal assignment, and every staff command, each one
database transaction around the pure domain."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from events import Envelope, Metadata
from events.followup import FollowUpEnded
from events.matching import MatchProposed, ScoreBreakdown
from events.vocabulary import (
    AvailabilitySlot,
    EarlyEndingReason,
    JobFamily,
    MatchDeclineReason,
    OverrideReason,
    Party,
    Role,
    Sector,
)
from services.common.observability import current_correlation_id
from services.common.clock import Clock
from services.common.consumer import NotReadyYet
from services.common.errors import DomainError
from services.common.store import EventStore, Transaction
from services.matching import domain
from services.matching.assignment import assign
from services.matching.scoring import Candidate, explain, score

Check = Callable[[str], None]  # vets the region an action is about (staff scope)


def region_of(cohort_id: str) -> str:
    return cohort_id.split("-", 1)[0]


def _candidate(row: Any, capacity: int = 1) -> Candidate:
    return Candidate(
        person_id=row.person_id, role=Role(row.role), region=row.region,
        departement=row.departement, sectors=frozenset(Sector(s) for s in row.sectors),
        availability=frozenset(AvailabilitySlot(a) for a in row.availability),
        remote_ok=row.remote_ok, aspirations=frozenset(JobFamily(a) for a in row.aspirations),
        job_family=JobFamily(row.job_family) if row.job_family else None, capacity=capacity)


def assign_with_priority(mentees: list[Candidate], mentors: list[Candidate],
                         rematch: set[UUID], min_score: float,
                         excluded: frozenset[tuple[UUID, UUID]]):
    """Those back in the pool after an early ending come first: they are assigned (optimally)
    before the others, who share the places left. Within each group, ties go to whoever has
    waited longest (the pool's order)."""
    first = [m for m in mentees if m.person_id in rematch]
    if not first:
        return assign(mentees, mentors, min_score=min_score, excluded=excluded)
    early, _ = assign(first, mentors, min_score=min_score, excluded=excluded)
    taken = Counter(p.mentor_id for p in early)
    left = [replace(m, capacity=m.capacity - taken[m.person_id]) for m in mentors
            if m.capacity > taken[m.person_id]]
    paired = {p.mentee_id for p in early}
    rest, unmatched = assign([m for m in mentees if m.person_id not in paired], left,
                             min_score=min_score, excluded=excluded)
    mentor_ids = {p.mentor_id for p in [*early, *rest]}
    unmatched = [u for u in unmatched if u.person_id not in mentor_ids]
    return [*early, *rest], unmatched


class Matching:
    def __init__(self, store: EventStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def _meta(self, region: str, actor: str) -> Metadata:
        return Metadata(region=region, actor=actor, correlation_id=current_correlation_id())

    async def _cohort(self, tx, cohort_id: str) -> tuple[domain.Cohort, int]:
        events = [e.data for e in await tx.read_stream(f"cohort-{cohort_id}")]
        return domain.cohort_from(events), len(events)

    # -- cohorts ----------------------------------------------------------------------------

    async def open_cohort(self, region: str, starts_on: date, target_pairs: int,
                          cut_off_on: date, actor: str) -> str:
        cohort_id = f"{region}-{starts_on:%Y-%m}"
        async with self.store.transaction() as tx:
            state, version = await self._cohort(tx, cohort_id)
            events = domain.decide(
                domain.OpenCohort(cohort_id, starts_on, target_pairs, cut_off_on), state)
            await tx.append(f"cohort-{cohort_id}", version, events, self._meta(region, actor))
        return cohort_id

    async def launch(self, cohort_id: str, actor: str, check: Check) -> int:
        check(region_of(cohort_id))
        async with self.store.transaction() as tx:
            state, version = await self._cohort(tx, cohort_id)
            pairs = (await tx.connection.execute(text(
                "SELECT count(*) FROM matching.pairs WHERE cohort_id = :c AND ended_on IS NULL"),
                {"c": cohort_id})).scalar()
            events = domain.decide(domain.Launch(self.clock.now().date(), pairs), state)
            await tx.append(f"cohort-{cohort_id}", version, events,
                            self._meta(region_of(cohort_id), actor))
        return pairs

    # -- the pool and the optimal assignment ------------------------------------------------

    async def pool(self, region: str, admitted_by: date | None = None,
                   ) -> tuple[list[Candidate], list[Candidate], list[Any]]:
        """(mentees free to pair, mentors with remaining places, rows) of a region; only those
        admitted by ``admitted_by`` (a cohort's cut-off) when given."""
        async with self.store.engine.connect() as conn:
            rows = list(await conn.execute(text(
                "SELECT p.*, "
                " (SELECT count(*) FROM matching.pairs x WHERE x.ended_on IS NULL AND "
                "   (x.mentee_id = p.person_id OR x.mentor_id = p.person_id)) AS active, "
                " (SELECT count(*) FROM matching.proposals x WHERE x.status = 'proposed' AND "
                "   (x.mentee_id = p.person_id OR x.mentor_id = p.person_id)) AS pending "
                "FROM matching.pool p WHERE p.region = :region AND p.left_reason IS NULL "
                "AND (CAST(:by AS date) IS NULL OR p.admitted_at::date <= CAST(:by AS date)) "
                "ORDER BY coalesce(p.waiting_since, p.admitted_at), p.person_id"),
                {"region": region, "by": admitted_by}))
        mentees = [_candidate(r) for r in rows
                   if r.role == Role.mentee.value and r.active == 0 and r.pending == 0]
        mentors = [_candidate(r, r.capacity - r.active - r.pending) for r in rows
                   if r.role == Role.mentor.value and r.capacity - r.active - r.pending > 0]
        return mentees, mentors, rows

    async def _excluded(self) -> frozenset[tuple[UUID, UUID]]:
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT mentee_id, mentor_id FROM matching.pairs WHERE ended_early"))
            return frozenset((r.mentee_id, r.mentor_id) for r in rows)

    async def propose(self, cohort_id: str, actor: str, check: Check,
                      min_score: float) -> tuple[list[dict], list[dict]]:
        region = region_of(cohort_id)
        check(region)
        async with self.store.engine.connect() as conn:
            cohort = domain.cohort_from(
                [e.data for e in await Transaction(self.store, conn).read_stream(
                    f"cohort-{cohort_id}")])
        mentees, mentors, rows = await self.pool(region, cohort.cut_off_on)
        proposals, unmatched = assign_with_priority(
            mentees, mentors, {r.person_id for r in rows if r.waiting_since is not None},
            min_score, await self._excluded())
        by_id = {c.person_id: c for c in [*mentees, *mentors]}
        events = [domain.proposal(uuid4(), cohort_id, p.mentee_id, p.mentor_id, p.score)
                  for p in proposals]
        async with self.store.transaction() as tx:
            state, version = await self._cohort(tx, cohort_id)
            events = domain.decide(domain.Propose(events), state)
            if events:
                await tx.append(f"cohort-{cohort_id}", version, events, self._meta(region, actor))
            for event in events:
                await self._save_proposal(tx.connection, event, region, by_id)
            for miss in unmatched:
                await tx.connection.execute(text(
                    "UPDATE matching.pool SET waiting_reason = :reason WHERE person_id = :p"),
                    {"reason": miss.reason, "p": miss.person_id})
        return ([self._proposal_view(e, by_id) for e in events],
                [{"person_id": str(m.person_id), "role": m.role.value, "reason": m.reason,
                  "message": m.message} for m in unmatched])

    def _proposal_view(self, event: MatchProposed, by_id: dict[UUID, Candidate]) -> dict:
        return {"match_id": str(event.match_id), "cohort_id": event.cohort_id,
                "mentee_id": str(event.mentee_id), "mentor_id": str(event.mentor_id),
                "origin": event.origin.value, "score": event.score.model_dump(),
                "explanation": explain(event.score, by_id[event.mentee_id],
                                       by_id[event.mentor_id]), "status": "proposed"}

    async def _save_proposal(self, conn, event: MatchProposed, region: str,
                             by_id: dict[UUID, Candidate]) -> None:
        await conn.execute(text(
            "INSERT INTO matching.proposals (match_id, cohort_id, region, mentee_id, mentor_id, "
            "origin, score, explanation, status, proposed_at) VALUES (:m, :c, :r, :mentee, "
            ":mentor, :origin, CAST(:score AS jsonb), :why, 'proposed', :at)"),
            {"m": event.match_id, "c": event.cohort_id, "r": region, "mentee": event.mentee_id,
             "mentor": event.mentor_id, "origin": event.origin.value,
             "score": event.score.model_dump_json(),
             "why": explain(event.score, by_id[event.mentee_id], by_id[event.mentor_id]),
             "at": self.clock.now()})

    # -- staff decisions --------------------------------------------------------------------

    async def _proposal(self, match_id: UUID) -> Any:
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT * FROM matching.proposals WHERE match_id = :m"), {"m": match_id})).first()
        if row is None:
            raise DomainError("proposal_not_found", "Proposition introuvable.")
        return row

    async def confirm(self, match_id: UUID, actor: str, check: Check) -> dict:
        row = await self._proposal(match_id)
        check(row.region)
        if row.status != "proposed":
            raise DomainError("proposal_closed", f"Cette proposition est déjà "
                              f"{'confirmée' if row.status == 'confirmed' else 'déclinée'}.")
        async with self.store.engine.connect() as conn:
            capacity = (await conn.execute(text(
                "SELECT capacity FROM matching.pool WHERE person_id = :p AND left_reason IS NULL"),
                {"p": row.mentor_id})).scalar()
            mentee_here = (await conn.execute(text(
                "SELECT 1 FROM matching.pool WHERE person_id = :p AND left_reason IS NULL"),
                {"p": row.mentee_id})).scalar()
        if capacity is None or mentee_here is None:
            raise DomainError("candidate_left", "L'une des deux personnes a quitté le vivier "
                              "(retrait, refus ou effacement).")
        cohort_events = await self.store.read_stream(f"cohort-{row.cohort_id}")
        proposal = domain.cohort_from([e.data for e in cohort_events]).proposals[match_id]
        pair_id = uuid4()
        stream = f"mentor-{row.mentor_id}"
        try:
            async with self.store.transaction() as tx:
                history = [e.data for e in await tx.read_stream(stream)]
                events = domain.decide(domain.FormPair(pair_id, proposal, capacity),
                                       domain.mentor_from(history))
                await tx.append(stream, len(history), events, self._meta(row.region, actor))
                await tx.connection.execute(text(
                    "INSERT INTO matching.pairs (pair_id, match_id, cohort_id, region, mentee_id, "
                    "mentor_id, formed_at) VALUES (:pair, :m, :c, :r, :mentee, :mentor, :at)"),
                    {"pair": pair_id, "m": match_id, "c": row.cohort_id, "r": row.region,
                     "mentee": row.mentee_id, "mentor": row.mentor_id, "at": self.clock.now()})
                await tx.connection.execute(text(
                    "UPDATE matching.proposals SET status = 'confirmed' WHERE match_id = :m"),
                    {"m": match_id})
                await tx.connection.execute(text(
                    "UPDATE matching.pool SET waiting_reason = NULL, waiting_since = NULL "
                    "WHERE person_id IN (:mentee, :mentor)"),
                    {"mentee": row.mentee_id, "mentor": row.mentor_id})
        except IntegrityError:
            raise DomainError("mentee_already_paired",
                              "Cette personne vient d'être mise en binôme par ailleurs.") from None
        return {"pair_id": str(pair_id), "match_id": str(match_id), "cohort_id": row.cohort_id,
                "mentee_id": str(row.mentee_id), "mentor_id": str(row.mentor_id)}

    async def decline(self, match_id: UUID, declined_by: Party, reason: MatchDeclineReason,
                      actor: str, check: Check) -> None:
        row = await self._proposal(match_id)
        check(row.region)
        if row.status != "proposed":
            raise DomainError("proposal_closed", "Cette proposition n'est plus en attente.")
        async with self.store.transaction() as tx:
            state, version = await self._cohort(tx, row.cohort_id)
            events = domain.decide(domain.DeclineProposal(match_id, declined_by, reason), state)
            await tx.append(f"cohort-{row.cohort_id}", version, events,
                            self._meta(row.region, actor))
            await tx.connection.execute(text(
                "UPDATE matching.proposals SET status = 'declined' WHERE match_id = :m"),
                {"m": match_id})

    async def override(self, cohort_id: str, mentee_id: UUID, mentor_id: UUID,
                       reason: OverrideReason, actor: str, check: Check) -> dict:
        """Pair two candidates by hand: a proposal with the referent's reason, confirmed at
        once (still within the mentor's capacity)."""
        region = region_of(cohort_id)
        check(region)
        _, _, rows = await self.pool(region)
        found = {r.person_id: r for r in rows}
        mentee, mentor = found.get(mentee_id), found.get(mentor_id)
        if mentee is None or mentee.role != Role.mentee.value:
            raise DomainError("mentee_not_in_pool", "Cette personne n'est pas dans le vivier des "
                              "mentoré·es de la région.", "mentee_id", status=422)
        if mentor is None or mentor.role != Role.mentor.value:
            raise DomainError("mentor_not_in_pool", "Cette personne n'est pas dans le vivier des "
                              "mentors de la région.", "mentor_id", status=422)
        a, b = _candidate(mentee), _candidate(mentor, mentor.capacity)
        breakdown = score(a, b) or ScoreBreakdown(geography=0, sectors=0, aspirations=0,
                                                  availability=0, total=0)
        event = domain.proposal(uuid4(), cohort_id, mentee_id, mentor_id, breakdown, reason)
        async with self.store.transaction() as tx:
            state, version = await self._cohort(tx, cohort_id)
            events = domain.decide(domain.Propose([event]), state)
            await tx.append(f"cohort-{cohort_id}", version, events, self._meta(region, actor))
            await self._save_proposal(tx.connection, event, region, {mentee_id: a, mentor_id: b})
        return await self.confirm(event.match_id, actor, check)

    async def end_pair(self, pair_id: UUID, reason: EarlyEndingReason | None,
                       ended_by: Party | None, ended_on: date, actor: str, check: Check) -> None:
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(text("SELECT * FROM matching.pairs WHERE pair_id = :p"),
                                      {"p": pair_id})).first()
        if row is None:
            raise DomainError("pair_not_found", "Binôme introuvable.")
        check(row.region)
        async with self.store.transaction() as tx:
            await end_pair_in(tx, row, reason, ended_by, ended_on, self._meta(row.region, actor))


async def end_pair_in(tx: Transaction, row: Any, reason: EarlyEndingReason | None,
                      ended_by: Party | None, ended_on: date, metadata: Metadata) -> None:
    """End the pair of ``row`` (matching.pairs) in ``tx``: the append comes first."""
    stream = f"mentor-{row.mentor_id}"
    history = [e.data for e in await tx.read_stream(stream)]
    events = domain.decide(domain.EndPair(row.pair_id, ended_on, reason, ended_by),
                           domain.mentor_from(history))
    await tx.append(stream, len(history), events, metadata)
    await tx.connection.execute(text(
        "UPDATE matching.pairs SET ended_on = :on, ended_early = :early "
        "WHERE pair_id = :p"), {"on": ended_on, "early": reason is not None, "p": row.pair_id})
    if reason is not None:  # back to the pool, ahead of those who arrived later
        await tx.connection.execute(text(
            "UPDATE matching.pool SET waiting_since = admitted_at WHERE person_id = :m"),
            {"m": row.mentee_id})


async def on_followup_ended(envelope: Envelope, tx: Transaction) -> None:
    """Followup ended a journey (completed after the final review, or early): end the pair
    here too, which may put the mentee back in the pool."""
    data = envelope.data
    if not isinstance(data, FollowUpEnded):
        return
    row = (await tx.connection.execute(text("SELECT * FROM matching.pairs WHERE pair_id = :p"),
                                       {"p": data.pair_id})).first()
    if row is None:
        raise NotReadyYet(f"pair {data.pair_id} not formed here yet")
    if row.ended_on is not None:
        return  # ended here first (matching's own endpoint): followup only followed
    await end_pair_in(tx, row, data.reason, data.ended_by, data.ended_on, Metadata(
        region=envelope.region, actor=envelope.actor, correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id))
