"""Benchmark of the cohort assignment on synthetic, realistic cohorts (pure CPU, no servers).

For each size N (N mentees x N mentors, mentors of capacity 1-3), in a fresh subprocess so that
peak memory is the size's own:

- ``assign()`` end to end (vectorised scoring of the geographically possible pairs, sparse core,
  exact solve, optimality certificate over every acceptable pair, proposals with their
  ``ScoreBreakdown`` and the unmatched with their reasons), split into scoring / solving;
- peak RSS of the process (``ru_maxrss``) and its growth over the RSS before the run;
- the total score against the exact optimum computed by an *independent* solver, SciPy's dense
  ``linear_sum_assignment`` on the mentees x capacity-slots matrix of the same points (only up
  to ``--dense-max``: the dense matrix is 8 bytes x N x slots), and otherwise against the
  certificate (LP-dual check of every pair; same code as ``assign``, so not independent);
- the greedy baseline (best remaining pair first) measured in the same run.

Synthetic cohorts: départements drawn with population weights within a few regions (default
IDF, BRE, ARA: one cohort spanning them, so remote pairs cross regions), remote_ok 35 % of
mentees and 25 % of mentors, 1-4 sectors each with uneven popularity, 1-3 availability slots,
0-3 aspirations per mentee, one job family per mentor, capacities 1/2/3 with weights .5/.3/.2.

    . /tmp/venv/bin/activate
    python bench/matching.py                      # 1k, 5k, 10k: about a minute
    python bench/matching.py --mentor-ratio 0.4 --min-score 0.5   # scarce places
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from uuid import UUID

import numpy as np

from events.geography import departements_of
from events.vocabulary import AvailabilitySlot, JobFamily, Role, Sector

# Approximate populations (thousands, 2021) of the départements used by default.
POPULATION = {
    "75": 2133, "77": 1436, "78": 1454, "91": 1316, "92": 1638, "93": 1678, "94": 1426,
    "95": 1267, "22": 602, "29": 920, "35": 1111, "56": 763, "01": 663, "03": 335, "07": 330,
    "15": 144, "26": 520, "38": 1286, "42": 766, "43": 228, "63": 666, "69": 1891, "73": 439,
    "74": 840,
}
SECTOR_WEIGHTS = [9, 6, 8, 6, 4, 7, 8, 4, 2, 4, 2, 3]  # in Sector order
JOB_WEIGHTS = [8, 5, 7, 5, 4, 3, 4, 3, 2]  # in JobFamily order
SLOT_WEIGHTS = [3, 6, 4]  # weekday daytime, weekday evening, weekend


def synthetic_cohort(n_mentees: int, n_mentors: int, regions: list[str], seed: int):
    from services.matching.scoring import Candidate

    rng = random.Random(seed)
    deps = [d for r in regions for d in departements_of(r)]
    dep_w = [POPULATION.get(d, 500) for d in deps]
    region_of = {d: r for r in regions for d in departements_of(r)}
    sectors, jobs, slots = list(Sector), list(JobFamily), list(AvailabilitySlot)

    def some(values, weights, lo, hi):
        k = rng.randint(lo, hi)
        out: set = set()
        while len(out) < k:
            out.add(rng.choices(values, weights)[0])
        return frozenset(out)

    def person(role: Role) -> Candidate:
        dep = rng.choices(deps, dep_w)[0]
        mentee = role is Role.mentee
        return Candidate(
            person_id=UUID(int=rng.getrandbits(128)), role=role, region=region_of[dep],
            departement=dep, sectors=some(sectors, SECTOR_WEIGHTS, 1, 4),
            availability=some(slots, SLOT_WEIGHTS, 1, 3),
            remote_ok=rng.random() < (0.35 if mentee else 0.25),
            aspirations=some(jobs, JOB_WEIGHTS, 0, 3) if mentee else frozenset(),
            job_family=None if mentee else rng.choices(jobs, JOB_WEIGHTS)[0],
            capacity=1 if mentee else rng.choices([1, 2, 3], [5, 3, 2])[0])

    return ([person(Role.mentee) for _ in range(n_mentees)],
            [person(Role.mentor) for _ in range(n_mentors)])


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _points_of(proposals, mentees, mentors) -> int:
    from services.matching.scoring import score_points

    by_id = {c.person_id: c for c in [*mentees, *mentors]}
    return sum(score_points(by_id[p.mentee_id], by_id[p.mentor_id]) for p in proposals)


def run_one(n: int, args) -> dict:
    """One size, in this (fresh) process."""
    from scipy.optimize import linear_sum_assignment

    from services.matching import assignment as A
    from services.matching.scoring import SCALE, points_matrix

    mentees, mentors = synthetic_cohort(n, round(n * args.mentor_ratio), args.regions,
                                        args.seed + n)
    slots = sum(c.capacity for c in mentors)
    rss_before = _rss_mib()
    min_pts = A.min_points(args.min_score)

    # assign() end to end, with its two phases timed separately on the side
    t0, c0 = time.perf_counter(), time.process_time()
    proposals, unmatched = A.assign(mentees, mentors, min_score=args.min_score)
    t_assign, c_assign = time.perf_counter() - t0, time.process_time() - c0
    peak_assign = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    edges = A.acceptable_pairs(mentees, mentors, min_pts, frozenset())
    t_score = time.perf_counter() - t0
    stats = A.SolveStats()
    t0 = time.perf_counter()
    A.optimal_matching(edges, stats)
    t_solve = time.perf_counter() - t0
    del edges

    ours = _points_of(proposals, mentees, mentors)
    t0 = time.perf_counter()
    g_props, _ = A.greedy(mentees, mentors, min_score=args.min_score)
    t_greedy = time.perf_counter() - t0
    greedy_pts = _points_of(g_props, mentees, mentors)

    exact, exact_how, t_exact, t_lsa, c_lsa = None, "certificate (same code)", None, None, None
    if n <= args.dense_max:
        t0 = time.perf_counter()
        pts = points_matrix(mentees, mentors)
        pts[pts < min_pts] = 0  # impossible or below threshold: worth nothing, never chosen
        owner = np.repeat(np.arange(len(mentors)), [c.capacity for c in mentors])
        cost = np.empty((len(mentees), len(owner)), dtype=np.float64)
        for start in range(0, len(mentees), 1000):  # no full-size temporaries
            np.negative(pts[start:start + 1000][:, owner], out=cost[start:start + 1000],
                        casting="unsafe")
        t1, c1 = time.perf_counter(), time.process_time()
        r, c = linear_sum_assignment(cost)
        t_lsa, c_lsa = time.perf_counter() - t1, time.process_time() - c1
        exact = -int(cost[r, c].sum())
        del cost, pts
        t_exact = time.perf_counter() - t0
        exact_how = "dense linear_sum_assignment"
    by_role = {Role.mentee: 0, Role.mentor: 0}
    reasons: dict[str, int] = {}
    for u in unmatched:
        by_role[u.role] += 1
        if u.role is Role.mentee:
            reasons[u.reason] = reasons.get(u.reason, 0) + 1
    return {
        "n": n, "slots": slots, "pairs": stats.all_pairs, "core": stats.core_pairs,
        "rounds": stats.rounds, "fallback": stats.fallback,
        "t_assign": t_assign, "t_score": t_score, "t_solve": t_solve, "t_greedy": t_greedy,
        "t_exact": t_exact, "t_lsa": t_lsa, "c_assign": c_assign, "c_lsa": c_lsa,
        "rss_before": rss_before, "peak": peak_assign,
        "ours": ours / SCALE, "exact": None if exact is None else exact / SCALE,
        "exact_equal": None if exact is None else exact == ours, "exact_how": exact_how,
        "greedy": greedy_pts / SCALE, "matched": len(proposals), "greedy_matched": len(g_props),
        "unmatched_mentees": by_role[Role.mentee], "unmatched_mentors": by_role[Role.mentor],
        "reasons": reasons,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1000, 5000, 10000],
                        help="N values, for N mentees x N mentors (default 1000,5000,10000)")
    parser.add_argument("--regions", type=lambda s: s.split(","), default=["IDF", "BRE", "ARA"],
                        help="comma-separated region codes the cohort spans (default IDF,BRE,ARA)")
    parser.add_argument("--min-score", type=float, default=0.35, help="threshold (default 0.35)")
    parser.add_argument("--dense-max", type=int, default=10000,
                        help="largest N checked by the independent dense solver (default 10000: "
                             "about 6 s and 2 GiB at 10k, after assign's peak is recorded)")
    parser.add_argument("--mentor-ratio", type=float, default=1.0,
                        help="mentors per mentee (default 1: N x N; below ~0.6 places are scarce)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size
    args = parser.parse_args()

    if args.one is not None:
        print(json.dumps(run_one(args.one, args)))
        return

    print(f"cohorts over {','.join(args.regions)}, {args.mentor_ratio:g} mentor per mentee, "
          f"min_score {args.min_score}, "
          f"{os.cpu_count()} CPUs, load average {_load()}; times in s, memory in MiB")
    head = (f"{'N':>6} {'slots':>6} {'pairs':>10} {'core':>8} {'rnd':>3} {'assign':>7} "
            f"{'score':>6} {'solve':>6} {'peakRSS':>8} {'+RSS':>6} {'total':>10} "
            f"{'exact':>10} {'greedy':>10} {'greedy%':>8} {'matched':>7} {'greedy_m':>8} "
            f"{'t_greedy':>8} {'t_exact':>7} {'t_lsa':>6} {'ratio':>5} {'cpu_ratio':>9}")
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--regions", ",".join(args.regions),
               "--min-score", str(args.min_score), "--dense-max", str(args.dense_max),
               "--seed", str(args.seed), "--mentor-ratio", str(args.mentor_ratio)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(head)
    for r in rows:
        exact = f"{r['exact']:.4f}" if r["exact"] is not None else "certified"
        t_exact = f"{r['t_exact']:.1f}" if r["t_exact"] is not None else "-"
        t_lsa = f"{r['t_lsa']:.2f}" if r["t_lsa"] is not None else "-"
        ratio = f"{r['t_assign'] / r['t_lsa']:.2f}" if r["t_lsa"] else "-"
        cpu_ratio = (f"{r['c_assign']:.1f}/{r['c_lsa']:.1f}={r['c_assign'] / r['c_lsa']:.2f}"
                     if r["c_lsa"] else "-")
        print(f"{r['n']:>6} {r['slots']:>6} {r['pairs']:>10} {r['core']:>8} {r['rounds']:>3} "
              f"{r['t_assign']:>7.2f} {r['t_score']:>6.2f} {r['t_solve']:>6.2f} "
              f"{r['peak']:>8.0f} {r['peak'] - r['rss_before']:>6.0f} {r['ours']:>10.4f} "
              f"{exact:>10} {r['greedy']:>10.4f} "
              f"{100 * (r['greedy'] / r['ours'] - 1) if r['ours'] else 0:>+7.2f}% "
              f"{r['matched']:>7} {r['greedy_matched']:>8} {r['t_greedy']:>8.2f} {t_exact:>7} "
              f"{t_lsa:>6} {ratio:>5} {cpu_ratio:>9}")
    print("pairs: acceptable pairs (geography possible, score >= min_score); core: pairs in the "
          "sparse core at the end; rnd: solve+certificate rounds; assign: end to end, = score "
          "(acceptable pairs) + solve (core, certificate) + proposals; peakRSS/+RSS: after "
          "assign, before the checks; total/exact/greedy: sums of scores; t_exact: dense matrix + "
          "linear_sum_assignment; t_lsa: the bare linear_sum_assignment call alone (the "
          "ceiling); ratio: assign / t_lsa (target <= 1.5 at 10k); cpu_ratio: the same in "
          "CPU seconds of the process (steadier than wall time on a shared machine)")
    print(f"load average after the run: {_load()}")
    print()
    for r in rows:
        check = ("equal to the independent exact optimum" if r["exact_equal"]
                 else "DIFFERS from the exact optimum" if r["exact_equal"] is False
                 else "optimal by the dual certificate (no independent check at this size)")
        print(f"N={r['n']}: {check}; unmatched mentees by reason {r['reasons']}, "
              f"unmatched mentors {r['unmatched_mentors']}"
              + ("; solved on the whole edge set (fallback)" if r["fallback"] else ""))


if __name__ == "__main__":
    main()
