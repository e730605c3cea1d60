"""The certificate's fast scan (dense blocks, float32 pass, float64 confirmation) finds exactly
the violating pairs a plain float64 scan over every acceptable pair finds."""

from __future__ import annotations

import random

import numpy as np
import pytest

from services.matching import assignment as A
from services.matching.assignment import min_points
from services.matching.scoring import SCALE, points_matrix
from tests.test_matching_algorithm import random_cohort


def plain_violations(e, weights, match, d_mentee, d_mentor):
    rows, cols, pts = e.pairs()
    slack = pts * float(weights.k) + weights.bonus[rows] - d_mentee[rows] + d_mentor[cols]
    bad = (slack > 0.5) & (match[rows] != cols)
    return {(int(i), int(j)): float(s) for i, j, s in zip(rows[bad], cols[bad], slack[bad])}


def fast_violations(e, weights, match, d_mentee, d_mentor):
    rows, cols, _, amount = A._violations(e, weights, match, d_mentee, d_mentor)
    return {(int(i), int(j)): float(s) for i, j, s in zip(rows, cols, amount)}


def core_state(e):
    """The first round's matching and potentials, as optimal_matching computes them."""
    weights = A._Weights(e.n)
    rows, cols = e.seed_rows.astype(np.int64), e.seed_cols.astype(np.int64)
    w = weights.of(rows, e.seed_points)
    match = A._solve_core(e.n, e.capacity, rows, cols, w)
    return weights, match, *A._potentials(e.n, e.capacity, rows, cols, w, match)


@pytest.mark.parametrize(("seed", "n", "m", "min_score"), [
    (11, 300, 200, 0.35), (12, 400, 120, 0.5), (13, 200, 260, 0.2)])
def test_given_the_first_core_when_scanning_then_fast_and_plain_scans_agree(
        monkeypatch, seed, n, m, min_score):
    monkeypatch.setattr(A, "_ROW_SEEDS", 1)  # a small core: many violations to find
    monkeypatch.setattr(A, "_COLUMN_SEEDS", 0)
    mentees, mentors = random_cohort(random.Random(seed), n, m)
    e = A.acceptable_pairs(mentees, mentors, min_points(min_score), frozenset())
    weights, match, d_mentee, d_mentor = core_state(e)
    expected = plain_violations(e, weights, match, d_mentee, d_mentor)
    assert expected  # the scan has something to find
    assert fast_violations(e, weights, match, d_mentee, d_mentor) == expected


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_given_potentials_near_every_slack_when_scanning_then_no_violation_is_missed(seed):
    # potentials shifted by whole points and by amounts around zero slack: the float32 pass
    # must neither miss a violation by one unit nor report a pair at exactly zero slack
    rng = np.random.default_rng(seed)
    mentees, mentors = random_cohort(random.Random(seed), 250, 150)
    e = A.acceptable_pairs(mentees, mentors, min_points(0.35), frozenset())
    weights, match, d_mentee, d_mentor = core_state(e)
    k = weights.k
    d_mentee = d_mentee + rng.integers(-2, 3, e.n) * k + rng.integers(-1, 2, e.n)
    d_mentor = d_mentor + rng.integers(-2, 3, e.m) * k + rng.integers(-1, 2, e.m)
    expected = plain_violations(e, weights, match, d_mentee, d_mentor)
    assert expected
    assert fast_violations(e, weights, match, d_mentee, d_mentor) == expected


def test_given_a_cohort_when_kept_in_blocks_then_its_pairs_are_the_acceptable_ones():
    mentees, mentors = random_cohort(random.Random(31), 120, 90, capacity=(0, 2))
    min_pts = min_points(0.35)
    e = A.acceptable_pairs(mentees, mentors, min_pts, frozenset())
    dense = points_matrix(mentees, mentors)
    dense[:, np.array([c.capacity for c in mentors]) <= 0] = -1
    i, j = np.nonzero(dense >= min_pts)
    rows, cols, pts = e.pairs()
    assert e.n_pairs == len(rows) == len(i)
    assert sorted(zip(rows.tolist(), cols.tolist(), pts.tolist())) == sorted(
        zip(i.tolist(), j.tolist(), dense[i, j].tolist()))
    assert pts.max() <= SCALE


def test_given_a_full_matching_that_scores_less_when_solving_the_core_then_one_mentee_waits():
    # mentee 0 likes mentor 0 (9000 points) and mentor 1 (4000); mentee 1 only mentor 0 (4000):
    # matching both scores 8000, mentee 0 with mentor 0 alone 9000. The faster solve (without
    # the pool columns) finds the former; its residual network has a negative cycle, so the
    # core is solved again with the pool columns.
    capacity = np.array([1, 1])
    rows, cols = np.array([0, 0, 1]), np.array([0, 1, 0])
    w = A._Weights(2).of(rows, np.array([9000, 4000, 4000]))
    full = A._solve_core(2, capacity, rows, cols, w, without_pool=True)
    assert full.tolist() == [1, 0]
    with pytest.raises(ArithmeticError):
        A._potentials(2, capacity, rows, cols, w, full)
    match, d_mentee, d_mentor = A._core_optimum(2, capacity, rows, cols, w)
    assert match.tolist() == [0, -1]
    assert match.tolist() == A._solve_core(2, capacity, rows, cols, w).tolist()


def test_given_no_full_matching_when_solving_without_the_pool_then_none():
    # mentees 0 and 1 both want mentor 0 only; mentee 2 mentors 1 or 2: 3 x 3, at most 2 pairs
    capacity = np.array([1, 1, 1])
    rows, cols = np.array([0, 1, 2, 2]), np.array([0, 0, 1, 2])
    w = A._Weights(3).of(rows, np.array([5000, 6000, 4000, 7000]))
    assert A._solve_core(3, capacity, rows, cols, w, without_pool=True) is None
    assert A._core_optimum(3, capacity, rows, cols, w)[0].tolist() == [-1, 0, 2]
