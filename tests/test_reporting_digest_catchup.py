"""The 10:00 digest after downtime: every missed day's digest is sent once, oldest first, and
never a day before the region was configured."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import asyncpg
import pyrage
import pytest

from services.common.store import raw_database_url
from services.reporting.digest import days_to_send
from tests.conftest import eventually
from tests.reporting_history import envelope, received
from tests.services_client import running
from tests.test_reporting_digest import RECIPIENTS, IDF_KEY, _timer_looked, attachment
from tests.test_reporting_service import archived, publish

MON, TUE, WED, THU = (date(2026, 1, 12) + timedelta(days=n) for n in range(4))


@pytest.mark.parametrize(("first", "due", "sent", "expected"), [
    # given the first day, the day due and the days sent / then the days to send, in order
    (MON, THU, set(), [MON, TUE, WED, THU]),
    (MON, THU, {MON, WED}, [TUE, THU]),
    (MON, MON, {MON}, []),
    (WED, TUE, set(), []),  # configured after the day due: nothing before it
])
def test_the_days_to_send_are_the_missing_ones_from_the_first_day_oldest_first(
        first, due, sent, expected):
    assert days_to_send(first, due, sent) == expected


def at_eleven_paris(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)  # 11:00 in Paris (winter)


def subjects(mailbox) -> list[str]:
    return [m["Subject"] for m in mailbox.messages]


def subject(day: date, region: str) -> str:
    return f"Succ'ess — candidatures du {day:%d/%m/%Y} ({region})"


async def test_each_missed_day_is_sent_once_in_order_after_a_restart(
        settings, nats_url, clock, mailbox):
    settings = settings.model_copy(update={**mailbox.settings_update(),
                                           "digest_recipients": json.dumps(RECIPIENTS)})
    sunday = MON - timedelta(days=1)
    clock.set(at_eleven_paris(MON))  # configured on Monday: Sunday's digest is the first
    async with running(settings, "reporting", clock=clock) as svc:
        _, runtime = svc["reporting"]
        await eventually(lambda: len(mailbox.messages) == 2)
        events = [envelope(received(uuid4()), region="IDF",
                           when=datetime(2026, 1, 13, 12, 0, tzinfo=UTC)) for _ in range(2)]
        await publish(nats_url, events)
        await eventually(lambda: _equals(archived(runtime), len(events)))
    assert subjects(mailbox) == [subject(sunday, "BRE"), subject(sunday, "IDF")]

    # Down over three 10:00s (Tuesday, Wednesday, Thursday): Monday's to Wednesday's are due.
    clock.set(at_eleven_paris(THU))
    async with running(settings, "reporting", clock=clock) as svc:
        await eventually(lambda: len(mailbox.messages) == 2 + 6)
        await _timer_looked(svc["reporting"][1])
    missed = mailbox.messages[2:]
    for region in ("IDF", "BRE"):
        assert [m["Subject"] for m in missed if f"({region})" in m["Subject"]] == [
            subject(day, region) for day in (MON, TUE, WED)]
    [tuesday_idf] = [m for m in missed if m["Subject"] == subject(TUE, "IDF")]
    content = pyrage.decrypt(attachment(tuesday_idf), [IDF_KEY]).decode("utf-8-sig")
    assert len(content.strip().splitlines()) == 1 + 2

    # Restarted again the same day: nothing is sent twice.
    async with running(settings, "reporting", clock=clock) as svc:
        await _timer_looked(svc["reporting"][1])
    assert len(mailbox.messages) == 8
    assert len(set(subjects(mailbox))) == 8
    conn = await asyncpg.connect(raw_database_url(settings.database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM reporting.digests_sent") == 8
        assert await conn.fetchval(
            "SELECT first_day FROM reporting.digest_regions WHERE region = 'IDF'") == sunday
    finally:
        await conn.close()


async def _equals(value, expected) -> bool:
    return (await value) == expected
