"""Health, readiness, metrics, correlation ids in logs, and dead letters listed and replayed
with `success dlq`, against real NATS and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import structlog
from prometheus_client import REGISTRY
from sqlalchemy import text

from events import Service
from services.common.metrics import OpsProbe
from tests.conftest import eventually
from tests.factories import cohort_opened, metadata
from tests.intake_client import token
from tests.services_client import running
from tests.test_consumer import counter_table, handled, publish, record, running_consumer
from tests.test_intake_api import MENTOR

CORRELATION = "6f1c2a7e-9d1b-4f7e-8a61-2c4b9e0d5a11"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Captured:
    """structlog entries with the bound context (as the JSON renderer would write them)."""

    def __enter__(self) -> list[dict]:
        self.capture = structlog.testing.LogCapture()
        structlog.configure(processors=[structlog.contextvars.merge_contextvars,
                                        self.capture])
        return self.capture.entries

    def __exit__(self, *exc) -> None:
        structlog.reset_defaults()


async def test_health_readiness_metrics_and_correlation(settings):
    settings = settings.model_copy(update={"ops_probe_interval_s": 0.1})
    with Captured() as logs:
        async with running(settings, "intake", "matching", "reporting") as svc:
            for name, (client, _runtime) in svc.items():
                assert (await client.get("/healthz")).json() == {"status": "ok"}
                ready = await client.get("/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json()["checks"] == {"started": True, "database": True,
                                                  "nats": True, "consumers": True}
            intake, intake_rt = svc["intake"]
            form = {**MENTOR, "email": "mentor-obs@example.org"}
            created = await intake.post("/applications/mentor", json=form,
                                        headers={"X-Correlation-Id": CORRELATION})
            assert created.status_code == 201, created.text
            assert created.headers["X-Correlation-Id"] == CORRELATION
            # No id given: one is made, and sent back.
            listed = await intake.get("/staff/applications", headers=token("admin"))
            assert len(listed.headers["X-Correlation-Id"]) == 36

            # The events written for the request carry its correlation id.
            async with intake_rt.store.engine.connect() as conn:
                ids = (await conn.execute(text(
                    "SELECT DISTINCT correlation_id::text FROM intake.events"))).scalars().all()
            assert ids == [CORRELATION]

            # Metrics: appended, relay lag back to 0, consumers drained, FastStream's own.
            await eventually(lambda: sample("success_event_store_head_position",
                                            service="intake") >= 2)
            await eventually(lambda: sample("success_consumer_pending_messages",
                                            service="reporting", consumer="reporting-archive")
                             == 0 and sample("success_consumer_attached", service="reporting",
                                             consumer="reporting-archive") == 1)
            assert sample("success_events_appended_total", service="intake",
                          type="ApplicationReceived") >= 1
            # A refresh may have read the lag just before the relay published: the next one
            # sees it back to 0.
            await eventually(lambda: sample("success_relay_lag_events", service="intake") == 0)
            body = (await svc["reporting"][0].get("/metrics/")).text
            for name in ("success_events_appended_total", "success_relay_lag_events",
                         "success_relay_published_events", "success_consumer_pending_messages",
                         "success_consumer_ack_pending_messages", "success_dead_letters_total",
                         "success_dead_letters_waiting", "success_event_store_head_position",
                         "faststream_received_messages_total"):
                assert name in body, name
    request_lines = [e for e in logs if e["event"] == "http request"
                     and e.get("http_path") == "/applications/mentor"]
    assert request_lines and request_lines[0]["correlation_id"] == CORRELATION
    assert request_lines[0]["status"] == 201


async def test_handling_an_event_logs_its_correlation_id(store_factory, settings):
    store = store_factory("reporting")
    await counter_table(store)
    meta = metadata()
    [envelope] = await store.append("s", 0, [cohort_opened()], meta)
    failures = []

    async def flaky(env, tx):
        await record(env, tx)
        if not failures:
            failures.append(env.event_id)
            raise RuntimeError("first try fails")

    with Captured() as logs:
        async with running_consumer(store, settings, flaky):
            await publish(settings.nats_url, envelope.subject, envelope.to_json())
            await eventually(lambda: _handled(store, str(envelope.event_id)))
    [retry] = [e for e in logs if e["event"] == "event handling failed, will retry"]
    assert retry["correlation_id"] == str(meta.correlation_id)
    assert retry["event_id"] == str(envelope.event_id)
    assert retry["consumer"] == "reporting-test"


async def _handled(store, event_id: str) -> bool:
    return event_id in await handled(store)


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env.update(SUCCESS_NATS_URL=settings.nats_url, SUCCESS_DATABASE_URL=settings.database_url,
               COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


async def test_dead_letters_are_listed_and_replayed_once(store_factory, settings):
    store = store_factory("reporting")
    await counter_table(store)
    [good] = await store.append("good", 0, [cohort_opened()], metadata())
    [broken] = await store.append("broken", 0, [cohort_opened(2)], metadata())
    fixed = False

    async def handle(env, tx):
        if env.event_id == broken.event_id and not fixed:
            raise RuntimeError("le service de géocodage ne répond pas")
        await record(env, tx)

    probe = OpsProbe(Service.reporting, settings, settings.nats_url, store, [])
    async with running_consumer(store, settings, handle):
        for envelope in (broken, good):
            await publish(settings.nats_url, envelope.subject, envelope.to_json())
        await publish(settings.nats_url, "success.IDF.matching.CohortOpened", b"\xff not json")
        await eventually(lambda: _handled(store, str(good.event_id)))

        async def two_letters():
            out = json.loads(cli(settings, "dlq", "list", "--json").stdout)
            return out if len(out) == 2 else None

        letters = await eventually(two_letters)
        unreadable, failed = sorted(letters, key=lambda letter: letter["code"] != "not_json")
        assert failed["code"] == "handler_failed" and "géocodage" in failed["reason"]
        assert failed["event_id"] == str(broken.event_id)
        assert failed["event_type"] == "CohortOpened"
        assert failed["subject"] == "success.IDF.matching.CohortOpened"
        assert failed["consumer"] == "reporting-test" and failed["service"] == "reporting"
        assert failed["deliveries"] == settings.consumer_max_deliveries
        assert unreadable["event_id"] is None
        table = cli(settings, "dlq", "list", "--service", "reporting").stdout
        assert "Lettres mortes (2)" in table and "reporting-test" in table
        await probe.refresh()
        assert sample("success_dead_letters_waiting", service="reporting") == 2
        assert sample("success_dead_letters_total", service="reporting",
                      consumer="reporting-test", code="handler_failed") >= 1

        # The cause is fixed: replay that one; the consumer handles it, the list forgets it.
        fixed = True
        replayed = cli(settings, "dlq", "replay", "--seq", str(failed["sequence"]))
        assert "1 lettre(s) morte(s) rejouée(s)" in replayed.stderr
        await eventually(lambda: _handled(store, str(broken.event_id)))
        remaining = json.loads(cli(settings, "dlq", "list", "--json").stdout)
        assert [letter["code"] for letter in remaining] == ["not_json"]
        again = cli(settings, "dlq", "replay", "--seq", str(failed["sequence"]))
        assert "0 lettre(s) morte(s) rejouée(s)" in again.stderr
        assert "Introuvables" in again.stderr
        await probe.refresh()
        assert sample("success_dead_letters_waiting", service="reporting") == 1

        # Replaying what still cannot be read only brings it back as a new dead letter.
        everything = cli(settings, "dlq", "replay", "--all", "--service", "reporting")
        assert "1 lettre(s) morte(s) rejouée(s)" in everything.stderr

        async def back_again():
            out = json.loads(cli(settings, "dlq", "list", "--json").stdout)
            return out if out and out[0]["sequence"] != unreadable["sequence"] else None

        [returned] = await eventually(back_again)
        assert returned["code"] == "not_json"
    await probe.stop()
    assert sorted(await handled(store)) == sorted([str(good.event_id), str(broken.event_id)])


def test_replay_needs_a_selection(settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env.update(SUCCESS_NATS_URL=settings.nats_url, SUCCESS_DATABASE_URL=settings.database_url)
    done = subprocess.run([sys.executable, "-m", "services.cli", "dlq", "replay"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert "--seq N" in done.stderr and "--all" in done.stderr


async def test_several_nats_servers_in_the_url(settings):
    """SUCCESS_NATS_URL lists a cluster's nodes, comma-separated; one of them being down
    does not matter."""
    from services.common.embedded import free_port

    down = f"nats://127.0.0.1:{free_port()}"
    settings = settings.model_copy(update={"nats_url": f"{down}, {settings.nats_url}"})
    async with running(settings, "intake") as svc:
        client, _runtime = svc["intake"]
        assert (await client.get("/readyz")).status_code == 200
        created = await client.post("/applications/mentor",
                                    json={**MENTOR, "email": "cluster@example.org"})
        assert created.status_code == 201
        nats_url = settings.nats_url.split(", ")[1]
        await eventually(lambda: _has_events(nats_url))


async def _has_events(nats_url: str) -> bool:
    from tests.jetstream import stored_events

    try:
        return len(await stored_events(nats_url)) >= 2
    except Exception:  # the stream exists, still empty (sequence 0 is no message)
        return False


def test_commands_say_what_to_do_when_nats_does_not_answer():
    from services.common.embedded import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env["SUCCESS_NATS_URL"] = f"nats://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "services.cli", "dlq", "list"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "NATS injoignable" in done.stderr and "SUCCESS_NATS_URL" in done.stderr
