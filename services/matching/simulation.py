"""How many more mentors a region needs for a cohort's target: a pure estimate from the pool
and from how often past proposals were accepted."""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_ACCEPTANCE = 0.8  # until a region has its own history of proposals
DEFAULT_CAPACITY = 1.5


@dataclass(frozen=True)
class PoolFigures:
    target_pairs: int
    active_pairs: int
    free_mentees: int
    free_mentor_places: int
    mentors: int
    mentor_places: int  # all places, used or not: the average capacity of a new mentor
    accepted: int  # past proposals confirmed
    declined: int  # past proposals declined


@dataclass(frozen=True)
class Estimate:
    pairs_needed: int
    acceptance_rate: float
    expected_pairs_from_pool: int
    mentors_needed: int
    mentees_needed: int

    def sentence(self) -> str:
        if self.pairs_needed == 0:
            return "L'objectif de la cohorte est déjà atteint."
        parts = [f"Il manque {self.pairs_needed} binôme(s) ; avec le vivier actuel et un taux "
                 f"d'acceptation de {self.acceptance_rate:.0%}, on peut en attendre "
                 f"{self.expected_pairs_from_pool}."]
        if self.mentors_needed:
            parts.append(f"Recrutez environ {self.mentors_needed} mentor(s) de plus.")
        if self.mentees_needed:
            parts.append(f"Il faut aussi environ {self.mentees_needed} jeune(s) de plus.")
        if not (self.mentors_needed or self.mentees_needed):
            parts.append("Le vivier suffit.")
        return " ".join(parts)


def simulate(figures: PoolFigures) -> Estimate:
    decided = figures.accepted + figures.declined
    rate = figures.accepted / decided if decided else DEFAULT_ACCEPTANCE
    rate = max(rate, 0.05)  # a region that declined everything still needs a finite answer
    needed = max(0, figures.target_pairs - figures.active_pairs)
    expected = math.floor(min(figures.free_mentees, figures.free_mentor_places) * rate)
    # Each proposal is accepted with probability `rate`: places and mentees are needed in
    # proportion 1/rate of the pairs still missing.
    to_propose = math.ceil(needed / rate)
    capacity = figures.mentor_places / figures.mentors if figures.mentors else DEFAULT_CAPACITY
    missing_places = max(0, to_propose - figures.free_mentor_places)
    return Estimate(
        pairs_needed=needed, acceptance_rate=rate, expected_pairs_from_pool=min(expected, needed),
        mentors_needed=math.ceil(missing_places / capacity),
        mentees_needed=max(0, to_propose - figures.free_mentees),
    )
