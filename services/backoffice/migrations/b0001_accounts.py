"""Back-office: staff accounts, sign-in sessions and the failed sign-ins throttle.

Revision ID: b0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "b0001"
down_revision = None
branch_labels = ("backoffice",)
depends_on = None


def upgrade(schema: str) -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.Text, nullable=False, unique=True),  # lower-cased
        sa.Column("display_name", sa.Text, nullable=False),
        # What the services' tokens name: the referent id of pairs and reminders.
        sa.Column("subject", sa.Text, nullable=False, unique=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=True),  # None: national
        sa.Column("password_hash", sa.Text, nullable=True),  # argon2id; None until invited in
        # SHA-256 of the one-time invitation token (the token itself is only in the e-mail).
        sa.Column("invitation_digest", sa.Text, nullable=True, unique=True),
        sa.Column("invitation_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "sessions",
        sa.Column("session_digest", sa.Text, primary_key=True),  # SHA-256 of the cookie
        sa.Column("account_id", pg.UUID(as_uuid=True),
                  sa.ForeignKey(f"{schema}.accounts.account_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("csrf_token", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("throttle_key", sa.Text, nullable=False),  # "email:…" or "client:…"
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("signin_failures_by_key", "signin_failures", ["throttle_key", "failed_at"],
                    schema=schema)
