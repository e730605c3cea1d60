"""The daily digest: every day at 10:00 (Europe/Paris), for each region, yesterday's new
applications as a protected file, e-mailed to the region's recipients, exactly once per
region and day.

- Content: only what reporting knows, pseudonymous — application and person ids, role,
  channel, département, age band, current status, time received. No name, no contact.
- Protection: a CSV encrypted with age (X25519) to the public keys of the region's recipients
  (``SUCCESS_DIGEST_RECIPIENTS``); only their private keys open it (``age -d -i key.txt``).
- Every day, once: the timer reads the injectable clock; the digest due is the latest one whose
  10:00 has passed. A service down over several 10:00s sends, when it is back, every missed
  day's digest, oldest first, from the day the region was first configured
  (``digest_regions``: never before). Sending happens under a
  per-(region, day) advisory lock, and ``digests_sent`` records it in the same transaction
  after the SMTP server accepted it; a crash between the two re-sends the same message with
  the same Message-ID (``digest-<region>-<day>``), which mail clients collapse.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time as monotonic
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pyrage
import structlog
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pyrage import x25519

from events.vocabulary import (
    AGE_BAND_LABELS,
    RECRUITMENT_CHANNEL_LABELS,
    ROLE_LABELS,
    AgeBand,
    RecruitmentChannel,
    Role,
)
from services.common import mail
from services.common.settings import Settings
from services.reporting.projections import SCHEMA, erased_people

log = structlog.get_logger(__name__)

PARIS = ZoneInfo("Europe/Paris")
SEND_AT = time(10, 0)
TICK_S = 0.5  # real time between two looks at the (business) clock
RETRY_S = 30.0  # after a refused or failed send

STATUS_LABELS = {
    "applied": "Reçue, en cours d'examen",
    "waiting_list": "En liste d'attente (région pas encore desservie)",
    "rejected": "Refusée (critères d'éligibilité)",
    "declined": "Non retenue",
    "withdrawn": "Retirée",
    "waiting": "Admise, en attente de binôme",
    "active": "En binôme",
    "ended": "Binôme terminé",
    "left": "Sortie du vivier",
}
HEADERS = ["candidature", "personne", "rôle", "canal", "département", "tranche d'âge",
           "statut", "reçue le"]


class Recipient(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str = Field(min_length=3)
    age: str = Field(pattern=r"^age1[0-9a-z]{58}$", description="clé publique age X25519")


_RECIPIENTS = TypeAdapter(dict[str, list[Recipient]])


def recipients_of(settings: Settings) -> dict[str, list[Recipient]]:
    if not settings.digest_recipients:
        return {}
    return {region.upper(): people for region, people in
            _RECIPIENTS.validate_python(json.loads(settings.digest_recipients)).items()}


# --- pure --------------------------------------------------------------------------------------


def due_day(now: datetime) -> date:
    """The day whose digest is the latest one due at ``now``: yesterday from 10:00 Paris time,
    the day before until then."""
    local = now.astimezone(PARIS)
    return local.date() - timedelta(days=1 if local.time() >= SEND_AT else 2)


def days_to_send(first_day: date, due: date, sent: set[date]) -> list[date]:
    """The days from ``first_day`` to ``due`` (both included) whose digest was not sent yet,
    oldest first: one file per day, each once."""
    span = (due - first_day).days + 1
    return [day for day in (first_day + timedelta(days=n) for n in range(max(span, 0)))
            if day not in sent]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), PARIS)
    return start, datetime.combine(day + timedelta(days=1), time(0), PARIS)


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([
            row["application_id"], row["person_id"], ROLE_LABELS[Role(row["role"])],
            RECRUITMENT_CHANNEL_LABELS[RecruitmentChannel(row["channel"])], row["departement"],
            AGE_BAND_LABELS[AgeBand(row["age_band"])] if row["age_band"] else "",
            STATUS_LABELS.get(row["status"], row["status"]),
            row["received_at"].astimezone(PARIS).strftime("%d/%m/%Y %H:%M"),
        ])
    return buffer.getvalue().encode("utf-8-sig")  # BOM: spreadsheets read the accents


def encrypt(content: bytes, public_keys: list[str]) -> bytes:
    """age encryption to every recipient key (ValueError for a malformed key)."""
    try:
        recipients = [x25519.Recipient.from_str(key) for key in public_keys]
    except Exception as exc:  # pyrage raises its own error types
        raise ValueError(str(exc)) from None
    return pyrage.encrypt(content, recipients)


def filename(region: str, day: date) -> str:
    return f"candidatures-{region}-{day.isoformat()}.csv.age"


def body(region: str, day: date, count: int) -> str:
    what = (f"{count} nouvelle(s) candidature(s)" if count else "aucune nouvelle candidature")
    return (
        f"Bonjour,\n\nVoici le récapitulatif des candidatures reçues le {day:%d/%m/%Y} pour la "
        f"région {region} : {what}.\n\n"
        f"Le fichier joint ({filename(region, day)}) est chiffré avec age pour les seuls "
        "destinataires de la région. Pour l'ouvrir, avec votre clé privée :\n\n"
        f"    age -d -i ma-cle.txt -o candidatures.csv {filename(region, day)}\n\n"
        "(ou rage, l'équivalent). Il ne contient que des identifiants pseudonymes : retrouvez "
        "chaque personne dans le back-office d'intake.\n\n"
        "— Succ'ess, programme de mentorat des CRESS\n")


# --- reading -----------------------------------------------------------------------------------


async def load_applications(conn: asyncpg.Connection, region: str, day: date
                            ) -> list[dict[str, Any]]:
    """The applications received on ``day`` (Paris time) that ``region`` handles now (the
    region of their latest routing: a re-routed one is the new region's), erased people left
    out, with their current status."""
    start, end = day_bounds(day)
    rows = await conn.fetch(
        f"SELECT a.occurred_at, a.envelope->'data' AS data, p.data->>'st' AS status "
        f"FROM {SCHEMA}.archive a LEFT JOIN {SCHEMA}.view_rows p ON p.view = 'people' "
        "AND p.key = a.envelope->'data'->>'person_id' "
        "WHERE a.type = 'ApplicationReceived' AND coalesce(p.data->>'r', a.region) = $1 "
        "AND a.occurred_at >= $2 AND a.occurred_at < $3 ORDER BY a.position",
        region, start, end)
    erased = set(await erased_people(conn))
    out = []
    for row in rows:
        data = json.loads(row["data"])
        if data["person_id"] in erased:
            continue
        out.append({"application_id": data["application_id"], "person_id": data["person_id"],
                    "role": data["role"], "channel": data["channel"],
                    "departement": data["departement"], "age_band": data.get("age_band"),
                    "status": row["status"] or "applied", "received_at": row["occurred_at"]})
    return out


# --- sending -----------------------------------------------------------------------------------


async def send_digest(conn: asyncpg.Connection, settings: Settings, region: str, day: date,
                      recipients: list[Recipient], now: datetime) -> bool:
    """Send the digest of (region, day) unless it was sent; True if this call sent it."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                           f"digest:{region}:{day.isoformat()}")
        if await conn.fetchval(f"SELECT 1 FROM {SCHEMA}.digests_sent WHERE region = $1 "
                               "AND day = $2", region, day):
            return False
        rows = await load_applications(conn, region, day)
        key = f"digest-{region}-{day.isoformat()}"
        message = mail.build_message(
            sender=settings.smtp_sender, to=[r.email for r in recipients],
            subject=f"Succ'ess — candidatures du {day:%d/%m/%Y} ({region})",
            body=body(region, day, len(rows)), key=key,
            attachments=[mail.Attachment(filename(region, day),
                                         encrypt(to_csv(rows), [r.age for r in recipients]),
                                         "application/age-encryption")])
        await mail.send(settings, message)
        await conn.execute(
            f"INSERT INTO {SCHEMA}.digests_sent (region, day, applications, recipients, "
            "message_id, sent_at) VALUES ($1, $2, $3, $4, $5, $6)",
            region, day, len(rows), len(recipients), mail.message_id(key), now)
    log.info("digest sent", region=region, day=day.isoformat(), applications=len(rows),
             recipients=len(recipients))
    return True


async def first_day(conn: asyncpg.Connection, region: str, due: date, now: datetime) -> date:
    """The first day of ``region``'s digests: recorded the first time the timer sees the region
    configured (the day then due), so a region added later is not backfilled."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.digest_regions (region, first_day, configured_at) "
        "VALUES ($1, $2, $3) ON CONFLICT (region) DO NOTHING", region, due, now)
    return await conn.fetchval(
        f"SELECT first_day FROM {SCHEMA}.digest_regions WHERE region = $1", region)


async def send_missed(conn: asyncpg.Connection, settings: Settings, region: str,
                      recipients: list[Recipient], now: datetime) -> list[date]:
    """Send, oldest first, every digest of ``region`` due at ``now`` and not sent yet; the days
    this call sent. A failure stops the catch-up there (the next try resumes in order)."""
    due = due_day(now)
    start = await first_day(conn, region, due, now)
    sent = {row["day"] for row in await conn.fetch(
        f"SELECT day FROM {SCHEMA}.digests_sent WHERE region = $1 AND day >= $2", region, start)}
    done = []
    for day in days_to_send(start, due, sent):
        if await send_digest(conn, settings, region, day, recipients, now):
            done.append(day)
    return done


async def run_timer(runtime: Any) -> None:
    """The 10:00 timer of a reporting process (started with the service, ends with it)."""
    from services.common.store import raw_database_url

    settings: Settings = runtime.settings
    await _rebuild_if_stale(runtime)
    recipients = recipients_of(settings)
    if not recipients:
        log.info("no digest recipients configured: daily digest off")
        return
    caught_up: dict[str, date] = {}  # region -> the latest due day all sent
    retry_at: dict[str, float] = {}
    conn: asyncpg.Connection | None = None
    while not runtime.ready:  # started from on_start: the service is not running yet
        await asyncio.sleep(TICK_S)
    try:
        while runtime.ready:
            now = runtime.clock.now()
            due = due_day(now)
            for region, people in sorted(recipients.items()):
                if caught_up.get(region) == due or retry_at.get(region, 0) > monotonic.monotonic():
                    continue
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(raw_database_url(runtime.state["database_url"]))
                    await send_missed(conn, settings, region, people, now)
                    caught_up[region] = due
                    retry_at.pop(region, None)
                except Exception as exc:  # SMTP or database down: try again later
                    log.warning("digest not sent, will retry", region=region,
                                day=due.isoformat(), error=repr(exc), retry_in_s=RETRY_S)
                    retry_at[region] = monotonic.monotonic() + RETRY_S
            await asyncio.sleep(TICK_S)
    finally:
        if conn is not None:
            await conn.close()


async def _rebuild_if_stale(runtime: Any) -> None:
    from services.common.store import raw_database_url
    from services.reporting.projections import rebuild_if_stale

    try:
        conn = await asyncpg.connect(raw_database_url(runtime.state["database_url"]))
        try:
            await rebuild_if_stale(conn)
        finally:
            await conn.close()
    except Exception as exc:  # the live path still works; `success replay --write` fixes it
        log.error("read models not rebuilt", error=repr(exc))


def start_background(runtime: Any) -> None:
    """``ServiceDefinition.on_start`` hook: the digest timer runs beside the consumers."""
    from services.common.stack import resolve_urls

    runtime.state["database_url"] = resolve_urls(runtime.settings)[1]
    runtime.state["digest_timer"] = asyncio.get_running_loop().create_task(
        run_timer(runtime), name="reporting-digest")
