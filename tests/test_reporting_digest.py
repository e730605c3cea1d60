"""The 10:00 digest: content, encryption, exactly once per region and day across a restart;
and `success digest` by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import asyncpg
import pyrage
import pytest
from pyrage import x25519

from services.common.store import raw_database_url
from services.reporting.digest import due_day
from tests.conftest import eventually
from tests.reporting_history import admitted, envelope, erased, received
from tests.services_client import running
from tests.test_reporting_service import archived, publish

IDF_KEY, IDF_KEY_2, BRE_KEY, OUTSIDER = (x25519.Identity.generate() for _ in range(4))
RECIPIENTS = {
    "IDF": [{"email": "referente@cress-idf.test", "age": str(IDF_KEY.to_public())},
            {"email": "direction@cress-idf.test", "age": str(IDF_KEY_2.to_public())}],
    "BRE": [{"email": "referent@cress-bretagne.test", "age": str(BRE_KEY.to_public())}],
}


def test_the_digest_due_is_the_latest_whose_ten_oclock_has_passed():
    paris_winter = datetime(2026, 1, 13, 8, 59, tzinfo=UTC)  # 09:59 in Paris
    assert due_day(paris_winter) == date(2026, 1, 11)
    assert due_day(paris_winter + timedelta(minutes=1)) == date(2026, 1, 12)
    summer = datetime(2026, 7, 2, 8, 0, tzinfo=UTC)  # 10:00 in Paris (UTC+2)
    assert due_day(summer) == date(2026, 7, 1)


def attachment(message) -> bytes:
    [part] = list(message.iter_attachments())
    return part.get_payload(decode=True)


async def test_each_region_gets_yesterdays_applications_once_across_a_restart(
        settings, nats_url, clock, mailbox):
    settings = settings.model_copy(update={**mailbox.settings_update(),
                                           "digest_recipients": json.dumps(RECIPIENTS)})
    clock.set(datetime(2026, 1, 12, 8, 0, tzinfo=UTC))  # 09:00 in Paris
    idf_people = [uuid4(), uuid4(), uuid4()]
    monday = datetime(2026, 1, 12, 12, 0, tzinfo=UTC)
    events = [envelope(received(p, departement="93", channel="university"), region="IDF",
                       when=monday) for p in idf_people]
    events += [envelope(admitted(idf_people[0], channel="university"), region="IDF",
                        when=monday + timedelta(hours=1)),
               envelope(erased(idf_people[2]), region="IDF", when=monday + timedelta(hours=2)),
               # the day before and the day after, and another region: not in IDF's digest
               envelope(received(uuid4()), region="IDF", when=monday - timedelta(days=1)),
               envelope(received(uuid4()), region="IDF", when=monday + timedelta(days=1)),
               envelope(received(uuid4(), departement="29"), region="BRE", when=monday)]
    async with running(settings, "reporting", clock=clock) as svc:
        _, runtime = svc["reporting"]
        await publish(nats_url, events)
        await eventually(lambda: _equals(archived(runtime), len(events)))
        # Started on Monday at 09:00 Paris: the latest digest due is Saturday's.
        await eventually(lambda: len(mailbox.messages) == 2)
        # Tuesday 09:59 Paris: Monday's digest is not due yet (Sunday's is: sent now).
        clock.set(datetime(2026, 1, 13, 8, 59, tzinfo=UTC))
        await eventually(lambda: len(mailbox.messages) == 4)
        assert [m["Subject"] for m in mailbox.messages] == [
            f"Succ'ess — candidatures du {day}/01/2026 ({region})"
            for day in ("10", "11") for region in ("BRE", "IDF")]
        clock.set(datetime(2026, 1, 13, 9, 0, tzinfo=UTC))  # 10:00 Paris
        await eventually(lambda: len(mailbox.messages) == 6)

    idf = [m for m in mailbox.messages if "12/01/2026 (IDF)" in m["Subject"]]
    assert len(idf) == 1
    message = idf[0]
    assert message["To"] == "referente@cress-idf.test, direction@cress-idf.test"
    assert message["Message-ID"] == "<digest-IDF-2026-01-12@succes.cress.fr>"
    assert "2 nouvelle(s) candidature(s)" in message.get_body().get_content()
    assert "age -d" in message.get_body().get_content()
    protected = attachment(message)
    # Not the CSV in clear (a 2-byte value like a département code would match random
    # ciphertext now and then, so look for the header and a person id instead).
    assert b"candidature;personne" not in protected
    assert str(idf_people[0]).encode() not in protected
    for key in (IDF_KEY, IDF_KEY_2):  # every recipient of the region can open it
        content = pyrage.decrypt(protected, [key]).decode("utf-8-sig")
        lines = content.strip().splitlines()
        assert lines[0] == "candidature;personne;rôle;canal;département;tranche d'âge;statut;reçue le"
        assert len(lines) == 3  # the erased applicant is left out
        by_person = {line.split(";")[1]: line.split(";") for line in lines[1:]}
        assert by_person[str(idf_people[0])][2:7] == [
            "Mentoré·e", "Université ou école", "93", "21-25 ans", "Admise, en attente de binôme"]
        assert by_person[str(idf_people[1])][6] == "Reçue, en cours d'examen"
        assert by_person[str(idf_people[1])][7] == "12/01/2026 13:00"
        assert str(idf_people[2]) not in content
    for key in (BRE_KEY, OUTSIDER):  # nobody else can
        with pytest.raises(pyrage.DecryptError):
            pyrage.decrypt(protected, [key])
    bre = [m for m in mailbox.messages if "12/01/2026 (BRE)" in m["Subject"]]
    assert len(pyrage.decrypt(attachment(bre[0]), [BRE_KEY]).decode().splitlines()) == 2

    # Restarted later the same day, and the next morning before 10:00: nothing is sent again.
    clock.set(datetime(2026, 1, 13, 15, 0, tzinfo=UTC))
    async with running(settings, "reporting", clock=clock) as svc:
        _, runtime = svc["reporting"]
        conn = await asyncpg.connect(raw_database_url(settings.database_url))
        try:
            await eventually(lambda: _timer_looked(runtime))
            assert await conn.fetchval("SELECT count(*) FROM reporting.digests_sent") == 6
        finally:
            await conn.close()
        clock.set(datetime(2026, 1, 14, 8, 30, tzinfo=UTC))
        await eventually(lambda: _timer_looked(runtime))
    assert len(mailbox.messages) == 6

    # By hand: the same content for one region and day, for a key given on the command line.
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "digest", "--date", "2026-01-12", "--region",
         "IDF", "--out", str(settings_tmp := f"/tmp/digest-{uuid4().hex}.age"),
         "--recipient", str(OUTSIDER.to_public())],
        capture_output=True, text=True,
        env={**os.environ, "SUCCESS_DATABASE_URL": settings.database_url,
             "SUCCESS_NATS_URL": settings.nats_url})
    assert out.returncode == 0, out.stderr
    with open(settings_tmp, "rb") as handle:
        by_hand = pyrage.decrypt(handle.read(), [OUTSIDER]).decode("utf-8-sig")
    os.unlink(settings_tmp)
    assert by_hand == pyrage.decrypt(protected, [IDF_KEY]).decode("utf-8-sig")


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def _timer_looked(runtime) -> bool:
    """The timer task is alive and has had time for a few ticks (infrastructure time)."""
    import asyncio

    task = runtime.state["digest_timer"]
    assert not task.done(), task
    await asyncio.sleep(1.5)
    return True
