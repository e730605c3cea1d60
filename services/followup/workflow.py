"""The follow-up shell: matching's events plan and close journeys, staff commands, durable
timers and the reminder outbox — each step one database transaction around the pure domain.

Timers fire exactly once: a timer's row is marked fired in the same transaction that appends
what it causes (events, reminders to send); two replicas racing for it cannot both commit.
Reminders are sent after that transaction, then marked sent: a crash before the SMTP server
accepted a message means it is sent again at restart, with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import structlog
from sqlalchemy import text

from events import Envelope, EventData, Metadata
from events.followup import FollowUpEnded, FollowUpPlanned, QuestionnaireAnswered, ReminderSent
from events.matching import PairEnded, PairFormed
from events.vocabulary import QuestionnaireKind, ReminderKind, Respondent
from services.common import links, mail
from services.common.auth import Principal, StaffRole, issue_token, require_region
from services.common.clock import Clock
from services.common.consumer import NotReadyYet
from services.common.errors import DomainError
from services.common.observability import current_correlation_id
from services.common.settings import Settings
from services.common.store import ConcurrencyConflict, EventStore, Transaction
from services.followup import domain
from services.followup.domain import PARIS, Durations, Reminder, Timer
from services.followup.mails import Mails
from services.followup.questionnaire import check_answers

log = structlog.get_logger(__name__)

SYSTEM = "system"


def journey_stream(pair_id: UUID) -> str:
    return f"journey-{pair_id}"


def durations_of(settings: Settings) -> Durations:
    return Durations(
        intermediate_review_months=settings.followup_intermediate_review_months,
        final_review_months=settings.followup_final_review_months,
        post_programme_months=settings.followup_post_programme_months,
        overdue_grace_days=settings.followup_overdue_grace_days,
        upcoming_notice_days=settings.followup_upcoming_notice_days)


@dataclass(frozen=True)
class Contact:
    first_name: str
    email: str


class ContactUnavailable(Exception):
    """The vault could not be asked right now: try again later."""


class HttpContactBook:
    """Contacts from intake's vault, over its HTTP API, at the moment of sending."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None,
                 base_url: str | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self.base_url = base_url or settings.intake_url

    async def get(self, person_id: UUID) -> Contact | None:
        token = issue_token(self.settings.auth_secret or "", "followup", StaffRole.service, None)
        try:
            async with httpx.AsyncClient(base_url=self.base_url, transport=self.transport,
                                         timeout=10.0) as client:
                answer = await client.get(f"/staff/persons/{person_id}/contact",
                                          headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as error:
            raise ContactUnavailable(repr(error)) from error
        if answer.status_code == 404:
            return None  # erased, or never known: nobody to write to
        if answer.status_code != 200:
            raise ContactUnavailable(f"intake answered {answer.status_code}")
        body = answer.json()
        return Contact(first_name=body["first_name"], email=body["email"])


def _is_staff_id(actor: str) -> bool:
    return actor not in (SYSTEM, "applicant") and not actor.startswith("service:")


class Followup:
    def __init__(self, store: EventStore, clock: Clock, settings: Settings,
                 contacts: HttpContactBook) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.contacts = contacts
        self.durations = durations_of(settings)
        self.mails = Mails(settings.email_templates_dir)
        self._wake = asyncio.Event()

    def _meta(self, region: str, actor: str, cause: Envelope | None = None) -> Metadata:
        return Metadata(region=region, actor=actor,
                        correlation_id=cause.correlation_id if cause
                        else current_correlation_id(),
                        causation_id=cause.event_id if cause else None)

    def today(self) -> date:
        return self.clock.now().astimezone(PARIS).date()

    # -- matching's events --------------------------------------------------------------------

    async def on_matching_event(self, envelope: Envelope, tx: Transaction) -> None:
        data = envelope.data
        if isinstance(data, PairFormed):
            await self._plan(envelope, data, tx)
        elif isinstance(data, PairEnded):
            stream = journey_stream(data.pair_id)
            history = [e.data for e in await tx.read_stream(stream)]
            state = domain.journey_from(history)
            if state.planned is None:
                raise NotReadyYet(f"pair {data.pair_id} ended before it was planned here")
            events = domain.decide(domain.CloseAfterMatching(data), state)
            if events:
                await tx.append(stream, len(history), events,
                                self._meta(envelope.region, SYSTEM, envelope))
                await self._after_end(tx, envelope.region, events[-1])

    async def _plan(self, envelope: Envelope, pair: PairFormed, tx: Transaction) -> None:
        stream = journey_stream(pair.pair_id)
        history = [e.data for e in await tx.read_stream(stream)]
        referent = envelope.actor if _is_staff_id(envelope.actor) else None
        formed_on = envelope.occurred_at.astimezone(PARIS).date()
        events = domain.decide(domain.Plan(pair, formed_on, referent, self.durations),
                               domain.journey_from(history))
        if not events:
            return
        await tx.append(stream, len(history), events,
                        self._meta(envelope.region, SYSTEM, envelope))
        planned: FollowUpPlanned = events[0]
        await tx.connection.execute(text(
            "INSERT INTO followup.journeys (pair_id, region, cohort_id, mentee_id, mentor_id, "
            "referent_id, starts_on, ends_on) VALUES (:p, :r, :c, :mentee, :mentor, :ref, :s, :e) "
            "ON CONFLICT (pair_id) DO NOTHING"),
            {"p": planned.pair_id, "r": envelope.region, "c": planned.cohort_id,
             "mentee": planned.mentee_id, "mentor": planned.mentor_id,
             "ref": planned.referent_id, "s": planned.starts_on, "e": planned.ends_on})
        await self._add_timers(tx, envelope.region, planned.pair_id,
                               domain.timers_for_plan(planned, self.durations))

    async def _add_timers(self, tx: Transaction, region: str, pair_id: UUID | None,
                          timers: Sequence[Timer]) -> None:
        for timer in timers:
            await tx.connection.execute(text(
                "INSERT INTO followup.timers (timer_id, key, kind, review_kind, pair_id, region, "
                "due_at) VALUES (:id, :key, :kind, :review, :pair, :region, :due) "
                "ON CONFLICT (key) DO NOTHING"),
                {"id": uuid4(), "key": timer.key, "kind": str(timer.kind),
                 "review": timer.review_kind.value if timer.review_kind else None,
                 "pair": pair_id, "region": region, "due": timer.due_at})
        self._wake.set()

    async def _after_end(self, tx: Transaction, region: str, ended: EventData) -> None:
        assert isinstance(ended, FollowUpEnded)
        await tx.connection.execute(text(
            "UPDATE followup.journeys SET ended_on = :on, early = :early WHERE pair_id = :p"),
            {"on": ended.ended_on, "early": ended.early, "p": ended.pair_id})
        await tx.connection.execute(text(
            "UPDATE followup.timers SET cancelled_at = :now WHERE pair_id = :p "
            "AND fired_at IS NULL AND cancelled_at IS NULL"),
            {"now": self.clock.now(), "p": ended.pair_id})
        await self._add_timers(tx, region, ended.pair_id,
                               domain.timers_after_end(ended, self.durations))

    # -- staff commands on a journey ----------------------------------------------------------

    async def journey_row(self, pair_id: UUID) -> Any:
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(text("SELECT * FROM followup.journeys WHERE pair_id = :p"),
                                      {"p": pair_id})).first()
        if row is None:
            raise DomainError("pair_not_found", "Binôme inconnu du suivi (pas encore formé, "
                              "ou pas encore reçu de matching : réessayez dans un instant).",
                              field="pair_id")
        return row

    async def journey(self, pair_id: UUID) -> domain.Journey:
        return domain.journey_from(e.data for e in await self.store.read_stream(
            journey_stream(pair_id)))

    async def act(self, pair_id: UUID, region: str, actor: str, make) -> list[EventData]:
        """Run ``make(state) -> command`` on the journey and append what it decides; retried
        when a timer or another referent wrote to the journey meanwhile."""
        for attempt in range(5):
            try:
                async with self.store.transaction() as tx:
                    history = [e.data for e in await tx.read_stream(journey_stream(pair_id))]
                    state = domain.journey_from(history)
                    events = domain.decide(make(state), state)
                    if not events:
                        return []
                    await tx.append(journey_stream(pair_id), len(history), events,
                                    self._meta(region, actor))
                    for event in events:
                        await self._project(tx, region, event)
                return events
            except ConcurrencyConflict:
                if attempt == 4:
                    raise
        return []

    async def _project(self, tx: Transaction, region: str, event: EventData) -> None:
        if isinstance(event, FollowUpEnded):
            await self._after_end(tx, region, event)
        elif event.event_type == "ReferentAssigned":
            await tx.connection.execute(text(
                "UPDATE followup.journeys SET referent_id = :r WHERE pair_id = :p"),
                {"r": event.referent_id, "p": event.pair_id})

    async def answer_annual(self, region: str, respondent: Respondent, version: int,
                            answers: dict, actor: str) -> QuestionnaireAnswered:
        """An annual-review answer from a referent or a partner (anonymous, no pair)."""
        check_answers(QuestionnaireKind.annual, respondent, version, answers)
        if respondent in (Respondent.mentee, Respondent.mentor):
            raise DomainError("pair_required", "Pour un·e mentoré·e ou un mentor, enregistrez "
                              "la réponse sur son binôme.", field="respondent", status=422)
        event = QuestionnaireAnswered(
            response_id=uuid4(), respondent=respondent, person_id=None, pair_id=None,
            kind=QuestionnaireKind.annual, questionnaire_version=version, answers=answers)
        await self.store.append(f"questionnaire-{event.response_id}", 0, [event],
                                self._meta(region, actor))
        return event

    # -- networking events --------------------------------------------------------------------

    async def schedule_networking_event(self, region: str, actor: str,
                                        command: domain.ScheduleNetworkingEvent) -> None:
        event_id = command.networking_event_id
        events = domain.decide(command, domain.NetworkingEvent())
        async with self.store.transaction() as tx:
            await tx.connection.execute(text(
                "INSERT INTO followup.networking_events (networking_event_id, region, kind, "
                "audience, starts_at, format, departement) VALUES (:id, :r, :k, :a, :s, :f, :d)"),
                {"id": event_id, "r": region, "k": str(command.kind), "a": command.audience.value,
                 "s": command.starts_at, "f": command.format.value, "d": command.departement})
            await tx.append(f"networking-{event_id}", 0, events, self._meta(region, actor))
            # Its audience is invited right away, each with a personal link to register.
            await self._add_timers(tx, region, None, [domain.Timer(
                f"networking:{event_id}", domain.ReminderKind.networking_invitation,
                command.now)])

    async def person_status(self, person_id: UUID) -> str | None:
        """"current" when in a pair now, "alumnus" when only in ended ones, else None."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT bool_or(ended_on IS NULL) AS current, count(*) AS pairs FROM "
                "followup.journeys WHERE mentee_id = :p OR mentor_id = :p"), {"p": person_id})).one()
        if not row.pairs:
            return None
        return "current" if row.current else "alumnus"

    async def networking_act(self, event_id: UUID, principal: Principal, make,
                             person: tuple[UUID, Any] | None = None) -> list[str]:
        async with self.store.engine.connect() as conn:
            found = (await conn.execute(text(
                "SELECT region FROM followup.networking_events WHERE networking_event_id = :id"),
                {"id": event_id})).first()
        if found is None:
            raise DomainError("networking_event_not_found", "Événement introuvable.",
                              field="networking_event_id")
        require_region(principal, found.region)
        status = await self.person_status(person[0]) if person else None
        stream = f"networking-{event_id}"
        for attempt in range(5):
            try:
                async with self.store.transaction() as tx:
                    history = [e.data for e in await tx.read_stream(stream)]
                    events = domain.decide(make(status, self.clock.now()),
                                           domain.networking_event_from(history))
                    if not events:
                        return []
                    await tx.append(stream, len(history), events,
                                    self._meta(found.region, principal.subject))
                    after = domain.networking_event_from([*history, *events])
                    await tx.connection.execute(text(
                        "UPDATE followup.networking_events SET registered = :reg, attended = "
                        ":att WHERE networking_event_id = :id"),
                        {"reg": len(after.registered), "att": sum(after.attendance.values()),
                         "id": event_id})
                return [e.event_type for e in events]
            except ConcurrencyConflict:
                if attempt == 4:
                    raise
        return []

    # -- durable timers -----------------------------------------------------------------------

    async def ensure_annual_timers(self, regions: Sequence[str]) -> None:
        """This year's and next year's summer questionnaire, for every region served."""
        month, day = (int(part) for part in self.settings.followup_annual_survey_on.split("-"))
        year = self.today().year
        async with self.store.transaction() as tx:
            for region in regions:
                await self._add_timers(tx, region, None, [
                    domain.annual_survey_timer(y, region, month, day) for y in (year, year + 1)])

    async def fire_due(self, limit: int = 200) -> int:
        """Fire every timer whose time has come; returns how many fired."""
        async with self.store.engine.connect() as conn:
            rows = list(await conn.execute(text(
                "SELECT * FROM followup.timers WHERE due_at <= :now AND fired_at IS NULL AND "
                "cancelled_at IS NULL ORDER BY due_at LIMIT :limit"),
                {"now": self.clock.now(), "limit": limit}))
        fired = 0
        for row in rows:
            fired += await self._fire(row)
        return fired

    async def _fire(self, row: Any) -> int:
        timer = Timer(row.key, row.kind, row.due_at,
                      domain.ReviewKind(row.review_kind) if row.review_kind else None)
        for _attempt in range(5):
            try:
                async with self.store.transaction() as tx:
                    if row.pair_id is not None:
                        stream = journey_stream(row.pair_id)
                        history = [e.data for e in await tx.read_stream(stream)]
                        state = domain.journey_from(history)
                        events, reminders = domain.on_timer(timer, state, self.durations)
                        if events:  # the journey's append comes first (the outbox's order)
                            await tx.append(stream, len(history), events,
                                            self._meta(row.region, SYSTEM))
                        params = _params(state, timer)
                        addressed = [(reminder, params) for reminder in reminders]
                    elif timer.kind == ReminderKind.networking_invitation:
                        addressed = await self._networking_invitations(tx, row.region, timer)
                    else:
                        addressed = await self._annual_reminders(tx, row.region, timer)
                    done = await tx.connection.execute(text(
                        "UPDATE followup.timers SET fired_at = :now WHERE timer_id = :id AND "
                        "fired_at IS NULL AND cancelled_at IS NULL"),
                        {"now": self.clock.now(), "id": row.timer_id})
                    if done.rowcount != 1:
                        raise _AlreadyFired
                    for reminder, params in addressed:
                        await self._queue(tx, row.region, row.pair_id, timer, reminder, params)
                log.info("timer fired", key=row.key, reminders=len(addressed))
                return 1
            except _AlreadyFired:
                return 0  # another replica fired it: its transaction holds the effects
            except ConcurrencyConflict:
                continue  # a staff command wrote to the journey meanwhile: decide again
        return 0

    async def _annual_reminders(self, tx: Transaction, region: str, timer: Timer,
                                ) -> list[tuple[Reminder, dict[str, Any]]]:
        """Everyone in a pair now or in the last year, and the referents following them. A
        mentee or mentor answers through their latest pair (named in the reminder)."""
        since = timer.due_at.date() - timedelta(days=365)
        rows = list(await tx.connection.execute(text(
            "SELECT pair_id, mentee_id, mentor_id, referent_id FROM followup.journeys WHERE "
            "region = :r AND starts_on <= :on AND (ended_on IS NULL OR ended_on >= :since) "
            "ORDER BY starts_on, pair_id"),
            {"r": region, "on": timer.due_at.date(), "since": since}))
        year = {"year": timer.due_at.astimezone(PARIS).year}
        people: dict[tuple, tuple[Reminder, dict[str, Any]]] = {}
        for row in rows:
            for recipient, person in ((Respondent.mentee, row.mentee_id),
                                      (Respondent.mentor, row.mentor_id)):
                people[(recipient, person)] = (
                    Reminder(ReminderKind.annual_survey, recipient, person_id=person),
                    {**year, "pair_id": str(row.pair_id)})
            if row.referent_id:
                people[("referent", row.referent_id)] = (Reminder(
                    ReminderKind.annual_survey, Respondent.referent,
                    referent_id=row.referent_id), year)
        return list(people.values())

    async def _networking_invitations(self, tx: Transaction, region: str, timer: Timer,
                                      ) -> list[tuple[Reminder, dict[str, Any]]]:
        """The mentees and mentors of the region in the event's audience (see Register)."""
        event_id = UUID(timer.key.removeprefix("networking:"))
        event = (await tx.connection.execute(text(
            "SELECT * FROM followup.networking_events WHERE networking_event_id = :id"),
            {"id": event_id})).one()
        rows = list(await tx.connection.execute(text(
            "SELECT mentee_id, mentor_id, ended_on FROM followup.journeys WHERE region = :r "
            "ORDER BY starts_on, pair_id"), {"r": region}))
        current: dict[tuple[Respondent, UUID], bool] = {}
        for row in rows:
            for recipient, person in ((Respondent.mentee, row.mentee_id),
                                      (Respondent.mentor, row.mentor_id)):
                current[(recipient, person)] = (current.get((recipient, person), False)
                                                or row.ended_on is None)
        wanted = domain.audience_statuses(domain.Audience(event.audience))
        params = {"networking_event_id": str(event_id), "starts_at": event.starts_at.isoformat(),
                  "event_kind": event.kind, "format": event.format,
                  "departement": event.departement}
        return [(Reminder(ReminderKind.networking_invitation, recipient, person_id=person),
                 params)
                for (recipient, person), is_current in current.items()
                if ("current" if is_current else "alumnus") in wanted]

    async def _queue(self, tx: Transaction, region: str, pair_id: UUID | None, timer: Timer,
                     reminder: Reminder, params: dict[str, Any]) -> None:
        key = domain.reminder_key(timer.key, reminder)
        await tx.connection.execute(text(
            "INSERT INTO followup.mails (mail_id, key, kind, region, pair_id, recipient, "
            "person_id, referent_id, params, created_at, next_attempt_at) VALUES (:id, :key, "
            ":kind, :region, :pair, :recipient, :person, :referent, CAST(:params AS jsonb), "
            ":now, :now) ON CONFLICT (key) DO NOTHING"),
            {"id": domain.reminder_id(key), "key": key, "kind": reminder.kind.value,
             "region": region, "pair": pair_id, "recipient": reminder.recipient.value,
             "person": reminder.person_id, "referent": reminder.referent_id,
             "params": json.dumps({**params, "review_kind": reminder.review_kind.value
                                   if reminder.review_kind else None}),
             "now": self.clock.now()})

    # -- the reminder outbox ------------------------------------------------------------------

    async def send_pending(self, limit: int = 100) -> int:
        """Send the reminders waiting; returns how many the SMTP server accepted."""
        async with self.store.engine.connect() as conn:
            rows = list(await conn.execute(text(
                "SELECT * FROM followup.mails WHERE sent_at IS NULL AND skipped IS NULL AND "
                "next_attempt_at <= :now ORDER BY created_at, key LIMIT :limit"),
                {"now": self.clock.now(), "limit": limit}))
        sent = 0
        for row in rows:
            sent += await self._send(row)
        return sent

    async def _contact(self, row: Any) -> Contact | None:
        if row.person_id is not None:
            return await self.contacts.get(row.person_id)
        # Only a referent registered in the pair's region: another region's directory entry
        # must not receive this region's reminders.
        async with self.store.engine.connect() as conn:
            found = (await conn.execute(text(
                "SELECT display_name, email FROM followup.referents WHERE referent_id = :r "
                "AND region = :region"), {"r": row.referent_id, "region": row.region})).first()
        return Contact(first_name=found.display_name, email=found.email) if found else None

    async def _send(self, row: Any) -> int:
        """One sender per reminder at a time, across replicas: a session advisory lock, which
        PostgreSQL releases by itself if the sending process dies."""
        async with self.store.engine.connect() as lock:
            key = {"k": f"followup-mail:{row.mail_id}"}
            if not (await lock.execute(text(
                    "SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key)).scalar():
                return 0  # another replica (or this one's other loop) is sending it
            try:
                still_pending = (await lock.execute(text(
                    "SELECT sent_at IS NULL AND skipped IS NULL FROM followup.mails WHERE "
                    "mail_id = :id"), {"id": row.mail_id})).scalar()
                await lock.commit()
                return await self._send_claimed(row) if still_pending else 0
            finally:
                try:
                    await lock.execute(text(
                        "SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)
                    await lock.commit()
                except Exception as error:  # connection lost: the server dropped the lock
                    log.info("mail lock already gone", error=repr(error))

    async def _send_claimed(self, row: Any) -> int:
        try:
            contact = await self._contact(row)
            if contact is None:
                await self._skip(row, "no_contact")
                return 0
            rendered = self.mails.render(ReminderKind(row.kind), Respondent(row.recipient),
                                         contact.first_name, dict(row.params),
                                         self._personal_link(row))
            message = mail.build_message(sender=self.settings.smtp_sender, to=[contact.email],
                                         subject=rendered.subject, body=rendered.text,
                                         html=rendered.html, key=str(row.mail_id),
                                         now=self.clock.now())
            await mail.send(self.settings, message)
        except (mail.MailError, ContactUnavailable) as error:
            await self._retry_later(row, str(error))
            return 0
        event = ReminderSent(reminder_id=row.mail_id, kind=ReminderKind(row.kind),
                             pair_id=row.pair_id, recipient=Respondent(row.recipient),
                             person_id=row.person_id, referent_id=row.referent_id)
        # The server has the message: record it even if the database is away for a while,
        # or it would be sent again. Only a crash in this window can still resend it.
        delay = 0.5
        while True:
            try:
                await self._mark_sent(row, event)
                break
            except ConcurrencyConflict:
                break  # recorded already
            except Exception as error:
                log.warning("reminder sent but not yet recorded, retrying", error=repr(error),
                            mail_id=str(row.mail_id))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        log.info("reminder sent", mail_id=str(row.mail_id), kind=row.kind,
                 recipient=row.recipient)
        return 1

    def _personal_link(self, row: Any) -> str | None:
        """The link a reminder gives its participant, sealed now (never stored: a re-sent
        e-mail may carry another token for the same thing)."""
        target = _link_target(row)
        if target is None or row.person_id is None or not self.settings.auth_secret:
            return None
        purpose, object_id, until = target
        now = self.clock.now()
        validity = links.DEFAULT_VALIDITY[purpose]
        if until is not None:  # e.g. a networking event: until the day after it starts
            validity = max(validity, until + timedelta(days=1) - now)
        token = links.seal(self.settings.auth_secret, purpose, row.person_id, object_id, now,
                           validity)
        return links.link_url(self.settings.participants_url, token)

    async def _mark_sent(self, row: Any, event: ReminderSent) -> None:
        async with self.store.transaction() as tx:
            marked = await tx.connection.execute(text(
                "UPDATE followup.mails SET sent_at = :now, attempts = attempts + 1 WHERE "
                "mail_id = :id AND sent_at IS NULL"), {"now": self.clock.now(), "id": row.mail_id})
            if marked.rowcount == 1:  # a new stream: other writes may come first
                await tx.append(f"reminder-{row.mail_id}", 0, [event],
                                self._meta(row.region, SYSTEM))

    async def _skip(self, row: Any, reason: str) -> None:
        async with self.store.transaction() as tx:
            await tx.connection.execute(text(
                "UPDATE followup.mails SET skipped = :why WHERE mail_id = :id"),
                {"why": reason, "id": row.mail_id})
        log.info("reminder skipped", mail_id=str(row.mail_id), reason=reason)

    async def _retry_later(self, row: Any, error: str) -> None:
        delay = min(30.0 * 2 ** row.attempts, self.settings.mail_max_backoff_s)
        async with self.store.transaction() as tx:
            await tx.connection.execute(text(
                "UPDATE followup.mails SET attempts = attempts + 1, last_error = :error, "
                "next_attempt_at = :at WHERE mail_id = :id"),
                {"error": error[:1000], "at": self.clock.now() + timedelta(seconds=delay),
                 "id": row.mail_id})
        log.warning("reminder not sent, will retry", mail_id=str(row.mail_id), error=error,
                    retry_in_s=delay)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self, regions: Sequence[str]) -> None:
        """Fire timers and send reminders until cancelled; wakes early when timers are added."""
        while True:
            try:
                await self.ensure_annual_timers(regions)  # next year's once the year turns
                await self.fire_due()
                await self.send_pending()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database or NATS away: try again next round
                log.warning("follow-up round failed, will retry", error=repr(error))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.followup_poll_interval_s)
            except TimeoutError:
                pass

    def poke(self) -> None:
        """Look at timers now (the clock moved)."""
        self._wake.set()


class _AlreadyFired(Exception):
    pass


def _link_target(row: Any) -> tuple[links.LinkPurpose, str, datetime | None] | None:
    """(purpose, object, needed until) of the personal link a reminder carries, if any."""
    kind, params = ReminderKind(row.kind), dict(row.params)
    purpose = _LINK_PURPOSES.get(kind)
    if purpose is None:
        return None
    if kind is ReminderKind.networking_invitation:
        # The event, and the role the person registers in (what the registration records).
        return (purpose, f"{params['networking_event_id']}:{row.recipient}",
                datetime.fromisoformat(params["starts_at"]))
    if kind is ReminderKind.annual_survey:
        if not params.get("pair_id"):
            return None
        return purpose, annual_object(params["year"], params["pair_id"]), None
    return (purpose, str(row.pair_id), None) if row.pair_id else None


_LINK_PURPOSES = {
    ReminderKind.kickoff: links.LinkPurpose.kickoff,
    ReminderKind.end_questionnaire: links.LinkPurpose.end_questionnaire,
    ReminderKind.post_programme_survey: links.LinkPurpose.six_month_questionnaire,
    ReminderKind.annual_survey: links.LinkPurpose.annual_review,
    ReminderKind.declare_sessions: links.LinkPurpose.declare_sessions,
    ReminderKind.networking_invitation: links.LinkPurpose.networking,
}


def annual_object(year: int | str, pair_id: UUID | str) -> str:
    """An annual-review link names the year and the pair the person answers through."""
    return f"{year}:{pair_id}"


def _params(state: domain.Journey, timer: Timer) -> dict[str, Any]:
    planned = state.planned
    if planned is None:
        return {}
    params: dict[str, Any] = {"starts_on": planned.starts_on.isoformat(),
                              "pair_label": f"{planned.cohort_id} · {str(planned.pair_id)[:8]}"}
    if timer.review_kind is not None:
        params["due_on"] = state.reviews[timer.review_kind].due_on.isoformat()
    return params
