"""Reporting: the archive of every event and the stored read models.

Revision ID: r0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "r0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.create_table(
        "archive",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", pg.JSONB, nullable=False),
        schema=schema,
    )
    op.create_index("archive_by_recorded_at", "archive", ["recorded_at"], schema=schema)
    op.create_table(
        "read_models",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("state", pg.JSONB, nullable=False),
        sa.Column("events_applied", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    op.drop_table("read_models", schema=schema)
    op.drop_table("archive", schema=schema)
