"""Matching: the pool of admitted candidates, proposals and pairs (projections).

Revision ID: m0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "m0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # One row per person who was admitted, or who left before their admission arrived (a
    # tombstone: events may come in any order). Coarse, pseudonymous attributes only.
    op.create_table(
        "pool",
        sa.Column("person_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("role", sa.Text),
        sa.Column("region", sa.Text),
        sa.Column("departement", sa.Text),
        sa.Column("sectors", pg.ARRAY(sa.Text)),
        sa.Column("availability", pg.ARRAY(sa.Text)),
        sa.Column("aspirations", pg.ARRAY(sa.Text)),
        sa.Column("remote_ok", sa.Boolean),
        sa.Column("job_family", sa.Text),
        sa.Column("capacity", sa.Integer),
        sa.Column("admitted_at", sa.DateTime(timezone=True)),
        sa.Column("left_reason", sa.Text),  # set: not (or no longer) in the pool
        sa.Column("waiting_reason", sa.Text),  # why the last matching run left them unpaired
        sa.Column("waiting_since", sa.DateTime(timezone=True)),  # rematch: back in the pool
        schema=schema,
    )
    op.create_index("pool_by_region", "pool", ["region", "role"], schema=schema)
    op.create_table(
        "proposals",
        sa.Column("match_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("cohort_id", sa.Text, nullable=False, index=True),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("mentee_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("mentor_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("score", pg.JSONB, nullable=False),
        sa.Column("explanation", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # proposed, declined, confirmed
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "pairs",
        sa.Column("pair_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("match_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("cohort_id", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("mentee_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("mentor_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("formed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_on", sa.Date),
        sa.Column("ended_early", sa.Boolean),
        schema=schema,
    )
    # A mentee is in at most one active pair: the last guard against concurrent confirmations.
    op.create_index("pairs_one_active_per_mentee", "pairs", ["mentee_id"], unique=True,
                    schema=schema, postgresql_where=sa.text("ended_on IS NULL"))


def downgrade(schema: str) -> None:
    op.drop_table("pairs", schema=schema)
    op.drop_table("proposals", schema=schema)
    op.drop_table("pool", schema=schema)
