"""Event store, relay checkpoints and processed-event ledger (every service).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


class XID8(sa.types.UserDefinedType):
    """PostgreSQL's 64-bit transaction id type (no SQLAlchemy equivalent)."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "xid8"


def upgrade(schema: str) -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("causation_id", pg.UUID(as_uuid=True)),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("data", pg.JSONB, nullable=False),
        # The writing transaction: the relay publishes in (tx_id, position) order, below the
        # oldest running transaction, so out-of-order commits are never skipped.
        sa.Column("tx_id", XID8(), nullable=False, server_default=sa.text("pg_current_xact_id()")),
        sa.UniqueConstraint("stream", "stream_version", name="events_stream_version_key"),
        schema=schema,
    )
    op.create_index("events_relay_order", "events", ["tx_id", "position"], schema=schema)
    op.create_index("events_by_type", "events", ["type"], schema=schema)
    op.create_table(
        "relay_checkpoints",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("tx_id", XID8(), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    op.drop_table("processed_events", schema=schema)
    op.drop_table("relay_checkpoints", schema=schema)
    op.drop_table("events", schema=schema)
