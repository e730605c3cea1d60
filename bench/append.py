"""Append throughput of EventStore.append against its ceiling, raw asyncpg, in the same run.

For each concurrency level (1, 8, 32 writers by default) and each case:

- ours: ``EventStore.append`` (SQLAlchemy 2 async + asyncpg, pool sized to the writer count),
  every writer appending to its own streams with expected versions tracked locally (no
  conflicts), one append = one transaction;
- raw: asyncpg alone, one connection per writer, inserting the same rows (same columns, same
  JSON payload) into ``raw.events``, a copy of the events table (``LIKE ... INCLUDING ALL``:
  identity position, unique event_id, unique (stream, stream_version), xid8 tx_id default
  pg_current_xact_id(), jsonb data, same indexes); single: one INSERT per transaction,
  batch: ``executemany`` of the rows in one transaction.

Both tables are truncated and checkpointed before each measurement. A measurement cuts the
appends into ``--slices`` slices and runs ours and raw slice by slice (ours, raw, raw, ours,
...), summing each side's time: a swing of the machine's load lasting seconds hits both sides
alike; best of ``--repeat`` measurements each. Client and server CPU per event
show where the time goes; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from datetime import UTC, datetime
from uuid import uuid4

import _common  # noqa: F401  (sys.path, log settings)
import asyncpg
import psutil
from _common import (
    cohort_opened,
    create_database,
    metadata,
    peak_rss_mb,
    pg_settings,
    print_table,
    quiet_logs,
    servers,
    verdict,
)

from events import Service
from services.common.store import EventStore, raw_database_url

SCHEMA = "matching"  # any service schema: only its events table is used
TARGET = 0.5
COLUMNS = (
    "event_id, type, schema_version, stream, stream_version, region, occurred_at, "
    "recorded_at, correlation_id, causation_id, actor, data"
)
RAW_INSERT = (
    f"INSERT INTO raw.events ({COLUMNS}) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)"
)


class CpuMeter:
    """CPU seconds (user + system) of this process and of the PostgreSQL process tree."""

    def __init__(self, pg_pid: int) -> None:
        self.pg = psutil.Process(pg_pid)
        self.me = psutil.Process()

    def _server(self) -> float:
        total = 0.0
        for proc in [self.pg, *self.pg.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def sample(self) -> tuple[float, float]:
        t = self.me.cpu_times()
        return t.user + t.system, self._server()


async def prepare(url: str) -> asyncpg.Connection:
    admin = await asyncpg.connect(raw_database_url(url))
    await admin.execute("CREATE SCHEMA IF NOT EXISTS raw")
    await admin.execute(f"CREATE TABLE raw.events (LIKE {SCHEMA}.events INCLUDING ALL)")
    return admin


async def describe(admin: asyncpg.Connection, schema: str) -> list[str]:
    """Index shapes of ``<schema>.events`` (names and schema left out), to compare copies."""
    rows = await admin.fetch(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events'", schema)
    columns = await admin.fetch(
        "SELECT column_name, data_type, is_nullable, column_default, is_identity, "
        "identity_generation FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = 'events' ORDER BY ordinal_position", schema)
    return [*(str(tuple(c)) for c in columns),
            *sorted(re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+", r"\1", r["indexdef"])
                    for r in rows)]


async def reset(admin: asyncpg.Connection) -> None:
    await admin.execute(f"TRUNCATE {SCHEMA}.events, raw.events RESTART IDENTITY")
    await admin.execute("CHECKPOINT")


def split(total: int, writers: int, batch: int) -> int:
    """Appends per writer so that writers * appends * batch ~= total."""
    return max(1, round(total / writers / batch))


class Side:
    """One way of appending, set up once per measurement, then run slice by slice."""

    name = ""

    async def open(self, url: str, writers: int, batch: int, streams: int) -> None: ...

    async def writer(self, w: int, count: int, tag: str) -> None: ...

    async def close(self) -> None: ...

    async def run(self, writers: int, count: int, tag: str) -> None:
        await asyncio.gather(*(self.writer(w, count, tag) for w in range(writers)))


class Ours(Side):
    """``EventStore.append``: every writer appends to its own streams, expected versions
    tracked locally (no conflicts), one append = one transaction."""

    name = "ours"

    async def open(self, url: str, writers: int, batch: int, streams: int) -> None:
        self.store = EventStore.connect(url, SCHEMA, pool_size=writers)
        self.run_id, self.batch, self.streams = uuid4().hex[:8], batch, streams
        self.events = [cohort_opened(i + 1) for i in range(batch)]

    async def writer(self, w: int, count: int, tag: str) -> None:
        md = metadata()
        versions = [0] * self.streams
        for i in range(count):
            k = i % self.streams
            await self.store.append(f"{self.run_id}-{tag}-w{w}-s{k}", versions[k], self.events, md)
            versions[k] += self.batch

    async def close(self) -> None:
        await self.store.dispose()


class Raw(Side):
    """asyncpg alone, one connection per writer, the same rows into ``raw.events``."""

    name = "raw"

    async def open(self, url: str, writers: int, batch: int, streams: int) -> None:
        self.pool = await asyncpg.create_pool(raw_database_url(url), min_size=writers,
                                              max_size=writers)
        self.run_id, self.batch, self.streams = uuid4().hex[:8], batch, streams
        self.events = [cohort_opened(i + 1) for i in range(batch)]
        self.payloads = [e.model_dump_json() for e in self.events]

    async def writer(self, w: int, count: int, tag: str) -> None:
        md = metadata()
        versions = [0] * self.streams
        async with self.pool.acquire() as conn:  # one connection per writer for the slice
            for i in range(count):
                k = i % self.streams
                stream = f"{self.run_id}-{tag}-w{w}-s{k}"
                now = datetime.now(UTC)
                rows = [
                    (uuid4(), e.event_type, e.schema_version, stream, versions[k] + j + 1,
                     md.region, now, now, md.correlation_id, md.causation_id, md.actor,
                     self.payloads[j])
                    for j, e in enumerate(self.events)
                ]
                if self.batch == 1:
                    await conn.execute(RAW_INSERT, *rows[0])  # autocommit: one row, one tx
                else:
                    async with conn.transaction():
                        await conn.executemany(RAW_INSERT, rows)
                versions[k] += self.batch

    async def close(self) -> None:
        await self.pool.close()


async def paired(url: str, writers: int, appends: int, batch: int, args: argparse.Namespace,
                 cpu: CpuMeter, flip: bool) -> dict[str, tuple[float, float, float, int]]:
    """Ours and raw in alternating slices of the same size (ours, raw, raw, ours, ...; who
    starts alternates between measurements), each side's time and CPU summed over its
    slices: a swing of the machine's load lasting seconds then hits both sides alike, where
    two long runs one after the other would each see a different machine. Warmed up untimed
    first (pooled connections, prepared statements, pydantic). Returns, per side, (events/s,
    client CPU µs/event, PostgreSQL CPU µs/event, events)."""
    sides = [Ours(), Raw()]
    if flip:
        sides.reverse()
    spent = {side.name: [0.0, 0.0, 0.0] for side in sides}
    slices = max(1, min(args.slices, appends))
    per_slice = max(1, appends // slices)
    try:
        for side in sides:
            await side.open(url, writers, batch, args.streams)
            await side.run(writers, args.warmup, "warm")
        for number in range(slices):
            order = sides if number % 2 == 0 else sides[::-1]
            for side in order:
                c0, s0 = cpu.sample()
                t0 = time.perf_counter()
                await side.run(writers, per_slice, f"run{number}")
                elapsed = time.perf_counter() - t0
                c1, s1 = cpu.sample()
                total = spent[side.name]
                total[0] += elapsed
                total[1] += c1 - c0
                total[2] += s1 - s0
    finally:
        for side in sides:
            await side.close()
    n = writers * per_slice * slices * batch
    return {name: (n / t, c / n * 1e6, pg / n * 1e6, n) for name, (t, c, pg) in spent.items()}


async def measure(args: argparse.Namespace) -> None:
    quiet_logs()
    with servers(keep=args.keep) as (pg, _ns):
        url = await create_database(pg, [Service(SCHEMA)])
        print("durability:", ", ".join(f"{k}={v}" for k, v in (await pg_settings(
            url, ["fsync", "synchronous_commit", "wal_sync_method"])).items()))
        admin = await prepare(url)
        ours_idx, raw_idx = await describe(admin, SCHEMA), await describe(admin, "raw")
        if raw_idx != ours_idx:
            raise RuntimeError(f"raw.events differs: {raw_idx} vs {ours_idx}")
        print(f"raw.events: same columns, defaults, identity and indexes as {SCHEMA}.events "
              f"({len(raw_idx)} checked)")
        cpu = CpuMeter(pg.process.pid)
        cases = [("single", 1)] + ([("batch", 10)] if args.batch else [])
        rows = []
        flip = False
        for case, batch in cases:
            for writers in args.writers:
                appends = split(args.events, writers, batch)
                results: dict[str, tuple[float, float, float, int]] = {}
                for _ in range(args.repeat):
                    await reset(admin)
                    measured = await paired(url, writers, appends, batch, args, cpu, flip)
                    flip = not flip
                    for which, r in measured.items():
                        if which not in results or r[0] > results[which][0]:
                            results[which] = r  # best of the repeats
                ours, raw = results["ours"], results["raw"]
                ratio = ours[0] / raw[0]
                rows.append([f"{case} x{batch}", writers, ours[3], ours[0], raw[0], ratio,
                             f">= {TARGET} {verdict(ratio, TARGET)}",
                             ours[1], raw[1], ours[2], raw[2]])
                print(f"  {case} x{batch}, {writers} writers: ours {ours[0]:,.0f}/s, "
                      f"raw {raw[0]:,.0f}/s, ratio {ratio:.2f} (load {_load_average()})",
                      flush=True)
        await admin.close()
    print_table(
        "Append throughput (events/s; one append = one transaction; best of "
        f"{args.repeat}; durable: fsync=on, synchronous_commit=on)",
        ["case", "writers", "events", "ours ev/s", "raw ev/s", "ours/raw", "target",
         "ours cli µs/ev", "raw cli µs/ev", "ours pg µs/ev", "raw pg µs/ev"],
        rows,
    )
    print("cli/pg µs/ev: CPU time (user+sys) per event of this Python process / of the "
          "PostgreSQL process tree (2 cores in all)")
    print(f"peak RSS (this process): {peak_rss_mb():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Events/s through EventStore.append vs raw asyncpg inserts (same rows, "
        "same table shape, same concurrency), on private durable PostgreSQL/NATS servers.")
    parser.add_argument("--writers", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 8, 32], help="concurrency levels, comma-separated "
                        "(default 1,8,32)")
    parser.add_argument("--events", type=int, default=10_000,
                        help="events per measurement, split across writers (default 10000)")
    parser.add_argument("--streams", type=int, default=4,
                        help="streams per writer, appended round-robin (default 4)")
    parser.add_argument("--warmup", type=int, default=10,
                        help="untimed appends per writer before each measurement (default 10)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measurements per case, best kept; ours/raw alternate who goes "
                        "first (default 3)")
    parser.add_argument("--slices", type=int, default=10,
                        help="slices each measurement is cut into, ours and raw alternating "
                        "slice by slice (default 10)")
    parser.add_argument("--no-batch", dest="batch", action="store_false",
                        help="skip the batch case (10 events per append vs executemany of 10)")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data directory")
    args = parser.parse_args()
    started = time.perf_counter()
    print("load average before:", _load_average(), flush=True)
    asyncio.run(measure(args))
    print("load average after:", _load_average())
    print(f"total {time.perf_counter() - started:.0f} s")


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
