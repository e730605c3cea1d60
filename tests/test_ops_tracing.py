"""One trace from an HTTP request through everything it caused: the append, the relay's
publish (later, in another task: the context is stored with the event), each consumer in
matching and reporting and the reporting fold. Real PostgreSQL and NATS, services in-process,
spans kept in memory."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from services.common import tracing
from services.common.observability import _trace_ids
from tests.conftest import eventually
from tests.intake_client import token
from tests.services_client import running
from tests.test_intake_api import person

CONSUMERS = ("matching-pool handle", "reporting-archive handle")


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter
    tracing.use_tracer_provider(None)
    provider.shutdown()


def _handled_by_every_consumer(exporter: InMemorySpanExporter) -> bool:
    names = {s.name for s in exporter.get_finished_spans()}
    return all(name in names for name in CONSUMERS)


async def test_one_trace_from_the_request_through_every_consumer(settings, spans):
    async with running(settings, "intake", "matching", "reporting") as svc:
        intake, intake_rt = svc["intake"]
        created = await intake.post("/applications/mentee", json=person())
        assert created.status_code == 201, created.text
        await eventually(lambda: _handled_by_every_consumer(spans), timeout=60)
        assert (await intake.get("/healthz")).status_code == 200
        searched = await intake.get("/staff/persons", headers=token("admin"),
                                    params={"email": "secret.person@example.org"})
        assert searched.status_code == 200, searched.text
        async with intake_rt.store.engine.connect() as conn:
            stored = (await conn.execute(text(
                "SELECT trace_context FROM intake.events"))).scalars().all()

    finished = spans.get_finished_spans()
    [request] = [s for s in finished
                 if s.kind == SpanKind.SERVER and s.name == "POST /applications/mentee"]
    trace_id = request.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}

    def parent_of(span):
        return by_id[span.parent.span_id]

    # Request -> append (its traceparent stored with the events) -> publish -> consumers.
    [append] = [s for s in in_trace if s.name == "event_store.append"]
    assert parent_of(append) is request or parent_of(parent_of(append)) is request
    assert stored and all(value and f"{trace_id:032x}" in value for value in stored)
    publishes = [s for s in in_trace if s.name == "relay.publish"]
    assert publishes and all(parent_of(p) is append for p in publishes)
    assert all(p.kind == SpanKind.PRODUCER for p in publishes)
    for name in CONSUMERS:
        handled = [s for s in in_trace if s.name == name]
        assert handled, f"{name} is not in the request's trace"
        assert all(parent_of(h) in publishes and h.kind == SpanKind.CONSUMER for h in handled)
    folds = [s for s in in_trace if s.name == "reporting.fold"]
    assert folds and all(parent_of(f).name == "reporting-archive handle" for f in folds)
    # No probe is traced, and no personal data (a search's query string) is in any span.
    assert not [s for s in finished if "healthz" in s.name]
    [search] = [s for s in finished if s.name == "GET /staff/persons"]
    for span in finished:
        assert "secret.person" not in repr(dict(span.attributes or {})), span.name
    assert "127.0.0.1" not in repr(dict(search.attributes))
    # Everything the request caused is in its trace (no orphan trace for the same events).
    caused = {s.attributes.get("messaging.message.id") for s in in_trace} - {None}
    for span in finished:
        if span.attributes and span.attributes.get("messaging.message.id") in caused:
            assert span.context.trace_id == trace_id


async def test_no_span_and_no_stored_context_when_tracing_is_off(settings):
    assert not tracing.enabled()
    async with running(settings, "intake") as svc:
        intake, intake_rt = svc["intake"]
        created = await intake.post("/applications/mentee", json=person())
        assert created.status_code == 201, created.text
        async with intake_rt.store.engine.connect() as conn:
            stored = (await conn.execute(text(
                "SELECT trace_context FROM intake.events"))).scalars().all()
    assert stored and all(value is None for value in stored)


def test_log_lines_carry_the_trace_they_were_written_in(spans):
    assert _trace_ids(None, "info", {"event": "outside"}) == {"event": "outside"}
    with tracing.span("a request") as span:
        line = _trace_ids(None, "info", {"event": "inside"})
    context = span.get_span_context()
    assert line == {"event": "inside", "trace_id": f"{context.trace_id:032x}",
                    "span_id": f"{context.span_id:016x}"}


def test_tracing_is_on_only_with_an_otlp_endpoint(monkeypatch):
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    tracing.configure_tracing(None, "intake")
    assert not tracing.enabled() and tracing.tracer_provider() is None
    try:
        tracing.configure_tracing("http://127.0.0.1:4318", "intake")
        provider = tracing.tracer_provider()
        assert tracing.enabled()
        assert provider.resource.attributes["service.name"] == "success-intake"
    finally:
        tracing.use_tracer_provider(None)
        provider.shutdown()  # nothing was recorded: nothing is sent
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    try:
        tracing.configure_tracing(None, "matching")
        assert tracing.enabled()
    finally:
        provider = tracing.tracer_provider()
        tracing.use_tracer_provider(None)
        provider.shutdown()
