"""The reporting commands as an analyst runs them: report cohorts (now and --as-of),
replay (from the archive and from JetStream), export (Parquet and CSV) after an erasure
without the erased ids anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from uuid import uuid4

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from events.intake import ApplicationReceived
from tests.conftest import eventually
from tests.reporting_history import (
    EXPECTED_TOTALS,
    MENTEE_A,
    T1,
    T3,
    admitted,
    at,
    envelope,
    erased,
    pair_formed,
    profile,
    received,
    scripted_history,
)
from tests.services_client import running
from tests.test_reporting_service import archived, publish


def success(settings, *args: str, columns: int = 200) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env.update(SUCCESS_DATABASE_URL=settings.database_url, SUCCESS_NATS_URL=settings.nats_url,
               COLUMNS=str(columns))
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def test_report_replay_and_export_from_the_command_line(settings, nats_url, clock, tmp_path):
    clock.set(T3)
    history = scripted_history()
    async with running(settings, "reporting", clock=clock) as svc:
        _, runtime = svc["reporting"]
        await publish(nats_url, history)
        await eventually(lambda: _equals(archived(runtime), len(history)))

        now = success(settings, "report", "cohorts", "--json")
        assert now.returncode == 0, now.stderr
        totals = json.loads(now.stdout)["totals"]
        assert {k: totals[k] for k in EXPECTED_TOTALS[T3]} == EXPECTED_TOTALS[T3]
        past = success(settings, "report", "cohorts", "--json", "--as-of", T1.isoformat())
        totals = json.loads(past.stdout)["totals"]
        assert {k: totals[k] for k in EXPECTED_TOTALS[T1]} == EXPECTED_TOTALS[T1]
        table = success(settings, "report", "cohorts", "--region", "BRE")
        assert table.returncode == 0 and "Entonnoir par cohorte" in table.stdout
        assert "mission_locale" in table.stdout and "total" in table.stdout
        # An 80-column terminal cannot hold the 14 columns: one block per row, nothing cut.
        narrow = success(settings, "report", "cohorts", "--region", "BRE", columns=80)
        assert narrow.returncode == 0, narrow.stderr
        assert "…" not in narrow.stdout and max(map(len, narrow.stdout.splitlines())) <= 80
        assert "mission_locale" in narrow.stdout and "cand. jeunes : " in narrow.stdout
        totals = json.loads(now.stdout)["totals"]
        assert f"en binôme : {totals['paired']}" in narrow.stdout
        bad = success(settings, "report", "cohorts", "--as-of", "hier")
        assert bad.returncode == 2 and "instant invalide" in bad.stderr

        replayed = success(settings, "replay")
        assert replayed.returncode == 0, replayed.stderr
        assert f"{len(history)} événements relus depuis l'archive" in replayed.stderr
        assert "Identiques aux vues en direct" in replayed.stderr
        from_stream = success(settings, "replay", "--from-jetstream")
        assert from_stream.returncode == 0, from_stream.stderr
        assert "depuis JetStream" in from_stream.stderr

        # The erasure reaches reporting; then no export contains the person.
        await publish(nats_url, [envelope(erased(MENTEE_A), when=T3 + timedelta(minutes=5))])
        await eventually(lambda: _equals(archived(runtime), len(history) + 1))
        for fmt in ("parquet", "csv"):
            out = tmp_path / fmt
            done = success(settings, "export", "--format", fmt, "--out", str(out))
            assert done.returncode == 0, done.stderr
            files = sorted(p.name for p in out.iterdir())
            assert files == sorted(f"{n}.{fmt}" for n in (
                "events", "funnel", "channels", "journeys", "outcomes", "progress",
                "networking", "objectives"))
            read = pq.read_table if fmt == "parquet" else pacsv.read_csv
            events = read(out / f"events.{fmt}")
            assert events.num_rows == len(history) + 1
            assert events.column("type").to_pylist()[0] == "ApplicationReceived"
            funnel = read(out / f"funnel.{fmt}").to_pylist()
            assert sum(r["applications_mentees"] for r in funnel) == 3
            for path in out.iterdir():
                assert str(MENTEE_A) not in path.read_bytes().decode("latin-1"), path
        back_in_time = tmp_path / "past"
        done = success(settings, "export", "--out", str(back_in_time), "--as-of", T3.isoformat())
        assert done.returncode == 0, done.stderr
        journeys = pq.read_table(back_in_time / "journeys.parquet").to_pylist()
        assert [j["mentee_id"] for j in journeys] == [None]  # erased since, so never exported
        assert pq.read_table(back_in_time / "events.parquet").num_rows == len(history)
        assert success(settings, "replay").returncode == 0


async def test_no_export_shows_an_erased_mentor_anywhere(settings, nats_url, clock, tmp_path):
    """A mentor who formed a pair, then erased: their id (and their application's) is in no
    cell of any export, now or as of before the erasure — not even in a stream name."""
    mentor, mentee, pair, application = uuid4(), uuid4(), uuid4(), uuid4()
    paired_at, erased_at = at("2025-09-01"), at("2025-10-01")
    history = [
        envelope(ApplicationReceived(**profile(mentor, "mentor", application=application),
                                     consent_given=True), when=at("2025-07-02"),
                 stream=f"application-{application}"),
        envelope(admitted(mentor, role="mentor"), when=at("2025-07-20"),
                 stream=f"application-{application}"),
        envelope(received(mentee), when=at("2025-07-03")),
        envelope(pair_formed(pair, mentee, mentor), when=paired_at, stream=f"mentor-{mentor}"),
        envelope(erased(mentor), when=erased_at, stream=f"person-{mentor}"),
    ]
    clock.set(erased_at + timedelta(days=1))
    secrets = (str(mentor), str(application))
    async with running(settings, "reporting", clock=clock) as svc:
        _, runtime = svc["reporting"]
        await publish(nats_url, history)
        await eventually(lambda: _equals(archived(runtime), len(history)))
        for fmt in ("parquet", "csv"):
            for label, extra in (("now", ()), ("past", ("--as-of", paired_at.isoformat()))):
                out = tmp_path / f"{fmt}-{label}"
                done = success(settings, "export", "--format", fmt, "--out", str(out), *extra)
                assert done.returncode == 0, done.stderr
                read = pq.read_table if fmt == "parquet" else pacsv.read_csv
                streams = set(read(out / f"events.{fmt}").column("stream").to_pylist())
                assert {"application-erased", "mentor-erased"} <= streams
                assert ("person-erased" in streams) == (label == "now")
                for path in out.iterdir():
                    for row in read(path).to_pylist():
                        for column, cell in row.items():
                            assert not any(s in str(cell) for s in secrets), (path, column, cell)
