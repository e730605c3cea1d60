"""Analyst exports (Parquet or CSV, with pyarrow): the pseudonymous event log and every public
read model, now or as of an instant.

Erasure: the archive keeps the events as published (pseudonymous ids only; the person's
identity was crypto-shredded in intake's vault). An export never contains an erased person's
id, nor the ids of their applications: in every cell of the exported log and read models a
field holding one is blanked (``null``) and a text embedding one has it replaced by
``erased`` (``mentor-<id>`` -> ``mentor-erased``, ``person-erased``, ``application-erased``),
so the events still count; the read models are folded with every erasure known at export
time, whatever ``as_of`` says.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import re

import asyncpg
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from services.reporting.folds import PUBLIC_TABLES, View
from services.reporting.projections import SCHEMA, erased_people, forget, fold_archive, load_view

FORMATS = ("parquet", "csv")

EVENT_SCHEMA = pa.schema([
    ("position", pa.int64()), ("event_id", pa.string()), ("type", pa.string()),
    ("schema_version", pa.int32()), ("region", pa.string()), ("stream", pa.string()),
    ("stream_version", pa.int32()), ("occurred_at", pa.timestamp("us", tz="UTC")),
    ("recorded_at", pa.timestamp("us", tz="UTC")), ("correlation_id", pa.string()),
    ("causation_id", pa.string()), ("actor", pa.string()), ("data", pa.string()),
])


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# the application ids of the erased people (their streams and events name them)
_ERASED_APPLICATIONS_SQL = (
    f"SELECT DISTINCT envelope->'data'->>'application_id' FROM {SCHEMA}.archive "
    "WHERE type = 'ApplicationReceived' AND envelope->'data'->>'person_id' = ANY($1::text[])")


async def erased_ids(conn: asyncpg.Connection) -> set[str]:
    """Every id no export may show: the erased people's and their applications'."""
    people = await erased_people(conn)
    applications = await conn.fetch(_ERASED_APPLICATIONS_SQL, people) if people else []
    return set(people) | {row[0] for row in applications if row[0]}


def scrub_value(value: Any, erased: set[str]) -> Any:
    """``value`` with every erased id blanked: ``None`` for an id, ``erased`` in place of one
    within a text, through nested objects and lists (pure)."""
    if isinstance(value, str):
        if value in erased:
            return None
        if "-" in value and any(m.lower() in erased for m in _UUID.findall(value)):
            return _UUID.sub(lambda m: "erased" if m[0].lower() in erased else m[0], value)
        return value
    if isinstance(value, dict):
        return {k: scrub_value(v, erased) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, erased) for v in value]
    return value


def scrub(event: dict[str, Any], erased: set[str]) -> dict[str, Any]:
    """The event with every erased id blanked in every field (pure)."""
    if not erased:
        return event
    scrubbed = scrub_value(event, erased)
    if event.get("stream") in erased:  # a bare id as the stream: still say what it was
        scrubbed["stream"] = "erased"
    return scrubbed


def _cell(value: Any) -> Any:
    return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else value


class _Writer:
    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self.writer = (pq.ParquetWriter(path, schema) if fmt == "parquet"
                       else pacsv.CSVWriter(path, schema))

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()


async def export(conn: asyncpg.Connection, out: Path, fmt: str = "parquet", *,
                 as_of: datetime | None = None, batch: int = 50_000,
                 progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write ``events.<fmt>`` and one file per read model into ``out``; returns row counts.
    One repeatable-read snapshot: the log and the models agree."""
    if fmt not in FORMATS:
        raise ValueError(f"format inconnu : {fmt}")
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        erased = await erased_ids(conn)
        writer = _Writer(out / f"events.{fmt}", fmt, EVENT_SCHEMA)
        written = 0
        try:
            cursor = await conn.cursor(
                f"SELECT position, envelope::text FROM {SCHEMA}.archive "
                "WHERE ($1::timestamptz IS NULL OR recorded_at <= $1) ORDER BY position", as_of)
            while rows := await cursor.fetch(batch):
                columns: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
                for position, body in rows:
                    event = scrub(orjson.loads(body), erased)
                    columns["position"].append(position)
                    for name in EVENT_SCHEMA.names[1:]:
                        value = event.get(name)
                        columns[name].append(orjson.dumps(value).decode() if name == "data"
                                             else value)
                for name in ("occurred_at", "recorded_at"):
                    columns[name] = [datetime.fromisoformat(v) for v in columns[name]]
                writer.write(pa.Table.from_pydict(columns, schema=EVENT_SCHEMA))
                written += len(rows)
                if progress is not None:
                    progress(len(rows))
            if not written:
                writer.write(EVENT_SCHEMA.empty_table())
        finally:
            writer.close()
        counts["events"] = written
        view: View = (await fold_archive(conn, as_of=as_of) if as_of is not None
                      else forget(await load_view(conn), await erased_people(conn)))
    for name in PUBLIC_TABLES:
        rows = [{k: _cell(scrub_value(v, erased)) for k, v in row.items()} for _key, row in
                sorted(view.tables[name].items())]
        table = pa.Table.from_pylist(rows) if rows else pa.table({"empty": pa.array([], pa.string())})
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            pacsv.write_csv(table, path)
        counts[name] = len(rows)
    return counts
