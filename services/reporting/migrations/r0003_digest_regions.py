"""Reporting: the first day each region's daily digest is due (missed days are sent from
there, never before the region was configured).

Revision ID: r0003
Revises: r0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "r0003"
down_revision = "r0002"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.create_table(
        "digest_regions",
        sa.Column("region", sa.Text, primary_key=True),
        sa.Column("first_day", sa.Date, nullable=False),
        sa.Column("configured_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    # A deployment that already sent digests: its regions began with their first one.
    op.execute(f"INSERT INTO {schema}.digest_regions (region, first_day, configured_at) "
               f"SELECT region, min(day), min(sent_at) FROM {schema}.digests_sent "
               "GROUP BY region")


def downgrade(schema: str) -> None:
    op.drop_table("digest_regions", schema=schema)
