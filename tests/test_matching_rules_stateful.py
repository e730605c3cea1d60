"""Random sequences of everything that happens to a region's pool, over the pure domain (no
I/O): the matching rules hold after every step."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import fields, replace
from datetime import date
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from events import EventData
from events.intake import ApplicationWithdrawn, CandidateDeclined, PersonErased
from events.matching import CandidateLeftPool, MatchProposed
from events.vocabulary import (
    CandidateDeclineReason,
    EarlyEndingReason,
    MatchDeclineReason,
    OverrideReason,
    Party,
    PoolExitReason,
    ProposalWithdrawalReason,
    Role,
    WithdrawalReason,
)
from services.common.errors import DomainError
from services.matching import domain
from services.matching.domain import MenteeStatus, ProposalStatus
from tests.rules_matching_fixtures import (
    AFTER_CUT_OFF,
    BEFORE_CUT_OFF,
    COHORT,
    HERE,
    NEXT_COHORT,
    REGION,
    admission,
    opened,
)

PICK = st.integers(min_value=0, max_value=10_000)
ENDINGS = st.sampled_from([None, *EarlyEndingReason])


def snapshot(state: domain.Programme) -> domain.Programme:
    """A copy to compare with: the mappings copied, their values being frozen already."""
    return replace(state, **{f.name: dict(getattr(state, f.name)) for f in fields(state)})


class Conflict(Exception):
    """The store's answer to an append at a stale stream version."""


class PoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[EventData, domain.Context]] = []
        self.state = domain.Programme()
        self.mentees: list[UUID] = []
        self.mentors: list[UUID] = []
        self.completed: set[UUID] = set()
        self.ids = 0  # ids follow the steps (never uuid4): a replayed example behaves the same
        for cohort in (COHORT, NEXT_COHORT):
            self._record([opened(cohort)], len(self.log))

    def _new_id(self) -> UUID:
        self.ids += 1
        return UUID(int=self.ids)

    # -- the store, in memory: an append at a stale version is refused ----------------------

    def _record(self, events: list[EventData], expected_version: int,
                context: domain.Context = HERE) -> None:
        if expected_version != len(self.log):
            raise Conflict()
        for event in events:
            self.state = domain.evolve(event, self.state, context)
            self.log.append((event, context))
            if isinstance(event, CandidateLeftPool) and event.reason is PoolExitReason.completed:
                self.completed.add(event.person_id)
            if isinstance(event, MatchProposed):
                assert event.mentee_id not in self.completed, "a completed mentee proposed"

    def _decide(self, command) -> list[EventData] | None:
        """decide, then append at the version read; a refusal changes nothing."""
        before, version = snapshot(self.state), len(self.log)
        try:
            events = domain.decide(command, self.state)
        except DomainError:
            assert self.state == before and len(self.log) == version
            return None
        self._record(events, version)
        return events

    def _pick(self, people: list[UUID], pick: int) -> UUID | None:
        return people[pick % len(people)] if people else None

    def _proposal(self, pick: int) -> UUID | None:
        return self._pick(sorted(self.state.proposals), pick)

    def _leave(self, departure: EventData) -> None:
        """An intake departure, then matching's reaction (its pending proposals withdrawn)."""
        self._record([departure], len(self.log))
        self._record(domain.on_departure(self.state, departure.person_id), len(self.log))

    # -- intake -----------------------------------------------------------------------------

    @rule(late=st.booleans())
    def admit_mentee(self, late: bool) -> None:
        person = self._new_id()
        event, context = admission(person, Role.mentee, at=AFTER_CUT_OFF if late
                                   else BEFORE_CUT_OFF)
        self._record([event], len(self.log), context)
        self.mentees.append(person)

    @rule(capacity=st.integers(1, 3), late=st.booleans())
    def admit_mentor(self, capacity: int, late: bool) -> None:
        person = self._new_id()
        event, context = admission(person, Role.mentor, capacity,
                                   at=AFTER_CUT_OFF if late else BEFORE_CUT_OFF)
        self._record([event], len(self.log), context)
        self.mentors.append(person)

    @precondition(lambda self: self.mentees or self.mentors)
    @rule(pick=PICK, how=st.sampled_from(["withdrawn", "declined", "erased"]))
    def leave(self, pick: int, how: str) -> None:
        person = self._pick(self.mentees + self.mentors, pick)
        role = Role.mentee if person in self.mentees else Role.mentor
        self._leave({
            "withdrawn": ApplicationWithdrawn(application_id=person, person_id=person,
                                              role=role, reason=WithdrawalReason.other),
            "declined": CandidateDeclined(application_id=person, person_id=person, role=role,
                                          reason=CandidateDeclineReason.project_not_aligned),
            "erased": PersonErased(person_id=person)}[how])

    # -- staff ------------------------------------------------------------------------------

    @rule(cohort=st.sampled_from([COHORT, NEXT_COHORT]), min_score=st.sampled_from([0.0, 0.35]))
    def compute_proposals(self, cohort: str, min_score: float) -> None:
        before = snapshot(self.state)
        waiting = {m.profile.person_id for m in domain.waiting_mentees(before, REGION)}
        try:
            proposals, unmatched = domain.plan_proposals(before, cohort, min_score, self._new_id)
        except DomainError:
            assert self.state == before
            return
        events = self._decide(domain.Propose(cohort, proposals))
        assert events is not None, "the optimal proposals of the pool are always acceptable"
        left_out = {u.person_id: u.reason for u in unmatched}
        proposed = {p.mentee_id for p in proposals}
        assert all(left_out.get(m) for m in waiting - proposed), "someone left out silently"
        assert not proposed & set(left_out)

    @precondition(lambda self: self.state.proposals)
    @rule(pick=PICK, what=st.sampled_from(["confirm", "decline", "cancel"]))
    def act_on_a_proposal(self, pick: int, what: str) -> None:
        match_id = self._proposal(pick)
        self._decide({
            "confirm": domain.Confirm(match_id, self._new_id()),
            "decline": domain.DeclineProposal(match_id, Party.mentee, MatchDeclineReason.other),
            "cancel": domain.CancelProposal(match_id,
                                            ProposalWithdrawalReason.cancelled_by_referent),
        }[what])

    def _by_hand(self, mentee_pick: int, mentor_pick: int, cohort: str) -> domain.PairByHand:
        return domain.PairByHand(cohort, self._pick(self.mentees, mentee_pick),
                                 self._pick(self.mentors, mentor_pick),
                                 OverrideReason.known_affinity, self._new_id(), self._new_id())

    @precondition(lambda self: self.mentees and self.mentors)
    @rule(mentee=PICK, mentor=PICK, cohort=st.sampled_from([COHORT, NEXT_COHORT]))
    def pair_by_hand(self, mentee: int, mentor: int, cohort: str) -> None:
        self._decide(self._by_hand(mentee, mentor, cohort))

    @precondition(lambda self: self.mentees and self.mentors)
    @rule(first=PICK, second=PICK, mentor=PICK)
    def two_referents_pair_at_once(self, first: int, second: int, mentor: int) -> None:
        """Both decided on the same state; both appended at the version they read."""
        version = len(self.log)
        decided = []
        for mentee in (first, second):
            with suppress(DomainError):  # a refusal records nothing (checked after each step)
                decided.append(domain.decide(self._by_hand(mentee, mentor, COHORT), self.state))
        succeeded = 0
        for events in decided:
            with suppress(Conflict):  # the second append at the same version must lose
                self._record(events, version)
                succeeded += 1
        assert succeeded <= 1

    @rule(cohort=st.sampled_from([COHORT, NEXT_COHORT]))
    def launch(self, cohort: str) -> None:
        events = self._decide(domain.Launch(cohort, date(2026, 3, 1)))
        if events is not None:
            assert not [p for p in self.state.proposals.values()
                        if p.cohort_id == cohort and p.status is ProposalStatus.proposed]

    @precondition(lambda self: any(p.active for p in self.state.pairs.values()))
    @rule(pick=PICK, reason=ENDINGS)
    def end_a_pair(self, pick: int, reason: EarlyEndingReason | None) -> None:
        pair_id = self._pick(sorted(p for p, v in self.state.pairs.items() if v.active), pick)
        self._decide(domain.EndPair(pair_id, date(2026, 9, 1), reason,
                                    Party.referent if reason else None))

    # -- what must hold after every step ----------------------------------------------------

    @invariant()
    def each_mentee_stands_in_exactly_one_place(self) -> None:
        for mentee in self.mentees:
            left = mentee in self.state.exits
            active = len(domain.active_pairs(self.state, mentee))
            pending = len(domain.pending(self.state, mentee))
            assert active <= 1 and pending <= 1 and not (active and pending)
            assert not (left and pending), "a proposal outlived its mentee"
            places = [left, not left and active == 1, not left and not active and pending == 1,
                      not left and not active and not pending]
            assert places.count(True) == 1
            assert domain.mentee_status(self.state, mentee) is [
                MenteeStatus.left, MenteeStatus.paired, MenteeStatus.proposed,
                MenteeStatus.waiting][places.index(True)]

    @invariant()
    def a_mentors_free_places_are_never_negative(self) -> None:
        for mentor in self.mentors:
            capacity = self.state.members[mentor].profile.capacity
            active = len(domain.active_pairs(self.state, mentor))
            pending = len(domain.pending(self.state, mentor))
            if mentor in self.state.exits:
                assert pending == 0 and domain.free_places(self.state, mentor) == 0
            else:
                assert domain.free_places(self.state, mentor) == capacity - active - pending >= 0

    @invariant()
    def completed_mentees_are_out_for_good(self) -> None:
        for mentee in self.completed:
            assert domain.mentee_status(self.state, mentee) is MenteeStatus.left

    def teardown(self) -> None:
        assert domain.programme_from(self.log) == self.state  # the state is the log's fold


PoolMachine.TestCase.settings = settings(
    max_examples=500, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestPoolRules = PoolMachine.TestCase
