"""Pure matching domain: cohorts, a mentor's capacity, proposals. No I/O.

A cohort's stream holds its opening, its proposals, declines and launch. A mentor's stream
holds the pairs they are in: forming a pair appends to it at the version read, so two
concurrent confirmations for a full mentor cannot both succeed (one gets a conflict).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import singledispatch
from uuid import UUID

from events import EventData
from events.matching import (
    CohortLaunched,
    CohortOpened,
    MatchDeclined,
    MatchProposed,
    PairEnded,
    PairFormed,
    RematchRequested,
    ScoreBreakdown,
)
from events.vocabulary import (
    EarlyEndingReason,
    MatchDeclineReason,
    MatchOrigin,
    OverrideReason,
    Party,
    Role,
)
from services.common.errors import DomainError


# -- cohorts ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cohort:
    cohort_id: str | None = None
    starts_on: date | None = None
    target_pairs: int = 0
    cut_off_on: date | None = None
    launched: bool = False
    proposals: dict[UUID, MatchProposed] = field(default_factory=dict)
    declined: frozenset[UUID] = frozenset()


@dataclass(frozen=True)
class OpenCohort:
    cohort_id: str
    starts_on: date
    target_pairs: int
    cut_off_on: date


@dataclass(frozen=True)
class Propose:
    proposals: Sequence[MatchProposed]


@dataclass(frozen=True)
class DeclineProposal:
    match_id: UUID
    declined_by: Party
    reason: MatchDeclineReason


@dataclass(frozen=True)
class Launch:
    launched_on: date
    pair_count: int


def _opened(state: Cohort) -> None:
    if state.cohort_id is None:
        raise DomainError("cohort_not_found", "Cohorte introuvable : ouvrez-la d'abord.")


@singledispatch
def decide(command: object, state: object) -> list[EventData]:
    raise TypeError(f"unknown command {command!r}")


@decide.register
def _(command: OpenCohort, state: Cohort) -> list[EventData]:
    if state.cohort_id is not None:
        raise DomainError("cohort_exists", f"La cohorte {command.cohort_id} est déjà ouverte.")
    if command.cut_off_on > command.starts_on:
        raise DomainError("cut_off_after_start", "La date limite doit précéder le début de la "
                          "cohorte.", "cut_off_on", status=422)
    return [CohortOpened(cohort_id=command.cohort_id, starts_on=command.starts_on,
                         target_pairs=command.target_pairs, cut_off_on=command.cut_off_on)]


@decide.register
def _(command: Propose, state: Cohort) -> list[EventData]:
    _opened(state)
    if state.launched:
        raise DomainError("cohort_launched", "Cette cohorte est déjà lancée : ouvrez la suivante.")
    return list(command.proposals)


@decide.register
def _(command: DeclineProposal, state: Cohort) -> list[EventData]:
    _opened(state)
    proposal = state.proposals.get(command.match_id)
    if proposal is None:
        raise DomainError("proposal_not_found", "Proposition introuvable.")
    if command.match_id in state.declined:
        raise DomainError("proposal_declined", "Cette proposition a déjà été déclinée.")
    return [MatchDeclined(match_id=proposal.match_id, cohort_id=proposal.cohort_id,
                          mentee_id=proposal.mentee_id, mentor_id=proposal.mentor_id,
                          declined_by=command.declined_by, reason=command.reason)]


@decide.register
def _(command: Launch, state: Cohort) -> list[EventData]:
    _opened(state)
    if state.launched:
        raise DomainError("cohort_launched", "Cette cohorte est déjà lancée.")
    return [CohortLaunched(cohort_id=state.cohort_id, launched_on=command.launched_on,
                           pair_count=command.pair_count)]


@singledispatch
def evolve_cohort(event: EventData, state: Cohort) -> Cohort:
    return state


@evolve_cohort.register
def _(event: CohortOpened, state: Cohort) -> Cohort:
    return Cohort(event.cohort_id, event.starts_on, event.target_pairs, event.cut_off_on)


@evolve_cohort.register
def _(event: MatchProposed, state: Cohort) -> Cohort:
    return replace(state, proposals={**state.proposals, event.match_id: event})


@evolve_cohort.register
def _(event: MatchDeclined, state: Cohort) -> Cohort:
    return replace(state, declined=state.declined | {event.match_id})


@evolve_cohort.register
def _(event: CohortLaunched, state: Cohort) -> Cohort:
    return replace(state, launched=True)


def cohort_from(events: Sequence[EventData]) -> Cohort:
    state = Cohort()
    for event in events:
        state = evolve_cohort(event, state)
    return state


# -- a mentor's pairs: capacity --------------------------------------------------------------

@dataclass(frozen=True)
class Mentor:
    active: dict[UUID, PairFormed] = field(default_factory=dict)  # pair_id -> pair
    ended_early_with: frozenset[UUID] = frozenset()  # mentees: never proposed again


@dataclass(frozen=True)
class FormPair:
    pair_id: UUID
    proposal: MatchProposed
    capacity: int


@dataclass(frozen=True)
class EndPair:
    pair_id: UUID
    ended_on: date
    reason: EarlyEndingReason | None  # None: completed its 12 months
    ended_by: Party | None


@decide.register
def _(command: FormPair, state: Mentor) -> list[EventData]:
    proposal = command.proposal
    if len(state.active) >= command.capacity:
        raise DomainError("mentor_full", f"Ce mentor accompagne déjà {len(state.active)} "
                          f"personne(s), sa capacité ({command.capacity}) est atteinte.")
    if any(p.mentee_id == proposal.mentee_id for p in state.active.values()):
        raise DomainError("already_paired", "Ces deux personnes forment déjà un binôme.")
    if proposal.mentee_id in state.ended_early_with:
        raise DomainError("ended_early_before", "Ce binôme s'est déjà arrêté de façon anticipée : "
                          "il ne peut pas être reformé.")
    return [PairFormed(pair_id=command.pair_id, match_id=proposal.match_id,
                       cohort_id=proposal.cohort_id, mentee_id=proposal.mentee_id,
                       mentor_id=proposal.mentor_id, origin=proposal.origin,
                       previous_pair_id=None)]


@decide.register
def _(command: EndPair, state: Mentor) -> list[EventData]:
    pair = state.active.get(command.pair_id)
    if pair is None:
        raise DomainError("pair_not_found", "Binôme introuvable ou déjà terminé.")
    ended = PairEnded(pair_id=pair.pair_id, cohort_id=pair.cohort_id, mentee_id=pair.mentee_id,
                      mentor_id=pair.mentor_id, ended_on=command.ended_on,
                      early=command.reason is not None, reason=command.reason,
                      ended_by=command.ended_by)
    if command.reason is None:
        return [ended]
    # After an early ending the mentee goes back to the pool, to be paired with someone else.
    return [ended, RematchRequested(person_id=pair.mentee_id, role=Role.mentee,
                                    previous_pair_id=pair.pair_id, cohort_id=pair.cohort_id)]


@singledispatch
def evolve_mentor(event: EventData, state: Mentor) -> Mentor:
    return state


@evolve_mentor.register
def _(event: PairFormed, state: Mentor) -> Mentor:
    return replace(state, active={**state.active, event.pair_id: event})


@evolve_mentor.register
def _(event: PairEnded, state: Mentor) -> Mentor:
    active = {k: v for k, v in state.active.items() if k != event.pair_id}
    ended = state.ended_early_with | {event.mentee_id} if event.early else state.ended_early_with
    return Mentor(active=active, ended_early_with=ended)


def mentor_from(events: Sequence[EventData]) -> Mentor:
    state = Mentor()
    for event in events:
        state = evolve_mentor(event, state)
    return state


def proposal(match_id: UUID, cohort_id: str, mentee_id: UUID, mentor_id: UUID,
             score: ScoreBreakdown, override: OverrideReason | None = None) -> MatchProposed:
    return MatchProposed(
        match_id=match_id, cohort_id=cohort_id, mentee_id=mentee_id, mentor_id=mentor_id,
        origin=MatchOrigin.referent_override if override else MatchOrigin.algorithm,
        score=score, override_reason=override)
