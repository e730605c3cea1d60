"""Freshness: how long after intake's 201 an application is counted by the reporting API.

``success up`` on a fresh temporary data directory (embedded PostgreSQL and NATS, the four
services as separate processes, as a user runs them). Then N mentee applications are posted
through intake's HTTP API, spaced (``--spacing``, 200 ms by default: an idle stack, not a
load test), and after each 201 the reporting API (``GET /reports/cohorts``, analyst token) is
polled until the application is counted. The latency is from the 201 received to the first
answer counting it; the poll's own resolution (``--poll``, plus one GET) is included.

    python bench/freshness.py [--applications 100] [--spacing 0.2] [--poll 0.005]

Prints p50 / p95 / p99 / max, with two parts of it: from intake's commit to reporting's
(``recorded_at`` of intake's event to ``processed_at`` in reporting's ``processed_events``,
both written by the same machine's clock), and one read of the report; and the machine's
load average, before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import _common  # noqa: F401  (sys.path, log settings)
import asyncpg
import httpx
from _common import print_table

from services.common.stack import StackState
from services.common.store import raw_database_url

TARGET_P99_MS = 100.0
MENTEE = {
    "first_name": "Zoé", "last_name": "Kerhervé", "email": "zoe@example.org",
    "birth_date": "2003-02-01", "postcode": "29200", "channel": "mission_locale",
    "sector_interests": ["environment_ecology"], "availability": ["weekday_evening"],
    "consent_data_processing": True,
}


def unique_mentee() -> dict:
    tag = uuid.uuid4().hex[:10]
    return {**MENTEE, "email": f"jeune-{tag}@example.org", "last_name": f"Nom{tag}"}


def _env() -> dict[str, str]:
    """Our own stack only: no SUCCESS_* of the caller's shell (a configured server, say)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    # One address posts every application: no per-address limit on the public forms here.
    return {**env, "SUCCESS_LOG_JSON": "true", "SUCCESS_LOG_LEVEL": "WARNING",
            "SUCCESS_PUBLIC_RATE_PER_MINUTE": "0"}


def start_stack(data_dir: Path) -> tuple[subprocess.Popen, StackState]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir), "--fresh"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
    for line in process.stdout:  # type: ignore[union-attr]
        if line.startswith("READY"):
            break
    else:
        raise SystemExit(f"success up exited with {process.wait()} before being ready")
    state = StackState.read(data_dir)
    assert state is not None
    return process, state


def analyst_token(data_dir: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "token", "--role", "analyst", "--subject",
         "bench-freshness", "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=True, env=_env()).stdout.strip()


READS_MS: list[float] = []  # how long each read of the report took


def counted(client: httpx.Client, reporting: str, headers: dict[str, str]) -> int:
    started = time.perf_counter()
    answer = client.get(f"{reporting}/reports/cohorts", headers=headers)
    answer.raise_for_status()
    READS_MS.append((time.perf_counter() - started) * 1000)
    return answer.json()["totals"]["applications_mentees"]


async def commit_to_handled_ms(database_url: str, last: int) -> list[float]:
    """Of the ``last`` applications: from intake's commit to reporting's, in ms."""
    conn = await asyncpg.connect(raw_database_url(database_url))
    try:
        rows = await conn.fetch(
            """SELECT extract(epoch FROM p.processed_at - e.recorded_at) * 1000 AS ms
               FROM intake.events e JOIN reporting.processed_events p
                 ON p.event_id = e.event_id AND p.consumer = 'reporting-archive'
               WHERE e.type = 'ApplicationReceived' ORDER BY e.position DESC LIMIT $1""", last)
        return [float(r["ms"]) for r in rows]
    finally:
        await conn.close()


def measure(args: argparse.Namespace, state: StackState, token: str) -> list[float]:
    intake, reporting = state.services["intake"], state.services["reporting"]
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    with httpx.Client(timeout=10) as client:
        already = counted(client, reporting, headers)
        for i in range(args.applications):
            started = time.perf_counter()
            answer = client.post(f"{intake}/applications/mentee", json=unique_mentee())
            if answer.status_code != 201:
                raise SystemExit(f"intake answered {answer.status_code}: {answer.text}")
            created = time.perf_counter()
            while counted(client, reporting, headers) < already + i + 1:
                if time.perf_counter() - created > args.timeout:
                    raise SystemExit(f"application {i + 1} not counted after {args.timeout} s")
                time.sleep(args.poll)
            latencies.append((time.perf_counter() - created) * 1000)
            time.sleep(max(0.0, args.spacing - (time.perf_counter() - started)))
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _summary(values: list[float]) -> list[float]:
    return [min(values), percentile(values, 50), percentile(values, 95), percentile(values, 99),
            max(values), statistics.fmean(values)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.2,
                        help="seconds from one application to the next (default 0.2)")
    parser.add_argument("--poll", type=float, default=0.005,
                        help="seconds between two reads of the report (default 0.005)")
    parser.add_argument("--warm-up", type=int, default=5,
                        help="applications posted first and not counted (default 5)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds an application may take to be counted (default 30)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="success-freshness-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    process, state = start_stack(data_dir)
    print(f"stack up in {time.perf_counter() - started:.1f} s (data in {data_dir})", flush=True)
    try:
        token = analyst_token(data_dir)
        warm = argparse.Namespace(**{**vars(args), "applications": args.warm_up})
        measure(warm, state, token)  # connections, caches, prepared statements
        READS_MS.clear()
        latencies = measure(args, state, token)
        pipeline = asyncio.run(commit_to_handled_ms(state.database_url, len(latencies)))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    load_after = os.getloadavg()
    p99 = percentile(latencies, 99)
    print_table(
        f"Freshness ({len(latencies)} mentee applications, {args.spacing * 1000:.0f} ms "
        f"apart, report read every {args.poll * 1000:.0f} ms; ms)",
        ["", "min", "p50", "p95", "p99", "max", "mean", f"p99 < {TARGET_P99_MS:.0f} ms"],
        [["201 -> counted by GET /reports/cohorts", *_summary(latencies),
          "OK" if p99 < TARGET_P99_MS else "ABOVE"],
         ["  of which intake commit -> reporting commit", *_summary(pipeline), ""],
         ["  one read of the report", *_summary(READS_MS), ""]])
    print("load average (1, 5, 15 min): before " + ", ".join(f"{x:.2f}" for x in load_before)
          + "; after " + ", ".join(f"{x:.2f}" for x in load_after))


if __name__ == "__main__":
    main()
