"""Trust on the bus: only our services' subjects feed our services, a partner region's
forged events change no figure and erase nothing, and what regions publish is bounded and
kept apart. Against a real nats-server running `success nats-config`'s configuration, with
the real credentials."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from uuid import uuid4

import nats.js.errors
import pytest
from sqlalchemy import text

from events import EVENT_STREAM_NAME, MalformedEvent
from events.base import PARTNER_STREAM_NAME, load_trusted_event
from services.common import bus
from services.common.deadletters import list_dead_letters, replay
from services.common.settings import Settings
from tests.conftest import eventually
from tests.federation import (  # noqa: F401  (federated: a fixture)
    Connection, credential, federated, prepare_stream)
from tests.intake_client import token
from tests.reporting_history import admitted, envelope, erased, pair_formed, received
from tests.services_client import running

NATIONAL = token("analyst", None, "ana-1")
ROOT = Path(__file__).resolve().parent.parent


# --- the rule, given / when / then ---------------------------------------------------------

APPLICATION = envelope(received(uuid4()), region="IDF")
ERASURE = envelope(erased(uuid4()), region="IDF")


@pytest.mark.parametrize(("event", "subject", "refused_with"), [
    (APPLICATION, "success.IDF.intake.ApplicationReceived", None),
    (ERASURE, "success.IDF.intake.PersonErased", None),
    # a partner region's subjects, whatever the envelope says
    (APPLICATION, "success.OCC.forged.ApplicationReceived", "untrusted_subject"),
    (APPLICATION, "success.OCC.partner.ApplicationReceived", "untrusted_subject"),
    (ERASURE, "success.OCC.partner.PersonErased", "untrusted_subject"),
    # reporting publishes nothing; dead letters and other shapes are never events
    (APPLICATION, "success.IDF.reporting.ApplicationReceived", "untrusted_subject"),
    (APPLICATION, "success.dlq.reporting", "untrusted_subject"),
    (APPLICATION, "success.IDF.intake.ApplicationReceived.more", "untrusted_subject"),
    (APPLICATION, "success.idf.intake.ApplicationReceived", "untrusted_subject"),
    (APPLICATION, "other.IDF.intake.ApplicationReceived", "untrusted_subject"),
    # our subjects, disagreeing with the envelope: region, owning service, type
    (APPLICATION, "success.OCC.intake.ApplicationReceived", "subject_mismatch"),
    (ERASURE, "success.IDF.matching.PersonErased", "subject_mismatch"),
    (ERASURE, "success.IDF.intake.ApplicationReceived", "subject_mismatch"),
])
def test_an_event_is_trusted_only_on_its_own_subject_of_our_services(event, subject, refused_with):
    if refused_with is None:
        assert load_trusted_event(subject, event.to_json()) == event
        return
    with pytest.raises(MalformedEvent) as refused:
        load_trusted_event(subject, event.to_json())
    assert refused.value.code == refused_with


def test_an_untrusted_subject_is_refused_before_the_body_is_read():
    with pytest.raises(MalformedEvent) as refused:
        load_trusted_event("success.OCC.partner.Anything", b"\xff not json")
    assert refused.value.code == "untrusted_subject"


# --- end to end, on the federation's real server and credentials ---------------------------

def services_settings(federated, database_url: str, **overrides) -> Settings:
    return Settings(
        nats_url=credential(federated, "services").url_with_password(),
        database_url=database_url, relay_poll_interval_s=0.02, consumer_backoff_s=0.05,
        consumer_max_backoff_s=0.2, relay_max_backoff_s=0.5, publish_ack_timeout_s=2.0,
        log_json=False, **overrides)


async def _archived(runtime) -> set[str]:
    async with runtime.store.engine.connect() as conn:
        return {str(r[0]) for r in await conn.execute(
            text("SELECT event_id FROM reporting.archive"))}


async def _mentions(runtime, person: uuid.UUID) -> int:
    async with runtime.store.engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT count(*) FROM reporting.view_rows WHERE key LIKE :p OR data::text LIKE :p"),
            {"p": f"%{person}%"})).scalar()


async def _publish(conn: Connection, subject: str, event) -> str:
    ack = await conn.nc.jetstream(timeout=5).publish(
        subject, event.to_json(), headers={"Nats-Msg-Id": uuid4().hex})
    return ack.stream


async def test_forged_events_change_no_figure_erase_nothing_and_are_dead_lettered(
        federated, database_url, clock):
    await prepare_stream(federated)
    settings = services_settings(federated, database_url)
    person = uuid4()
    genuine = [envelope(received(person), region="IDF"), envelope(admitted(person), region="IDF")]
    forged_application = envelope(received(uuid4()), region="IDF")
    forged_erasure = envelope(erased(person), region="IDF")
    async with running(settings, "reporting", clock=clock) as svc, \
            Connection(credential(federated, "services")) as ours, \
            Connection(credential(federated, "OCC")) as occ:
        client, runtime = svc["reporting"]
        for event in genuine:
            assert await _publish(ours, event.subject, event) == EVENT_STREAM_NAME
        wanted = {str(e.event_id) for e in genuine}
        await eventually(lambda: _contains(_archived(runtime), wanted))
        before = (await client.get("/reports/cohorts", headers=NATIONAL)).json()["totals"]
        assert await _mentions(runtime, person) > 0

        # OCC publishes where it may: its partner subjects, another stream, folded by no one.
        for subject, event in [("success.OCC.partner.ApplicationReceived", forged_application),
                               ("success.OCC.partner.PersonErased", forged_erasure)]:
            assert await _publish(occ, subject, event) == PARTNER_STREAM_NAME
        # Anywhere else, even under its own region code, the server refuses it.
        refused = ["success.OCC.forged.ApplicationReceived", "success.OCC.intake.PersonErased",
                   "success.IDF.intake.ApplicationReceived", "success.OCC.reporting.PersonErased"]
        for subject in refused:
            await occ.nc.publish(subject, forged_erasure.to_json())
        assert len(await occ.violations(len(refused))) == len(refused)

        # Second line: what reaches our consumers on a subject that does not fit is set
        # aside with its reason (as a misrouted or legacy message would be).
        mismatched = [("success.OCC.intake.ApplicationReceived", forged_application),
                      ("success.IDF.matching.PersonErased", forged_erasure),
                      ("success.IDF.intake.ApplicationReceived", forged_erasure),
                      ("success.idf.intake.PersonErased", forged_erasure),
                      ("success.IDF.intake.PersonErased.again", forged_erasure)]
        for subject, event in mismatched:
            await _publish(ours, subject, event)
        # The consumer keeps going: a genuine event after them is counted.
        after = envelope(received(uuid4()), region="IDF")
        await _publish(ours, after.subject, after)
        await eventually(lambda: _contains(_archived(runtime), {str(after.event_id)}))
        letters = await eventually(lambda: _letters(ours, len(mismatched)))

        archived = await _archived(runtime)
        assert str(forged_application.event_id) not in archived
        assert str(forged_erasure.event_id) not in archived
        totals = (await client.get("/reports/cohorts", headers=NATIONAL)).json()["totals"]
        assert totals["applications_mentees"] == before["applications_mentees"] + 1
        assert {k: v for k, v in totals.items() if k != "applications_mentees"} == \
            {k: v for k, v in before.items() if k != "applications_mentees"}
        assert await _mentions(runtime, person) > 0  # erased by no forged PersonErased
    assert [(l.subject, l.code) for l in letters] == [
        ("success.OCC.intake.ApplicationReceived", "subject_mismatch"),
        ("success.IDF.matching.PersonErased", "subject_mismatch"),
        ("success.IDF.intake.ApplicationReceived", "subject_mismatch"),
        ("success.idf.intake.PersonErased", "untrusted_subject"),
        ("success.IDF.intake.PersonErased.again", "untrusted_subject")]
    assert all(l.consumer == "reporting-archive" for l in letters)
    assert "success.IDF.intake.ApplicationReceived" in letters[0].reason
    async with Connection(credential(federated, "services")) as ours:
        assert await replay(ours.nc, letters) == []  # they would only come back


async def _contains(found, wanted: set[str]) -> bool:
    return wanted <= await found


async def _letters(conn: Connection, n: int):
    letters = await list_dead_letters(conn.nc, "reporting")
    return letters if len(letters) >= n else None


async def test_our_stream_and_the_partners_stream_keep_apart(federated):
    await prepare_stream(federated)
    async with Connection(credential(federated, "services")) as ours:
        js = ours.nc.jetstream()
        own = (await js.stream_info(EVENT_STREAM_NAME)).config
        partners = (await js.stream_info(PARTNER_STREAM_NAME)).config
    assert sorted(own.subjects) == sorted(["success.*.intake.>", "success.*.matching.>",
                                           "success.*.followup.>", "success.dlq.*"])
    assert partners.subjects == ["success.*.partner.>"]
    defaults = Settings()
    assert (partners.max_bytes, partners.max_msgs, partners.max_msg_size, partners.discard) == (
        defaults.partner_stream_max_bytes, defaults.partner_stream_max_msgs,
        defaults.partner_stream_max_msg_size, nats.js.api.DiscardPolicy.NEW)
    assert own.max_bytes in (None, -1) and own.max_msgs in (None, -1)


async def test_what_a_region_publishes_is_bounded(federated):
    small = Settings(partner_stream_max_msgs=3, partner_stream_max_msg_size=1024,
                     partner_stream_max_bytes=1 << 20)
    await prepare_stream(federated)
    async with Connection(credential(federated, "services")) as ours:
        await ours.nc.jetstream().purge_stream(PARTNER_STREAM_NAME)
        await bus.ensure_stream(ours.nc, small)
        try:
            async with Connection(credential(federated, "BRE")) as bre:
                js = bre.nc.jetstream(timeout=5)
                with pytest.raises(nats.js.errors.APIError):  # larger than allowed
                    await js.publish("success.BRE.partner.Note", b"x" * 2048)
                for n in range(3):
                    await js.publish("success.BRE.partner.Note", f"{n}".encode())
                with pytest.raises(nats.js.errors.APIError):  # full: new ones are refused
                    await js.publish("success.BRE.partner.Note", b"one too many")
            info = await ours.nc.jetstream().stream_info(PARTNER_STREAM_NAME)
            assert info.state.messages == 3
        finally:
            await ours.nc.jetstream().purge_stream(PARTNER_STREAM_NAME)
            await bus.ensure_stream(ours.nc, Settings())


async def test_a_region_cannot_see_our_streams_subjects_or_consumers(federated):
    await prepare_stream(federated)
    async with Connection(credential(federated, "BRE")) as bre:
        js = bre.nc.jetstream(timeout=1)
        attempts = [
            lambda: js.stream_info(EVENT_STREAM_NAME, subjects_filter="success.>"),
            lambda: js.stream_info(PARTNER_STREAM_NAME),
            lambda: js.streams_info(),
            lambda: js.find_stream_name_by_subject("success.BRE.>"),
            lambda: js.account_info(),
            lambda: bre.nc.request("$JS.API.CONSUMER.NAMES.success", b"{}", timeout=1),
            lambda: bre.nc.request("$JS.API.CONSUMER.LIST.success", b"{}", timeout=1),
        ]
        for attempt in attempts:
            with pytest.raises(nats.errors.TimeoutError):  # never reaches JetStream
                await attempt()
        refused = await bre.violations(len(attempts))
    assert len(refused) == len(attempts)
    assert all("$js.api." in r for r in refused)


async def test_the_region_subscriber_example_still_follows_the_pairs(federated, tmp_path):
    await prepare_stream(federated)
    pairs = [envelope(pair_formed(uuid4(), uuid4(), uuid4(), "IDF-2025-09"), region="IDF")
             for _ in range(2)]
    async with Connection(credential(federated, "services")) as ours:
        for event in pairs:
            await _publish(ours, event.subject, event)
    cred = credential(federated, "BRE")
    cred.write(tmp_path / "BRE.json")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "region_subscriber.py"), "--credentials",
         str(tmp_path / "BRE.json"), "--region", "IDF", "--count", "2", "--json",
         "--idle-exit", "30"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    received_ids = [json.loads(line)["event_id"] for line in done.stdout.splitlines()]
    assert received_ids == [str(e.event_id) for e in pairs]


async def test_an_upgraded_deployment_stops_trusting_what_regions_put_in_our_stream(
        settings, nats_url, clock):
    """Before: one stream taking success.>, reporting's durable on success.*.*.*, and a
    region's forged event already stored. At start, the stream keeps our services' subjects
    only, the durable's filter is narrowed, and the forged event is never folded."""
    from dataclasses import replace

    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await bus.connect(nats_url, "test-upgrade")
    try:
        js = nc.jetstream()
        if await _stream_exists(js, PARTNER_STREAM_NAME):
            await js.delete_stream(PARTNER_STREAM_NAME)
        await js.add_stream(replace(bus.stream_config(settings), subjects=["success.>"]))
        await js.add_consumer(EVENT_STREAM_NAME, ConsumerConfig(
            durable_name="reporting-archive", name="reporting-archive",
            filter_subject="success.*.*.*", deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_deliver=-1, max_ack_pending=10_000))
        forged = envelope(received(uuid4()), region="IDF")
        genuine = envelope(received(uuid4()), region="IDF")
        for subject, event in [("success.OCC.forged.ApplicationReceived", forged),
                               (genuine.subject, genuine)]:
            await js.publish(subject, event.to_json(), headers={"Nats-Msg-Id": uuid4().hex})
        async with running(settings, "reporting", clock=clock) as svc:
            _client, runtime = svc["reporting"]
            await eventually(lambda: _contains(_archived(runtime), {str(genuine.event_id)}))
            assert str(forged.event_id) not in await _archived(runtime)
            durable = await js.consumer_info(EVENT_STREAM_NAME, "reporting-archive")
            assert sorted(durable.config.filter_subjects) == sorted(
                ["success.*.intake.>", "success.*.matching.>", "success.*.followup.>"])
            assert "success.>" not in (await js.stream_info(EVENT_STREAM_NAME)).config.subjects
            assert await _stream_exists(js, PARTNER_STREAM_NAME)
    finally:
        await nc.close()


async def _stream_exists(js, name: str) -> bool:
    try:
        await js.stream_info(name)
        return True
    except nats.js.errors.NotFoundError:
        return False
