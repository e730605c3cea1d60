"""Run a benchmark on a deliberately saturated machine.

    python bench/loaded.py --burners 2 -- python bench/append.py --no-batch

Issue #17's targets must hold "on a loaded machine", and a shared machine's load comes and
goes. This makes the load reproducible: it starts ``--burners`` processes that each spin a
core in pure Python (at the same priority as the benchmark, so they compete as other
engineers' test suites do), runs the command, stops them, and prints the load average before
and after. With 2 cores, ``--burners 2`` roughly halves what the benchmark gets and brings the
load average to about 4 within a minute; the ratios printed by the benchmark, each against a
ceiling measured in the same run under the same load, are the figures to compare.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time


def _burn() -> None:
    """Spin until killed: one core's worth of competing work."""
    n = 0
    while True:
        n = (n * 1103515245 + 12345) & 0x7FFFFFFF


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Run a benchmark command while N processes keep the CPUs busy.",
        usage="python bench/loaded.py [--burners N] [--warmup S] -- COMMAND [ARGS...]")
    parser.add_argument("--burners", type=int, default=2,
                        help="processes spinning a core each for the whole run (default 2)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of load before the command starts (default 5)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the benchmark to run, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the benchmark command after --, e.g. -- python bench/append.py")

    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burners)]
    print(f"load average before the burners: {_load()}", flush=True)
    for burner in burners:
        burner.start()
    try:
        time.sleep(args.warmup)
        print(f"{args.burners} burners running; load average: {_load()}", flush=True)
        return subprocess.call(command)
    finally:
        for burner in burners:
            burner.terminate()
        for burner in burners:
            burner.join()
        print(f"burners stopped; load average: {_load()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
