"""The business clock's offset, shared by every service (``SUCCESS_CLOCK_CONTROL``): one
schema for all, created by whichever service migrates first.

Revision ID: clock1
Revises: 0002_trace_context
Create Date: 2026-11-29
"""

from alembic import op

revision = "clock1"
down_revision = "0002_trace_context"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # Services migrate concurrently when they start: one creates it, the others find it.
    op.execute("SELECT pg_advisory_xact_lock(hashtext('migrate:success_clock'))")
    op.execute("CREATE SCHEMA IF NOT EXISTS success_clock")
    op.execute("CREATE TABLE IF NOT EXISTS success_clock.business_clock ("
               "id smallint PRIMARY KEY CHECK (id = 1), offset_us bigint NOT NULL, "
               "moved_at timestamptz NOT NULL)")


def downgrade(schema: str) -> None:
    pass  # shared by every service: it stays while any service uses it
