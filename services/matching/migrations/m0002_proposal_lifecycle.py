"""Matching: a proposal's lifecycle (withdrawn, and why and when it closed).

Revision ID: m0002
Revises: m0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # status now also 'withdrawn'; closed_reason: the decline's or withdrawal's reason code.
    op.add_column("proposals", sa.Column("closed_reason", sa.Text), schema=schema)
    op.add_column("proposals", sa.Column("closed_at", sa.DateTime(timezone=True)), schema=schema)
    op.create_index("proposals_by_status", "proposals", ["status", "proposed_at"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_index("proposals_by_status", "proposals", schema=schema)
    op.drop_column("proposals", "closed_at", schema=schema)
    op.drop_column("proposals", "closed_reason", schema=schema)
