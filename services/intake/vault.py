"""The personal-data vault of intake (ARCHITECTURE 4.1, "Personal data rule").

Names, contacts, exact birth dates and free-text answers live only here. Each person's record
is encrypted (AES-GCM) under a random data key of their own; that key is stored wrapped by a
key derived from the master key (``SUCCESS_VAULT_MASTER_KEY``), both bound to the person_id so
a row copied onto another person does not decrypt. Erasing a person deletes their wrapped key:
without it the ciphertext is noise wherever a copy of it survives (crypto-shredding).

Every copy of the wrapped key counts, since the master key opens it: the table file (rewritten
by :func:`vacuum`) and the write-ahead log, which holds the row as inserted and page images of
it. Another key level kept in the database would not help (its rows reach the same WAL), so
:func:`vacuum` also moves the WAL past the erasure and has the old segments deleted. What
remains is outside the live data directory: backups and WAL archives, until they expire.

Duplicates are found through blind indexes: an HMAC of a normalised value (e-mail, name +
birth date) under another key derived from the master key, so equal values match while nothing
readable is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import unicodedata
from datetime import date, datetime
from typing import Any
from uuid import UUID

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.clock import Clock, get_clock
from services.common.store import AnyConnection, driver_of

KEY_BYTES = 32
NONCE_BYTES = 12
# Master-key generation of the stored rows: a future rotation re-wraps the data keys (the
# records need not be re-encrypted) and bumps this number.
KEY_VERSION = 1


class VaultDecryptionError(Exception):
    """A vault row does not decrypt: wrong master key, or a tampered / misplaced row."""


def generate_master_key() -> str:
    """A new random master key, base64, for ``SUCCESS_VAULT_MASTER_KEY``."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _derive(master_key: bytes, info: bytes) -> bytes:
    # One master secret, separate keys per use: wrapping keys never doubles as hashing keys.
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(
        master_key)


# -- normalisers: the values blind indexes are computed on -------------------------------------

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—]+")


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased. Dots and +tags are kept: they are distinct mailboxes for most
    providers, and merging two real people would be worse than missing a duplicate."""
    return email.strip().lower()


def _normalise_part(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.replace("’", "'")  # typographic apostrophe from phones (d’Arc / d'Arc)
    return _SEPARATORS.sub(" ", bare).strip()


def normalise_name(first: str, last: str) -> str:
    """Case, accents, spaces and hyphens do not matter: "Zoé  KERHERVÉ" = "zoe kerherve".
    First and last stay apart, so "Jean" + "Pierre Martin" differs from "Jean Pierre" + "Martin"."""
    return f"{_normalise_part(first)}|{_normalise_part(last)}"


def identity_key(first: str, last: str, birth_date: date) -> str:
    """The value of the name + birth date index."""
    return f"{normalise_name(first, last)}|{birth_date.isoformat()}"


class Vault:
    """Encrypts, stores, reads and shreds personal records in ``intake.vault``."""

    def __init__(self, master_key: bytes, clock: Clock | None = None) -> None:
        if not isinstance(master_key, bytes) or len(master_key) != KEY_BYTES:
            raise ValueError(f"the vault master key must be {KEY_BYTES} bytes")
        self._wrap = AESGCM(_derive(master_key, b"success-vault-key-wrap"))
        self._index_key = _derive(master_key, b"success-blind-index")
        self._clock = clock

    @classmethod
    def from_setting(cls, b64: str, clock: Clock | None = None) -> Vault:
        try:
            key = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError, AttributeError):
            key = b""
        if len(key) != KEY_BYTES:
            raise ValueError(
                "SUCCESS_VAULT_MASTER_KEY invalide : une clé de 32 octets encodée en base64 est "
                "attendue. Pour une nouvelle installation, générez-en une avec `python -c "
                "\"from services.intake.vault import generate_master_key; "
                "print(generate_master_key())\"` ; sinon remettez la clé d'origine, sans "
                "laquelle les données du coffre sont illisibles.")
        return cls(key, clock)

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    # -- crypto ---------------------------------------------------------------------------

    @staticmethod
    def _key_aad(person_id: UUID) -> bytes:
        return b"success-vault-key:" + person_id.bytes

    def _wrap_key(self, person_id: UUID, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._wrap.encrypt(nonce, data_key, self._key_aad(person_id))

    def _unwrap_key(self, person_id: UUID, wrapped: bytes) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                      self._key_aad(person_id))
        except InvalidTag:
            raise VaultDecryptionError(
                f"impossible de déchiffrer le coffre de la personne {person_id} : la clé "
                "maîtresse (SUCCESS_VAULT_MASTER_KEY) n'est pas celle qui a chiffré ces "
                "données, ou la ligne a été altérée.") from None

    @staticmethod
    def _seal(person_id: UUID, data_key: bytes, record: dict[str, Any]) -> bytes:
        plain = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        nonce = os.urandom(NONCE_BYTES)  # random nonces: far below 2^32 messages per key
        return nonce + AESGCM(data_key).encrypt(nonce, plain, person_id.bytes)

    @staticmethod
    def _open(person_id: UUID, data_key: bytes, sealed: bytes) -> dict[str, Any]:
        try:
            plain = AESGCM(data_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                             person_id.bytes)
        except InvalidTag:
            raise VaultDecryptionError(
                f"le contenu du coffre de la personne {person_id} a été altéré.") from None
        return json.loads(plain)

    # -- records --------------------------------------------------------------------------

    async def put(self, conn: AsyncConnection, person_id: UUID, record: dict[str, Any]) -> None:
        """Store a new person's record (an existing person_id fails the primary key)."""
        data_key = AESGCM.generate_key(bit_length=256)
        now = self._now()
        # On the asyncpg connection itself, in the same transaction: every application
        # runs this (SQLAlchemy's statement layer would double its client cost).
        await (await driver_of(conn)).execute(
            "INSERT INTO intake.vault (person_id, wrapped_key, ciphertext, key_version, "
            "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
            person_id, self._wrap_key(person_id, data_key),
            self._seal(person_id, data_key, record), KEY_VERSION, now)

    async def get(self, conn: AsyncConnection, person_id: UUID) -> dict[str, Any] | None:
        row = (await conn.execute(
            text("SELECT wrapped_key, ciphertext FROM intake.vault WHERE person_id = :p"),
            {"p": person_id})).first()
        if row is None:
            return None
        return self._open(person_id, self._unwrap_key(person_id, row.wrapped_key),
                          row.ciphertext)

    async def holds(self, conn: AsyncConnection, person_id: UUID) -> bool:
        return (await conn.execute(text("SELECT 1 FROM intake.vault WHERE person_id = :p"),
                                   {"p": person_id})).first() is not None

    async def update(self, conn: AsyncConnection, person_id: UUID,
                     record: dict[str, Any]) -> bool:
        """Replace the record, under the same data key; False if the person is not here."""
        wrapped = (await conn.execute(
            text("SELECT wrapped_key FROM intake.vault WHERE person_id = :p FOR UPDATE"),
            {"p": person_id})).scalar()
        if wrapped is None:
            return False
        sealed = self._seal(person_id, self._unwrap_key(person_id, wrapped), record)
        await conn.execute(
            text("UPDATE intake.vault SET ciphertext = :ct, updated_at = :now "
                 "WHERE person_id = :p"),
            {"p": person_id, "ct": sealed, "now": self._now()})
        return True

    async def erase(self, conn: AsyncConnection, person_id: UUID) -> bool:
        """Shred the person's key and record, and their blind indexes; True if they were here.

        Under MVCC the zero overwrite and the delete only add row versions: the old ones stay
        in the table file until :func:`vacuum` runs after the commit, and in WAL and backups
        until those expire.
        """
        await conn.execute(
            text("UPDATE intake.vault SET "
                 "wrapped_key = decode(repeat('00', octet_length(wrapped_key)), 'hex'), "
                 "ciphertext = decode(repeat('00', octet_length(ciphertext)), 'hex') "
                 "WHERE person_id = :p"),
            {"p": person_id})
        deleted = (await conn.execute(
            text("DELETE FROM intake.vault WHERE person_id = :p RETURNING person_id"),
            {"p": person_id})).first()
        await conn.execute(text("DELETE FROM intake.blind_index WHERE person_id = :p"),
                           {"p": person_id})
        return deleted is not None

    # -- blind indexes --------------------------------------------------------------------

    def blind_index(self, kind: str, value: str) -> str:
        """HMAC-SHA256 (hex) of ``kind`` and an already normalised ``value``."""
        message = kind.encode() + b"\x00" + value.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    async def add_blind_index(self, conn: AnyConnection, kind: str, value: str,
                              person_id: UUID) -> UUID | None:
        """Claim ``value`` for ``person_id``. Returns the other person already holding it, or
        None. Two concurrent claims meet on the unique digest: the second insert waits for the
        first transaction, then (read committed) sees its row and returns its person_id."""
        digest = self.blind_index(kind, value)
        driver = await driver_of(conn)  # every application claims its keys: the hot path
        while True:
            inserted = await driver.fetchrow(
                "INSERT INTO intake.blind_index (digest, kind, person_id, created_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING RETURNING person_id",
                digest, kind, person_id, self._now())
            if inserted is not None:
                return None
            holder = await self._holder(conn, digest)
            if holder is not None:  # else the holder was erased meanwhile: claim it again
                return None if holder == person_id else holder

    def claiming_writes(self, person_id: UUID, record: dict[str, Any],
                        claims: list[tuple[str, str]]) -> list[tuple[str, list[Any]]]:
        """:meth:`put` and :meth:`add_blind_index` of each (kind, value), as statements for
        the caller to run with its own writes in one (see ``Transaction.append``'s
        ``with_writes``). A value someone holds fails its unique digest and the whole
        statement: then :meth:`first_holder` says who. Two people applying at the same
        instant meet there too: the second insert waits for the first, then fails."""
        data_key = AESGCM.generate_key(bit_length=256)
        now = self._now()
        return [
            ("INSERT INTO intake.vault (person_id, wrapped_key, ciphertext, key_version, "
             "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
             [person_id, self._wrap_key(person_id, data_key),
              self._seal(person_id, data_key, record), KEY_VERSION, now]),
            # In the claims' order, so two such statements take the digests' locks in the
            # same order (no deadlock).
            ("INSERT INTO intake.blind_index (digest, kind, person_id, created_at) "
             "SELECT d, k, $3, $4 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY "
             "AS t(d, k, i) ORDER BY i",
             [[self.blind_index(kind, value) for kind, value in claims],
              [kind for kind, _ in claims], person_id, now]),
        ]

    async def first_holder(self, conn: AnyConnection,
                           claims: list[tuple[str, str]]) -> UUID | None:
        """The person holding the first of the (kind, value) claims someone holds, if any."""
        for kind, value in claims:
            holder = await self.find_by_blind_index(conn, kind, value)
            if holder is not None:
                return holder
        return None

    async def remove_blind_index(self, conn: AsyncConnection, kind: str, value: str,
                                 person_id: UUID) -> None:
        """Release ``value`` when the person's contact changes (only if they hold it)."""
        await conn.execute(
            text("DELETE FROM intake.blind_index WHERE digest = :d AND person_id = :p"),
            {"d": self.blind_index(kind, value), "p": person_id})

    async def find_by_blind_index(self, conn: AnyConnection, kind: str,
                                  value: str) -> UUID | None:
        return await self._holder(conn, self.blind_index(kind, value))

    @staticmethod
    async def _holder(conn: AnyConnection, digest: str) -> UUID | None:
        holder = await (await driver_of(conn)).fetchval(
            "SELECT person_id FROM intake.blind_index WHERE digest = $1", digest)
        return None if holder is None else UUID(str(holder))


async def vacuum(engine: AsyncEngine) -> bool:
    """Physically remove erased rows: run after the erasure commits (VACUUM cannot run in a
    transaction, and keeps row versions an open snapshot may still see).

    FULL, because a plain VACUUM only marks the space free: the erased row's bytes (wrapped
    key included) stay in the page until a later row happens to overwrite them. FULL rewrites
    the tables into new files under a brief exclusive lock; both tables are small and erasures
    rare, so that pause is the price of the removal being real.

    Then :func:`forget_wal`; True if the live data directory no longer holds the erased rows.
    """
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (FULL) intake.vault"))
        await conn.execute(text("VACUUM (FULL) intake.blind_index"))
        return await forget_wal(conn)


# A checkpoint deletes the segments before its redo point; one switch and one checkpoint
# normally suffice, a concurrent checkpoint or a standby's slot may hold them a while longer.
_WAL_ROUNDS = 4


async def forget_wal(conn: AsyncConnection) -> bool:
    """Have PostgreSQL delete the WAL segments written up to now (which hold the erased rows
    and page images of them): close the current segment (``pg_switch_wal``), CHECKPOINT so
    that no segment before it is needed for crash recovery, until the oldest one left is
    newer. True when done; False (and a warning) when the server does not allow it.

    Needs ``wal_recycle = off`` (as the embedded server runs): otherwise PostgreSQL renames
    old segments for reuse, content included. Needs a superuser, or the pg_checkpoint role
    and EXECUTE on pg_switch_wal and pg_ls_waldir. Archived WAL, replication slots and
    ``wal_keep_size`` keep segments beyond this: see docs/operations.md.
    """
    from sqlalchemy.exc import DBAPIError

    log = structlog.get_logger(__name__)
    try:
        if await conn.scalar(text("SELECT current_setting('wal_recycle')::boolean")):
            log.warning("wal_recycle is on: erased vault rows stay in recycled WAL segments "
                        "until they are overwritten")
            return False
        written = await conn.scalar(text("SELECT pg_walfile_name(pg_current_wal_insert_lsn())"))
        for _ in range(_WAL_ROUNDS):
            await conn.execute(text("SELECT pg_switch_wal()"))
            await conn.execute(text("CHECKPOINT"))
            oldest = await conn.scalar(text(
                "SELECT min(name) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'"))
            if oldest is None or oldest > written:
                return True
    except DBAPIError as exc:
        log.warning("cannot make PostgreSQL delete the WAL holding erased vault rows",
                    reason=str(exc.orig).splitlines()[0])
        return False
    log.warning("WAL segments holding erased vault rows are still kept", oldest=oldest,
                erased_in=written)
    return False
