"""Pure matching domain: cohorts, the pool, proposals, pairs. No I/O.

Two folds:

- ``Cohort`` (one cohort's stream) opens a cohort once;
- ``Programme`` (every event matching knows: intake's admissions and departures, and its own
  proposals, pairs and endings) answers who waits, who is proposed, who is paired and who left,
  and how many free places each mentor has. Every staff command is ``decide(command,
  programme) -> events`` or a refusal (``DomainError``) that records nothing.

The shell keeps streams for optimistic concurrency: a cohort's stream holds its opening,
proposals, declines, withdrawals and launch; a mentor's stream holds the pairs they are in and
how they ended, so two concurrent pairings of a full mentor cannot both be appended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from functools import singledispatch
from uuid import UUID, uuid4

from events import EventData
from events.intake import ApplicationWithdrawn, CandidateAdmitted, CandidateDeclined, PersonErased
from events.matching import (
    CandidateLeftPool,
    CohortLaunched,
    CohortOpened,
    MatchDeclined,
    MatchProposed,
    PairEnded,
    PairFormed,
    ProposalWithdrawn,
    RematchRequested,
    ScoreBreakdown,
)
from events.vocabulary import (
    AvailabilitySlot,
    EarlyEndingReason,
    JobFamily,
    MatchDeclineReason,
    MatchOrigin,
    OverrideReason,
    Party,
    PoolExitReason,
    ProposalWithdrawalReason,
    Role,
    Sector,
)
from services.common.errors import DomainError
from services.matching.assignment import Unmatched, assign
from services.matching.scoring import Candidate, score

# -- cohorts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    cohort_id: str | None = None
    starts_on: date | None = None
    target_pairs: int = 0
    cut_off_on: date | None = None
    launched: bool = False


@dataclass(frozen=True)
class OpenCohort:
    cohort_id: str
    starts_on: date
    target_pairs: int
    cut_off_on: date


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


def evolve_cohort(event: EventData, state: Cohort) -> Cohort:
    if isinstance(event, CohortOpened):
        return Cohort(event.cohort_id, event.starts_on, event.target_pairs, event.cut_off_on)
    if isinstance(event, CohortLaunched):
        return replace(state, launched=True)
    return state


def cohort_from(events: Iterable[EventData]) -> Cohort:
    state = Cohort()
    for event in events:
        state = evolve_cohort(event, state)
    return state


# -- the programme: pool, proposals, pairs ---------------------------------------------------


class MenteeStatus(StrEnum):
    waiting = "waiting"
    proposed = "proposed"
    paired = "paired"
    left = "left"


class ProposalStatus(StrEnum):
    proposed = "proposed"
    confirmed = "confirmed"
    declined = "declined"
    withdrawn = "withdrawn"


@dataclass(frozen=True)
class Member:
    """An admitted candidate (coarse profile only) and their place in the queue."""

    profile: Candidate  # capacity: the mentor's declared capacity
    admitted_at: datetime
    rematch: bool = False  # back after an early ending: proposed before newcomers


@dataclass(frozen=True)
class Proposal:
    match_id: UUID
    cohort_id: str
    mentee_id: UUID
    mentor_id: UUID
    origin: MatchOrigin = MatchOrigin.algorithm
    status: ProposalStatus = ProposalStatus.proposed


@dataclass(frozen=True)
class Pair:
    pair_id: UUID
    cohort_id: str
    mentee_id: UUID
    mentor_id: UUID
    active: bool = True
    early: bool = False


@dataclass(frozen=True)
class Programme:
    members: Mapping[UUID, Member] = field(default_factory=dict)
    exits: Mapping[UUID, str] = field(default_factory=dict)  # out for good, and why
    proposals: Mapping[UUID, Proposal] = field(default_factory=dict)
    pairs: Mapping[UUID, Pair] = field(default_factory=dict)
    cohorts: Mapping[str, Cohort] = field(default_factory=dict)


# -- queries ---------------------------------------------------------------------------------


def in_pool(state: Programme, person_id: UUID) -> bool:
    return person_id in state.members and person_id not in state.exits


def pending(state: Programme, person_id: UUID) -> list[Proposal]:
    return [p for p in state.proposals.values() if p.status is ProposalStatus.proposed
            and person_id in (p.mentee_id, p.mentor_id)]


def active_pairs(state: Programme, person_id: UUID) -> list[Pair]:
    return [p for p in state.pairs.values()
            if p.active and person_id in (p.mentee_id, p.mentor_id)]


def mentee_status(state: Programme, mentee_id: UUID) -> MenteeStatus:
    if not in_pool(state, mentee_id):
        return MenteeStatus.left
    if active_pairs(state, mentee_id):
        return MenteeStatus.paired
    if pending(state, mentee_id):
        return MenteeStatus.proposed
    return MenteeStatus.waiting


def free_places(state: Programme, mentor_id: UUID) -> int:
    """Capacity minus active pairs minus pending proposals; 0 once out of the pool."""
    if not in_pool(state, mentor_id):
        return 0
    capacity = state.members[mentor_id].profile.capacity
    return capacity - len(active_pairs(state, mentor_id)) - len(pending(state, mentor_id))


def ended_early(state: Programme) -> frozenset[tuple[UUID, UUID]]:
    """(mentee, mentor) of the pairs that ended early: never proposed again."""
    return frozenset((p.mentee_id, p.mentor_id) for p in state.pairs.values() if p.early)


def _queue_order(member: Member) -> tuple:
    return (member.admitted_at, member.profile.person_id)


def waiting_mentees(state: Programme, region: str) -> list[Member]:
    return sorted((m for m in state.members.values() if m.profile.role is Role.mentee
                   and m.profile.region == region
                   and mentee_status(state, m.profile.person_id) is MenteeStatus.waiting),
                  key=_queue_order)


def mentors_with_places(state: Programme, region: str) -> list[tuple[Member, int]]:
    found = [(m, free_places(state, m.profile.person_id)) for m in state.members.values()
             if m.profile.role is Role.mentor and m.profile.region == region]
    return sorted(((m, n) for m, n in found if n > 0), key=lambda mn: _queue_order(mn[0]))


# -- computing a cohort's proposals ----------------------------------------------------------

AFTER_CUT_OFF = "admitted_after_cut_off"
AFTER_CUT_OFF_MESSAGES = {
    Role.mentee: "Admis·e après la date limite de cette cohorte : sera proposé·e pour la "
                 "cohorte suivante.",
    Role.mentor: "Admis après la date limite de cette cohorte : sera proposé pour la cohorte "
                 "suivante.",
}


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


def plan_proposals(state: Programme, cohort_id: str, min_score: float,
                   new_id: Callable[[], UUID] = uuid4,
                   ) -> tuple[list[MatchProposed], list[Unmatched]]:
    """The optimal proposals of a cohort among the region's waiting pool, and every waiting
    person left out with the reason (those admitted after the cut-off wait for the next one)."""
    cohort = _open_cohort(state, cohort_id)
    region = region_of(cohort_id)
    mentees = waiting_mentees(state, region)
    mentors = mentors_with_places(state, region)

    def in_time(member: Member) -> bool:
        return member.admitted_at.date() <= cohort.cut_off_on

    late = [Unmatched(m.profile.person_id, m.profile.role, AFTER_CUT_OFF,
                      AFTER_CUT_OFF_MESSAGES[m.profile.role])
            for m in [*mentees, *(m for m, _ in mentors)] if not in_time(m)]
    chosen, unmatched = assign_with_priority(
        [m.profile for m in mentees if in_time(m)],
        [replace(m.profile, capacity=n) for m, n in mentors if in_time(m)],
        {m.profile.person_id for m in mentees if m.rematch}, min_score, ended_early(state))
    proposals = [proposal(new_id(), cohort_id, p.mentee_id, p.mentor_id, p.score)
                 for p in chosen]
    return proposals, [*unmatched, *late]


def region_of(cohort_id: str) -> str:
    return cohort_id.split("-", 1)[0]


def proposal(match_id: UUID, cohort_id: str, mentee_id: UUID, mentor_id: UUID,
             score: ScoreBreakdown, override: OverrideReason | None = None) -> MatchProposed:
    return MatchProposed(
        match_id=match_id, cohort_id=cohort_id, mentee_id=mentee_id, mentor_id=mentor_id,
        origin=MatchOrigin.referent_override if override else MatchOrigin.algorithm,
        score=score, override_reason=override)


# -- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Propose:
    cohort_id: str
    proposals: Sequence[MatchProposed]


@dataclass(frozen=True)
class Confirm:
    match_id: UUID
    pair_id: UUID


@dataclass(frozen=True)
class DeclineProposal:
    match_id: UUID
    declined_by: Party
    reason: MatchDeclineReason


@dataclass(frozen=True)
class CancelProposal:
    match_id: UUID
    reason: ProposalWithdrawalReason = ProposalWithdrawalReason.cancelled_by_referent


@dataclass(frozen=True)
class PairByHand:
    cohort_id: str
    mentee_id: UUID
    mentor_id: UUID
    reason: OverrideReason
    match_id: UUID
    pair_id: UUID


@dataclass(frozen=True)
class EndPair:
    pair_id: UUID
    ended_on: date
    reason: EarlyEndingReason | None  # None: completed its 12 months
    ended_by: Party | None


@dataclass(frozen=True)
class Launch:
    cohort_id: str
    launched_on: date


# What an early ending does to the mentee: rematched, or out of the pool for good (and why).
EXIT_AFTER_EARLY_ENDING: Mapping[EarlyEndingReason, PoolExitReason | None] = {
    EarlyEndingReason.mentee_found_job: PoolExitReason.found_job,
    EarlyEndingReason.mentee_found_training: PoolExitReason.found_training,
    EarlyEndingReason.mentee_unavailable: PoolExitReason.unavailable,
    EarlyEndingReason.no_contact: PoolExitReason.no_contact,
    EarlyEndingReason.mentee_withdrew: PoolExitReason.withdrew,
    EarlyEndingReason.mentor_unavailable: None,
    EarlyEndingReason.mismatch: None,
    EarlyEndingReason.moved_away: None,
    EarlyEndingReason.other: None,
}


def _open_cohort(state: Programme, cohort_id: str, *, not_launched: bool = True) -> Cohort:
    cohort = state.cohorts.get(cohort_id)
    if cohort is None:
        raise DomainError("cohort_not_found", "Cohorte introuvable : ouvrez-la d'abord.")
    if not_launched and cohort.launched:
        raise DomainError("cohort_launched", "Cette cohorte est déjà lancée : ouvrez la suivante.")
    return cohort


def _pending(state: Programme, match_id: UUID) -> Proposal:
    found = state.proposals.get(match_id)
    if found is None:
        raise DomainError("proposal_not_found", "Proposition introuvable.")
    if found.status is not ProposalStatus.proposed:
        raise DomainError("proposal_closed", "Cette proposition n'est plus en attente "
                          f"({_STATUS_LABELS[found.status]}).")
    return found


_STATUS_LABELS = {ProposalStatus.confirmed: "confirmée", ProposalStatus.declined: "déclinée",
                  ProposalStatus.withdrawn: "retirée", ProposalStatus.proposed: "en attente"}


def _check_can_pair(state: Programme, mentee_id: UUID, mentor_id: UUID, *,
                    own_proposal: bool) -> None:
    """Both in the pool, the mentee free, a place left with the mentor, never after an early
    ending together. ``own_proposal``: the pair's pending proposal already holds the places."""
    if not (in_pool(state, mentee_id) and in_pool(state, mentor_id)):
        raise DomainError("candidate_left", "L'une des deux personnes a quitté le vivier "
                          "(retrait, refus, effacement ou fin de parcours).")
    if active_pairs(state, mentee_id):
        raise DomainError("mentee_already_paired", "Cette personne est déjà en binôme.")
    if not own_proposal and pending(state, mentee_id):
        raise DomainError("mentee_already_proposed", "Cette personne a déjà une proposition "
                          "en attente : confirmez-la, déclinez-la ou annulez-la d'abord.")
    if (mentee_id, mentor_id) in ended_early(state):
        raise DomainError("ended_early_before", "Ce binôme s'est déjà arrêté de façon "
                          "anticipée : il ne peut pas être reformé.")
    capacity = state.members[mentor_id].profile.capacity
    places = free_places(state, mentor_id) + (1 if own_proposal else 0)
    if places <= 0:
        raise DomainError("mentor_full", f"Ce mentor accompagne déjà ou s'est vu proposer "
                          f"{capacity - places} personne(s), sa capacité ({capacity}) est "
                          "atteinte.")


@decide.register
def _(command: Propose, state: Programme) -> list[EventData]:
    _open_cohort(state, command.cohort_id)
    after = state
    for event in command.proposals:
        if mentee_status(after, event.mentee_id) is not MenteeStatus.waiting:
            raise DomainError("mentee_not_waiting", "Une personne proposée n'attend plus dans "
                              "le vivier : recalculez les propositions.")
        _check_can_pair(after, event.mentee_id, event.mentor_id, own_proposal=False)
        after = evolve(event, after)
    return list(command.proposals)


@decide.register
def _(command: Confirm, state: Programme) -> list[EventData]:
    found = _pending(state, command.match_id)
    _check_can_pair(state, found.mentee_id, found.mentor_id, own_proposal=True)
    return [PairFormed(pair_id=command.pair_id, match_id=found.match_id,
                       cohort_id=found.cohort_id, mentee_id=found.mentee_id,
                       mentor_id=found.mentor_id, origin=found.origin, previous_pair_id=None)]


@decide.register
def _(command: DeclineProposal, state: Programme) -> list[EventData]:
    found = _pending(state, command.match_id)
    return [MatchDeclined(match_id=found.match_id, cohort_id=found.cohort_id,
                          mentee_id=found.mentee_id, mentor_id=found.mentor_id,
                          declined_by=command.declined_by, reason=command.reason)]


@decide.register
def _(command: CancelProposal, state: Programme) -> list[EventData]:
    found = _pending(state, command.match_id)
    return [_withdrawn(found, command.reason)]


def _withdrawn(found: Proposal, reason: ProposalWithdrawalReason) -> ProposalWithdrawn:
    return ProposalWithdrawn(match_id=found.match_id, cohort_id=found.cohort_id,
                             mentee_id=found.mentee_id, mentor_id=found.mentor_id, reason=reason)


@decide.register
def _(command: PairByHand, state: Programme) -> list[EventData]:
    _open_cohort(state, command.cohort_id)
    region = region_of(command.cohort_id)
    mentee = state.members.get(command.mentee_id)
    mentor = state.members.get(command.mentor_id)
    if (mentee is None or mentee.profile.role is not Role.mentee
            or mentee.profile.region != region or command.mentee_id in state.exits):
        raise DomainError("mentee_not_in_pool", "Cette personne n'est pas dans le vivier des "
                          "mentoré·es de la région.", "mentee_id", status=422)
    if (mentor is None or mentor.profile.role is not Role.mentor
            or mentor.profile.region != region or command.mentor_id in state.exits):
        raise DomainError("mentor_not_in_pool", "Cette personne n'est pas dans le vivier des "
                          "mentors de la région.", "mentor_id", status=422)
    _check_can_pair(state, command.mentee_id, command.mentor_id, own_proposal=False)
    breakdown = score(mentee.profile, mentor.profile) or ScoreBreakdown(
        geography=0, sectors=0, aspirations=0, availability=0, total=0)
    proposed = proposal(command.match_id, command.cohort_id, command.mentee_id,
                        command.mentor_id, breakdown, command.reason)
    # The override's proposal and its pair land together or not at all.
    return [proposed, PairFormed(pair_id=command.pair_id, match_id=command.match_id,
                                 cohort_id=command.cohort_id, mentee_id=command.mentee_id,
                                 mentor_id=command.mentor_id, origin=proposed.origin,
                                 previous_pair_id=None)]


@decide.register
def _(command: EndPair, state: Programme) -> list[EventData]:
    pair = state.pairs.get(command.pair_id)
    if pair is None or not pair.active:
        raise DomainError("pair_not_found", "Binôme introuvable ou déjà terminé.")
    ended = PairEnded(pair_id=pair.pair_id, cohort_id=pair.cohort_id, mentee_id=pair.mentee_id,
                      mentor_id=pair.mentor_id, ended_on=command.ended_on,
                      early=command.reason is not None, reason=command.reason,
                      ended_by=command.ended_by)
    exit_reason = (PoolExitReason.completed if command.reason is None
                   else EXIT_AFTER_EARLY_ENDING[command.reason])
    if exit_reason is None:  # back to the pool, to be paired with someone else
        return [ended, RematchRequested(person_id=pair.mentee_id, role=Role.mentee,
                                        previous_pair_id=pair.pair_id, cohort_id=pair.cohort_id)]
    if pair.mentee_id in state.exits:  # already out (e.g. withdrew meanwhile): nothing to add
        return [ended]
    return [ended, CandidateLeftPool(person_id=pair.mentee_id, role=Role.mentee,
                                     reason=exit_reason, pair_id=pair.pair_id,
                                     cohort_id=pair.cohort_id, left_on=command.ended_on)]


@decide.register
def _(command: Launch, state: Programme) -> list[EventData]:
    _open_cohort(state, command.cohort_id)
    withdrawn = [_withdrawn(p, ProposalWithdrawalReason.cohort_launched)
                 for p in state.proposals.values()
                 if p.cohort_id == command.cohort_id and p.status is ProposalStatus.proposed]
    pair_count = sum(1 for p in state.pairs.values()
                     if p.cohort_id == command.cohort_id and p.active)
    return [*withdrawn, CohortLaunched(cohort_id=command.cohort_id,
                                       launched_on=command.launched_on, pair_count=pair_count)]


def on_departure(state: Programme, person_id: UUID) -> list[EventData]:
    """Someone left the pool (intake: withdrawal, decline, erasure): their pending proposals
    are withdrawn, which frees the other person's place."""
    if in_pool(state, person_id):
        return []
    return [_withdrawn(p, ProposalWithdrawalReason.mentee_left_pool if p.mentee_id == person_id
                       else ProposalWithdrawalReason.mentor_left_pool)
            for p in pending(state, person_id)]


# -- the fold --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What the envelope adds to an event: where and when."""

    region: str
    at: datetime


def candidate_of(data: CandidateAdmitted, region: str) -> Candidate:
    return Candidate(
        person_id=data.person_id, role=data.role, region=region, departement=data.departement,
        sectors=frozenset(Sector(s) for s in data.sector_interests),
        availability=frozenset(AvailabilitySlot(a) for a in data.availability),
        remote_ok=data.remote_ok, aspirations=frozenset(JobFamily(a) for a in data.aspirations),
        job_family=data.job_family, capacity=data.capacity or 1)


@singledispatch
def _apply(event: EventData, state: Programme, context: Context | None) -> Programme:
    return state


def evolve(event: EventData, state: Programme, context: Context | None = None) -> Programme:
    return _apply(event, state, context)


def programme_from(events: Iterable[tuple[EventData, Context]]) -> Programme:
    state = Programme()
    for event, context in events:
        state = evolve(event, state, context)
    return state


@_apply.register
def _(event: CandidateAdmitted, state: Programme, context: Context | None) -> Programme:
    assert context is not None, "an admission needs its region and time"
    member = Member(candidate_of(event, context.region), context.at)
    return replace(state, members={**state.members, event.person_id: member})


def _exit(state: Programme, person_id: UUID, reason: str) -> Programme:
    if person_id in state.exits:
        return state
    return replace(state, exits={**state.exits, person_id: reason})


@_apply.register
def _(event: ApplicationWithdrawn, state: Programme, context: Context | None) -> Programme:
    return _exit(state, event.person_id, "withdrawn")


@_apply.register
def _(event: CandidateDeclined, state: Programme, context: Context | None) -> Programme:
    return _exit(state, event.person_id, "declined")


@_apply.register
def _(event: PersonErased, state: Programme, context: Context | None) -> Programme:
    return _exit(state, event.person_id, "erased")


@_apply.register
def _(event: CandidateLeftPool, state: Programme, context: Context | None) -> Programme:
    return _exit(state, event.person_id, event.reason.value)


@_apply.register
def _(event: CohortOpened, state: Programme, context: Context | None) -> Programme:
    return replace(state, cohorts={**state.cohorts,
                                   event.cohort_id: evolve_cohort(event, Cohort())})


@_apply.register
def _(event: CohortLaunched, state: Programme, context: Context | None) -> Programme:
    cohort = state.cohorts.get(event.cohort_id, Cohort(event.cohort_id))
    return replace(state, cohorts={**state.cohorts,
                                   event.cohort_id: evolve_cohort(event, cohort)})


def _with_status(state: Programme, match_id: UUID, status: ProposalStatus) -> Programme:
    found = state.proposals.get(match_id)
    if found is None:
        return state
    return replace(state, proposals={**state.proposals,
                                     match_id: replace(found, status=status)})


@_apply.register
def _(event: MatchProposed, state: Programme, context: Context | None) -> Programme:
    found = Proposal(event.match_id, event.cohort_id, event.mentee_id, event.mentor_id,
                     event.origin)
    return replace(state, proposals={**state.proposals, event.match_id: found})


@_apply.register
def _(event: MatchDeclined, state: Programme, context: Context | None) -> Programme:
    return _with_status(state, event.match_id, ProposalStatus.declined)


@_apply.register
def _(event: ProposalWithdrawn, state: Programme, context: Context | None) -> Programme:
    return _with_status(state, event.match_id, ProposalStatus.withdrawn)


@_apply.register
def _(event: PairFormed, state: Programme, context: Context | None) -> Programme:
    state = _with_status(state, event.match_id, ProposalStatus.confirmed)
    pair = Pair(event.pair_id, event.cohort_id, event.mentee_id, event.mentor_id)
    members = dict(state.members)
    if event.mentee_id in members:
        members[event.mentee_id] = replace(members[event.mentee_id], rematch=False)
    return replace(state, pairs={**state.pairs, event.pair_id: pair}, members=members)


@_apply.register
def _(event: PairEnded, state: Programme, context: Context | None) -> Programme:
    pair = state.pairs.get(event.pair_id) or Pair(event.pair_id, event.cohort_id,
                                                  event.mentee_id, event.mentor_id)
    return replace(state, pairs={**state.pairs,
                                 event.pair_id: replace(pair, active=False, early=event.early)})


@_apply.register
def _(event: RematchRequested, state: Programme, context: Context | None) -> Programme:
    member = state.members.get(event.person_id)
    if member is None:
        return state
    return replace(state, members={**state.members,
                                   event.person_id: replace(member, rematch=True)})
