"""Region credentials from `success nats-config`, against a real nats-server using them:
every cross-region publish and every forbidden subscription is refused, allowed ones work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from services.common.federation import Credential
from tests.federation import (  # noqa: F401  (federated: a fixture)
    REGIONS, Connection, credential, federated, prepare_stream)


def envelope_bytes(region: str) -> bytes:
    return json.dumps({"region": region, "id": uuid.uuid4().hex}).encode()




async def test_the_generated_configuration_is_what_the_server_runs(federated):
    server, out = federated
    text = (out / "nats-server.conf").read_text()
    assert "sync_interval: always" in text and 'include "accounts.conf"' in text
    accounts = (out / "accounts.conf").read_text()
    for who in ["services", *REGIONS]:
        cred = credential(federated, who)
        assert cred.password not in accounts  # only bcrypt hashes in the server's files
        assert (out / "credentials" / f"{who}.json").stat().st_mode & 0o777 == 0o600
    assert "SUCCESS_NATS_URL=nats://services:" in (out / "services.env").read_text()
    # Rerunning keeps every password but the rotated one.
    before = {who: credential(federated, who).password for who in REGIONS}
    again = out.parent / "rotated"
    shutil.copytree(out, again)
    subprocess.run([sys.executable, "-m", "services.cli", "nats-config", "--regions",
                    ",".join(REGIONS), "--out", str(again), "--rotate", "BRE"],
                   check=True, capture_output=True)
    after = {who: Credential.read(again / "credentials" / f"{who}.json").password
             for who in REGIONS}
    assert after["IDF"] == before["IDF"] and after["OCC"] == before["OCC"]
    assert after["BRE"] != before["BRE"]


async def test_a_wrong_password_is_refused(federated):
    cred = credential(federated, "BRE")
    cred.password = "not-the-password"
    with pytest.raises(Exception) as refused:
        await nats.connect(**cred.connect_options(), allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=2)
    assert "authorization" in str(refused.value).lower()


@pytest.mark.parametrize("region", REGIONS)
async def test_a_region_publishes_only_on_its_own_subjects(federated, region):
    await prepare_stream(federated)
    async with Connection(credential(federated, region)) as conn:
        # Its partner subjects: accepted and stored by JetStream, apart from our events.
        ack = await conn.nc.jetstream(timeout=5).publish(
            f"success.{region}.partner.Note", envelope_bytes(region))
        assert ack.stream == "success-partners"
        assert await conn.violations() == []
        # Every other region's subjects, the dead letters, other prefixes: refused.
        forbidden = [f"success.{other}.matching.PairFormed" for other in REGIONS if other != region]
        forbidden += [f"success.{region}.regional.Note",
                      *(f"success.{other}.partner.Note" for other in REGIONS if other != region)]
        # Its own region under our services' names: it cannot impersonate them.
        forbidden += [f"success.{region}.{service}.CandidateAdmitted"
                      for service in ("intake", "matching", "followup", "reporting")]
        forbidden += ["success.dlq.matching", "success.ALL.intake.Note", "other.subject",
                      "$JS.API.STREAM.DELETE.success", "$JS.API.STREAM.PURGE.success",
                      "$JS.API.STREAM.MSG.GET.success", "$JS.API.DIRECT.GET.success",
                      "$JS.API.CONSUMER.LIST.success", "$JS.API.CONSUMER.NAMES.success",
                      "$JS.API.STREAM.INFO.success", "$JS.API.STREAM.INFO.success-partners",
                      "$JS.API.STREAM.LIST", "$JS.API.STREAM.NAMES", "$JS.API.INFO"]
        for subject in forbidden:
            await conn.nc.publish(subject, envelope_bytes(region))
        refused = await conn.violations(len(forbidden))
    assert sorted(refused) == sorted(
        f'nats: permissions violation for publish to "{s.lower()}"' for s in forbidden)


@pytest.mark.parametrize("region", REGIONS)
async def test_a_region_subscribes_only_to_its_own_and_the_shared_subjects(federated, region):
    others = [r for r in REGIONS if r != region]
    async with Connection(credential(federated, region)) as conn, \
            Connection(credential(federated, "services")) as services:
        forbidden = ["success.>", "success.*.intake.>", "success.*.*.*", "_INBOX.>", ">",
                     "success.dlq.>", *(f"success.{o}.>" for o in others),
                     *(f"success.{o}.intake.CandidateAdmitted" for o in others),
                     *(f"_INBOX_{o}.>" for o in others)]
        for subject in forbidden:
            await conn.nc.subscribe(subject)
        refused = await conn.violations(len(forbidden))
        assert sorted(refused) == sorted(
            f'nats: permissions violation for subscription to "{s.lower()}"' for s in forbidden)

        own = await conn.nc.subscribe(f"success.{region}.>")
        shared = await conn.nc.subscribe("success.*.matching.>")
        await conn.violations()
        # Interest crosses accounts asynchronously: publish until the first copy arrives.
        assert await _first_copy(services, shared, f"success.{others[0]}.matching.PairFormed",
                                 b"shared") == b"shared"
        assert await _first_copy(services, own, f"success.{region}.intake.CandidateAdmitted",
                                 b"own") == b"own"
        assert await conn.violations() == []


async def _first_copy(services, subscription, subject: str, payload: bytes) -> bytes:
    for _ in range(50):
        await services.nc.publish(subject, payload)
        await services.nc.flush()
        try:
            return (await subscription.next_msg(timeout=0.1)).data
        except NatsTimeout:
            continue
    raise AssertionError(f"nothing received on {subject}")


async def test_a_region_follows_shared_events_through_its_own_durable_consumer(federated):
    await prepare_stream(federated)
    async with Connection(credential(federated, "services")) as services:
        js = services.nc.jetstream()
        for origin in REGIONS:
            await js.publish(f"success.{origin}.matching.PairFormed", origin.encode(),
                             headers={"Nats-Msg-Id": uuid.uuid4().hex})
            await js.publish(f"success.{origin}.intake.CandidateAdmitted", origin.encode(),
                             headers={"Nats-Msg-Id": uuid.uuid4().hex})
    async with Connection(credential(federated, "OCC")) as occ:
        js = occ.nc.jetstream(timeout=5)
        pairs = await js.pull_subscribe("success.*.matching.PairFormed", durable="occ-pairs",
                                        stream="success")
        seen = []
        while len(seen) < 3:
            for msg in await pairs.fetch(10, timeout=5):
                seen.append((msg.subject, msg.data))
                await msg.ack()
        assert {subject for subject, _ in seen} >= {
            f"success.{r}.matching.PairFormed" for r in REGIONS}
        own = await js.pull_subscribe("success.OCC.>", durable="occ-events", stream="success")
        msgs = await own.fetch(10, timeout=5)
        assert msgs and all(m.subject.startswith("success.OCC.") for m in msgs)
        assert await occ.violations() == []
        await js.delete_consumer("success", "occ-events")

        # Forbidden: a consumer on another region's subjects, a consumer under a name that
        # is not its own (our services' durable), reading messages directly, someone
        # else's consumer. (Refused requests get no answer: wait briefly for each.)
        js = occ.nc.jetstream(timeout=1)
        attempts = [
            lambda: js.pull_subscribe("success.IDF.>", durable="occ-events", stream="success"),
            lambda: js.pull_subscribe("success.*.intake.>", durable="occ-events", stream="success"),
            lambda: js.pull_subscribe("success.>", durable="occ-events", stream="success"),
            lambda: js.pull_subscribe("success.OCC.>", durable="reporting-archive",
                                      stream="success"),
            lambda: js.pull_subscribe("success.OCC.>", durable="idf-events", stream="success"),
            lambda: js.get_msg("success", 1),
            lambda: js.delete_consumer("success", "bre-pairs"),
            lambda: js.delete_stream("success"),
            lambda: js.consumer_info("success", "idf-pairs"),
        ]
        for attempt in attempts:
            with pytest.raises(NatsTimeout):  # the request never reaches JetStream
                await attempt()
        refused = await occ.violations(len(attempts))
    assert len(refused) == len(attempts)
    assert all("$js.api." in r for r in refused)
