"""Reporting: read models as rows per key, their checkpoint, and the digests sent.

Replaces the single-document ``read_models`` table (rewritten whole on every event).

Revision ID: r0002
Revises: r0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.drop_table("read_models", schema=schema)
    op.create_table(
        "view_rows",
        sa.Column("view", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("data", pg.JSONB, nullable=False),
        schema=schema,
    )
    # The checkpoint of the read models: the archive position folded so far. Every live
    # update bumps ``generation`` in the transaction that writes the rows (a row lock that
    # also serialises replicas; a process whose cached view is of another generation reloads).
    op.create_table(
        "view_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        # the folds' version that built the rows (0: none yet; the service rebuilds at start
        # when it differs, or when the archive is ahead, e.g. upgraded from r0001)
        sa.Column("fold_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.execute(f"INSERT INTO {schema}.view_state (id, generation, position, events) "
               "VALUES (1, 0, 0, 0)")
    # Erasures are looked up on every time-travel query and export.
    op.execute(f"CREATE INDEX archive_erasures ON {schema}.archive "
               "((envelope->'data'->>'person_id')) WHERE type = 'PersonErased'")
    op.create_table(
        "digests_sent",
        sa.Column("region", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("applications", sa.Integer, nullable=False),
        sa.Column("recipients", sa.Integer, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    op.drop_table("digests_sent", schema=schema)
    op.drop_table("view_state", schema=schema)
    op.drop_index("archive_erasures", "archive", schema=schema)
    op.drop_table("view_rows", schema=schema)
    op.create_table(
        "read_models",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("state", pg.JSONB, nullable=False),
        sa.Column("events_applied", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
