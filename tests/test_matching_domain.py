"""Pure matching: scoring, optimal assignment against brute force, capacities, cohort rules."""

from __future__ import annotations

import itertools
import random
from datetime import date
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.vocabulary import AvailabilitySlot, JobFamily, Role, Sector
from services.common.errors import DomainError
from services.matching import domain
from services.matching.adjacency import NEIGHBOURS
from services.matching.assignment import assign, greedy
from services.matching.scoring import Candidate, explain, score

SECTORS = list(Sector)[:5]
SLOTS = list(AvailabilitySlot)
DEPS = ["29", "22", "56", "35", "75"]  # 29-22, 29-56, 22-35 ... neighbours; 75 far away


def mentee(dep="29", sectors=("culture",), remote=False, slots=("weekend",),
           aspirations=()) -> Candidate:
    return Candidate(uuid4(), Role.mentee, "BRE", dep, frozenset(map(Sector, sectors)),
                     frozenset(map(AvailabilitySlot, slots)), remote,
                     frozenset(map(JobFamily, aspirations)))


def mentor(dep="29", sectors=("culture",), remote=False, slots=("weekend",),
           job="management", capacity=1) -> Candidate:
    return Candidate(uuid4(), Role.mentor, "BRE", dep, frozenset(map(Sector, sectors)),
                     frozenset(map(AvailabilitySlot, slots)), remote, job_family=JobFamily(job),
                     capacity=capacity)


def test_adjacency_is_symmetric_and_covers_metropolitan_france():
    assert all(a in NEIGHBOURS[b] for a, ns in NEIGHBOURS.items() for b in ns)
    assert len(NEIGHBOURS) >= 96 - 2  # every metropolitan département (Corsica as 2A/2B)


@pytest.mark.parametrize(
    ("a", "b", "geography"),
    [(mentee("29"), mentor("29"), 1.0), (mentee("29"), mentor("22"), 0.6),
     (mentee("29", remote=True), mentor("75", remote=True), 0.3),
     (mentee("29", remote=True), mentor("75"), None)],
)
def test_geography(a, b, geography):
    breakdown = score(a, b)
    assert (breakdown.geography if breakdown else None) == geography


def test_score_is_explained_in_french():
    a = mentee("29", sectors=("culture", "housing"), aspirations=("management",))
    b = mentor("22", sectors=("housing",), job="management")
    breakdown = score(a, b)
    assert breakdown.sectors == 0.5 and breakdown.aspirations == 1.0
    text = " ".join(explain(breakdown, a, b))
    assert "voisins" in text and "Logement" in text and "Score global" in text


def random_case(rng: random.Random, n_mentees: int, n_mentors: int):
    def pick(options, k):
        return tuple(rng.sample(options, rng.randint(1, k)))
    mentees = [mentee(rng.choice(DEPS), pick([s.value for s in SECTORS], 3), rng.random() < .3,
                      pick([s.value for s in SLOTS], 2)) for _ in range(n_mentees)]
    mentors = [mentor(rng.choice(DEPS), pick([s.value for s in SECTORS], 3), rng.random() < .3,
                      pick([s.value for s in SLOTS], 2), capacity=rng.randint(1, 3))
               for _ in range(n_mentors)]
    return mentees, mentors


def brute_force_best(mentees, mentors, min_score) -> float:
    """Every way of giving each mentee a mentor slot or nothing, the best total."""
    options = []
    for a in mentees:
        choices = [None] + [j for j, b in enumerate(mentors)
                            if (s := score(a, b)) is not None and s.total >= min_score]
        options.append(choices)
    best = 0.0
    for combo in itertools.product(*options):
        used = [combo.count(j) for j in range(len(mentors))]
        if any(used[j] > mentors[j].capacity for j in range(len(mentors))):
            continue
        best = max(best, sum(score(mentees[i], mentors[j]).total
                             for i, j in enumerate(combo) if j is not None))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_assignment_is_optimal_against_brute_force(seed):
    rng = random.Random(seed)
    mentees, mentors = random_case(rng, rng.randint(1, 6), rng.randint(1, 3))
    proposals, unmatched = assign(mentees, mentors, min_score=0.3)
    total = sum(p.score.total for p in proposals)
    assert total == pytest.approx(brute_force_best(mentees, mentors, 0.3), abs=1e-6)
    greedy_total = sum(p.score.total for p in greedy(mentees, mentors, min_score=0.3)[0])
    assert total >= greedy_total - 1e-9
    matched = {p.mentee_id for p in proposals}
    assert {u.person_id for u in unmatched if u.role is Role.mentee} == {
        m.person_id for m in mentees} - matched


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 25), m=st.integers(0, 10))
def test_capacities_are_never_exceeded(seed, n, m):
    mentees, mentors = random_case(random.Random(seed), n, m)
    excluded = frozenset((a.person_id, b.person_id) for a, b in zip(mentees, mentors))
    proposals, _ = assign(mentees, mentors, min_score=0.2, excluded=excluded)
    capacity = {b.person_id: b.capacity for b in mentors}
    for mentor_id in capacity:
        assert sum(p.mentor_id == mentor_id for p in proposals) <= capacity[mentor_id]
    assert len({p.mentee_id for p in proposals}) == len(proposals)
    assert not any((p.mentee_id, p.mentor_id) in excluded for p in proposals)
    assert all(p.score.total >= 0.2 for p in proposals)


def test_unmatched_reasons():
    far = mentee("75")
    weak = mentee("29", sectors=("housing",), slots=("weekday_daytime",))
    third = mentee("29")
    busy = mentor("29", capacity=1)
    proposals, unmatched = assign([far, weak, third], [busy], min_score=0.7)
    assert [p.mentee_id for p in proposals] == [third.person_id]
    reasons = {u.person_id: u.reason for u in unmatched}
    assert reasons[far.person_id] == "no_mentor_nearby"
    assert reasons[weak.person_id] == "below_threshold"


# -- cohorts: given events, when a command, then events (the pool's rules: test_matching_rules)

def test_cohort_rules():
    open_it = domain.OpenCohort("BRE-2026-03", date(2026, 3, 1), 20, date(2026, 2, 15))
    opened = domain.decide(open_it, domain.Cohort())
    state = domain.cohort_from(opened)
    with pytest.raises(DomainError) as exists:
        domain.decide(open_it, state)
    assert exists.value.code == "cohort_exists"
    late = domain.OpenCohort("BRE-2026-06", date(2026, 6, 1), 20, date(2026, 6, 2))
    with pytest.raises(DomainError) as after_start:
        domain.decide(late, domain.Cohort())
    assert after_start.value.code == "cut_off_after_start"


def test_those_back_after_an_early_ending_come_first():
    from services.matching.domain import assign_with_priority

    newcomer = mentee("29", sectors=("culture",))  # a perfect fit for the one place
    rematched = mentee("22", sectors=("culture",))  # a neighbour: lower score, but waiting
    the_mentor = mentor("29", capacity=1)
    plain, _ = assign([newcomer, rematched], [the_mentor])
    assert [p.mentee_id for p in plain] == [newcomer.person_id]
    first, unmatched = assign_with_priority([newcomer, rematched], [the_mentor],
                                            {rematched.person_id}, 0.35, frozenset())
    assert [p.mentee_id for p in first] == [rematched.person_id]
    assert [u.person_id for u in unmatched] == [newcomer.person_id]
