"""The matching rules as pure folds: given events, when a command, then events or a refusal."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from events.intake import ApplicationWithdrawn, PersonErased
from events.matching import CandidateLeftPool, MatchDeclined, ProposalWithdrawn
from events.vocabulary import (
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
from services.matching.domain import MenteeStatus
from tests.rules_matching_fixtures import (
    AFTER_CUT_OFF,
    COHORT,
    NEXT_COHORT,
    admission,
    ended,
    formed,
    given,
    opened,
    proposed,
)

ANNE, BASILE, CLARA = (uuid4() for _ in range(3))  # mentees
SOLO, DUO = uuid4(), uuid4()  # mentors of capacity 1 and 2
M1, M2, P1, P2 = (uuid4() for _ in range(4))  # match and pair ids
PEOPLE = [admission(ANNE, Role.mentee), admission(BASILE, Role.mentee),
          admission(CLARA, Role.mentee), admission(SOLO, Role.mentor, 1),
          admission(DUO, Role.mentor, 2), opened()]
ANNE_SOLO = proposed(M1, ANNE, SOLO)
ANNE_WITH_SOLO = [ANNE_SOLO, formed(P1, M1, ANNE, SOLO)]
WITHDREW = ApplicationWithdrawn(application_id=uuid4(), person_id=ANNE, role=Role.mentee,
                                reason=WithdrawalReason.other)


def by_hand(mentee, mentor, cohort=COHORT):
    return domain.PairByHand(cohort, mentee, mentor, OverrideReason.known_affinity, M2, P2)


CASES = [
    # (name, given after PEOPLE, when, then: event types or the refusal's code)
    ("confirm a pending proposal", [ANNE_SOLO], domain.Confirm(M1, P1), ["PairFormed"]),
    ("confirm twice", ANNE_WITH_SOLO, domain.Confirm(M1, P2), "proposal_closed"),
    ("confirm a declined proposal",
     [ANNE_SOLO, MatchDeclined(match_id=M1, cohort_id=COHORT, mentee_id=ANNE, mentor_id=SOLO,
                               declined_by=Party.mentee, reason=MatchDeclineReason.too_far)],
     domain.Confirm(M1, P1), "proposal_closed"),
    ("confirm a proposal whose mentee left",
     [ANNE_SOLO, WITHDREW], domain.Confirm(M1, P1), "candidate_left"),
    ("confirm an unknown proposal", [], domain.Confirm(M1, P1), "proposal_not_found"),
    ("decline twice",
     [ANNE_SOLO, MatchDeclined(match_id=M1, cohort_id=COHORT, mentee_id=ANNE, mentor_id=SOLO,
                               declined_by=Party.mentee, reason=MatchDeclineReason.too_far)],
     domain.DeclineProposal(M1, Party.mentor, MatchDeclineReason.other), "proposal_closed"),
    ("cancel a pending proposal", [ANNE_SOLO], domain.CancelProposal(M1), ["ProposalWithdrawn"]),
    ("cancel a confirmed proposal", ANNE_WITH_SOLO, domain.CancelProposal(M1),
     "proposal_closed"),
    ("pair by hand", [], by_hand(ANNE, DUO), ["MatchProposed", "PairFormed"]),
    ("pair by hand with a full mentor", ANNE_WITH_SOLO, by_hand(BASILE, SOLO), "mentor_full"),
    ("pair by hand with a mentor whose place is proposed", [ANNE_SOLO], by_hand(BASILE, SOLO),
     "mentor_full"),
    ("pair by hand a mentee already proposed", [ANNE_SOLO], by_hand(ANNE, DUO),
     "mentee_already_proposed"),
    ("pair by hand a mentee already paired", ANNE_WITH_SOLO, by_hand(ANNE, DUO),
     "mentee_already_paired"),
    ("pair by hand a mentee who withdrew", [WITHDREW], by_hand(ANNE, DUO), "mentee_not_in_pool"),
    ("pair by hand a mentee who completed",
     [*ANNE_WITH_SOLO, ended(P1, ANNE, SOLO),
      CandidateLeftPool(person_id=ANNE, role=Role.mentee, reason=PoolExitReason.completed,
                        pair_id=P1, cohort_id=COHORT, left_on=date(2026, 6, 1))],
     by_hand(ANNE, DUO), "mentee_not_in_pool"),
    ("pair by hand a mentor as mentee", [], by_hand(SOLO, DUO), "mentee_not_in_pool"),
    ("pair by hand again after an early ending",
     [*ANNE_WITH_SOLO, ended(P1, ANNE, SOLO, EarlyEndingReason.mismatch)],
     by_hand(ANNE, SOLO), "ended_early_before"),
    ("pair by hand in an unknown cohort", [], by_hand(ANNE, DUO, NEXT_COHORT),
     "cohort_not_found"),
    ("end at term", ANNE_WITH_SOLO, domain.EndPair(P1, date(2027, 3, 1), None, None),
     ["PairEnded", "CandidateLeftPool"]),
    ("end twice", [*ANNE_WITH_SOLO, ended(P1, ANNE, SOLO)],
     domain.EndPair(P1, date(2027, 3, 1), None, None), "pair_not_found"),
    ("end after the mentee withdrew", [*ANNE_WITH_SOLO, WITHDREW],
     domain.EndPair(P1, date(2027, 3, 1), None, None), ["PairEnded"]),
    ("launch with a pending proposal", [ANNE_SOLO, proposed(M2, BASILE, DUO),
                                        formed(P2, M2, BASILE, DUO)],
     domain.Launch(COHORT, date(2026, 3, 1)), ["ProposalWithdrawn", "CohortLaunched"]),
    ("propose after the launch", [domain.decide(domain.Launch(COHORT, date(2026, 3, 1)),
                                                given(*PEOPLE))[0]],
     domain.Propose(COHORT, [ANNE_SOLO]), "cohort_launched"),
    ("propose a mentee already proposed", [ANNE_SOLO],
     domain.Propose(COHORT, [proposed(M2, ANNE, DUO)]), "mentee_not_waiting"),
    ("propose beyond a mentor's capacity", [],
     domain.Propose(COHORT, [ANNE_SOLO, proposed(M2, BASILE, SOLO)]), "mentor_full"),
]


@pytest.mark.parametrize(("name", "history", "command", "then"), CASES,
                         ids=[case[0] for case in CASES])
def test_given_when_then(name, history, command, then):
    state = given(*PEOPLE, *history)
    if isinstance(then, str):
        with pytest.raises(DomainError) as refused:
            domain.decide(command, state)
        assert refused.value.code == then
    else:
        assert [type(e).__name__ for e in domain.decide(command, state)] == then


@pytest.mark.parametrize("reason", list(EarlyEndingReason))
def test_each_early_ending_reason_rematches_or_takes_the_mentee_out(reason):
    state = given(*PEOPLE, *ANNE_WITH_SOLO)
    events = domain.decide(domain.EndPair(P1, date(2026, 6, 1), reason, Party.referent), state)
    leaves = domain.EXIT_AFTER_EARLY_ENDING[reason]
    after = state
    for event in events:
        after = domain.evolve(event, after)
    if leaves is None:
        assert [type(e).__name__ for e in events] == ["PairEnded", "RematchRequested"]
        assert domain.mentee_status(after, ANNE) is MenteeStatus.waiting
    else:
        assert [type(e).__name__ for e in events] == ["PairEnded", "CandidateLeftPool"]
        assert events[1].reason is leaves and events[1].pair_id == P1
        assert domain.mentee_status(after, ANNE) is MenteeStatus.left
    assert domain.free_places(after, SOLO) == 1  # the mentor gets the place back


def test_the_leaving_reasons_are_the_programmes():
    leaving = {r for r, out in domain.EXIT_AFTER_EARLY_ENDING.items() if out is not None}
    assert leaving == {EarlyEndingReason.mentee_found_job, EarlyEndingReason.mentee_found_training,
                       EarlyEndingReason.mentee_unavailable, EarlyEndingReason.no_contact,
                       EarlyEndingReason.mentee_withdrew}
    assert set(domain.EXIT_AFTER_EARLY_ENDING) == set(EarlyEndingReason)


@pytest.mark.parametrize(("departure", "reason"), [
    (WITHDREW, ProposalWithdrawalReason.mentee_left_pool),
    (PersonErased(person_id=SOLO), ProposalWithdrawalReason.mentor_left_pool),
])
def test_a_departure_withdraws_the_pending_proposals_and_frees_the_place(departure, reason):
    state = given(*PEOPLE, ANNE_SOLO, departure)
    [withdrawn] = domain.on_departure(state, departure.person_id)
    assert isinstance(withdrawn, ProposalWithdrawn) and withdrawn.reason is reason
    after = domain.evolve(withdrawn, state)
    assert domain.pending(after, ANNE) == [] and domain.pending(after, SOLO) == []
    assert domain.on_departure(given(*PEOPLE, departure), departure.person_id) == []


STATUS_CASES = [
    ([], MenteeStatus.waiting, 1),
    ([ANNE_SOLO], MenteeStatus.proposed, 0),
    (ANNE_WITH_SOLO, MenteeStatus.paired, 0),
    ([ANNE_SOLO, ProposalWithdrawn(match_id=M1, cohort_id=COHORT, mentee_id=ANNE,
                                   mentor_id=SOLO,
                                   reason=ProposalWithdrawalReason.cohort_launched)],
     MenteeStatus.waiting, 1),
    ([*ANNE_WITH_SOLO, ended(P1, ANNE, SOLO, EarlyEndingReason.mismatch)],
     MenteeStatus.waiting, 1),
    ([WITHDREW], MenteeStatus.left, 1),
]


@pytest.mark.parametrize(("history", "status", "solo_places"), STATUS_CASES)
def test_where_a_mentee_stands_and_the_mentors_free_places(history, status, solo_places):
    state = given(*PEOPLE, *history)
    assert domain.mentee_status(state, ANNE) is status
    assert domain.free_places(state, SOLO) == solo_places


def test_a_departure_before_the_admission_keeps_the_person_out():
    state = given(WITHDREW, admission(ANNE, Role.mentee))
    assert domain.mentee_status(state, ANNE) is MenteeStatus.left


def test_every_waiting_person_left_out_of_a_cohort_gets_a_reason():
    late_mentee, late_mentor = uuid4(), uuid4()
    state = given(*PEOPLE, admission(late_mentee, Role.mentee, at=AFTER_CUT_OFF),
                  admission(late_mentor, Role.mentor, 1, at=AFTER_CUT_OFF))
    proposals, unmatched = domain.plan_proposals(state, COHORT, 0.35)
    proposed_ids = {p.mentee_id for p in proposals}
    reasons = {u.person_id: u.reason for u in unmatched}
    assert len(proposals) == 3  # SOLO 1 place, DUO 2 places
    assert reasons[late_mentee] == reasons[late_mentor] == domain.AFTER_CUT_OFF
    assert {ANNE, BASILE, CLARA} <= proposed_ids | set(reasons)
    # The next cohort's cut-off is later: they are in.
    state = given(*PEOPLE, admission(late_mentee, Role.mentee, at=AFTER_CUT_OFF),
                  opened(NEXT_COHORT))
    proposals, unmatched = domain.plan_proposals(state, NEXT_COHORT, 0.35)
    assert late_mentee in {p.mentee_id for p in proposals} | {u.person_id for u in unmatched}
    assert all(u.reason != domain.AFTER_CUT_OFF for u in unmatched)


def test_a_completed_mentee_is_never_proposed_again():
    state = given(*PEOPLE, *ANNE_WITH_SOLO)
    for event in domain.decide(domain.EndPair(P1, date(2027, 3, 1), None, None), state):
        state = domain.evolve(event, state)
    state = domain.evolve(opened(NEXT_COHORT), state)
    proposals, unmatched = domain.plan_proposals(state, NEXT_COHORT, 0.0)
    assert ANNE not in {p.mentee_id for p in proposals} | {u.person_id for u in unmatched}
    assert domain.free_places(state, SOLO) == 1
