"""The live path: archive each event and fold it into the stored read models, in the same
transaction as the consumer's processed-event record (its checkpoint)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from events import Envelope
from services.common.store import Transaction
from services.reporting.views import CohortFunnel, apply

COHORT_FUNNEL = "cohort_funnel"


async def archive_and_project(envelope: Envelope, tx: Transaction) -> None:
    inserted = await tx.connection.execute(
        text(
            "INSERT INTO reporting.archive (event_id, type, region, stream, stream_version, "
            "occurred_at, recorded_at, envelope) VALUES (:event_id, :type, :region, :stream, "
            ":stream_version, :occurred_at, :recorded_at, CAST(:envelope AS jsonb)) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING position"
        ),
        {
            "event_id": envelope.event_id, "type": envelope.type, "region": envelope.region,
            "stream": envelope.stream, "stream_version": envelope.stream_version,
            "occurred_at": envelope.occurred_at, "recorded_at": envelope.recorded_at,
            "envelope": envelope.model_dump_json(),
        },
    )
    if inserted.first() is None:
        return  # already archived (e.g. re-published after a disaster): already counted
    view = await load_funnel(tx.connection, for_update=True)
    await save_funnel(tx.connection, apply(view, envelope))


async def load_funnel(connection: AsyncConnection, *, for_update: bool = False) -> CohortFunnel:
    row = (
        await connection.execute(
            text("SELECT state FROM reporting.read_models WHERE name = :name"
                 + (" FOR UPDATE" if for_update else "")),
            {"name": COHORT_FUNNEL},
        )
    ).first()
    return CohortFunnel.model_validate(row.state) if row else CohortFunnel()


async def save_funnel(connection: AsyncConnection, view: CohortFunnel) -> None:
    await connection.execute(
        text(
            "INSERT INTO reporting.read_models (name, state, events_applied, updated_at) "
            "VALUES (:name, CAST(:state AS jsonb), 1, now()) ON CONFLICT (name) DO UPDATE SET "
            "state = EXCLUDED.state, events_applied = reporting.read_models.events_applied + 1, "
            "updated_at = now()"
        ),
        {"name": COHORT_FUNNEL, "state": view.model_dump_json()},
    )
