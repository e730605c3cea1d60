"""The intake shell: loads state, asks the pure domain, appends, keeps the applications list.

Every command is one database transaction: the events, the applications list row, the vault
record and the idempotency key commit together or not at all. A submission, the hottest
command, writes them all in one autocommitted statement.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy import text

from events import Metadata
from events.geography import REGION_OF_DEPARTEMENT
from events.intake import (
    ApplicationReceived,
    PersonErased,
    RegionSettingsChanged,
)
from events.vocabulary import joinable_cohort
from services.common.observability import current_correlation_id
from services.common.clock import Clock
from services.common.settings import Settings
from services.common.store import AnyConnection, EventStore, Transaction, driver_of
from services.intake import domain
from services.intake.domain import Application, RegionSettings, Status
from services.intake.vault import Vault, identity_key, normalise_email


@dataclass(frozen=True)
class Identity:
    """What only the vault keeps: who the person is and what they wrote."""

    record: dict[str, Any]
    email: str
    first_name: str
    last_name: str
    birth_date: Any | None  # date, for mentees


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: dict[str, Any]


class IdempotencyKeyReused(Exception):
    pass


def _refuse_taken_email(holder: UUID | None, person_id: UUID) -> None:
    if holder is not None and holder != person_id:
        raise domain.DomainError("email_already_used", "Cette adresse e-mail est déjà celle "
                                 "d'une autre personne inscrite : vérifiez-la.", "email",
                                 status=409)


_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")


def _month_label(cohort: str) -> str:
    """``2027-03`` -> ``mars 2027``."""
    year, month = cohort.split("-")
    return f"{_MONTHS[int(month) - 1]} {year}"


# How long submissions may route with region settings read earlier (seconds): one read a
# second instead of one per application. A change made through this process applies at once
# (it drops them); one made through another intake process within this delay, as if the
# application had arrived that moment before the change.
SETTINGS_REUSE_S = 1.0
_monotonic = time.monotonic  # (tests move it)
# Every RegionSettingsChanged, in log order.
_SETTINGS_SQL = ("SELECT position, data::text AS data FROM intake.events "
                 "WHERE type = 'RegionSettingsChanged' ORDER BY position")
_COUNTS_SQL = ("SELECT region, count(*) AS n FROM intake.applications WHERE cohort = $1 AND "
               "role = $2 AND status NOT IN ('rejected', 'waiting_list') GROUP BY region")


def _request_digest(profile_fields: dict[str, Any], identity: Identity) -> str:
    """What an idempotency key is bound to: the same key with another request is refused."""
    return hashlib.sha256(json.dumps(
        {"profile": profile_fields, "identity": identity.record}, sort_keys=True,
        default=str).encode()).hexdigest()


def application_stream(application_id: UUID) -> str:
    return f"application-{application_id}"


class Intake:
    def __init__(self, store: EventStore, vault: Vault, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.vault = vault
        self.settings = settings
        self.clock = clock
        # (read at, for cohort, settings) reused by submissions; the generation moves with
        # every change made here, so a read that overlapped one is not kept.
        self._reused_settings: tuple[float, str, dict[str, RegionSettings]] | None = None
        self._settings_generation = 0

    def current_cohort(self) -> str:
        """The cohort applicants can still join today: its objectives steer routing, and
        it is the one an application is for."""
        return joinable_cohort(self.clock.now().astimezone(domain.PARIS).date())

    # -- region settings --------------------------------------------------------------------

    async def region_settings(self, conn: AnyConnection) -> dict[str, RegionSettings]:
        rows = await (await driver_of(conn)).fetch(_SETTINGS_SQL)
        return self._settings_from(row["data"] for row in rows)

    async def _submission_settings(self, driver: asyncpg.Connection,
                                   cohort: str) -> dict[str, RegionSettings]:
        """:meth:`region_settings`, read at most once every ``SETTINGS_REUSE_S``."""
        started, generation = _monotonic(), self._settings_generation
        reused = self._reused_settings
        if reused is not None and reused[1] == cohort and started - reused[0] < SETTINGS_REUSE_S:
            return reused[2]
        settings = await self.region_settings(driver)
        if generation == self._settings_generation:
            self._reused_settings = (started, cohort, settings)
        return settings

    def _drop_reused_settings(self) -> None:
        self._settings_generation += 1
        self._reused_settings = None

    def _settings_from(self, changes: Iterable[str]) -> dict[str, RegionSettings]:
        settings = domain.default_settings(
            self.settings.served_region_codes(), self.current_cohort(),
            self.settings.objective_mentees, self.settings.objective_mentors)
        for change in changes:
            settings = domain.apply_settings(
                settings, RegionSettingsChanged.model_validate_json(change))
        return settings

    async def _routing_inputs(self, driver: asyncpg.Connection, profile: ApplicationReceived,
                              cohort: str) -> tuple[dict[str, RegionSettings], dict[str, int]]:
        """The regions' settings, and how many applications each routed for this role and
        cohort when the applicant has a choice of regions (counting reads every application
        of the cohort: an applicant with a single region skips it)."""
        settings = await self._submission_settings(driver, cohort)
        if len(domain.routing_candidates(profile.departement, profile.remote_ok, settings)) < 2:
            return settings, {}
        rows = await driver.fetch(_COUNTS_SQL, cohort, profile.role.value)
        return settings, {row["region"]: row["n"] for row in rows}

    async def change_region(self, change: RegionSettingsChanged, actor: str) -> list[UUID]:
        """Record a region's settings; when it starts taking part, route its waiting list."""
        stream = f"region-{change.region}"
        async with self.store.transaction() as tx:
            version = len(await tx.read_stream(stream))
            await tx.append(stream, version, [change], self._metadata(change.region, actor))
        self._drop_reused_settings()  # committed: the next submission reads them afresh
        if not change.served:
            return []
        async with self.store.engine.connect() as conn:
            waiting = [row.application_id for row in await conn.execute(text(
                "SELECT application_id FROM intake.applications WHERE status = 'waiting_list' "
                "AND region = :region ORDER BY submitted_at"), {"region": change.region})]
        for application_id in waiting:
            await self.act(application_id, actor, lambda s, settings: domain.Reroute(
                change.region, None, self.current_cohort(), settings))
        return waiting

    # -- submissions ------------------------------------------------------------------------

    async def submit(self, profile_fields: dict[str, Any], identity: Identity,
                     idempotency_key: str | None) -> Outcome:
        """Decide, then record everything in one statement (see ``_submit``). A taken key
        or lookup key fails that statement and records nothing: the caller then gets the
        stored answer, or the person's existing application."""
        digest = _request_digest(profile_fields, identity) if idempotency_key else None
        while True:
            try:
                async with self.store.autocommitted() as tx:
                    return await self._submit(tx, dict(profile_fields), identity,
                                              idempotency_key, digest)
            except asyncpg.UniqueViolationError as exc:
                if exc.table_name not in ("idempotency_keys", "blind_index"):
                    raise
            settled = await self._settle_conflict(
                domain.Role(profile_fields["role"]), identity, idempotency_key, digest)
            if settled is not None:
                return settled
            # What blocked it is gone (the person was erased meanwhile): submit again.

    async def _settle_conflict(self, role: domain.Role, identity: Identity, key: str | None,
                               digest: str | None) -> Outcome | None:
        """The answer to a submission refused on a unique key: the one stored under its
        idempotency key (if the request is the same), else the application of whoever holds
        one of its lookup keys; None if neither is there any more."""
        async with self.store.autocommitted() as tx:
            driver = await tx.driver()
            if key is not None:
                row = await driver.fetchrow(
                    "SELECT request_digest, status_code, response FROM intake.idempotency_keys "
                    "WHERE key = $1", key)
                if row is not None:
                    if row["request_digest"] != digest:
                        raise IdempotencyKeyReused
                    return Outcome(row["status_code"], row["response"])
            holder = await self.vault.first_holder(driver, self._claims(role, identity))
        return None if holder is None else await self._existing(holder)

    async def _submit(self, tx: Transaction, fields: dict[str, Any], identity: Identity,
                      key: str | None, digest: str | None) -> Outcome:
        """One autocommitted statement records the application: its events, the
        applications list row, the vault record with its lookup keys (unless the person is
        not eligible: nothing is kept of them) and the idempotency key with the answer."""
        now = self.clock.now()
        cohort = self.current_cohort()
        application_id = uuid4()
        person_id = uuid4()
        role = domain.Role(fields["role"])
        rejection = domain.ineligibility(
            role, age=fields.pop("age", None), years_in_ess=fields.get("years_in_ess"))
        profile = ApplicationReceived(application_id=application_id, person_id=person_id, **fields)
        home = REGION_OF_DEPARTEMENT[profile.departement]
        if rejection:
            routing = domain.RoutingDecision(home, domain.RoutingBasis.waiting_list, ())
        else:
            settings, counts = await self._routing_inputs(await tx.driver(), profile, cohort)
            routing = domain.route(profile.departement, profile.remote_ok, role, settings, counts)
        events = domain.decide(domain.Submit(profile, rejection, routing, cohort), Application())
        state = domain.replay(events)
        outcome = Outcome(201, self._submitted_body(state, cohort, rejection))
        writes = [self._row_statement(state, cohort, now)]
        if not rejection:
            writes += self.vault.claiming_writes(person_id, identity.record,
                                                 self._claims(role, identity))
        if key is not None:
            writes.append((
                "INSERT INTO intake.idempotency_keys (key, request_digest, created_at, "
                "status_code, response) VALUES ($1, $2, $3, $4, $5::jsonb)",
                [key, digest, now, outcome.status_code, json.dumps(outcome.body)]))
        await tx.append(application_stream(application_id), 0, events,
                        self._metadata(routing.to_region, "applicant"), with_writes=writes)
        return outcome

    @staticmethod
    def _submitted_body(state: Application, cohort: str,
                        rejection: tuple[domain.RejectionReason, ...]) -> dict[str, Any]:
        assert state.profile is not None
        body: dict[str, Any] = {"application_id": str(state.profile.application_id),
                                "status": state.status, "region": state.region,
                                "cohort": cohort}
        if rejection:
            body["reasons"] = [{"code": r.value, "message": domain.REJECTION_MESSAGES[r]}
                               for r in rejection]
            body["message"] = "Votre candidature ne remplit pas les conditions du programme."
        elif state.status is Status.waiting_list:
            body["message"] = ("Merci ! Votre région ne participe pas encore au programme : "
                               "votre candidature est gardée en liste d'attente.")
        else:
            body["message"] = ("Merci ! Votre candidature est enregistrée pour la cohorte qui "
                               f"démarre en {_month_label(cohort)} ; la CRESS de votre région "
                               "vous contactera pour un entretien.")
        return body

    @staticmethod
    def _claims(role: domain.Role, identity: Identity) -> list[tuple[str, str]]:
        """The lookup keys that find the same person applying twice, even at the same
        instant (see ``Vault.claiming_writes``)."""
        keys = [(f"{role.value}:email", normalise_email(identity.email))]
        if identity.birth_date is not None:
            keys.append((f"{role.value}:identity", identity_key(
                identity.first_name, identity.last_name, identity.birth_date)))
        return keys

    async def _existing(self, person_id: UUID) -> Outcome:
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT application_id, status, region, cohort FROM intake.applications "
                "WHERE person_id = :person ORDER BY submitted_at LIMIT 1"),
                {"person": person_id})).one()
        return Outcome(200, {
            "application_id": str(row.application_id), "status": row.status,
            "region": row.region, "cohort": row.cohort, "duplicate": True,
            "message": "Vous avez déjà déposé une candidature : la voici. Pour la modifier, "
                       "contactez la CRESS de votre région."})

    # -- staff actions ----------------------------------------------------------------------

    async def load(self, application_id: UUID) -> tuple[Application, Any]:
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT * FROM intake.applications WHERE application_id = :id"),
                {"id": application_id})).first()
        if row is None:
            raise domain.DomainError("not_found", "Candidature introuvable : vérifiez "
                                     "l'identifiant.")
        events = await self.store.read_stream(application_stream(application_id))
        return domain.replay([e.data for e in events]), row

    async def act(self, application_id: UUID, actor: str,
                  command: Callable[[Application, dict[str, RegionSettings]], object],
                  check: Callable[[Any], None] | None = None) -> Application:
        """Run one staff command on an application (``check`` vets the list row first,
        e.g. the referent's region)."""
        stream = application_stream(application_id)
        async with self.store.transaction() as tx:
            row = (await tx.connection.execute(text(
                "SELECT * FROM intake.applications WHERE application_id = :id"),
                {"id": application_id})).first()
            if row is None:
                raise domain.DomainError("not_found", "Candidature introuvable : vérifiez "
                                         "l'identifiant.")
            if check is not None:
                check(row)
            envelopes = await tx.read_stream(stream)
            history = [e.data for e in envelopes]
            submitted_at = envelopes[0].occurred_at if envelopes else None
            state = domain.replay(history, submitted_at)
            settings = await self.region_settings(tx.connection)
            events = domain.decide(command(state, settings), state)
            new_state = domain.replay([*history, *events], submitted_at)
            await tx.append(stream, len(history), events,
                            self._metadata(new_state.region or row.region, actor))
            await self._save_row(tx.connection, new_state, row.cohort, row.submitted_at)
            return new_state

    async def erase(self, person_id: UUID, actor: str,
                    check: Callable[[set[str]], None] | None = None) -> bool:
        """Crypto-shredding: destroy the person's vault key and record, publish PersonErased.
        ``check`` vets the regions of the person's applications before anything is destroyed
        (e.g. the staff member's region)."""
        from services.intake.vault import vacuum

        async with self.store.transaction() as tx:
            regions = sorted((await tx.connection.execute(text(
                "SELECT DISTINCT region FROM intake.applications WHERE person_id = :p"),
                {"p": person_id})).scalars())
            region = regions[0] if regions else None
            if check is not None:
                if not regions and not await self.vault.holds(tx.connection, person_id):
                    return False  # unknown: a 404 to everyone, whatever their region
                check(set(regions))
            stream = f"person-{person_id}"
            history = await tx.read_stream(stream)  # may hold contact corrections
            if any(isinstance(e.data, PersonErased) for e in history):
                return True  # erased before
            if region is None and not await self.vault.holds(tx.connection, person_id):
                return False
            # Appending to an existing stream must be the transaction's first write.
            await tx.append(stream, len(history), [PersonErased(person_id=person_id)],
                            self._metadata(region or self.settings.region, actor))
            await self.vault.erase(tx.connection, person_id)
        await vacuum(self.store.engine)  # old row versions of the vault go for good
        return True

    # -- finding a person and correcting their contact details --------------------------------

    async def find_persons(self, *, email: str | None = None,
                           identity: tuple[str, str, Any] | None = None) -> list[Any]:
        """The applications of whoever holds this e-mail, or this name and birth date, through
        the blind indexes (normalised like the duplicate check)."""
        if email is not None:
            lookups = [(f"{role.value}:email", normalise_email(email)) for role in domain.Role]
        else:
            assert identity is not None
            lookups = [(f"{role.value}:identity", identity_key(*identity))
                       for role in domain.Role]
        async with self.store.engine.connect() as conn:
            holders = [await self.vault.find_by_blind_index(conn, kind, value)
                       for kind, value in lookups]
            persons = [p for p in holders if p is not None]
            if not persons:
                return []
            return list(await conn.execute(text(
                "SELECT application_id, person_id, role, status, region, channel, cohort, "
                "departement, submitted_at, updated_at FROM intake.applications "
                "WHERE person_id = ANY(:persons) ORDER BY submitted_at"), {"persons": persons}))

    async def correct_contact(self, person_id: UUID, requested: dict[str, str], actor: str,
                              check: Callable[[str], None]) -> list[str]:
        """Re-encrypt the person's record with the corrected contact and move their e-mail
        lookup key, in one transaction with ``ContactDetailsCorrected``. ``check`` vets the
        region of each of their applications. Returns the fields that changed."""
        async with self.store.transaction() as tx:
            conn = tx.connection
            rows = (await conn.execute(text(
                "SELECT role, region FROM intake.applications WHERE person_id = :p"),
                {"p": person_id})).all()
            record = await self.vault.get(conn, person_id) if rows else None
            if record is None:
                raise domain.DomainError("person_not_found", "Personne introuvable (ou "
                                         "effacée) : vérifiez l'identifiant.", "person_id")
            for row in rows:
                check(row.region)
            events = domain.correct_contact(person_id, record, requested, actor)
            if not events:
                return []
            fields = list(events[0].fields)
            kinds = [f"{role}:email" for role in sorted({row.role for row in rows})]
            if "email" in fields:
                for kind in kinds:  # checked before the append; the claim below settles races
                    holder = await self.vault.find_by_blind_index(
                        conn, kind, normalise_email(requested["email"]))
                    _refuse_taken_email(holder, person_id)
            stream = f"person-{person_id}"
            history = await tx.read_stream(stream)
            # Appending to an existing stream must be the transaction's first write.
            await tx.append(stream, len(history), events, self._metadata(rows[0].region, actor))
            if "email" in fields:
                old, new = normalise_email(str(record.get("email", ""))), normalise_email(
                    requested["email"])
                for kind in kinds:
                    _refuse_taken_email(await self.vault.add_blind_index(
                        conn, kind, new, person_id), person_id)
                    await self.vault.remove_blind_index(conn, kind, old, person_id)
            await self.vault.update(conn, person_id, {**record, **{
                f: requested[f] for f in fields}})
            return fields

    # -- helpers ----------------------------------------------------------------------------

    def _metadata(self, region: str, actor: str) -> Metadata:
        return Metadata(region=region, actor=actor, correlation_id=current_correlation_id())

    async def _save_row(self, conn: AnyConnection, state: Application, cohort: str,
                        submitted_at: datetime) -> None:
        sql, args = self._row_statement(state, cohort, submitted_at)
        await (await driver_of(conn)).execute(sql, *args)

    def _row_statement(self, state: Application, cohort: str,
                       submitted_at: datetime) -> tuple[str, list[Any]]:
        """The applications list row of ``state`` (inserted, or updated), as SQL and
        parameters."""
        profile = state.profile
        assert profile is not None and state.status is not None
        return (
            "INSERT INTO intake.applications (application_id, person_id, role, status, region, "
            "channel, cohort, departement, submitted_at, updated_at) VALUES ($1, $2, $3, $4, "
            "$5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (application_id) DO UPDATE SET status = EXCLUDED.status, "
            "region = EXCLUDED.region, updated_at = EXCLUDED.updated_at",
            [profile.application_id, profile.person_id, profile.role.value, state.status.value,
             state.region or REGION_OF_DEPARTEMENT[profile.departement], profile.channel.value,
             cohort, profile.departement, submitted_at, self.clock.now()])


