"""Erasure leaves nothing decryptable in the live data directory: neither the table files nor
the write-ahead log, searched byte by byte with the master key of the same installation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.embedded import PostgresServer
from services.common.migrate import migrate
from services.common.store import async_database_url
from services.intake.vault import (
    Vault,
    VaultDecryptionError,
    generate_master_key,
    normalise_email,
    vacuum,
)
from tests.conftest import server_dir

EMAIL = "zoe.kerherve@example.fr"
RECORD = {"first_name": "Zoé", "last_name": "Kerhervé", "email": EMAIL,
          "birth_date": "2003-04-05", "motivation": "Créer une coopérative à Quimper."}
WRAPPED_KEY_BYTES = 12 + 32 + 16  # nonce, data key, tag
NEAR = 1024  # how far from a copy of the person_id a wrapped key is looked for


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    """A server of its own, as `success up` runs it (password, WAL settings), whose every
    file the test reads."""
    with server_dir("erasure") as path:
        server = PostgresServer(path / "pg", password="erasure-test").start()
        try:
            yield server
        finally:
            server.stop()


def _files(root: Path) -> Iterator[tuple[Path, bytes]]:
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                yield path, path.read_bytes()
        except FileNotFoundError:  # a temporary file the running server just removed
            continue


def decryptable_copies(root: Path, vault: Vault, person: UUID) -> list[tuple[Path, bytes]]:
    """Every data key of ``person`` the master key unwraps from any file under ``root``: each
    60-byte window near each copy of the person_id is tried (a heap tuple, a WAL record or a
    full-page image keeps the id next to the wrapped key)."""
    found = []
    for path, data in _files(root):
        position = data.find(person.bytes)
        while position != -1:
            for start in range(max(0, position - NEAR), min(len(data), position + NEAR)):
                try:
                    key = vault._unwrap_key(person, data[start:start + WRAPPED_KEY_BYTES])
                except (VaultDecryptionError, ValueError):
                    continue
                found.append((path, key))
            position = data.find(person.bytes, position + 1)
    return found


async def _checkpoint(engine) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("CHECKPOINT"))


async def test_erasure_leaves_nothing_decryptable_in_the_data_directory(server):
    await migrate(server.url)
    engine = create_async_engine(async_database_url(server.url))
    vault = Vault.from_setting(generate_master_key())
    kept, erased = uuid4(), uuid4()
    try:
        async with engine.begin() as conn:
            await vault.put(conn, kept, {**RECORD, "first_name": "Yann", "email": "y@ex.fr"})
            await vault.put(conn, erased, RECORD)
            await vault.add_blind_index(conn, "mentee:email", normalise_email(EMAIL), erased)
            row = (await conn.execute(text(
                "SELECT ciphertext, wrapped_key FROM intake.vault WHERE person_id = :p"),
                {"p": erased})).one()
        sealed, wrapped = bytes(row.ciphertext), bytes(row.wrapped_key)
        await _checkpoint(engine)

        # Before: the search finds the wrapped key in the WAL too, and it opens the record.
        before = decryptable_copies(server.data_dir, vault, erased)
        assert any("pg_wal" in path.parts for path, _ in before)
        assert vault._open(erased, before[0][1], sealed)["email"] == EMAIL

        async with engine.begin() as conn:
            assert await vault.erase(conn, erased)
        assert await vacuum(engine)  # the table rewritten, the old WAL deleted
        await _checkpoint(engine)

        assert decryptable_copies(server.data_dir, vault, erased) == []
        everything = b"".join(data for _, data in _files(server.data_dir))
        for needle in (sealed, wrapped, EMAIL.encode(), "Kerhervé".encode()):
            assert needle not in everything
        async with engine.connect() as conn:
            assert await vault.get(conn, erased) is None
            assert (await vault.get(conn, kept))["first_name"] == "Yann"
    finally:
        await engine.dispose()
    server.stop()  # the shutdown checkpoint writes nothing of them back either
    assert decryptable_copies(server.data_dir, vault, erased) == []
