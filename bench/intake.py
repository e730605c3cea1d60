"""Accepted mentee applications per second through intake's HTTP API, against a ceiling
measured in the same run.

- ours: intake as ``success serve intake`` runs it (the same ``ServiceRuntime`` app, uvicorn
  with the same settings, its relay publishing to NATS), in its own process; the public
  forms' per-address limit is off (every request comes from one address here);
- ceiling: a bare FastAPI app in its own process under the same uvicorn settings, validating
  the same JSON body with the same pydantic model (``MenteeApplication``) and inserting one
  row with asyncpg (a pool of the same size as ours) per request.

The load comes from another process: ``--concurrency`` (32) clients posting unique applicants
(a new e-mail and name each time, so every one is accepted) as fast as answers come back.
Ours and the ceiling alternate which goes first; best of ``--repeat``. CPU per accepted
application of the server process and of PostgreSQL says where the time goes.

Then, unless ``--no-profile``, intake runs once more under cProfile, and the time of each
step of a submission is printed (e-mail validation, vault encryption, blind indexes and
duplicate check, region settings and counts, the one statement that records it), with the
functions that cost most.

    python bench/intake.py [--requests 2000] [--concurrency 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import _common  # noqa: F401  (sys.path, log settings)
import psutil
from _common import create_database, peak_rss_mb, print_table, quiet_logs, servers, verdict

from fastapi.responses import JSONResponse

from events import Service
from services.common.store import raw_database_url
from services.intake.api import MenteeApplication  # the ceiling validates the same body

TARGET = 0.5
MENTEE = {
    "first_name": "Zoé", "last_name": "Kerhervé", "email": "zoe@example.org",
    "birth_date": "2003-02-01", "postcode": "29200", "channel": "mission_locale",
    "sector_interests": ["environment_ecology"], "availability": ["weekday_evening"],
    "consent_data_processing": True,
}
CEILING_TABLE = "bench_ceiling.applications"
# What each step of a submission is, as functions of the profile (cumulative time).
STEPS = [
    ("whole request (ASGI app, middlewares included)", "fastapi/applications.py", "__call__"),
    ("body validation (pydantic, e-mail included)", "fastapi/dependencies/utils.py",
     "request_body_to_args"),
    ("  e-mail validation", "services/common/validation.py", "_email"),
    ("Intake.submit (one statement)", "services/intake/workflow.py", "submit"),
    ("  lookup keys (HMAC of the normalised values)", "services/intake/vault.py",
     "blind_index"),
    ("  vault record: key wrap and encryption", "services/intake/vault.py", "claiming_writes"),
    ("  region settings (read at most once a second)", "services/intake/workflow.py",
     "region_settings"),
    ("  routing inputs (settings, routed counts)", "services/intake/workflow.py",
     "_routing_inputs"),
    ("  the statement: events, list row, vault, lookup keys", "services/common/store.py",
     "append"),
    ("outbox relay: read, publish, checkpoint", "services/common/relay.py", "publish_once"),
    ("SQLAlchemy execute (all statements)", "sqlalchemy/ext/asyncio/engine.py", "execute"),
]


def unique_mentee() -> dict:
    tag = uuid.uuid4().hex[:12]
    return {**MENTEE, "email": f"jeune-{tag}@example.org", "last_name": f"Nom{tag}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the servers (each in its own process) ---------------------------------------------------


def serve_intake(port: int, profile: str | None) -> None:
    """``success serve intake`` itself, optionally under cProfile (dumped when it stops)."""
    from services.cli import serve

    # CPU time, not wall time: on a busy machine a function waiting for its turn on a core
    # (a socket send that wakes PostgreSQL) would otherwise look costly.
    profiler = cProfile.Profile(time.process_time) if profile else None
    if profiler:
        # uvicorn raises SIGTERM again once it has shut down: end in the finally below.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        profiler.enable()
    try:
        serve(Service.intake, host="127.0.0.1", port=port)
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)


def serve_ceiling(port: int, database_url: str) -> None:
    """A bare FastAPI endpoint: the same body model, one asyncpg INSERT, same uvicorn."""
    from contextlib import asynccontextmanager

    import asyncpg
    import uvicorn
    from fastapi import FastAPI

    pool: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app):
        pool["db"] = await asyncpg.create_pool(raw_database_url(database_url), min_size=10,
                                               max_size=10)
        yield
        await pool["db"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/applications/mentee", status_code=201)
    async def apply(form: MenteeApplication) -> JSONResponse:
        application_id = uuid.uuid4()
        await pool["db"].execute(
            f"INSERT INTO {CEILING_TABLE} (application_id, body) VALUES ($1, $2::jsonb)",
            application_id, form.model_dump_json())
        return JSONResponse(status_code=201, content={"application_id": str(application_id),
                                                      "status": "routed"})

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=20)


# --- the load (its own process) ----------------------------------------------------------------


async def load(url: str, concurrency: int, requests: int, warmup: int) -> dict:
    import httpx

    bodies = [json.dumps(unique_mentee()).encode() for _ in range(requests + warmup)]
    statuses: dict[int | str, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}

    async def phase(queue: list[bytes], count: bool) -> float:
        # A client per phase: a connection left idle between phases may be closed by the
        # server's keep-alive timeout just as it is reused.
        async with httpx.AsyncClient(limits=limits, timeout=120) as client:

            async def worker() -> None:
                while queue:
                    body = queue.pop()
                    for _attempt in range(5):
                        try:
                            answer = await client.post(url, content=body, headers=headers)
                            break
                        except httpx.TransportError:  # a reset connection: the same again
                            statuses["resent"] = statuses.get("resent", 0) + 1
                    else:
                        raise RuntimeError(f"{url}: 5 connection errors in a row")
                    if count:
                        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - started

    await phase(bodies[:warmup], False)
    seconds = await phase(bodies[warmup:], True)
    return {"seconds": seconds, "statuses": statuses}


# --- the measurement -------------------------------------------------------------------------


def _env(database_url: str, nats_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    return {**env, "SUCCESS_DATABASE_URL": database_url, "SUCCESS_NATS_URL": nats_url,
            "SUCCESS_VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "SUCCESS_AUTH_SECRET": uuid.uuid4().hex * 2, "SUCCESS_LOG_JSON": "true",
            "SUCCESS_LOG_LEVEL": "WARNING", "SUCCESS_PUBLIC_RATE_PER_MINUTE": "0"}


def start(kind: str, port: int, env: dict[str, str], profile: str | None = None
          ) -> subprocess.Popen:
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    if profile:
        command += ["--profile-path", profile]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the {kind} server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the {kind} server did not answer in 120 s")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(process: psutil.Process) -> float:
    """CPU of a process and its children, those that exited included (PostgreSQL's backends
    of closed connections: their time moves to the postmaster's children_* once reaped)."""
    own = process.cpu_times()
    total = own.children_user + own.children_system
    for proc in [process, *process.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_load(url: str, args: argparse.Namespace, requests: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--load", url, "--concurrency", str(args.concurrency),
         "--requests", str(requests), "--warmup", str(args.warmup)],
        capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the load client failed on {url}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_one(kind: str, env: dict[str, str], pg: psutil.Process,
                args: argparse.Namespace) -> tuple[float, float, float, dict]:
    port = free_port()
    process = start(kind, port, env)
    try:
        server = psutil.Process(process.pid)
        c0, s0 = cpu_seconds(server), cpu_seconds(pg)
        result = run_load(f"http://127.0.0.1:{port}/applications/mentee", args, args.requests)
        c1, s1 = cpu_seconds(server), cpu_seconds(pg)
    finally:
        stop(process)
    statuses = result["statuses"]
    # A request resent after a reset connection may have been taken the first time: intake
    # then answers 200 (the same applicant), which still counts as one accepted application.
    accepted = statuses.get("201", 0) + statuses.get("200", 0)
    if accepted != args.requests or set(statuses) - {"201", "200", "resent"}:
        raise SystemExit(f"{kind}: {statuses} (expected {args.requests} x 201)")
    if statuses.get("resent"):
        print(f"  {kind}: {statuses['resent']} requests resent after a reset connection",
              flush=True)
    return (accepted / result["seconds"], (c1 - c0) / accepted * 1e3,
            (s1 - s0) / accepted * 1e3, result)


def profile_intake(env: dict[str, str], args: argparse.Namespace) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "intake.prof")
        process = start("intake", port, env, profile=out)
        try:
            run_load(f"http://127.0.0.1:{port}/applications/mentee", args, args.profile_requests)
        finally:
            stop(process)
        stats = pstats.Stats(out)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in entries.values())
    n = args.profile_requests + args.warmup
    rows = []
    for label, path, name in STEPS:
        cumulative = sum(ct for (file, _line, fn), (_cc, _nc, _tt, ct, _callers)
                         in entries.items() if file.endswith(path) and fn == name)
        rows.append([label, cumulative / n * 1e6, cumulative / total * 100])
    print_table(f"Where intake's time goes (cProfile, {n} applications, CPU µs per application "
                "and % of the process's profiled time; nested rows are part of the row above)",
                ["step", "µs/app", "% of process"], rows)
    print("\nmost expensive functions (own time):")
    stats.sort_stats("tottime").print_stats(20)


async def prepare_ceiling(database_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(raw_database_url(database_url))
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_ceiling")
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {CEILING_TABLE} "
                           "(application_id uuid PRIMARY KEY, body jsonb NOT NULL, "
                           "created_at timestamptz NOT NULL DEFAULT now())")
    finally:
        await conn.close()


def measure(args: argparse.Namespace) -> None:
    quiet_logs()
    print("load average before:", " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    with servers(keep=args.keep) as (pg, ns):
        url = asyncio.run(create_database(pg, [Service.intake]))
        asyncio.run(prepare_ceiling(url))
        env = _env(url, ns.url)
        pg_process = psutil.Process(pg.process.pid)
        results: dict[str, tuple] = {}
        order = ["intake", "ceiling"]
        for _ in range(args.repeat):
            for kind in order:
                r = measure_one(kind, env, pg_process, args)
                print(f"  {kind}: {r[0]:,.0f} accepted/s", flush=True)
                if kind not in results or r[0] > results[kind][0]:
                    results[kind] = r  # best of the repeats
            order.reverse()
        ours, ceiling = results["intake"], results["ceiling"]
        ratio = ours[0] / ceiling[0]
        print_table(
            f"Accepted mentee applications/s through HTTP (concurrency {args.concurrency}, "
            f"{args.requests} unique applicants per measurement, best of {args.repeat})",
            ["server", "accepted/s", "x ceiling", "target", "server CPU ms/app",
             "pg CPU ms/app"],
            [["intake (success serve intake)", ours[0], ratio,
              f">= {TARGET} {verdict(ratio, TARGET)}", ours[1], ours[2]],
             ["ceiling (FastAPI + pydantic + 1 asyncpg INSERT)", ceiling[0], 1.0, "",
              ceiling[1], ceiling[2]]])
        print(f"ratio intake/ceiling: {ratio:.2f}")
        if args.profile:
            profile_intake(env, args)
    print("load average after:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"peak RSS (this process): {peak_rss_mb():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Accepted mentee applications/s through intake's HTTP API vs a bare "
        "FastAPI + asyncpg endpoint, on private durable PostgreSQL/NATS servers.")
    parser.add_argument("--requests", type=int, default=2000,
                        help="accepted applications per measurement (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients (default 32)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="untimed applications before each measurement (default 100)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measurements of each, best kept; they alternate (default 3: on a "
                        "machine whose load comes and goes, each side more likely meets a "
                        "calm spell)")
    parser.add_argument("--profile-requests", type=int, default=1000,
                        help="applications posted while profiling (default 1000)")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="skip the profile of intake")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data directory")
    # Internal: the server and load processes this script starts.
    parser.add_argument("--serve", choices=["intake", "ceiling"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--profile-path", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.serve == "intake":
        serve_intake(args.port, args.profile_path)
    elif args.serve == "ceiling":
        serve_ceiling(args.port, os.environ["SUCCESS_DATABASE_URL"])
    elif args.load:
        print(json.dumps(asyncio.run(load(args.load, args.concurrency, args.requests,
                                          args.warmup))))
    else:
        started = time.perf_counter()
        measure(args)
        print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
