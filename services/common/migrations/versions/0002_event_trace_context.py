"""Trace context of each event's append, for the relay to carry the trace on (every service).

Revision ID: 0002_trace_context
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_trace_context"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # W3C traceparent of the span that appended the event; null when tracing was off.
    op.add_column("events", sa.Column("trace_context", sa.Text), schema=schema)


def downgrade(schema: str) -> None:
    op.drop_column("events", "trace_context", schema=schema)
