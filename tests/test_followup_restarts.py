"""Timers fire once and reminders are sent once, across restarts of the follow-up service,
of NATS and of PostgreSQL, and when the service is SIGKILLed in the middle of sending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date

import httpx

from services.common.clock import ManualClock
from services.common.settings import Settings
from services.intake.vault import generate_master_key
from tests.conftest import create_database, eventually
from tests.followup_client import (
    REFERENT_EMAIL,
    followed,
    followup_events,
    form_pairs,
    move_to,
    scalar,
    types,
)
from tests.intake_client import AUTH_SECRET, TODAY
from tests.mailbox import free_port


async def test_each_timer_fires_once_across_restarts_of_everything(own_servers, mailbox):
    pg, ns = own_servers
    settings = Settings(nats_url=ns.url, database_url=await create_database(pg),
                        vault_master_key=generate_master_key(), relay_max_backoff_s=1.0)
    clock = ManualClock(TODAY)
    async with followed(settings, mailbox, clock) as svc:
        pairs = await form_pairs(svc, 2)
        await move_to(svc, clock, date(2026, 3, 1))  # kick-off: 4 e-mails
    assert len(mailbox.messages) == 4

    ns.stop()
    ns.start()
    pg.stop()
    pg.start()
    # Restarted services redo nothing: no second plan, no second kick-off.
    async with followed(settings, mailbox, clock) as svc:
        await move_to(svc, clock, date(2026, 9, 1))  # upcoming, then due: 2 + 2 to the referent
        # PostgreSQL goes away under the running loop, and comes back.
        pg.stop()
        pg.start()
        clock.set(clock.now().replace(month=10, day=2))  # overdue, fired by the service's loop

        async def overdue_sent() -> bool:
            return len(mailbox.to(REFERENT_EMAIL)) >= 2 + 2 + 2 + 1  # + the annual survey

        await eventually(overdue_sent, timeout=60)
        await move_to(svc, clock, date(2026, 10, 2))
        for pair in pairs:
            assert types(await followup_events(svc, pair["pair_id"])) == {
                "FollowUpPlanned": 1, "ReviewDue": 1, "ReviewOverdue": 1,
                "ReminderSent": 2 + 1 + 1 + 1 + 7}  # + sessions to declare, April to October
        fired = await scalar(svc["followup"][1], "SELECT count(*) FROM followup.timers "
                             "WHERE fired_at IS NOT NULL")
    async with followed(settings, mailbox, clock) as svc:
        await move_to(svc, clock, date(2026, 10, 2))
        assert await scalar(svc["followup"][1], "SELECT count(*) FROM followup.timers "
                            "WHERE fired_at IS NOT NULL") == fired
    # 4 kick-offs, per pair 3 to the referent, the annual survey to 4 people and 1 referent,
    # per mentor 7 monthly reminders to declare sessions.
    assert len(mailbox.messages) == 4 + 2 * 3 + 5 + 2 * 7, [(m["Subject"], m["To"]) for m in mailbox.messages]
    assert len({m["Message-ID"] for m in mailbox.messages}) == len(mailbox.messages)


def _serve(service: str, port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", service, "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


async def _ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def test_a_reminder_is_sent_once_when_the_service_is_killed_mid_send(settings, mailbox):
    settings = settings.model_copy(update={"vault_master_key": generate_master_key()})
    async with followed(settings, mailbox, ManualClock(TODAY)) as svc:
        await form_pairs(svc, 1)
    assert mailbox.messages == []

    # The services as processes, on the morning of the kick-off (their clock runs from there).
    env = {"SUCCESS_DATABASE_URL": settings.database_url, "SUCCESS_NATS_URL": settings.nats_url,
           "SUCCESS_AUTH_SECRET": AUTH_SECRET, "SUCCESS_VAULT_MASTER_KEY":
           settings.vault_master_key, "SUCCESS_CLOCK_START": "2026-03-01T10:00:00+01:00",
           "SUCCESS_SMTP_PORT": str(mailbox.port), "SUCCESS_FOLLOWUP_POLL_INTERVAL_S": "0.2",
           "SUCCESS_LOG_JSON": "false"}
    intake_port, followup_port = free_port(), free_port()
    intake = _serve("intake", intake_port, env)
    env["SUCCESS_INTAKE_URL"] = f"http://127.0.0.1:{intake_port}"
    mailbox.hold()  # the SMTP server will not answer the message's DATA
    followup = _serve("followup", followup_port, env)
    try:
        await eventually(lambda: _ready(intake_port), timeout=60)
        await eventually(lambda: mailbox.stalled >= 1, timeout=60)
        followup.send_signal(signal.SIGKILL)  # mid-send: the server has not accepted it
        followup.wait(30)
        mailbox.release()
        await eventually(lambda: mailbox.stalled == 0)
        assert mailbox.messages == []

        followup = _serve("followup", followup_port, env)
        await eventually(lambda: _ready(followup_port), timeout=60)
        await eventually(lambda: len(mailbox.messages) >= 2, timeout=60)
        followup.send_signal(signal.SIGTERM)  # let it finish its round and stop cleanly
        followup.wait(60)
    finally:
        for process in (followup, intake):
            if process.poll() is None:
                process.kill()
                process.wait(30)
    assert sorted(m["Subject"] for m in mailbox.messages) == [
        "Succ'ess : votre binôme démarre"] * 2
    assert len({m["To"] for m in mailbox.messages}) == 2
    async with followed(settings, mailbox, ManualClock(TODAY), services=("followup",)) as svc:
        assert types(await followup_events(svc))["ReminderSent"] == 2
        assert await scalar(svc["followup"][1], "SELECT count(*) FROM followup.mails WHERE "
                            "sent_at IS NOT NULL") == 2
