"""Scoring of a mentee-mentor pair, with its explanation in French, and its vectorised twin.

Four criteria, each normalised to 0..1 (``ScoreBreakdown``):

- **geography**: 1 in the same département, 0.6 in neighbouring départements (land border,
  ``adjacency.py``), 0.3 anywhere else when both accept remote mentoring; otherwise the pair is
  impossible (``None``);
- **sectors**: the share of the mentee's sector interests that the mentor's expertise covers;
- **aspirations**: 1 when the mentor's job family is one the mentee aspires to, 0 when not,
  0.5 when the mentee has no aspiration yet (undecided: neither a match nor a mismatch);
- **availability**: the share of the mentee's time slots the mentor also has (0: none).

The total is the weighted sum (``WEIGHTS``), each term rounded to the *point*, 1/``SCALE``
(``total == sum(points) / SCALE``). Integer points make the optimisation exact (no floating-point
ties or drift) and let ``score()`` and the vectorised path agree bit for bit: the vectorised
tables are filled from the very functions ``score()`` uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from uuid import UUID

import numpy as np

from events.matching import ScoreBreakdown
from events.vocabulary import AvailabilitySlot, JobFamily, Role, Sector, label
from services.matching.adjacency import NEIGHBOURS, are_neighbours


@dataclass(frozen=True)
class Candidate:
    """What matching knows of an admitted person (no personal data: coarse attributes only)."""

    person_id: UUID
    role: Role
    region: str
    departement: str
    sectors: frozenset[Sector]  # mentee: interests; mentor: expertise
    availability: frozenset[AvailabilitySlot]
    remote_ok: bool
    aspirations: frozenset[JobFamily] = frozenset()  # mentees
    job_family: JobFamily | None = None  # mentors
    capacity: int = 1  # mentors: remaining free places


WEIGHTS: dict[str, float] = {
    "geography": 0.35,
    "sectors": 0.30,
    "aspirations": 0.20,
    "availability": 0.15,
}
SCALE = 10_000  # points per unit of score: a total of 0.35 is 3 500 points

GEO_SAME = 1.0
GEO_NEIGHBOUR = 0.6
GEO_REMOTE = 0.3
ASPIRATION_OPEN = 0.5  # the mentee has not named any aspiration

_SECTORS = tuple(Sector)
_SLOTS = tuple(AvailabilitySlot)
_JOBS = tuple(JobFamily)
_SECTOR_BIT = {s: 1 << i for i, s in enumerate(_SECTORS)}
_SLOT_BIT = {s: 1 << i for i, s in enumerate(_SLOTS)}
_JOB_BIT = {j: 1 << i for i, j in enumerate(_JOBS)}
_NO_JOB = len(_JOBS)  # job code of a mentor without a job family


# --- the criteria, one pair at a time ----------------------------------------------------------


def geography(mentee: Candidate, mentor: Candidate) -> float | None:
    """1 same département, 0.6 neighbours, 0.3 both remote_ok, None when they cannot meet."""
    if mentee.departement == mentor.departement:
        return GEO_SAME
    if are_neighbours(mentee.departement, mentor.departement):
        return GEO_NEIGHBOUR
    if mentee.remote_ok and mentor.remote_ok:
        return GEO_REMOTE
    return None


def coverage(common: int, wanted: int) -> float:
    """Share of what the mentee wants that the mentor offers: |wanted & offered| / |wanted|."""
    return common / wanted if wanted else 0.0


def aspiration_fit(aspirations: frozenset[JobFamily], job_family: JobFamily | None) -> float:
    if job_family is None:
        return 0.0
    if not aspirations:
        return ASPIRATION_OPEN
    return 1.0 if job_family in aspirations else 0.0


def points(criterion: str, value: float) -> int:
    """The weighted, rounded contribution of one criterion, in points (1/SCALE)."""
    return round(WEIGHTS[criterion] * value * SCALE)


def _components(mentee: Candidate, mentor: Candidate) -> dict[str, float] | None:
    if mentee.role is not Role.mentee or mentor.role is not Role.mentor:
        raise ValueError("score(mentee, mentor): roles are the wrong way round")
    geo = geography(mentee, mentor)
    if geo is None:
        return None
    return {
        "geography": geo,
        "sectors": coverage(len(mentee.sectors & mentor.sectors), len(mentee.sectors)),
        "aspirations": aspiration_fit(mentee.aspirations, mentor.job_family),
        "availability": coverage(len(mentee.availability & mentor.availability),
                                 len(mentee.availability)),
    }


def score_points(mentee: Candidate, mentor: Candidate) -> int | None:
    """The total in points (what the assignment maximises), None when geography forbids."""
    parts = _components(mentee, mentor)
    return None if parts is None else sum(points(c, v) for c, v in parts.items())


def score(mentee: Candidate, mentor: Candidate) -> ScoreBreakdown | None:
    """The breakdown of a pair; None when they can neither meet nor mentor remotely."""
    parts = _components(mentee, mentor)
    if parts is None:
        return None
    return _breakdown(*parts.values())


@cache
def _breakdown(geography: float, sectors: float, aspirations: float,
               availability: float) -> ScoreBreakdown:
    """Frozen, so shared: a cohort has few distinct breakdowns and validation is the cost."""
    parts = {"geography": geography, "sectors": sectors, "aspirations": aspirations,
             "availability": availability}
    total = sum(points(c, v) for c, v in parts.items())
    # criteria rounded for the event log only (1/3 -> 0.3333); the total is exact in points
    return ScoreBreakdown(**{c: round(v, 4) for c, v in parts.items()}, total=total / SCALE)


# --- explanation ---------------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{round(value * 100)} %"


def _labels(values: frozenset, order: tuple, sep: str = ", ") -> str:
    return sep.join(label(v) for v in order if v in values)


def explain(breakdown: ScoreBreakdown, mentee: Candidate, mentor: Candidate) -> list[str]:
    """Short French sentences telling staff why the algorithm likes (or not) this pair."""
    lines = [f"Score global : {_percent(breakdown.total)}"]

    a, b = mentee.departement, mentor.departement
    if breakdown.geography >= GEO_SAME:
        lines.append(f"Même département ({a})")
    elif breakdown.geography >= GEO_NEIGHBOUR:
        lines.append(f"Départements voisins ({a} et {b})")
    elif breakdown.geography > 0:
        lines.append(f"Mentorat à distance ({a} et {b}) : accepté par les deux")
    else:  # a referent paired them by hand although geography rules it out
        lines.append(f"Éloignés géographiquement ({a} et {b}) : choix du ou de la référent·e")

    common = mentee.sectors & mentor.sectors
    if common:
        n = len(common)
        noun = "secteur" if n == 1 else "secteurs"
        lines.append(f"{n} {noun} en commun : {_labels(common, _SECTORS)}")
    else:
        lines.append("Aucun secteur en commun")

    job = mentor.job_family
    if job is None:
        lines.append("Métier du mentor non renseigné")
    elif not mentee.aspirations:
        lines.append(f"Aspirations non précisées (métier du mentor : {label(job)})")
    elif job in mentee.aspirations:
        lines.append(f"Le métier du mentor correspond à une aspiration : {label(job)}")
    else:
        lines.append(f"Métier du mentor ({label(job)}) hors des aspirations "
                     f"({_labels(mentee.aspirations, _JOBS, ' ; ')})")

    slots = mentee.availability & mentor.availability
    if slots:
        lines.append(f"Disponibilités communes : {_labels(slots, _SLOTS, ' ; ')}")
    else:
        lines.append("Aucune disponibilité commune")
    return lines


# --- vectorised scoring --------------------------------------------------------------------
#
# A cohort is encoded once: each person gets small integer codes (département, sector mask,
# aspirations+availability key). Points of a pair are then three table look-ups, the tables
# being filled from ``points()``/``coverage()``/``aspiration_fit()`` above, so they agree with
# ``score_points()`` exactly. Only geographically possible pairs are ever scored: mentees are
# processed in groups sharing (département, remote_ok), against the mentors of that
# département, of its neighbours and (when remote_ok) the remote_ok mentors elsewhere.


def _masks(sets: list[frozenset], bits: dict) -> list[int]:
    """The bit mask of each set; members are singletons, so looked up by id (an Enum's hash
    runs in Python: ten times slower on a cohort of 10k)."""
    by_id = {id(v): bit for v, bit in bits.items()}
    out = []
    for values in sets:
        m = 0
        for v in values:
            m |= by_id[id(v)]
        out.append(m)
    return out


_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << max(len(_SECTORS), len(_JOBS) + 4))],
                     dtype=np.int8)


@cache
def _coverage_points(criterion: str, size: int) -> np.ndarray:
    """table[common, wanted] -> points, for sets drawn from ``size`` values."""
    table = np.zeros((size + 1, size + 1), dtype=np.int16)
    for common in range(size + 1):
        for wanted in range(common, size + 1):
            table[common, wanted] = points(criterion, coverage(common, wanted))
    return table


def _pair_table(criterion_points: np.ndarray, wanted: np.ndarray,
                offered: np.ndarray) -> np.ndarray:
    """points[i, j] for mentee masks wanted[i], mentor masks offered[j]."""
    common = _POPCOUNT[wanted[:, None] & offered[None, :]]
    return criterion_points[common, _POPCOUNT[wanted][:, None]]


GEO_POINTS = {kind: points("geography", value)
              for kind, value in (("same", GEO_SAME), ("neighbour", GEO_NEIGHBOUR),
                                  ("remote", GEO_REMOTE))}


@dataclass
class EncodedCohort:
    """Integer codes of a cohort's mentees and mentors, and the look-up tables of their points."""

    n_mentees: int
    n_mentors: int
    mentee_dep: np.ndarray  # index into deps
    mentor_dep: np.ndarray
    mentee_remote: np.ndarray  # bool
    mentor_remote: np.ndarray
    mentee_sector_type: np.ndarray  # row of sector_points
    mentor_sector_type: np.ndarray  # column of sector_points
    mentee_fit_type: np.ndarray  # row of fit_points (aspirations + availability)
    mentor_fit_type: np.ndarray
    sector_points: np.ndarray  # int16 [mentee sector type, mentor sector type]
    fit_points: np.ndarray  # int16 [mentee fit type, mentor fit type]
    deps: list[str]
    neighbour_deps: list[np.ndarray] = field(default_factory=list)  # per dep: its neighbours


def encode(mentees: Sequence[Candidate], mentors: Sequence[Candidate]) -> EncodedCohort:
    deps = sorted({c.departement for c in mentees} | {c.departement for c in mentors})
    dep_index = {d: i for i, d in enumerate(deps)}
    neighbour_deps = [
        np.array(sorted(dep_index[n] for n in NEIGHBOURS.get(d, ()) if n in dep_index),
                 dtype=np.int64)
        for d in deps]

    def codes(values: list) -> tuple[np.ndarray, np.ndarray]:
        uniq, inverse = np.unique(np.array(values, dtype=np.int64), return_inverse=True)
        return uniq, inverse.reshape(-1)

    se_masks, se_type = codes(_masks([c.sectors for c in mentees], _SECTOR_BIT) or [0])
    so_masks, so_type = codes(_masks([c.sectors for c in mentors], _SECTOR_BIT) or [0])
    sector_points = _pair_table(_coverage_points("sectors", len(_SECTORS)), se_masks, so_masks)

    # mentee fit key: aspirations mask, then availability mask; mentor: job code, availability
    nslot = len(_SLOTS)
    fe_keys, fe_type = codes([(a << nslot) | b for a, b in zip(
        _masks([c.aspirations for c in mentees], _JOB_BIT),
        _masks([c.availability for c in mentees], _SLOT_BIT))] or [0])
    fo_keys, fo_type = codes([((_JOBS.index(c.job_family) if c.job_family else _NO_JOB) << nslot)
                              | b for c, b in zip(
        mentors, _masks([c.availability for c in mentors], _SLOT_BIT))] or [0])
    slot_mask = (1 << nslot) - 1
    availability = _pair_table(_coverage_points("availability", nslot),
                               fe_keys & slot_mask, fo_keys & slot_mask)
    asp_points = np.zeros((1 << len(_JOBS), len(_JOBS) + 1), dtype=np.int16)
    for amask in np.unique(fe_keys >> nslot):
        asp = frozenset(j for j in _JOBS if int(amask) & _JOB_BIT[j])
        for code in range(len(_JOBS) + 1):
            job = _JOBS[code] if code < len(_JOBS) else None
            asp_points[amask, code] = points("aspirations", aspiration_fit(asp, job))
    aspirations = asp_points[(fe_keys >> nslot)[:, None], (fo_keys >> nslot)[None, :]]
    fit_points = aspirations + availability

    return EncodedCohort(
        n_mentees=len(mentees), n_mentors=len(mentors),
        mentee_dep=np.array([dep_index[c.departement] for c in mentees], dtype=np.int64),
        mentor_dep=np.array([dep_index[c.departement] for c in mentors], dtype=np.int64),
        mentee_remote=np.array([c.remote_ok for c in mentees], dtype=bool),
        mentor_remote=np.array([c.remote_ok for c in mentors], dtype=bool),
        mentee_sector_type=se_type[:len(mentees)], mentor_sector_type=so_type[:len(mentors)],
        mentee_fit_type=fe_type[:len(mentees)], mentor_fit_type=fo_type[:len(mentors)],
        sector_points=sector_points.astype(np.int16), fit_points=fit_points.astype(np.int16),
        deps=deps, neighbour_deps=neighbour_deps,
    )


@dataclass(frozen=True)
class Block:
    """Points of every geographically possible pair between some mentees and some mentors."""

    mentees: np.ndarray  # indices into the mentee sequence (rows)
    mentors: np.ndarray  # indices into the mentor sequence (columns)
    points: np.ndarray  # int16 [len(mentees), len(mentors)]


def _groups(enc: EncodedCohort) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(mentees sharing département and remote_ok, their possible mentors, geography points)."""
    if enc.n_mentees == 0 or enc.n_mentors == 0:
        return
    by_dep = [np.flatnonzero(enc.mentor_dep == d) for d in range(len(enc.deps))]
    remote_mentors = np.flatnonzero(enc.mentor_remote)
    group_key = enc.mentee_dep * 2 + enc.mentee_remote
    order = np.argsort(group_key, kind="stable")
    keys, starts = np.unique(group_key[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for key, start, end in zip(keys.tolist(), starts.tolist(), ends.tolist()):
        dep, remote = divmod(key, 2)
        near = np.concatenate([by_dep[dep]] + [by_dep[n] for n in enc.neighbour_deps[dep]])
        geo = np.concatenate([np.full(len(by_dep[dep]), GEO_POINTS["same"], dtype=np.int16),
                              np.full(len(near) - len(by_dep[dep]), GEO_POINTS["neighbour"],
                                      dtype=np.int16)])
        if remote:
            far = remote_mentors[~np.isin(remote_mentors, near)]
            cols = np.concatenate([near, far])
            geo = np.concatenate([geo, np.full(len(far), GEO_POINTS["remote"], dtype=np.int16)])
        else:
            cols = near
        if len(cols):
            yield order[start:end], cols, geo


def blocks(enc: EncodedCohort, max_cells: int = 1 << 22) -> Iterator[Block]:
    """Yield blocks covering each geographically possible pair exactly once, and only those.

    Memory stays bounded by ``max_cells`` int16 points (plus temporaries) whatever the size.
    """
    for rows_all, cols, geo in _groups(enc):
        # the tables' rows of this group's mentee types only (a group has fewer mentees than
        # the cohort has types), geography folded into the sector table: one pass less
        sector_types, sector_row = np.unique(enc.mentee_sector_type[rows_all],
                                             return_inverse=True)
        fit_types, fit_row = np.unique(enc.mentee_fit_type[rows_all], return_inverse=True)
        sector_geo_cols = enc.sector_points[np.ix_(sector_types, enc.mentor_sector_type[cols])]
        sector_geo_cols += geo
        fit_cols = enc.fit_points[np.ix_(fit_types, enc.mentor_fit_type[cols])]
        step = max(1, max_cells // len(cols))
        for r in range(0, len(rows_all), step):
            pts = sector_geo_cols[sector_row[r:r + step]]
            pts += fit_cols[fit_row[r:r + step]]
            yield Block(rows_all[r:r + step], cols, pts)


def points_matrix(mentees: Sequence[Candidate], mentors: Sequence[Candidate]) -> np.ndarray:
    """Dense int32 matrix of points, -1 where geography forbids (for small cohorts and tests)."""
    out = np.full((len(mentees), len(mentors)), -1, dtype=np.int32)
    for b in blocks(encode(mentees, mentors)):
        out[np.ix_(b.mentees, b.mentors)] = b.points
    return out
