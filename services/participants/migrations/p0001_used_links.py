"""Participants: the personal links already used (single-use links record one answer).

Revision ID: p0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "p0001"
down_revision = None
branch_labels = ("participants",)
depends_on = None


def upgrade(schema: str) -> None:
    op.create_table(
        "used_links",
        sa.Column("link_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
