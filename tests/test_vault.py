"""The intake personal-data vault: encryption per person, blind indexes, crypto-shredding."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.common.store import async_database_url
from services.intake.vault import (
    Vault,
    VaultDecryptionError,
    generate_master_key,
    identity_key,
    normalise_email,
    normalise_name,
    vacuum,
)
from tests.conftest import eventually

NAME = "Zoé Kerhervé"
EMAIL = "zoe.kerherve@example.fr"
RECORD = {"first_name": "Zoé", "last_name": "Kerhervé", "email": EMAIL,
          "birth_date": "2003-04-05", "motivation": "Créer une coopérative à Quimper."}


@pytest.fixture
async def engine(database_url) -> AsyncEngine:
    engine = create_async_engine(async_database_url(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
def vault() -> Vault:
    return Vault.from_setting(generate_master_key())


async def test_round_trip_and_update(engine, vault):
    person = uuid4()
    async with engine.begin() as conn:
        await vault.put(conn, person, RECORD)
    async with engine.connect() as conn:
        assert await vault.get(conn, person) == RECORD
        assert await vault.get(conn, uuid4()) is None
    changed = {**RECORD, "email": "zoe@example.org"}
    async with engine.begin() as conn:
        wrapped_before = await conn.scalar(text(
            "SELECT wrapped_key FROM intake.vault WHERE person_id = :p"), {"p": person})
        assert await vault.update(conn, person, changed)
        assert not await vault.update(conn, uuid4(), changed)
        assert await vault.get(conn, person) == changed
        assert await conn.scalar(text(
            "SELECT wrapped_key FROM intake.vault WHERE person_id = :p"),
            {"p": person}) == wrapped_before  # same data key


async def test_nothing_in_clear_in_the_table(engine, vault):
    async with engine.begin() as conn:
        await vault.put(conn, uuid4(), RECORD)
        row = (await conn.execute(text("SELECT ciphertext, wrapped_key FROM intake.vault"))).one()
        dump = await conn.scalar(text("SELECT string_agg(v::text, '') FROM intake.vault v"))
    raw = bytes(row.ciphertext) + bytes(row.wrapped_key)
    for needle in (NAME, "Kerherv", EMAIL, "Quimper"):
        assert needle.encode() not in raw
        assert needle not in dump
        assert needle.encode().hex() not in dump  # bytea renders as hex


async def _relation_files(engine, relation: str) -> list[Path]:
    """The relation's main-fork data files (readable: tests run as root or as the server's
    user), after a CHECKPOINT so that dirty pages and dropped files have reached the disk."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("CHECKPOINT"))
        data_dir = await conn.scalar(text("SHOW data_directory"))
        path = Path(data_dir) / await conn.scalar(
            text("SELECT pg_relation_filepath(:r)"), {"r": relation})
    return sorted(p for p in path.parent.glob(path.name + "*")
                  if p.name.split(".")[0] == path.name)  # segments, not the _fsm/_vm forks


def _read(files: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in files if p.exists())


async def test_erase_shreds_the_row_physically(engine, vault):
    kept, erased = uuid4(), uuid4()
    async with engine.begin() as conn:
        await vault.put(conn, kept, {**RECORD, "first_name": "Yann"})
        # Inserted last, the erased row sits next to the page's free space: a plain VACUUM
        # would only move the free-space mark over it and leave its bytes in the file.
        await vault.put(conn, erased, RECORD)
        await vault.add_blind_index(conn, "mentee:email", normalise_email(EMAIL), erased)
        row = (await conn.execute(text(
            "SELECT ciphertext, wrapped_key FROM intake.vault WHERE person_id = :p"),
            {"p": erased})).one()
    sealed, wrapped = bytes(row.ciphertext), bytes(row.wrapped_key)
    digest = vault.blind_index("mentee:email", normalise_email(EMAIL)).encode()
    vault_files = await _relation_files(engine, "intake.vault")
    index_relations = ("intake.blind_index", "intake.blind_index_pkey")  # table and b-tree
    index_files = [f for r in index_relations for f in await _relation_files(engine, r)]
    assert sealed in _read(vault_files) and digest in _read(index_files)  # the scan sees rows

    async with engine.begin() as conn:
        assert await vault.erase(conn, erased)
        assert not await vault.erase(conn, uuid4())
    await vacuum(engine)

    async with engine.connect() as conn:
        assert await vault.get(conn, erased) is None
        assert await vault.get(conn, kept) == {**RECORD, "first_name": "Yann"}
        assert await vault.find_by_blind_index(
            conn, "mentee:email", normalise_email(EMAIL)) is None
    # The files before and after the rewrite: neither holds anything of the erased person.
    data = _read(vault_files) + _read(await _relation_files(engine, "intake.vault"))
    for needle in (NAME.encode(), "Kerhervé".encode(), EMAIL.encode(), sealed, wrapped):
        assert needle not in data
    index_files += [f for r in index_relations for f in await _relation_files(engine, r)]
    assert digest not in _read(index_files)


async def test_concurrent_claims_of_one_value(engine, vault):
    first, second = uuid4(), uuid4()
    value = normalise_email(EMAIL)
    gate = asyncio.Event()

    async def claim(person: UUID) -> UUID | None:
        async with engine.begin() as conn:
            holder = await vault.add_blind_index(conn, "mentee:email", value, person)
            await gate.wait()  # both inserts are issued before either commits
            return holder

    async def one_insert_waits() -> bool:
        async with engine.connect() as conn:
            return bool(await conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'")))

    tasks = [asyncio.create_task(claim(first)), asyncio.create_task(claim(second))]
    await eventually(one_insert_waits)  # the second insert is blocked on the first's key
    gate.set()
    results = await asyncio.gather(*tasks)
    assert results.count(None) == 1
    winner = first if results[0] is None else second
    loser_result = results[1] if results[0] is None else results[0]
    assert loser_result == winner
    async with engine.connect() as conn:
        assert await vault.find_by_blind_index(conn, "mentee:email", value) == winner
        assert await vault.find_by_blind_index(conn, "mentor:email", value) is None
        # Claiming again for the holder is idempotent.
        assert await vault.add_blind_index(conn, "mentee:email", value, winner) is None


async def test_another_master_key_cannot_decrypt(engine, vault):
    person = uuid4()
    async with engine.begin() as conn:
        await vault.put(conn, person, RECORD)
    other = Vault.from_setting(generate_master_key())
    async with engine.connect() as conn:
        with pytest.raises(VaultDecryptionError, match="SUCCESS_VAULT_MASTER_KEY"):
            await other.get(conn, person)
    assert other.blind_index("k", "v") != vault.blind_index("k", "v")


async def test_a_row_moved_to_another_person_does_not_decrypt(engine, vault):
    victim, other = uuid4(), uuid4()
    async with engine.begin() as conn:
        await vault.put(conn, victim, RECORD)
        await conn.execute(text("UPDATE intake.vault SET person_id = :o WHERE person_id = :v"),
                           {"o": other, "v": victim})
        with pytest.raises(VaultDecryptionError):
            await vault.get(conn, other)


@pytest.mark.parametrize("setting", ["", "pas-du-base64!", "c2hvcnQ=", None])
def test_invalid_master_key_setting(setting):
    with pytest.raises(ValueError, match="SUCCESS_VAULT_MASTER_KEY invalide.*generate_master_key"):
        Vault.from_setting(setting)


def test_blind_index_is_a_keyed_digest(vault):
    digest = vault.blind_index("mentee:email", EMAIL)
    assert len(digest) == 64 and EMAIL not in digest
    assert digest == vault.blind_index("mentee:email", EMAIL)
    assert digest != vault.blind_index("mentor:email", EMAIL)


@pytest.mark.parametrize(("raw", "expected"), [
    ("  Zoe.Kerherve+Succ@Example.FR ", "zoe.kerherve+succ@example.fr"),
    ("zoe.kerherve@gmail.com", "zoe.kerherve@gmail.com"),  # dots are kept
])
def test_normalise_email(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(("first", "last", "expected"), [
    ("Zoé", "Kerhervé", "zoe|kerherve"),
    ("  ZOÉ ", "KERHERVÉ", "zoe|kerherve"),
    ("Jean-Pierre", "Le  Goff", "jean pierre|le goff"),
    ("Jean Pierre", "Le-Goff", "jean pierre|le goff"),
    ("Jean - Pierre", "N’Diaye", "jean pierre|n'diaye"),
    ("Anaïs", "Lefèvre-Ça", "anais|lefevre ca"),
    ("Jean", "Pierre Martin", "jean|pierre martin"),
])
def test_normalise_name(first, last, expected):
    assert normalise_name(first, last) == expected


def test_identity_key_includes_the_birth_date():
    key = identity_key("Zoé", "Kerhervé", date(2003, 4, 5))
    assert key == identity_key("ZOE", "kerherve", date(2003, 4, 5)) == "zoe|kerherve|2003-04-05"
    assert key != identity_key("Zoé", "Kerhervé", date(2003, 4, 6))
