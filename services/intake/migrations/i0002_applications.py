"""Intake: the applications list (a projection of the streams) and idempotency keys.

Revision ID: i0002
Revises: i0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "i0002"
down_revision = "i0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # Pseudonymous: what staff filter on, never who the person is (that is in the vault).
    op.create_table(
        "applications",
        sa.Column("application_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_id", pg.UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("cohort", sa.Text, nullable=False),
        sa.Column("departement", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("applications_by_region_status", "applications", ["region", "status"],
                    schema=schema)
    op.create_index("applications_by_cohort", "applications", ["cohort", "role", "status"],
                    schema=schema)
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_digest", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", pg.JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    op.drop_table("idempotency_keys", schema=schema)
    op.drop_table("applications", schema=schema)
