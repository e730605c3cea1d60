"""Optimal assignment of a cohort: maximise the total score under mentor capacities.

The problem is a maximum-weight bipartite b-matching: each mentee at most once, each mentor at
most ``capacity`` times, only pairs that geography allows, that reach ``min_score`` and that
did not end early before. Weights are integer points (``scoring.SCALE`` per unit of score), so
the optimum is exact, not approximately so.

How it scales (10k x 10k in seconds, bounded memory):

1. **Scoring** only the geographically possible pairs, vectorised (``scoring.blocks``); the
   blocks are kept as scored (int16 points, 2 bytes per possible pair, the pairs that are
   not acceptable marked), never as per-pair index arrays.
2. **Sparse core**: each mentee's best 32 pairs and each mentor's best pair of each block
   (with fewer, more rounds of steps 3-4 are needed, each a full solve: SciPy's solver
   cannot be warm-started and its time hardly depends on the core's size).
3. **Exact solve of the core**: mentors become capacity slots and SciPy's sparse
   Jonker-Volgenant (``min_weight_full_bipartite_matching``) finds the optimum of the core.
   First without "stay in the pool" columns (faster; the solver then matches the smaller
   side fully), kept only if step 4's potentials exist for it (they prove it optimal among
   all matchings of the core); otherwise again with a private pool column per mentee.
4. **Certificate over every pair**: node potentials of the residual flow network (Bellman-Ford
   from a virtual source, vectorised by frontier; they exist because the core solution is
   optimal: no negative cycle) are checked against *all* acceptable pairs, block by block by
   broadcasting (a float32 pass with a wide tolerance, its candidates confirmed in float64).
   If no pair has a negative reduced cost, no negative cycle exists in the full residual
   network, so the core solution is optimal for the whole cohort. Otherwise the most
   violating pairs of each mentee join the core and steps 3-4 repeat (past ``_MAX_ROUNDS``,
   the whole edge set is solved directly: slower, still exact).

Ties: among assignments of maximal total score, the mentees listed first (the pool lists those
waiting longest first) are preferred. This is a strictly secondary objective (a small bonus
by rank, scaled below one point), so it never costs any score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from events.matching import ScoreBreakdown
from events.vocabulary import Role
from services.matching.scoring import (
    SCALE,
    Candidate,
    blocks,
    encode,
    score,
)

_ROW_SEEDS = 32  # each mentee's best pairs in the core (fewer: more rounds, each a full solve)
_COLUMN_SEEDS = 1  # each mentor's best pairs (per block) in the core
_ADD_PER_MENTEE = 16  # violating pairs added per mentee and round
_MAX_ROUNDS = 12
_FAST_CHECK_ROUNDS = 1_000  # Bellman-Ford rounds before giving up on the faster solve (the
# cohorts of the benchmark need under 50; a negative cycle would run to |V| rounds)
_EXACT = 2 ** 52  # integers below this are exact in float64, sums of costs included

MENTEE_REASONS = {
    "no_mentor_nearby": "Aucun mentor dans son département ni dans un département voisin, "
                        "et pas de mentor à distance possible.",
    "below_threshold": "Des mentors sont accessibles, mais aucun binôme n'atteint le score "
                       "minimal.",
    "all_pairs_excluded": "Les seuls binômes assez bons ont déjà pris fin de manière anticipée.",
    "no_capacity_left": "Les mentors qui lui conviennent ont été attribués à d'autres "
                        "mentoré·es (meilleur score total pour la cohorte).",
}
MENTOR_REASONS = {
    "no_mentee_nearby": "Aucun·e mentoré·e dans son département ni dans un département voisin, "
                        "et pas de mentorat à distance possible.",
    "below_threshold": "Des mentoré·es sont accessibles, mais aucun binôme n'atteint le score "
                       "minimal.",
    "all_pairs_excluded": "Les seuls binômes assez bons ont déjà pris fin de manière anticipée.",
    "not_chosen": "Les mentoré·es qui lui conviennent ont été attribué·es à d'autres mentors "
                  "(meilleur score total pour la cohorte).",
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
    reason: str  # a key of MENTEE_REASONS or MENTOR_REASONS
    message: str  # in French, for staff


def min_points(min_score: float) -> int:
    """The smallest total, in points, that reaches ``min_score`` (at least 1 point)."""
    return max(1, math.ceil(min_score * SCALE - 1e-9))


# --- the acceptable pairs ------------------------------------------------------------------


_NOT_ACCEPTABLE = -1  # points of a stored cell that is no acceptable pair


@dataclass
class Edges:
    """Every acceptable pair of a cohort, and what the reasons for the unmatched need.

    Pairs stay in the dense blocks they were scored in (int16 points, ``_NOT_ACCEPTABLE``
    where geography allows the pair but it is below the threshold, excluded or the mentor is
    full): the certificate scans them by broadcasting, with no per-pair index arrays.
    """

    n: int  # mentees
    m: int  # mentors
    capacity: np.ndarray  # int64 [m]
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # mentees, mentors,
    # points, and each row's best points in the block (a bound that lets the scan skip rows)
    n_pairs: int  # acceptable pairs in the blocks
    seed_rows: np.ndarray  # the pairs of the sparse core to start with, each once
    seed_cols: np.ndarray
    seed_points: np.ndarray
    best_mentee: np.ndarray  # best points before exclusions, -1 when geography forbids all
    best_mentor: np.ndarray
    best_mentee_ok: np.ndarray  # best points once excluded pairs are removed
    best_mentor_ok: np.ndarray

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every acceptable pair as flat (mentee, mentor, points) arrays, in block order."""
        found = [_acceptable_cells(rows, cols, pts) for rows, cols, pts, _ in self.blocks]
        if not found:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int16)
        return tuple(np.concatenate(part) for part in zip(*found))  # type: ignore[return-value]


def _acceptable_cells(rows: np.ndarray, cols: np.ndarray, pts: np.ndarray):
    r, c = np.nonzero(pts != _NOT_ACCEPTABLE)
    return rows[r], cols[c], pts[r, c]


def acceptable_pairs(mentees: Sequence[Candidate], mentors: Sequence[Candidate],
                     min_pts: int, excluded: frozenset[tuple[UUID, UUID]]) -> Edges:
    n, m = len(mentees), len(mentors)
    enc = encode(mentees, mentors)
    mentee_index = {c.person_id: i for i, c in enumerate(mentees)}
    mentor_index = {c.person_id: j for j, c in enumerate(mentors)}
    banned: dict[int, list[int]] = {}
    for a, b in excluded:
        if a in mentee_index and b in mentor_index:
            banned.setdefault(mentee_index[a], []).append(mentor_index[b])
    best = [np.full(n, -1, np.int32), np.full(m, -1, np.int32)]
    best_ok = [np.full(n, -1, np.int32), np.full(m, -1, np.int32)]
    position = np.full(m, -1, np.int64)  # mentor -> column in the current block
    capacity = np.array([max(c.capacity, 0) for c in mentors], dtype=np.int64)
    has_place = capacity > 0
    every_mentor_has_place = bool(has_place.all())
    kept, seeds, n_pairs = [], [], 0
    for block in blocks(enc):
        pts, rows, cols = block.points, block.mentees, block.mentors
        row_best = pts.max(axis=1)
        best[0][rows] = np.maximum(best[0][rows], row_best)
        best[1][cols] = np.maximum(best[1][cols], pts.max(axis=0))
        if banned:
            position[cols] = np.arange(len(cols))
            for r, i in enumerate(rows.tolist()):
                for j in banned.get(i, ()):
                    if position[j] >= 0:
                        pts[r, position[j]] = -1
            position[cols] = -1
            best_ok[0][rows] = np.maximum(best_ok[0][rows], pts.max(axis=1))
            best_ok[1][cols] = np.maximum(best_ok[1][cols], pts.max(axis=0))
        ok = pts >= min_pts
        if not every_mentor_has_place:
            ok &= has_place[cols]
        n_pairs += int(np.count_nonzero(ok))
        # pts * ok - (not ok) puts _NOT_ACCEPTABLE (-1) in the other cells: vectorised
        # arithmetic, where np.putmask is a plain loop (4x slower)
        pts *= ok
        pts -= ~ok
        seeds.append(_seed_cells(rows, cols, pts))
        kept.append((rows, cols, pts, row_best))
    if not banned:
        best_ok = best
    seed_rows, seed_cols, seed_points = (
        (np.concatenate(part) for part in zip(*seeds)) if seeds
        else (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int16)))
    return Edges(n, m, capacity, kept, n_pairs, seed_rows, seed_cols, seed_points,
                 best[0], best[1], best_ok[0], best_ok[1])


def _seed_cells(rows: np.ndarray, cols: np.ndarray, pts: np.ndarray):
    """The block's pairs of the first core: each row's ``_ROW_SEEDS`` best cells and each
    column's ``_COLUMN_SEEDS`` best, acceptable ones only, each once.

    Taken from the arg-partitions' indices (a few cells per row), not by marking a mask of
    the whole block and searching it again.
    """
    n_rows, n_cols = pts.shape
    row_top = _best_columns(pts, _ROW_SEEDS)  # [row, k]: column indices
    r, c = np.repeat(np.arange(n_rows), row_top.shape[1]), row_top.ravel()
    column_top = _best_columns(pts.T, _COLUMN_SEEDS)  # [column, k]: row indices
    if column_top.size:
        cr, cc = column_top.ravel(), np.repeat(np.arange(n_cols), column_top.shape[1])
        new = ~(row_top[cr] == cc[:, None]).any(axis=1)  # not already a best of its row
        r, c = np.concatenate([r, cr[new]]), np.concatenate([c, cc[new]])
    good = pts[r, c] != _NOT_ACCEPTABLE
    r, c = r[good], c[good]
    return rows[r], cols[c], pts[r, c]


def _best_columns(pts: np.ndarray, k: int) -> np.ndarray:
    """[row, k] column indices of each row's k best cells (every column when there are fewer)."""
    n_rows, n_cols = pts.shape
    k = max(min(k, n_cols), 0)
    if k == 0:
        return np.empty((n_rows, 0), np.int64)
    if k == n_cols:
        return np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    if k == 1:  # a plain arg-max: a fraction of argpartition's cost
        return pts.argmax(axis=1)[:, None]
    return np.argpartition(pts, n_cols - k, axis=1)[:, n_cols - k:]


# --- exact solver --------------------------------------------------------------------------


class _Weights:
    """Solver weights: points scaled by K plus a rank bonus below one point (tie-break)."""

    def __init__(self, n: int) -> None:
        # K > n * levels keeps the bonus strictly secondary; the largest possible total
        # n * SCALE * K must stay exact in float64.
        levels = min(n, int((_EXACT / (max(n, 1) * SCALE) - 1) / max(n, 1)))
        self.levels = max(levels, 0)
        self.k = max(n, 1) * self.levels + 1
        rank = np.arange(n)
        self.bonus = (self.levels - (rank * self.levels) // max(n, 1)).astype(np.float64)

    def of(self, rows: np.ndarray, points: np.ndarray) -> np.ndarray:
        return points.astype(np.float64) * self.k + self.bonus[rows]


def _solve_core(n: int, capacity: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                w: np.ndarray, *, without_pool: bool = False) -> np.ndarray | None:
    """Optimal mentee -> mentor (-1: none) on the given pairs, by sparse LAPJV on slots.

    ``without_pool`` leaves out the "stay in the pool" columns: a solve about a third faster
    (the solver's work grows with the columns), but the solver then matches the smaller side
    fully (every mentee of the core, or every place), and None when the core has no such
    matching. Its answer is the best of those only: ``_core_optimum`` checks it.
    """
    match = np.full(n, -1, np.int64)
    if len(rows) == 0:
        return match
    mentees, r = np.unique(rows, return_inverse=True)
    mentors, c = np.unique(cols, return_inverse=True)
    cap = capacity[mentors]
    first_slot = np.concatenate([[0], np.cumsum(cap)[:-1]])
    n_slots = int(cap.sum())
    rep = cap[c]
    slot_rows = np.repeat(r, rep)
    within = np.arange(len(slot_rows)) - np.repeat(np.cumsum(rep) - rep, rep)
    slot_cols = np.repeat(first_slot[c], rep) + within
    big = float(w.max()) + 1.0  # real pairs cost big - w > 0; staying in the pool costs big
    nr = len(mentees)
    pool = 0 if without_pool else nr
    data = np.concatenate([big - np.repeat(w, rep), np.full(pool, big)])
    graph = sp.csr_array(
        (data, (np.concatenate([slot_rows, np.arange(pool)]),
                np.concatenate([slot_cols, n_slots + np.arange(pool)]))),
        shape=(nr, n_slots + pool))
    try:
        ri, ci = min_weight_full_bipartite_matching(graph)
    except ValueError:  # no full matching: only possible without the pool columns
        if without_pool:
            return None
        raise
    owner = np.repeat(np.arange(len(mentors)), cap)
    real = ci < n_slots
    match[mentees[ri[real]]] = mentors[owner[ci[real]]]
    return match


def _core_optimum(n: int, capacity: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The optimal matching of the core and its potentials (see ``_potentials``).

    The faster solve without the pool columns comes first (its answer is usually optimal).
    Its potentials exist only if no negative cycle remains in its residual network, whose
    arcs include leaving a mentee in the pool or a place free: then it is optimal among all
    matchings of the core. Otherwise the core is solved with the pool columns.
    """
    match = _solve_core(n, capacity, rows, cols, w, without_pool=True)
    if match is not None:
        try:
            return match, *_potentials(n, capacity, rows, cols, w, match,
                                       max_rounds=_FAST_CHECK_ROUNDS)
        except ArithmeticError:  # a smaller matching scores more (or could not tell soon)
            pass
    match = _solve_core(n, capacity, rows, cols, w)
    return match, *_potentials(n, capacity, rows, cols, w, match)


def _potentials(n: int, capacity: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                w: np.ndarray, match: np.ndarray, max_rounds: int | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Shortest-path potentials of the residual network of ``match`` over the given pairs.

    ArithmeticError when that network has a negative cycle (``match`` is not optimal), or
    when Bellman-Ford needs more than ``max_rounds`` rounds to tell.

    Network: s -> mentee (1), mentee -> mentor (1, cost -w), mentor -> t (capacity), t -> s.
    Residual arcs have non-negative reduced cost under these potentials (d_tail + cost >= d_head).
    """
    m = len(capacity)
    s, t, z = n + m, n + m + 1, n + m + 2
    matched = match[rows] == cols
    mentee_in = match >= 0
    load = np.bincount(match[mentee_in], minlength=m)
    mentees, mentors = np.arange(n), np.arange(m)
    free, used = n + mentors[load < capacity], n + mentors[load > 0]
    tails = [np.where(matched, n + cols, rows), np.where(mentee_in, mentees, s),
             free, np.full(len(used), t)]
    heads = [np.where(matched, rows, n + cols), np.where(mentee_in, s, mentees),
             np.full(len(free), t), used]
    costs = [np.where(matched, w, -w), np.zeros(n), np.zeros(len(free)), np.zeros(len(used))]
    tails.append(np.array([t] + ([s] if mentee_in.any() else [])))
    heads.append(np.array([s] + ([t] if mentee_in.any() else [])))
    costs.append(np.zeros(len(tails[-1])))
    tails.append(np.full(n + m + 2, z))  # virtual source: every node at distance <= 0
    heads.append(np.arange(n + m + 2))
    costs.append(np.zeros(n + m + 2))
    d = _shortest_distances(z + 1, np.concatenate(tails), np.concatenate(heads),
                            np.concatenate(costs), source=z, max_rounds=max_rounds)
    return d[:n], d[n:n + m]


def _shortest_distances(n_nodes: int, tails: np.ndarray, heads: np.ndarray, costs: np.ndarray,
                        source: int, max_rounds: int | None = None) -> np.ndarray:
    """Bellman-Ford from ``source`` with negative arc costs, vectorised by frontier.

    Each round relaxes only the arcs leaving nodes whose distance just improved (SciPy's
    ``bellman_ford`` always does |V| full passes: far too slow here). Costs are integers held
    in float64, so distances are exact.
    """
    order = np.argsort(tails, kind="stable")
    tails, heads, costs = tails[order], heads[order], costs[order]
    indptr = np.searchsorted(tails, np.arange(n_nodes + 1))
    dist = np.full(n_nodes, np.inf)
    dist[source] = 0.0
    frontier = np.array([source])
    for _ in range(n_nodes + 1 if max_rounds is None else min(max_rounds, n_nodes + 1)):
        starts, stops = indptr[frontier], indptr[frontier + 1]
        counts = stops - starts
        total = int(counts.sum())
        if total == 0:
            return dist
        arcs = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        cand = dist[tails[arcs]] + costs[arcs]
        head = heads[arcs]
        better = cand < dist[head]
        if not better.any():
            return dist
        head, cand = head[better], cand[better]
        before = dist[head]
        np.minimum.at(dist, head, cand)
        frontier = np.unique(head[dist[head] < before])
    raise ArithmeticError("negative cycle in the residual network (the core was not optimal), "
                          "or more Bellman-Ford rounds than allowed")


def _violations(e: Edges, weights: _Weights, match: np.ndarray, d_mentee: np.ndarray,
                d_mentor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairs whose forward residual arc has a negative reduced cost, in block order.

    Returns (mentee, mentor, points, amount). Block by block and by broadcasting: the slack
    w - (d_i - d_j), with w = points * K + bonus_i, is points * K + d_j - (d_i - bonus_i).
    Rows whose best points in the block cannot beat their potential are not scanned; the
    others are scanned in float32 with a tolerance far above its rounding (half the memory
    traffic), and the candidates it finds are confirmed exactly in float64.
    """
    found = []
    d_rows = d_mentee - weights.bonus + 0.5  # slack > 0.5 <=> this form > 0 (integer costs)
    k = float(weights.k)
    largest = SCALE * k + np.abs(d_rows).max(initial=0.0) + np.abs(d_mentor).max(initial=0.0)
    tolerance = largest * 2.0 ** -18  # float32 rounding here stays below largest * 2**-21
    k32, d_mentor32 = np.float32(k), d_mentor.astype(np.float32)
    d_rows32 = (d_rows - tolerance).astype(np.float32)
    for rows, cols, pts, row_best in e.blocks:
        live = np.flatnonzero(row_best * k + d_mentor[cols].max() > d_rows[rows])
        if len(live) == 0:
            continue
        if len(live) < len(rows):
            rows, pts = rows[live], pts[live]
        near = pts * k32
        near += d_mentor32[cols]
        r, c = np.nonzero(near > d_rows32[rows][:, None])
        slack = pts[r, c] * k + d_mentor[cols[c]] - d_rows[rows[r]]
        # an unacceptable cell is no pair (checked on the few candidates only); a matched
        # pair is no forward arc
        keep = (slack > 0) & (pts[r, c] != _NOT_ACCEPTABLE) & (match[rows[r]] != cols[c])
        r, c = r[keep], c[keep]
        found.append((rows[r], cols[c], pts[r, c], slack[keep] + 0.5))
    if not found:
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0, np.int16), np.empty(0)
    return tuple(np.concatenate(part) for part in zip(*found))  # type: ignore[return-value]


@dataclass
class SolveStats:
    rounds: int = 0
    core_pairs: int = 0
    all_pairs: int = 0
    fallback: bool = False


def optimal_matching(e: Edges, stats: SolveStats | None = None) -> np.ndarray:
    """Mentee index -> mentor index (-1 when unmatched), optimal over every pair of ``e``."""
    stats = stats if stats is not None else SolveStats()
    stats.all_pairs = e.n_pairs
    weights = _Weights(e.n)
    rows = e.seed_rows.astype(np.int64)
    cols = e.seed_cols.astype(np.int64)
    pts = e.seed_points
    match = np.full(e.n, -1, np.int64)
    for stats.rounds in range(1, _MAX_ROUNDS + 1):
        stats.core_pairs = len(rows)
        match, d_mentee, d_mentor = _core_optimum(e.n, e.capacity, rows, cols,
                                                   weights.of(rows, pts))
        if len(rows) == e.n_pairs:
            return match
        bad_rows, bad_cols, bad_pts, amount = _violations(e, weights, match, d_mentee, d_mentor)
        if len(bad_rows) == 0:
            return match
        # the most violated pairs of each mentee join the core (none is in it already: core
        # pairs have a non-negative reduced cost under potentials computed on the core)
        order = np.lexsort((-amount, bad_rows))
        sorted_rows = bad_rows[order]
        starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        join = np.sort(order[rank < _ADD_PER_MENTEE])
        rows = np.concatenate([rows, bad_rows[join]])
        cols = np.concatenate([cols, bad_cols[join]])
        pts = np.concatenate([pts, bad_pts[join]])
    stats.fallback = True
    stats.core_pairs = e.n_pairs
    rows, cols, pts = e.pairs()
    return _solve_core(e.n, e.capacity, rows, cols, weights.of(rows, pts))


def greedy_matching(e: Edges) -> np.ndarray:
    """Best remaining pair first (ties: earlier mentee first), within capacities."""
    match = np.full(e.n, -1, np.int64)
    left = e.capacity.copy()
    all_rows, all_cols, all_points = e.pairs()
    if len(all_rows) == 0:
        return match
    order = np.lexsort((all_rows, -all_points.astype(np.int32)))
    chunk = 1 << 16
    for start in range(0, len(order), chunk):
        idx = order[start:start + chunk]
        rows, cols = all_rows[idx], all_cols[idx]
        alive = (match[rows] < 0) & (left[cols] > 0)
        for i, j in zip(rows[alive].tolist(), cols[alive].tolist()):
            if match[i] < 0 and left[j] > 0:
                match[i] = j
                left[j] -= 1
        if not (left > 0).any() or not (match < 0).any():
            break
    return match


# --- the public functions ------------------------------------------------------------------


def _result(mentees: Sequence[Candidate], mentors: Sequence[Candidate], e: Edges,
            match: np.ndarray, min_pts: int) -> tuple[list[Proposal], list[Unmatched]]:
    proposals = []
    for i in np.flatnonzero(match >= 0).tolist():
        a, b = mentees[i], mentors[int(match[i])]
        breakdown = score(a, b)
        assert breakdown is not None
        proposals.append(Proposal(a.person_id, b.person_id, breakdown))
    unmatched = []
    for i in np.flatnonzero(match < 0).tolist():
        reason = _reason(int(e.best_mentee[i]), int(e.best_mentee_ok[i]), min_pts,
                         "no_mentor_nearby", "no_capacity_left")
        unmatched.append(Unmatched(mentees[i].person_id, Role.mentee, reason,
                                   _message(MENTEE_REASONS, reason, int(e.best_mentee[i]))))
    used = np.zeros(e.m, bool)
    used[match[match >= 0]] = True
    for j in np.flatnonzero(~used & (e.capacity > 0)).tolist():
        reason = _reason(int(e.best_mentor[j]), int(e.best_mentor_ok[j]), min_pts,
                         "no_mentee_nearby", "not_chosen")
        unmatched.append(Unmatched(mentors[j].person_id, Role.mentor, reason,
                                   _message(MENTOR_REASONS, reason, int(e.best_mentor[j]))))
    return proposals, unmatched


def _reason(best: int, best_ok: int, min_pts: int, nobody: str, competition: str) -> str:
    if best < 0:
        return nobody
    if best_ok >= min_pts:
        return competition
    return "all_pairs_excluded" if best >= min_pts else "below_threshold"


def _message(messages: dict[str, str], reason: str, best: int) -> str:
    if reason == "below_threshold":
        return messages[reason] + f" Meilleur score possible : {round(best * 100 / SCALE)} %."
    return messages[reason]


def _run(mentees, mentors, min_score, excluded, solver):
    _check_roles(mentees, mentors)
    min_pts = min_points(min_score)
    e = acceptable_pairs(mentees, mentors, min_pts, excluded)
    return _result(mentees, mentors, e, solver(e), min_pts)


def _check_roles(mentees: Sequence[Candidate], mentors: Sequence[Candidate]) -> None:
    if any(c.role is not Role.mentee for c in mentees) or any(
            c.role is not Role.mentor for c in mentors):
        raise ValueError("assign(mentees, mentors): a candidate is in the wrong list")


def assign(mentees: Sequence[Candidate], mentors: Sequence[Candidate], *,
           min_score: float = 0.35, excluded: frozenset[tuple[UUID, UUID]] = frozenset(),
           ) -> tuple[list[Proposal], list[Unmatched]]:
    """Optimal proposals for a cohort, and everyone left in the pool with the reason.

    Maximises the total score (in points); each mentee at most once, each mentor at most
    ``capacity`` times; pairs in ``excluded`` (mentee_id, mentor_id: ended early before) and
    pairs below ``min_score`` are never proposed. Among optimal assignments, mentees listed
    first are preferred. Mentors left with some free places are not listed as unmatched.
    """
    return _run(mentees, mentors, min_score, excluded, optimal_matching)


def greedy(mentees: Sequence[Candidate], mentors: Sequence[Candidate], *,
           min_score: float = 0.35, excluded: frozenset[tuple[UUID, UUID]] = frozenset(),
           ) -> tuple[list[Proposal], list[Unmatched]]:
    """Baseline for the benchmark: the best remaining pair first, same rules as ``assign``."""
    return _run(mentees, mentors, min_score, excluded, greedy_matching)
