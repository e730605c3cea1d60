"""End to end through `success up`: real processes, real servers, faults included."""

from __future__ import annotations

import asyncio
import uuid
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from services.common.stack import StackState
from services.common.store import raw_database_url
from tests.web import demo_accounts, http_sign_in

MENTEE = {
    "first_name": "Zoé", "last_name": "Kerhervé", "email": "zoe@example.org",
    "birth_date": "2003-02-01", "postcode": "29200", "channel": "mission_locale",
    "sector_interests": ["environment_ecology"], "availability": ["weekday_evening"],
    "consent_data_processing": True,
}
MENTOR = {
    "first_name": "Karim", "last_name": "Benali", "email": "k.benali@example.org",
    "postcode": "75011", "channel": "recruitment_webinar", "years_in_ess": 8,
    "employment_status": "employee", "organisation": "Coopérative Alpha",
    "sector_expertise": ["culture", "social_action"], "job_family": "project_development",
    "capacity": 2, "availability": ["weekend"], "motivation": "Transmettre.",
    "consent_data_processing": True,
}


def unique_mentee() -> dict:
    tag = uuid.uuid4().hex[:10]
    return {**MENTEE, "email": f"jeune-{tag}@example.org", "last_name": f"Nom{tag}"}


BACKOFFICES: dict[Path, str] = {}  # the back-office address each `success up` printed


def start_up(data_dir: Path, *args: str, **extra_env: str):
    """`success up` in a fresh data dir, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    # Applications pour in from this one address: no per-address limit (test_api_edge has it).
    env.update(SUCCESS_LOG_JSON="true", SUCCESS_PUBLIC_RATE_PER_MINUTE="0", **extra_env)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir), "--fresh",
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    for line in process.stdout:  # type: ignore[union-attr]
        if line.startswith("BACKOFFICE "):
            BACKOFFICES[data_dir] = line.split(" ", 1)[1].strip()
        if line.startswith("READY"):
            break
    else:
        raise AssertionError(f"success up exited with {process.wait()} before being ready")
    state = StackState.read(data_dir)
    assert state is not None
    return process, state


@pytest.fixture
def stack(data_dir: Path):
    """`success up` on the embedded servers; stopped with SIGTERM."""
    process, state = start_up(data_dir)
    yield process, data_dir, state
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def cli(data_dir: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")},
    )
    return out.stdout.strip()


def report(data_dir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "report", "cohorts", "--json", "--data-dir",
         str(data_dir)],
        capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")},
    )
    return json.loads(out.stdout)


def wait_for_report(data_dir: Path, predicate, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = report(data_dir)
        if predicate(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"report never matched: {current['totals']}")
        time.sleep(0.3)


def test_an_application_travels_from_intake_to_the_cohort_report(stack):
    process, data_dir, state = stack
    intake = state.services["intake"]
    first = httpx.post(f"{intake}/applications/mentee", json=MENTEE, timeout=10)
    assert first.status_code == 201, first.text
    assert first.json()["region"] == "BRE"
    assert httpx.post(f"{intake}/applications/mentor", json=MENTOR, timeout=10).status_code == 201
    bad = httpx.post(f"{intake}/applications/mentee", json={**MENTEE, "postcode": "99999"},
                     timeout=10)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "postcode"
    no_capacity = {k: v for k, v in MENTOR.items() if k != "capacity"}
    bad = httpx.post(f"{intake}/applications/mentor", json=no_capacity, timeout=10)
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"code": "required", "field": "capacity",
                                     "message": "Ce champ est obligatoire."}]

    # A referent of Bretagne takes the mentee from interview to admission.
    referent = {"Authorization": "Bearer " + cli(data_dir, "token", "--role", "referent",
                                                 "--region", "BRE", "--subject", "ref-bre-1")}
    application_id = first.json()["application_id"]
    # Interviewed as soon as they applied: an opinion cannot precede the interview.
    detail = httpx.get(f"{intake}/staff/applications/{application_id}", headers=referent).json()
    booked = httpx.post(f"{intake}/staff/applications/{application_id}/interviews",
                        json={"scheduled_at": detail["application"]["submitted_at"]},
                        headers=referent)
    assert booked.status_code == 201, booked.text
    interview = booked.json()["interview_id"]
    assert httpx.post(f"{intake}/staff/applications/{application_id}/interviews/{interview}/outcome",
                      json={"outcome": "favourable"}, headers=referent).status_code == 200
    assert httpx.post(f"{intake}/staff/applications/{application_id}/admit",
                      headers=referent).status_code == 200

    result = wait_for_report(data_dir, lambda r: r["totals"]["applications_mentors"] == 1
                             and r["totals"]["applications_mentees"] == 1
                             and r["totals"]["admitted"] == 1)
    assert {(row["region"], row["channel"]) for row in result["rows"]} == {
        ("BRE", "mission_locale"), ("IDF", "recruitment_webinar")}

    # The right to erasure, from the command line.
    detail = httpx.get(f"{intake}/staff/applications/{application_id}", headers=referent).json()
    assert detail["identity"]["email"] == MENTEE["email"]
    person_id = detail["application"]["person_id"]
    cli(data_dir, "erase", person_id)
    detail = httpx.get(f"{intake}/staff/applications/{application_id}", headers=referent).json()
    assert detail["identity"] is None

    children = [psutil.Process(pid) for pid in state.pids.values()]
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, "a service outlived `success up`"
    # process_iter's info gives None for a process that vanished or is a zombie (of whatever
    # other process tree), instead of raising.
    commands = [" ".join(p.info["cmdline"] or ()) for p in psutil.process_iter(["cmdline"])]
    assert not any("nats-server" in c and str(data_dir) in c for c in commands)


async def _count_received(database_url: str) -> int:
    conn = await asyncpg.connect(raw_database_url(database_url))
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM intake.events WHERE type = 'ApplicationReceived'")
    finally:
        await conn.close()


def test_sigkilled_services_lose_nothing_and_count_nothing_twice(stack):
    """Applications pour in while intake and reporting are SIGKILLed (and restarted by the
    supervisor): the report ends with exactly the applications intake committed."""
    process, data_dir, state = stack
    intake = state.services["intake"]
    accepted = 0

    def submit(n: int) -> None:
        nonlocal accepted
        with httpx.Client(timeout=5) as client:
            for _ in range(n):
                try:
                    answer = client.post(f"{intake}/applications/mentee", json=unique_mentee())
                    if answer.status_code == 201:
                        accepted += 1
                except httpx.HTTPError:
                    time.sleep(0.2)  # intake is restarting

    submit(40)
    os.kill(StackState.read(data_dir).pids["reporting"], signal.SIGKILL)
    submit(40)
    os.kill(StackState.read(data_dir).pids["intake"], signal.SIGKILL)
    submit(40)  # some fail while intake restarts
    os.kill(StackState.read(data_dir).pids["reporting"], signal.SIGKILL)
    submit(40)

    committed = asyncio.run(_count_received(state.database_url))
    assert committed >= accepted >= 100
    final = wait_for_report(
        data_dir, lambda r: r["totals"]["applications_mentees"] >= committed, timeout=90)
    time.sleep(2)  # anything counted twice would show up now
    assert report(data_dir)["totals"]["applications_mentees"] == committed
    assert final["totals"]["applications_mentees"] == committed


def test_success_up_uses_the_servers_named_in_the_environment(own_servers, data_dir):
    pg, ns = own_servers
    process, state = start_up(data_dir, SUCCESS_NATS_URL=ns.url, SUCCESS_DATABASE_URL=pg.url)
    try:
        assert (state.nats_url, state.database_url) == (ns.url, pg.url)
        assert not (data_dir / "postgres").exists() and not (data_dir / "nats").exists()
        response = httpx.post(f"{state.services['intake']}/applications/mentee", json=MENTEE,
                              timeout=10)
        assert response.status_code == 201
        wait_for_report(data_dir, lambda r: r["totals"]["applications_mentees"] == 1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    assert pg.running and ns.running  # not ours to stop


@pytest.mark.timeout(900)  # the demo replays a year: a minute on a quiet machine
def test_success_up_demo_seeds_a_programme_and_shows_the_dashboard(data_dir: Path):
    """The README's first command: a year and more replayed through the APIs, then the
    dashboard shows it."""
    process, state = start_up(data_dir, "--demo")
    try:
        totals = wait_for_report(data_dir, lambda r: r["totals"]["paired"] >= 50,
                                 timeout=180)["totals"]
        assert totals["applications_mentees"] > totals["paired"] > 0
        accounts = demo_accounts(data_dir / "comptes-demo.txt")
        assert {"admin@cress.example", "referente-idf@cress.example",
                "referente-bre@cress.example"} <= set(accounts)
        with httpx.Client(timeout=30) as browser:  # the referent signs in to the back-office
            home = http_sign_in(browser, BACKOFFICES[data_dir], "referente-idf@cress.example",
                                accounts["referente-idf@cress.example"][1])
            assert home.status_code == 200 and "Bonjour" in home.text
        mails = list((data_dir / "mail").glob("*.eml"))
        assert len(mails) > 100  # kick-offs, reviews to book, due, overdue, surveys
        again = subprocess.run(  # the pairs are followed: reviews, sessions, endings
            [sys.executable, "-m", "services.cli", "token", "--role", "analyst", "--subject",
             "test", "--data-dir", str(data_dir)], capture_output=True, text=True, check=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")})
        journeys = httpx.get(f"{state.services['followup']}/staff/pairs", timeout=30, headers={
            "Authorization": f"Bearer {again.stdout.strip()}"}).json()
        assert any(j["reviews"]["final"]["status"] == "completed" for j in journeys)
        assert any(j["ended_early"] for j in journeys)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(120)
