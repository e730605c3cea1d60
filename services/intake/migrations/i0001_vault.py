"""Intake: the personal-data vault and its blind indexes.

Revision ID: i0001
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "i0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # One row per person: the record encrypted under the person's own data key, and that key
    # wrapped by the master key. Deleting the row (then VACUUM) is the crypto-shredding.
    op.create_table(
        "vault",
        sa.Column("person_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("wrapped_key", pg.BYTEA, nullable=False),
        sa.Column("ciphertext", pg.BYTEA, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    # Keyed hashes (HMAC) of normalised e-mails and name + birth date: duplicates are found
    # by equality, and the unique digest settles concurrent submissions, with nothing in clear.
    op.create_table(
        "blind_index",
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("person_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("blind_index_by_person", "blind_index", ["person_id"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_table("blind_index", schema=schema)
    op.drop_table("vault", schema=schema)
