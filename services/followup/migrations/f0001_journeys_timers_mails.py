"""Followup: journeys (projection), durable timers, the reminder outbox, the referents'
directory and networking events.

Revision ID: f0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "f0001"
down_revision = "0001"
branch_labels = None
depends_on = None

UUID = pg.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)


def upgrade(schema: str) -> None:
    # One row per pair followed (pseudonymous ids only): for lists, audiences and reminders.
    op.create_table(
        "journeys",
        sa.Column("pair_id", UUID, primary_key=True),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("cohort_id", sa.Text, nullable=False),
        sa.Column("mentee_id", UUID, nullable=False, index=True),
        sa.Column("mentor_id", UUID, nullable=False, index=True),
        sa.Column("referent_id", sa.Text),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date),
        sa.Column("early", sa.Boolean),
        schema=schema,
    )
    # Durable timers: each fires once (fired_at set in the transaction that acts on it).
    op.create_table(
        "timers",
        sa.Column("timer_id", UUID, primary_key=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),  # what it is for, once
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("review_kind", sa.Text),
        sa.Column("pair_id", UUID),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("fired_at", TS),
        sa.Column("cancelled_at", TS),
        schema=schema,
    )
    op.create_index("timers_pending", "timers", ["due_at"], schema=schema,
                    postgresql_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"))
    # Reminder outbox: written with the timer that causes it, sent after, marked sent once
    # the SMTP server accepted it. No address here: it is fetched from the vault at send time.
    op.create_table(
        "mails",
        sa.Column("mail_id", UUID, primary_key=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("pair_id", UUID),
        sa.Column("recipient", sa.Text, nullable=False),  # mentee, mentor, referent
        sa.Column("person_id", UUID),
        sa.Column("referent_id", sa.Text),
        sa.Column("params", pg.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", TS),
        sa.Column("skipped", sa.Text),  # why it will never be sent (person erased, …)
        schema=schema,
    )
    op.create_index("mails_pending", "mails", ["next_attempt_at"], schema=schema,
                    postgresql_where=sa.text("sent_at IS NULL AND skipped IS NULL"))
    # Staff directory: where a referent's reminders go (staff, not programme participants).
    op.create_table(
        "referents",
        sa.Column("referent_id", sa.Text, primary_key=True),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        schema=schema,
    )
    op.create_table(
        "networking_events",
        sa.Column("networking_event_id", UUID, primary_key=True),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("departement", sa.Text),
        sa.Column("registered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attended", sa.Integer, nullable=False, server_default="0"),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    for table in ("networking_events", "referents", "mails", "timers", "journeys"):
        op.drop_table(table, schema=schema)
