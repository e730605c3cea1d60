"""Alembic environment shared by every service: each migrates its own PostgreSQL schema.

Run through :func:`services.common.migrate.migrate` (``success migrate``), which passes the
open connection and the schema name in ``config.attributes``.
"""

from alembic import context
from sqlalchemy import text

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
context.configure(
    connection=connection,
    version_table_schema=schema,
    # The schema is a parameter of every migration (services share the plumbing tables).
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations(schema=schema)
