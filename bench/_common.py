"""Shared helpers of the benchmarks: private servers, a fresh database, events, tables, RSS.

The benchmarks are scripts, not tests: ``python bench/append.py`` / ``python bench/relay.py``.
Each starts its own PostgreSQL and NATS (JetStream, file storage) in a temporary directory
through :mod:`services.common.embedded`, with the durable defaults there (``fsync=on``,
``synchronous_commit=on``), and stops them at the end.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from uuid import uuid4

# `python bench/x.py` puts bench/ first on sys.path; the project itself is pip-installed
# (editable), but make the repository importable anyway when run from a plain checkout.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.append(str(_ROOT))

os.environ.setdefault("SUCCESS_LOG_JSON", "false")
warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")

import asyncpg  # noqa: E402

from events import Metadata, Service  # noqa: E402
from events.matching import CohortOpened  # noqa: E402
from services.common.embedded import NatsServer, PostgresServer  # noqa: E402
from services.common.migrate import migrate  # noqa: E402
from services.common.store import raw_database_url  # noqa: E402


def quiet_logs() -> None:
    """Warnings and errors only: the benchmarks print their own table."""
    import logging

    import structlog

    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


# --- events (the same valid event as tests/factories.py) -------------------------------------


def metadata(region: str = "IDF", actor: str = "system") -> Metadata:
    return Metadata(region=region, actor=actor, correlation_id=uuid4())


def cohort_opened(n: int = 1) -> CohortOpened:
    return CohortOpened(cohort_id="IDF-2025-09", starts_on=date(2025, 9, 1), target_pairs=n,
                        cut_off_on=date(2025, 8, 15))


# --- servers -----------------------------------------------------------------------------------


@contextmanager
def servers(keep: bool = False) -> Iterator[tuple[PostgresServer, NatsServer]]:
    """PostgreSQL and NATS (JetStream file storage) in a temporary directory, stopped after."""
    root = Path(tempfile.mkdtemp(prefix="success-bench-"))
    pg = ns = None
    started = time.perf_counter()
    try:
        pg = PostgresServer(root / "pg").start()
        ns = NatsServer(root / "nats").start()
        print(f"servers up in {time.perf_counter() - started:.1f} s "
              f"(PostgreSQL :{pg.port}, NATS :{ns.port}, data in {root})", flush=True)
        yield pg, ns
    finally:
        if ns is not None:
            ns.stop()
        if pg is not None:
            pg.stop()
        if keep:
            print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


async def create_database(pg: PostgresServer, services: list[Service], name: str = "bench") -> str:
    """A fresh database with the given services' schemas migrated; returns its URL."""
    admin = await asyncpg.connect(raw_database_url(pg.url).rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = pg.url.rsplit("/", 1)[0] + f"/{name}"
    await migrate(url, services)
    return url


async def pg_settings(url: str, names: list[str]) -> dict[str, str]:
    conn = await asyncpg.connect(raw_database_url(url))
    try:
        return {n: await conn.fetchval(f"SHOW {n}") for n in names}
    finally:
        await conn.close()


# --- reporting -------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident set size of this process (the benchmark client), in MiB (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = "+".join("-" * (w + 2) for w in widths)
    print()
    print(title)
    print(line)
    print(" | ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    print(line)
    for row in cells:
        print(" | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print(line, flush=True)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ratio: float, target: float) -> str:
    return "OK" if ratio >= target else "BELOW"
