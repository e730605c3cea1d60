"""Explainable scoring of a mentee-mentor pair: each criterion in 0..1, the total their
weighted sum; None when geography makes the pair impossible."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from events.matching import ScoreBreakdown
from events.vocabulary import AvailabilitySlot, JobFamily, Role, Sector, label
from services.matching.adjacency import are_neighbours

WEIGHTS = {"geography": 0.35, "sectors": 0.3, "aspirations": 0.2, "availability": 0.15}
SAME_DEPARTEMENT, NEIGHBOURING, BOTH_REMOTE = 1.0, 0.6, 0.3


@dataclass(frozen=True)
class Candidate:
    person_id: UUID
    role: Role
    region: str
    departement: str
    sectors: frozenset[Sector]
    availability: frozenset[AvailabilitySlot]
    remote_ok: bool
    aspirations: frozenset[JobFamily] = frozenset()
    job_family: JobFamily | None = None
    capacity: int = 1


def geography(mentee: Candidate, mentor: Candidate) -> float | None:
    if mentee.departement == mentor.departement:
        return SAME_DEPARTEMENT
    if are_neighbours(mentee.departement, mentor.departement):
        return NEIGHBOURING
    if mentee.remote_ok and mentor.remote_ok:
        return BOTH_REMOTE
    return None


def _overlap(wanted: frozenset, offered: frozenset) -> float:
    return len(wanted & offered) / len(wanted) if wanted else 0.0


def score(mentee: Candidate, mentor: Candidate) -> ScoreBreakdown | None:
    where = geography(mentee, mentor)
    if where is None:
        return None
    parts = {
        "geography": where,
        "sectors": _overlap(mentee.sectors, mentor.sectors),
        # A mentee with no stated aspiration is open to any job family.
        "aspirations": 1.0 if not mentee.aspirations else float(
            mentor.job_family in mentee.aspirations),
        "availability": _overlap(mentee.availability, mentor.availability),
    }
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    return ScoreBreakdown(**{k: round(v, 4) for k, v in parts.items()}, total=round(total, 4))


def explain(breakdown: ScoreBreakdown, mentee: Candidate, mentor: Candidate) -> list[str]:
    """Why this pair, in French, for the staff who confirm it."""
    reasons = []
    if mentee.departement == mentor.departement:
        reasons.append(f"Même département ({mentee.departement})")
    elif are_neighbours(mentee.departement, mentor.departement):
        reasons.append(f"Départements voisins ({mentee.departement} et {mentor.departement})")
    elif breakdown.geography > 0:
        reasons.append("Mentorat à distance accepté par les deux")
    else:
        reasons.append("Éloignés géographiquement (choix du ou de la référent·e)")
    common = sorted(mentee.sectors & mentor.sectors)
    if common:
        names = ", ".join(label(s) for s in common)
        reasons.append(f"{len(common)} secteur(s) en commun : {names}")
    else:
        reasons.append("Aucun secteur en commun")
    if mentor.job_family and mentor.job_family in mentee.aspirations:
        reasons.append(f"Métier visé exercé par le mentor : {label(mentor.job_family)}")
    slots = sorted(mentee.availability & mentor.availability)
    if slots:
        reasons.append("Disponibles ensemble : " + ", ".join(label(s).lower() for s in slots))
    else:
        reasons.append("Pas de créneau commun déclaré")
    reasons.append(f"Score global : {breakdown.total:.0%}")
    return reasons
