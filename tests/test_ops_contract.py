"""The contract as its own package: `pip install ./events` in a fresh virtual environment,
and the region subscriber example running there (nats-py and that package only) against a
real NATS server with a region's credential."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from events.base import Metadata, seal
from events.matching import MatchOrigin, PairFormed
from tests.conftest import server_dir
from tests.factories import cohort_opened
from tests.federation import Connection, credential, federated, prepare_stream  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fresh_venv() -> Iterator[Path]:
    """A virtual environment with `pip install ./events nats-py` and nothing else."""
    with server_dir("venv") as path:
        subprocess.run([sys.executable, "-m", "venv", str(path / "venv")], check=True)
        python = path / "venv" / "bin" / "python"
        # A copy: pip builds in the source tree, which the other tests are reading.
        shutil.copytree(ROOT / "events", path / "events",
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", str(path / "events"), "nats-py"],
            capture_output=True, text=True)
        assert installed.returncode == 0, installed.stderr[-3000:]
        yield python


def run_in(python: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run outside the repository, so that nothing is imported from the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd="/",
                          env=env, **kwargs)


def test_the_contract_installs_alone(fresh_venv):
    probe = run_in(fresh_venv, "-c", """
import importlib.metadata as md, json, sys
import events
from events import load_event, subject_for
from events.schemas import SNAPSHOT_DIR
print(json.dumps({
    "file": events.__file__,
    "services": any(m == "services" or m.startswith("services.") for m in sys.modules),
    "requires": md.requires("success-events"),
    "schemas": len(list(SNAPSHOT_DIR.glob("*/*.json"))),
    "subject": subject_for("BRE", "matching", "PairFormed"),
}))
""")
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert "site-packages" in found["file"] and str(ROOT) not in found["file"]
    assert found["services"] is False
    assert [r.split(">")[0].split("=")[0].strip() for r in found["requires"]] == ["pydantic"]
    assert found["schemas"] == len(list((ROOT / "events" / "published_schemas").glob("*/*.json")))
    assert found["subject"] == "success.BRE.matching.PairFormed"
    platform = run_in(fresh_venv, "-m", "pip", "list", "--format", "json")
    names = {p["name"].lower() for p in json.loads(platform.stdout)}
    assert "success-platform" not in names and "sqlalchemy" not in names


def pair_formed(region: str) -> tuple[str, bytes, str]:
    event_id = uuid.uuid4()
    envelope = seal(
        PairFormed(pair_id=uuid.uuid4(), match_id=uuid.uuid4(), cohort_id=f"{region}-2026-03",
                   mentee_id=uuid.uuid4(), mentor_id=uuid.uuid4(), origin=MatchOrigin.algorithm,
                   previous_pair_id=None),
        event_id=event_id, stream=f"pair-{uuid.uuid4()}", stream_version=1,
        metadata=Metadata(region=region, actor="ref-1", correlation_id=uuid.uuid4()),
        occurred_at=datetime.now(UTC), recorded_at=datetime.now(UTC))
    return envelope.subject, envelope.to_json(), str(event_id)


async def publish(federated, events: list[tuple[str, bytes, str]]) -> None:
    async with Connection(credential(federated, "services")) as services:
        js = services.nc.jetstream()
        for subject, payload, event_id in events:
            await js.publish(subject, payload, headers={"Nats-Msg-Id": event_id})


async def test_another_region_follows_pair_formed_with_the_example(federated, fresh_venv):
    _server, out = federated
    await prepare_stream(federated)
    pairs = [pair_formed(region) for region in ("IDF", "BRE", "IDF")]
    other = seal(cohort_opened(), event_id=uuid.uuid4(), stream="c", stream_version=1,
                 metadata=Metadata(region="IDF", actor="x", correlation_id=uuid.uuid4()),
                 occurred_at=datetime.now(UTC), recorded_at=datetime.now(UTC))
    await publish(federated, [pairs[0], (other.subject, other.to_json(), str(other.event_id)),
                              *pairs[1:]])
    cred_file = out / "credentials" / "OCC.json"
    server_url = credential(federated, "OCC").url  # the test server's port

    def follow(count: int) -> list[dict]:
        done = run_in(fresh_venv, str(ROOT / "examples" / "region_subscriber.py"),
                      "--credentials", str(cred_file), "--server", server_url,
                      "--count", str(count), "--json", timeout=120)
        assert done.returncode == 0, done.stderr
        assert "consommateur occ-pairs" in done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    first = follow(3)
    assert [(e["event_id"], e["region"]) for e in first] == [
        (event_id, json.loads(payload)["region"]) for _s, payload, event_id in pairs]
    # The consumer is durable: a second run only gets what came since.
    later = [pair_formed("OCC"), pair_formed("BRE")]
    await publish(federated, later)
    second = follow(2)
    assert [e["event_id"] for e in second] == [event_id for _s, _p, event_id in later]
    assert all(e["cohort_id"].endswith("-2026-03") for e in first + second)

    # The human-readable output, on a region filter the credential allows.
    human = run_in(fresh_venv, str(ROOT / "examples" / "region_subscriber.py"),
                   "--credentials", str(cred_file), "--server", server_url, "--region", "OCC",
                   "--durable", "occ-events", "--count", "1", timeout=120)
    assert human.returncode == 0, human.stderr
    assert "OCC cohorte OCC-2026-03 : binôme" in human.stdout
