"""Staff accounts, sessions and sign-in failures in PostgreSQL (schema ``backoffice``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.backoffice.accounts import Account, AccountError, digest, new_secret
from services.common.auth import StaffRole
from services.common.store import async_database_url

SCHEMA = "backoffice"
metadata = sa.MetaData(schema=SCHEMA)
accounts = sa.Table(
    "accounts", metadata,
    sa.Column("account_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text), sa.Column("display_name", sa.Text),
    sa.Column("subject", sa.Text), sa.Column("role", sa.Text), sa.Column("region", sa.Text),
    sa.Column("password_hash", sa.Text), sa.Column("invitation_digest", sa.Text),
    sa.Column("invitation_expires_at", sa.DateTime(timezone=True)),
    sa.Column("disabled", sa.Boolean), sa.Column("created_at", sa.DateTime(timezone=True)))
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("session_digest", sa.Text, primary_key=True),
    sa.Column("account_id", pg.UUID(as_uuid=True)), sa.Column("csrf_token", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)))
failures = sa.Table(
    "signin_failures", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("throttle_key", sa.Text),
    sa.Column("failed_at", sa.DateTime(timezone=True)))


def _account(row) -> Account:
    return Account(row.account_id, row.email, row.display_name, row.subject,
                   StaffRole(row.role), row.region,
                   active=row.password_hash is not None and not row.disabled)


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, database_url: str) -> "Accounts":
        return cls(create_async_engine(async_database_url(database_url), hide_parameters=True,
                                       pool_size=5, max_overflow=5, pool_pre_ping=True))

    async def dispose(self) -> None:
        await self.engine.dispose()

    # --- accounts ---------------------------------------------------------------------------

    async def create(self, *, email: str, display_name: str, subject: str, role: StaffRole,
                     region: str | None, now: datetime, invitation_ttl: timedelta,
                     password_hash: str | None = None) -> tuple[Account, str]:
        """A new account and its one-time invitation token (to e-mail, never stored)."""
        token, token_digest = new_secret()
        async with self.engine.begin() as conn:
            taken = (await conn.execute(sa.select(accounts.c.email, accounts.c.subject).where(
                sa.or_(accounts.c.email == email, accounts.c.subject == subject)))).first()
            if taken is not None:
                field = "email" if taken.email == email else "subject"
                raise AccountError("account_exists", field, "Un compte existe déjà avec "
                                   + ("cette adresse." if field == "email" else "cet identifiant."))
            account_id = uuid4()
            await conn.execute(accounts.insert().values(
                account_id=account_id, email=email, display_name=display_name, subject=subject,
                role=role.value, region=region, password_hash=password_hash,
                invitation_digest=None if password_hash else token_digest,
                invitation_expires_at=None if password_hash else now + invitation_ttl,
                disabled=False, created_at=now))
        return await self.by_id(account_id), token

    async def reinvite(self, email: str, now: datetime, ttl: timedelta) -> tuple[Account, str]:
        token, token_digest = new_secret()
        async with self.engine.begin() as conn:
            row = (await conn.execute(accounts.update().where(accounts.c.email == email).values(
                invitation_digest=token_digest, invitation_expires_at=now + ttl)
                .returning(accounts))).first()
        if row is None:
            raise AccountError("unknown_account", "email", "Aucun compte avec cette adresse.")
        return _account(row), token

    async def by_id(self, account_id: UUID) -> Account:
        async with self.engine.connect() as conn:
            row = (await conn.execute(accounts.select().where(
                accounts.c.account_id == account_id))).one()
        return _account(row)

    async def credentials(self, email: str) -> tuple[Account | None, str | None]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(accounts.select().where(accounts.c.email == email))).first()
        return (None, None) if row is None else (_account(row), row.password_hash)

    async def all(self) -> list[Account]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(accounts.select().order_by(
                accounts.c.region.nulls_first(), accounts.c.email))).all()
        return [_account(row) for row in rows]

    async def referents(self, region: str) -> list[Account]:
        """The region's referents who may be given pairs (not disabled), by name."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(accounts.select().where(
                accounts.c.role == StaffRole.referent.value, accounts.c.region == region,
                accounts.c.disabled.is_(False)).order_by(accounts.c.display_name))).all()
        return [_account(row) for row in rows]

    async def set_disabled(self, email: str, disabled: bool) -> Account:
        async with self.engine.begin() as conn:
            row = (await conn.execute(accounts.update().where(accounts.c.email == email)
                                      .values(disabled=disabled).returning(accounts))).first()
            if row is not None and disabled:
                await conn.execute(sessions.delete().where(
                    sessions.c.account_id == row.account_id))
        if row is None:
            raise AccountError("unknown_account", "email", "Aucun compte avec cette adresse.")
        return _account(row)

    async def invitation(self, token: str, now: datetime) -> Account | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(accounts.select().where(
                accounts.c.invitation_digest == digest(token),
                accounts.c.invitation_expires_at > now, accounts.c.disabled.is_(False)))).first()
        return None if row is None else _account(row)

    async def accept_invitation(self, token: str, password_hash: str, now: datetime) -> bool:
        """Set the password and spend the token, once: a second use finds nothing."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(accounts.update().where(
                accounts.c.invitation_digest == digest(token),
                accounts.c.invitation_expires_at > now, accounts.c.disabled.is_(False))
                .values(password_hash=password_hash, invitation_digest=None,
                        invitation_expires_at=None).returning(accounts.c.account_id))).first()
            if row is not None:  # a password reset signs every other session out
                await conn.execute(sessions.delete().where(
                    sessions.c.account_id == row.account_id))
        return row is not None

    # --- sessions ---------------------------------------------------------------------------

    async def open_session(self, account: Account, now: datetime, ttl: timedelta) -> str:
        token, session_digest = new_secret()
        csrf, _ = new_secret()
        async with self.engine.begin() as conn:
            await conn.execute(sessions.delete().where(sessions.c.expires_at <= now))
            await conn.execute(sessions.insert().values(
                session_digest=session_digest, account_id=account.account_id, csrf_token=csrf,
                created_at=now, expires_at=now + ttl))
        return token

    async def session(self, token: str, now: datetime) -> tuple[Account, str] | None:
        """The signed-in account and its CSRF token, if the session is valid."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(accounts, sessions.c.csrf_token)
                .join(sessions, sessions.c.account_id == accounts.c.account_id)
                .where(sessions.c.session_digest == digest(token), sessions.c.expires_at > now,
                       accounts.c.disabled.is_(False)))).first()
        return None if row is None else (_account(row), row.csrf_token)

    async def close_session(self, token: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sessions.delete().where(sessions.c.session_digest == digest(token)))

    # --- the sign-in throttle ---------------------------------------------------------------

    async def recent_failures(self, keys: tuple[str, ...], since: datetime,
                              ) -> dict[str, list[datetime]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(failures.c.throttle_key, failures.c.failed_at)
                                       .where(failures.c.throttle_key.in_(keys),
                                              failures.c.failed_at > since))).all()
        found: dict[str, list[datetime]] = {}
        for key, at in rows:
            found.setdefault(key, []).append(at)
        return found

    async def record_failure(self, keys: tuple[str, ...], now: datetime, keep: timedelta) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(failures.delete().where(failures.c.failed_at < now - keep))
            await conn.execute(failures.insert(), [{"throttle_key": key, "failed_at": now}
                                                   for key in keys])

    async def clear_failures(self, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(failures.delete().where(failures.c.throttle_key == key))
