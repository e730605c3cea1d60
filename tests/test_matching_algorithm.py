"""The matching algorithm, pure: adjacency data, scoring and its vectorised twin, the optimal
assignment against brute force and an independent solver, capacities (property-based),
reasons of the unmatched."""

from __future__ import annotations

import itertools
import random
from collections import Counter, deque
from uuid import UUID

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from events.geography import REGION_OF_DEPARTEMENT
from events.vocabulary import AvailabilitySlot, JobFamily, Role, Sector
from services.matching import assignment as A
from services.matching.adjacency import NEIGHBOURS, are_neighbours, neighbours
from services.matching.assignment import Proposal, Unmatched, assign, greedy, min_points
from services.matching.scoring import (
    SCALE,
    WEIGHTS,
    Candidate,
    blocks,
    encode,
    explain,
    geography,
    points_matrix,
    score,
    score_points,
)

OVERSEAS = {"971", "972", "973", "974", "976"}
SECTORS, SLOTS, JOBS = list(Sector), list(AvailabilitySlot), list(JobFamily)
_ids = itertools.count(1)


def mentee(dep="29", sectors=("culture",), slots=("weekend",), remote=False, aspirations=()):
    return Candidate(UUID(int=next(_ids)), Role.mentee, REGION_OF_DEPARTEMENT[dep], dep,
                     frozenset(map(Sector, sectors)), frozenset(map(AvailabilitySlot, slots)),
                     remote, frozenset(map(JobFamily, aspirations)))


def mentor(dep="29", sectors=("culture",), slots=("weekend",), remote=False, job="management",
           capacity=1):
    return Candidate(UUID(int=next(_ids)), Role.mentor, REGION_OF_DEPARTEMENT[dep], dep,
                     frozenset(map(Sector, sectors)), frozenset(map(AvailabilitySlot, slots)),
                     remote, job_family=JobFamily(job) if job else None, capacity=capacity)


def random_person(rng: random.Random, role: Role, deps: list[str], capacity=(1, 3)) -> Candidate:
    dep = rng.choice(deps)
    return Candidate(
        UUID(int=rng.getrandbits(128)), role, REGION_OF_DEPARTEMENT[dep], dep,
        frozenset(rng.sample(SECTORS, rng.randint(1, 4))),
        frozenset(rng.sample(SLOTS, rng.randint(1, 3))), rng.random() < 0.3,
        frozenset(rng.sample(JOBS, rng.randint(0, 3))) if role is Role.mentee else frozenset(),
        (rng.choice(JOBS + [None]) if role is Role.mentor else None),
        rng.randint(*capacity) if role is Role.mentor else 1)


def random_cohort(rng, n, m, deps=("29", "22", "56", "35", "75", "92", "2A"), capacity=(1, 3)):
    return ([random_person(rng, Role.mentee, list(deps)) for _ in range(n)],
            [random_person(rng, Role.mentor, list(deps), capacity) for _ in range(m)])


# --- adjacency -----------------------------------------------------------------------------


def test_adjacency_covers_exactly_the_departements():
    assert set(NEIGHBOURS) == set(REGION_OF_DEPARTEMENT)
    assert len(NEIGHBOURS) == 96 + len(OVERSEAS)


def test_adjacency_is_symmetric_and_irreflexive():
    for dep, adjacent in NEIGHBOURS.items():
        assert dep not in adjacent
        for other in adjacent:
            assert dep in NEIGHBOURS[other], (dep, other)


def test_overseas_and_corsica():
    assert all(NEIGHBOURS[d] == frozenset() for d in OVERSEAS)
    assert NEIGHBOURS["2A"] == {"2B"} and NEIGHBOURS["2B"] == {"2A"}
    assert neighbours("975") == frozenset()  # unknown code: nobody


def test_mainland_is_one_connected_land():
    mainland = set(NEIGHBOURS) - OVERSEAS - {"2A", "2B"}
    seen, todo = {"75"}, deque(["75"])
    while todo:
        for n in NEIGHBOURS[todo.popleft()]:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    assert seen == mainland
    assert sum(len(NEIGHBOURS[d]) for d in mainland) // 2 == 239


@pytest.mark.parametrize(("dep", "expected"), [
    ("29", {"22", "56"}), ("75", {"92", "93", "94"}), ("57", {"54", "67"}),
    ("59", {"02", "62", "80"}), ("77", {"02", "10", "45", "51", "60", "89", "91", "93", "94",
                                       "95"}),
    ("07", {"26", "30", "38", "42", "43", "48", "84"}), ("90", {"25", "68", "70", "88"}),
])
def test_known_borders(dep, expected):
    assert NEIGHBOURS[dep] == expected


def test_point_borders_and_sea():
    assert are_neighbours("83", "84")  # Var and Vaucluse touch on the Durance
    assert not are_neighbours("14", "76")  # the Seine estuary is not a land border
    assert not are_neighbours("06", "2B")


# --- scoring -------------------------------------------------------------------------------


def test_weights_sum_to_one():
    assert set(WEIGHTS) == {"geography", "sectors", "aspirations", "availability"}
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("a", "b", "expected"), [
    (mentee("29"), mentor("29"), 1.0),
    (mentee("29"), mentor("22"), 0.6),
    (mentee("29", remote=True), mentor("22", remote=True), 0.6),  # neighbours beat remote
    (mentee("29", remote=True), mentor("75", remote=True), 0.3),
    (mentee("29", remote=True), mentor("75"), None),
    (mentee("29"), mentor("75", remote=True), None),
    (mentee("974", remote=True), mentor("75", remote=True), 0.3),
    (mentee("974"), mentor("974"), 1.0),
])
def test_geography(a, b, expected):
    assert geography(a, b) == expected
    breakdown = score(a, b)
    assert (None if breakdown is None else breakdown.geography) == expected


def test_breakdown_criteria():
    a = mentee("29", sectors=("culture", "housing", "tourism", "sport_leisure"),
               slots=("weekend", "weekday_evening"), aspirations=("management", "care"))
    b = mentor("56", sectors=("housing", "culture", "finance_solidarity"),
               slots=("weekend",), job="management")
    s = score(a, b)
    assert (s.geography, s.sectors, s.aspirations, s.availability) == (0.6, 0.5, 1.0, 0.5)
    assert s.total == pytest.approx(0.35 * 0.6 + 0.3 * 0.5 + 0.2 * 1 + 0.15 * 0.5)
    assert s.total * SCALE == score_points(a, b)


def test_aspirations_open_and_mismatch():
    open_mind = score(mentee(aspirations=()), mentor(job="care"))
    mismatch = score(mentee(aspirations=("management",)), mentor(job="care"))
    no_job = score(mentee(aspirations=("management",)), mentor(job=None))
    assert (open_mind.aspirations, mismatch.aspirations, no_job.aspirations) == (0.5, 0.0, 0.0)


def test_perfect_pair_scores_one():
    s = score(mentee(aspirations=("care",)), mentor(job="care"))
    assert s.total == 1.0 and score_points(mentee(), mentor()) <= SCALE


def test_roles_the_wrong_way_round_are_refused():
    with pytest.raises(ValueError):
        score(mentor(), mentee())
    with pytest.raises(ValueError):
        assign([mentor()], [mentor()])


def test_explanation_in_french():
    a = mentee("29", sectors=("housing", "culture", "tourism"), slots=("weekend",),
               aspirations=("management",))
    b = mentor("29", sectors=("culture", "housing"), slots=("weekend", "weekday_evening"),
               job="management")
    lines = explain(score(a, b), a, b)
    assert lines[0].startswith("Score global : ")
    assert "Même département (29)" in lines
    assert "2 secteurs en commun : Culture, Logement" in lines
    assert "Le métier du mentor correspond à une aspiration : Direction et management" in lines
    assert "Disponibilités communes : Le week-end" in lines

    c = mentee("29", sectors=("tourism",), slots=("weekday_daytime",), remote=True,
               aspirations=("care",))
    d = mentor("75", sectors=("culture",), slots=("weekend",), remote=True, job="management")
    text = " ".join(explain(score(c, d), c, d))
    assert "Mentorat à distance (29 et 75)" in text and "Aucun secteur en commun" in text
    assert "hors des aspirations" in text and "Aucune disponibilité commune" in text
    assert any(line.startswith("Départements voisins (29 et 22)")
               for line in explain(score(mentee("29"), mentor("22")), mentee("29"),
                                   mentor("22")))


def test_explanation_of_an_override_outside_geography():
    from events.matching import ScoreBreakdown
    zero = ScoreBreakdown(geography=0, sectors=0, aspirations=0, availability=0, total=0)
    text = " ".join(explain(zero, mentee("29"), mentor("75")))
    assert "Éloignés géographiquement" in text


def test_vectorised_scoring_agrees_with_score_on_random_cohorts():
    rng = random.Random(3)
    deps = ["29", "22", "56", "35", "75", "92", "93", "94", "2A", "2B", "974", "69"]
    mentees, mentors = random_cohort(rng, 150, 120, deps)
    # edge cases: every sector, no aspiration, mentor without job family
    mentees.append(mentee("29", sectors=[s.value for s in SECTORS],
                          slots=[s.value for s in SLOTS]))
    mentors.append(mentor("29", sectors=[s.value for s in SECTORS], job=None))
    matrix = points_matrix(mentees, mentors)
    expected = np.array([[-1 if (p := score_points(a, b)) is None else p for b in mentors]
                         for a in mentees])
    assert np.array_equal(matrix, expected)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(0, 12), m=st.integers(0, 12))
def test_blocks_cover_each_possible_pair_exactly_once(seed, n, m):
    mentees, mentors = random_cohort(random.Random(seed), n, m)
    seen = Counter()
    for block in blocks(encode(mentees, mentors), max_cells=7):  # tiny blocks: row chunking
        for i in block.mentees.tolist():
            for j in block.mentors.tolist():
                seen[i, j] += 1
    possible = {(i, j) for i, a in enumerate(mentees) for j, b in enumerate(mentors)
                if geography(a, b) is not None}
    assert set(seen) == possible and set(seen.values()) <= {1}


# --- optimal assignment --------------------------------------------------------------------


def brute_force(mentees, mentors, min_score, excluded=frozenset()) -> int:
    """Best total points over every way of giving each mentee an acceptable mentor or none."""
    min_pts = min_points(min_score)
    options = []
    for a in mentees:
        row = [None]
        for j, b in enumerate(mentors):
            p = score_points(a, b)
            if p is not None and p >= min_pts and (a.person_id, b.person_id) not in excluded:
                row.append((j, p))
        options.append(row)
    best = 0
    for combo in itertools.product(*options):
        used = Counter(c[0] for c in combo if c is not None)
        if all(used[j] <= mentors[j].capacity for j in used):
            best = max(best, sum(c[1] for c in combo if c is not None))
    return best


def total_points(proposals: list[Proposal], mentees, mentors) -> int:
    by_id = {c.person_id: c for c in [*mentees, *mentors]}
    return sum(score_points(by_id[p.mentee_id], by_id[p.mentor_id]) for p in proposals)


def check_feasible(proposals, unmatched, mentees, mentors, min_score, excluded=frozenset()):
    capacity = {b.person_id: b.capacity for b in mentors}
    load = Counter(p.mentor_id for p in proposals)
    assert all(load[j] <= capacity[j] for j in load)
    assert len({p.mentee_id for p in proposals}) == len(proposals)
    assert not any((p.mentee_id, p.mentor_id) in excluded for p in proposals)
    assert all(p.score.total >= min_score for p in proposals)
    by_id = {c.person_id: c for c in [*mentees, *mentors]}
    assert all(p.score == score(by_id[p.mentee_id], by_id[p.mentor_id]) for p in proposals)
    left = {u.person_id for u in unmatched if u.role is Role.mentee}
    assert left == {a.person_id for a in mentees} - {p.mentee_id for p in proposals}
    idle = {u.person_id for u in unmatched if u.role is Role.mentor}
    assert idle == {b.person_id for b in mentors if b.capacity > 0} - set(load)
    assert all(u.message for u in unmatched)


@pytest.mark.parametrize("seed", range(40))
def test_optimal_against_brute_force(seed):
    rng = random.Random(seed)
    mentees, mentors = random_cohort(rng, rng.randint(1, 6), rng.randint(1, 4),
                                     deps=("29", "22", "75"))
    pairs = [(a.person_id, b.person_id) for a in mentees for b in mentors]
    excluded = frozenset(rng.sample(pairs, rng.randint(0, min(3, len(pairs)))))
    min_score = rng.choice([0.2, 0.35, 0.5])
    proposals, unmatched = assign(mentees, mentors, min_score=min_score, excluded=excluded)
    check_feasible(proposals, unmatched, mentees, mentors, min_score, excluded)
    best = brute_force(mentees, mentors, min_score, excluded)
    assert total_points(proposals, mentees, mentors) == best
    g, g_unmatched = greedy(mentees, mentors, min_score=min_score, excluded=excluded)
    check_feasible(g, g_unmatched, mentees, mentors, min_score, excluded)
    assert total_points(g, mentees, mentors) <= best


def dense_optimum(mentees, mentors, min_score) -> int:
    """Independent exact optimum: linear_sum_assignment on mentees x capacity slots."""
    pts = points_matrix(mentees, mentors)
    pts[pts < min_points(min_score)] = 0
    owner = np.repeat(np.arange(len(mentors)), [b.capacity for b in mentors])
    cost = -pts[:, owner].astype(float)
    r, c = linear_sum_assignment(cost)
    return int(-cost[r, c].sum())


@pytest.mark.parametrize(("seed", "n", "m", "seeds", "min_score", "capacity"), [
    (1, 400, 250, (16, 2), 0.35, (1, 3)),  # plenty of places
    (2, 500, 120, (16, 2), 0.35, (1, 3)),  # scarce places: competition
    (3, 300, 300, (1, 1), 0.5, (1, 3)),  # a minimal core: many certificate rounds
    (4, 350, 90, (1, 0), 0.2, (1, 3)),
    (5, 300, 200, (2, 1), 0.35, (0, 2)),  # some mentors already full
])
def test_optimal_against_an_independent_solver(monkeypatch, seed, n, m, seeds, min_score,
                                               capacity):
    monkeypatch.setattr(A, "_ROW_SEEDS", seeds[0])
    monkeypatch.setattr(A, "_COLUMN_SEEDS", seeds[1])
    mentees, mentors = random_cohort(random.Random(seed), n, m, capacity=capacity)
    proposals, unmatched = assign(mentees, mentors, min_score=min_score)
    check_feasible(proposals, unmatched, mentees, mentors, min_score)
    assert total_points(proposals, mentees, mentors) == dense_optimum(mentees, mentors, min_score)


def test_the_certificate_loop_and_the_fallback_are_exercised(monkeypatch):
    mentees, mentors = random_cohort(random.Random(5), 300, 150)
    min_pts = min_points(0.35)
    monkeypatch.setattr(A, "_ROW_SEEDS", 1)
    monkeypatch.setattr(A, "_COLUMN_SEEDS", 0)
    edges = A.acceptable_pairs(mentees, mentors, min_pts, frozenset())
    stats = A.SolveStats()
    match = A.optimal_matching(edges, stats)
    assert stats.rounds > 1 and not stats.fallback and stats.core_pairs < stats.all_pairs
    monkeypatch.setattr(A, "_MAX_ROUNDS", 1)
    stats = A.SolveStats()
    fallback = A.optimal_matching(edges, stats)
    assert stats.fallback

    def points_of(m):
        return sum(score_points(mentees[i], mentors[j]) for i, j in enumerate(m.tolist())
                   if j >= 0)
    assert points_of(match) == points_of(fallback) == dense_optimum(mentees, mentors, 0.35)


def test_greedy_is_not_optimal_but_assign_is():
    # greedy takes the single best pair (A-X); the optimum pairs A-Y and B-X
    a = mentee("29", sectors=("culture", "housing"), aspirations=("care",))
    b = mentee("29", sectors=("tourism",), aspirations=("care",))
    x = mentor("29", sectors=("culture", "housing", "tourism"), job="care")
    y = mentor("29", sectors=("culture", "housing"), job="management")
    best, _ = assign([a, b], [x, y])
    naive, _ = greedy([a, b], [x, y])
    assert {(p.mentee_id, p.mentor_id) for p in best} == {(a.person_id, y.person_id),
                                                          (b.person_id, x.person_id)}
    assert total_points(naive, [a, b], [x, y]) < total_points(best, [a, b], [x, y])


def test_ties_go_to_the_mentee_listed_first():
    first, second = mentee("29"), mentee("29")
    only = mentor("29")
    for order in ([first, second], [second, first]):
        proposals, unmatched = assign(order, [only])
        assert [p.mentee_id for p in proposals] == [order[0].person_id]
        assert [(u.person_id, u.reason) for u in unmatched] == [(order[1].person_id,
                                                                 "no_capacity_left")]


def test_tie_break_never_costs_score():
    # the later mentee scores higher: it must win although the first one waited longer
    early = mentee("29", sectors=("tourism",))
    late = mentee("29", sectors=("culture",))
    proposals, _ = assign([early, late], [mentor("29")])
    assert [p.mentee_id for p in proposals] == [late.person_id]


def test_capacity_is_a_hard_limit():
    mentees = [mentee("29") for _ in range(5)]
    busy = mentor("29", capacity=2)
    proposals, unmatched = assign(mentees, [busy, mentor("29", capacity=0)])
    assert len(proposals) == 2 and {p.mentor_id for p in proposals} == {busy.person_id}
    assert {u.reason for u in unmatched} == {"no_capacity_left"}  # the full mentor: not listed


def test_reasons_of_the_unmatched():
    far = mentee("29")  # nobody in 29 or its neighbours, not remote
    weak = mentee("75", sectors=("tourism",), slots=("weekday_daytime",), aspirations=("care",))
    ended = mentee("92")
    lonely = mentor("2A")
    paris = mentor("75", sectors=("culture",), slots=("weekend",), job="management")
    excluded = frozenset({(ended.person_id, paris.person_id)})
    proposals, unmatched = assign([far, weak, ended], [lonely, paris], min_score=0.6,
                                  excluded=excluded)
    assert proposals == []
    reasons = {u.person_id: u for u in unmatched}
    assert reasons[far.person_id].reason == "no_mentor_nearby"
    assert reasons[weak.person_id].reason == "below_threshold"
    assert "Meilleur score possible : 35 %" in reasons[weak.person_id].message
    assert reasons[ended.person_id].reason == "all_pairs_excluded"
    assert reasons[lonely.person_id] == Unmatched(lonely.person_id, Role.mentor,
                                                  "no_mentee_nearby",
                                                  A.MENTOR_REASONS["no_mentee_nearby"])
    assert reasons[paris.person_id].reason == "all_pairs_excluded"  # its only good pair ended

    a, b = mentee("29"), mentee("29", sectors=("tourism",))
    x, y = mentor("29"), mentor("29", sectors=("housing",))
    _, unmatched = assign([a], [x, y])
    assert [(u.person_id, u.reason) for u in unmatched] == [(y.person_id, "not_chosen")]
    _, unmatched = assign([a, b], [x], excluded=frozenset({(b.person_id, x.person_id)}))
    assert [(u.person_id, u.reason) for u in unmatched] == [(b.person_id, "all_pairs_excluded")]


def test_empty_cohorts():
    assert assign([], []) == ([], [])
    proposals, unmatched = assign([], [mentor()])
    assert proposals == [] and unmatched[0].reason == "no_mentee_nearby"
    proposals, unmatched = greedy([mentee()], [])
    assert proposals == [] and unmatched[0].reason == "no_mentor_nearby"


def test_min_points():
    assert min_points(0.35) == 3500 and min_points(0.12345) == 1235 and min_points(0) == 1


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(0, 40), m=st.integers(0, 15),
       min_score=st.sampled_from([0.0, 0.2, 0.35, 0.6]), n_excluded=st.integers(0, 20))
def test_capacities_are_never_exceeded(seed, n, m, min_score, n_excluded):
    rng = random.Random(seed)
    mentees, mentors = random_cohort(rng, n, m, capacity=(0, 3))
    pairs = [(a.person_id, b.person_id) for a in mentees for b in mentors]
    excluded = frozenset(rng.sample(pairs, min(n_excluded, len(pairs))))
    for solver in (assign, greedy):
        proposals, unmatched = solver(mentees, mentors, min_score=min_score, excluded=excluded)
        check_feasible(proposals, unmatched, mentees, mentors, min_score, excluded)
