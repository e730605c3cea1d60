"""Optimal assignment of a cohort: maximise the total score under mentor capacities.

Each mentor becomes as many "slots" as free places; SciPy's linear_sum_assignment then solves
mentees x slots exactly. Pairs below the threshold, impossible by geography, or that ended
early before are forbidden (a large cost), and a mentee whose best option is forbidden stays
in the pool with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
from scipy.optimize import linear_sum_assignment

from events.matching import ScoreBreakdown
from events.vocabulary import Role
from services.matching.scoring import Candidate, score

_FORBIDDEN = 1e6

UNMATCHED_MESSAGES = {
    "no_mentor_nearby": "Aucun mentor assez proche (ni à distance) dans le vivier.",
    "below_threshold": "Aucun mentor ne correspond assez (score sous le seuil).",
    "no_capacity_left": "Les mentors qui conviennent sont déjà pris : en attente de nouveaux "
                        "mentors.",
    "not_chosen": "Aucun·e jeune ne lui a été attribué·e lors de ce calcul.",
}


@dataclass(frozen=True)
class Proposal:
    mentee_id: UUID
    mentor_id: UUID
    score: ScoreBreakdown


@dataclass(frozen=True)
class Unmatched:
    person_id: UUID
    role: Role
    reason: str
    message: str


def _scores(mentees: Sequence[Candidate], mentors: Sequence[Candidate], min_score: float,
            excluded: frozenset[tuple[UUID, UUID]]):
    table: dict[tuple[int, int], ScoreBreakdown] = {}
    possible = [False] * len(mentees)
    for i, mentee in enumerate(mentees):
        for j, mentor in enumerate(mentors):
            if (mentee.person_id, mentor.person_id) in excluded:
                continue
            breakdown = score(mentee, mentor)
            if breakdown is None:
                continue
            possible[i] = True
            if breakdown.total >= min_score:
                table[(i, j)] = breakdown
    return table, possible


def _unmatched(mentees, mentors, chosen_mentees, used_mentors, table, possible):
    out = []
    for i, mentee in enumerate(mentees):
        if i in chosen_mentees:
            continue
        if not possible[i]:
            reason = "no_mentor_nearby"
        elif not any(key[0] == i for key in table):
            reason = "below_threshold"
        else:
            reason = "no_capacity_left"
        out.append(Unmatched(mentee.person_id, Role.mentee, reason, UNMATCHED_MESSAGES[reason]))
    for j, mentor in enumerate(mentors):
        if j not in used_mentors:
            out.append(Unmatched(mentor.person_id, Role.mentor, "not_chosen",
                                 UNMATCHED_MESSAGES["not_chosen"]))
    return out


def assign(mentees: Sequence[Candidate], mentors: Sequence[Candidate], *,
           min_score: float = 0.35, excluded: frozenset[tuple[UUID, UUID]] = frozenset(),
           ) -> tuple[list[Proposal], list[Unmatched]]:
    table, possible = _scores(mentees, mentors, min_score, excluded)
    slots = [j for j, mentor in enumerate(mentors) for _ in range(max(mentor.capacity, 0))]
    proposals: list[Proposal] = []
    chosen, used = set(), set()
    if table and slots:
        cost = np.full((len(mentees), len(slots)), _FORBIDDEN)
        for col, j in enumerate(slots):
            for i in range(len(mentees)):
                breakdown = table.get((i, j))
                if breakdown is not None:
                    # Ties go to whoever comes first (the pool lists those waiting longest
                    # first): a tiny preference that never outweighs a real score difference.
                    cost[i, col] = -breakdown.total + i * 1e-9
        rows, cols = linear_sum_assignment(cost)
        for i, col in zip(rows, cols):
            if cost[i, col] < _FORBIDDEN:
                j = slots[col]
                proposals.append(Proposal(mentees[i].person_id, mentors[j].person_id,
                                          table[(i, j)]))
                chosen.add(i)
                used.add(j)
    return proposals, _unmatched(mentees, mentors, chosen, used, table, possible)


def greedy(mentees: Sequence[Candidate], mentors: Sequence[Candidate], *,
           min_score: float = 0.35, excluded: frozenset[tuple[UUID, UUID]] = frozenset(),
           ) -> tuple[list[Proposal], list[Unmatched]]:
    """Baseline: best remaining pair first."""
    table, possible = _scores(mentees, mentors, min_score, excluded)
    left = {j: max(m.capacity, 0) for j, m in enumerate(mentors)}
    chosen, used, proposals = set(), set(), []
    for (i, j), breakdown in sorted(table.items(), key=lambda kv: (-kv[1].total, kv[0])):
        if i in chosen or left[j] == 0:
            continue
        proposals.append(Proposal(mentees[i].person_id, mentors[j].person_id, breakdown))
        chosen.add(i)
        used.add(j)
        left[j] -= 1
    return proposals, _unmatched(mentees, mentors, chosen, used, table, possible)
