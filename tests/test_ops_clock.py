"""The shared business clock of a training or staging stack (``SUCCESS_CLOCK_CONTROL``):
`success clock advance|set` moves every service forward, their timers and digests fire as
they would have; never backwards; refused when the setting is off."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.clock import (
    ControlledClock,
    ManualClock,
    SystemClock,
    moved_offset,
    parse_duration,
    set_clock,
)
from services.common.errors import DomainError
from tests.conftest import eventually
from tests.followup_client import followed, form_pairs
from tests.intake_client import TODAY
from tests.services_client import running
from tests.test_reporting_digest import RECIPIENTS

KICKOFF = "Succ'ess : votre binôme démarre"
T0 = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("30d", timedelta(days=30)), ("2w", timedelta(weeks=2)), ("12h", timedelta(hours=12)),
    ("90m", timedelta(minutes=90)), (" 1D ", timedelta(days=1))])
def test_a_duration_is_a_positive_count_of_weeks_days_hours_or_minutes(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "0d", "-3d", "3y", "1.5d", "trente jours"])
def test_any_other_duration_is_refused_in_french(text):
    with pytest.raises(DomainError) as refused:
        parse_duration(text)
    assert refused.value.code == "invalid_duration" and "durée invalide" in refused.value.message


@pytest.mark.parametrize(("offset", "target", "expected"), [
    # given the offset and the instant asked for / then the new offset
    (timedelta(0), T0 + timedelta(days=30), timedelta(days=30)),
    (timedelta(days=30), T0 + timedelta(days=30), timedelta(days=30)),  # where it is: kept
    (timedelta(days=30), T0 + timedelta(days=45), timedelta(days=45)),
])
def test_the_clock_moves_forward_to_the_instant_asked_for(offset, target, expected):
    assert moved_offset(offset, T0, target) == expected


def test_the_clock_never_moves_back():
    with pytest.raises(DomainError) as refused:
        moved_offset(timedelta(days=30), T0, T0 + timedelta(days=29))
    assert refused.value.code == "clock_backwards"
    assert "l'horloge ne recule jamais" in refused.value.message


def test_a_controlled_clock_follows_newer_offsets_only_and_tells_its_listeners():
    clock, moves = ControlledClock(ManualClock(T0)), []
    clock.on_move(lambda: moves.append(clock.now()))
    assert clock.follow(timedelta(days=2)) and clock.now() == T0 + timedelta(days=2)
    assert not clock.follow(timedelta(days=1)) and clock.now() == T0 + timedelta(days=2)
    assert moves == [T0 + timedelta(days=2)]


def success(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """`success ARGS` in this process (the CLI reads the process clock as the tests move it)."""
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def base_clock():
    """The real clock of every process in the test: a ManualClock the CLI reads too."""
    base = ManualClock(TODAY)
    set_clock(base)
    yield base
    set_clock(SystemClock())


async def test_advancing_the_shared_clock_moves_every_service_and_fires_what_fell_due(
        settings, mailbox, base_clock):
    settings = settings.model_copy(update={
        **mailbox.settings_update(), "clock_control": True, "clock_refresh_s": 0.2,
        "digest_recipients": json.dumps({"BRE": RECIPIENTS["BRE"]})})
    env = {"SUCCESS_CLOCK_CONTROL": "true", "SUCCESS_DATABASE_URL": settings.database_url,
           "SUCCESS_NATS_URL": settings.nats_url}
    business = ControlledClock(base_clock)  # intake, matching and followup
    reporting_clock = ControlledClock(base_clock)  # another process's view of the same clock
    async with followed(settings, mailbox, business) as svc, \
            running(settings, "reporting", clock=reporting_clock):
        await form_pairs(svc, 1)  # cohort BRE-2026-03: the kick-off e-mails go out on 1 March
        await eventually(lambda: digests(mailbox) == 1)  # Sunday 11 January's

        code, output = await asyncio.to_thread(success, "clock", "advance", "30d", env=env)
        assert code == 0, output
        assert "11/02/2026 10:00:00" in output
        expected = TODAY + timedelta(days=30)
        await eventually(lambda: business.now() >= expected and reporting_clock.now() >= expected)
        assert base_clock.now() == TODAY  # only the shared business clock moved
        # Every day's digest since, once and in order: 12 January to 10 February.
        await eventually(lambda: digests(mailbox) == 1 + 30)
        days = [m["Subject"].split("du ")[1][:10] for m in mailbox.messages
                if "candidatures" in m["Subject"]]
        assert days == [f"{date(2026, 1, 11) + timedelta(days=n):%d/%m/%Y}" for n in range(31)]
        assert not kickoffs(mailbox)

        code, output = await asyncio.to_thread(
            success, "clock", "set", "2026-03-02T10:00:00+01:00", env=env)
        assert code == 0, output
        await eventually(lambda: len(kickoffs(mailbox)) == 2, timeout=30)  # mentee and mentor

        code, output = await asyncio.to_thread(
            success, "clock", "set", "2026-02-20T10:00:00+01:00", env=env)
        assert code == 2 and "l'horloge ne recule jamais" in output, output
        code, output = await asyncio.to_thread(success, "clock", "show", env=env)
        assert code == 0 and "02/03/2026 10:00:00" in output, output
        assert business.now() == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        await eventually(lambda: digests(mailbox) == 1 + 30 + 19)  # to 1 March

    # The setting off: the command says so, and a service does not follow the shared clock.
    off = {**env, "SUCCESS_CLOCK_CONTROL": "false"}
    for args in (("advance", "30d"), ("set", "2027-01-01T10:00:00+01:00"), ("show",)):
        code, output = await asyncio.to_thread(success, "clock", *args, env=off)
        assert code == 2 and "le contrôle de l'horloge est désactivé" in output.lower(), output
    refusing = ControlledClock(base_clock)
    async with running(settings.model_copy(update={"clock_control": False}), "matching",
                       clock=refusing):
        assert refusing.now() == TODAY


def digests(mailbox) -> int:
    return sum("candidatures" in m["Subject"] for m in mailbox.messages)


def kickoffs(mailbox) -> list:
    return [m for m in mailbox.messages if m["Subject"] == KICKOFF]


async def test_the_first_service_to_start_sets_the_shared_clock_to_clock_start(settings):
    base = ManualClock(TODAY)
    first, second = ControlledClock(base), ControlledClock(base)
    controlled = settings.model_copy(update={"clock_control": True,
                                             "clock_start": TODAY + timedelta(days=10)})
    async with running(controlled, "matching", clock=first):
        assert first.now() == TODAY + timedelta(days=10)
    later = controlled.model_copy(update={"clock_start": TODAY + timedelta(days=20)})
    async with running(later, "matching", clock=second):  # the others follow the first
        assert second.now() == TODAY + timedelta(days=10)
