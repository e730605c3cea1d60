"""OpenTelemetry traces: one trace from an HTTP request through every event it caused.

The HTTP server span (FastAPI's instrumentation) is the parent of the append of the events
the request records. The append stores its W3C ``traceparent`` in the event's row: the
outbox relay publishes later, in another task, and restores it there as the parent of its
publish span, whose own ``traceparent`` travels in the NATS message headers. A consumer
handles the message in a span child of that one, and what it appends in turn carries the
trace on, service after service.

Tracing is off unless an OTLP endpoint is configured (``SUCCESS_OTLP_ENDPOINT`` or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``): then no span is created at all, and every helper
here costs one test of a module variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def configure_tracing(otlp_endpoint: str | None, service: str) -> None:
    """Export spans over OTLP/HTTP when an endpoint is configured (once per process)."""
    if _provider is not None:
        return
    endpoint = otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") \
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = SdkTracerProvider(resource=Resource.create({"service.name": f"success-{service}"}))
    # Ours is a base URL like the standard variable's; without it the exporter reads those.
    exporter = OTLPSpanExporter(
        endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces" if otlp_endpoint else None)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_tracer_provider(provider)


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` (None: tracing off). For the process set-up and tests."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer("success") if provider is not None else None


def tracer_provider() -> TracerProvider | None:
    return _provider


def enabled() -> bool:
    return _tracer is not None


def _context_of(traceparent: str | None):
    return _propagator.extract({TRACEPARENT: traceparent}) if traceparent else None


def current_traceparent() -> str | None:
    """The ``traceparent`` of the span being run (None when tracing is off or none runs)."""
    if _tracer is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get(TRACEPARENT)


def span(name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None):
    """A span around a block, child of ``parent`` (a ``traceparent``) if given, else of the
    current span; nothing when tracing is off."""
    if _tracer is None:
        return nullcontext()
    return _tracer.start_as_current_span(name, context=_context_of(parent), kind=kind,
                                         attributes=attributes)


@contextmanager
def producer_spans(name: str, parents: Sequence[str | None],
                   attributes: Sequence[Mapping[str, Any]]) -> Iterator[list[str | None]]:
    """One producer span per message, child of its stored ``parents`` entry, open while the
    block runs; yields the ``traceparent`` each message carries on. A message recorded
    without trace context starts no trace."""
    assert _tracer is not None, "only when tracing is on"
    spans = [_tracer.start_span(name, context=_context_of(parent), kind=SpanKind.PRODUCER,
                                attributes=attrs) if parent else None
             for parent, attrs in zip(parents, attributes, strict=True)]
    try:
        yield [_traceparent_of(s) if s is not None else None for s in spans]
    except BaseException as exc:
        for s in spans:
            if s is not None:
                s.record_exception(exc)
                s.set_status(trace.Status(trace.StatusCode.ERROR, repr(exc)))
        raise
    finally:
        for s in spans:
            if s is not None:
                s.end()


def _traceparent_of(span_: trace.Span) -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span_))
    return carrier.get(TRACEPARENT)


def instrument_app(app, excluded: Sequence[str]) -> None:
    """Server spans for every HTTP request but the probes, when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls=",".join(excluded),
        server_request_hook=_without_personal_data, exclude_spans=["receive", "send"])


# What the HTTP instrumentation records that may be personal data: a query string (a staff
# search by e-mail or name), the caller's address and browser.
_QUERY_ATTRIBUTES = ("http.url", "url.full", "http.target")
_REDACTED_ATTRIBUTES = ("url.query", "client.address", "client.port", "net.peer.ip",
                        "net.peer.port", "http.client_ip", "user_agent.original",
                        "http.user_agent")


def _without_personal_data(span: trace.Span, _scope: dict) -> None:
    attributes = getattr(span, "attributes", None) or {}
    for key in _QUERY_ATTRIBUTES:
        if isinstance(attributes.get(key), str):
            span.set_attribute(key, attributes[key].split("?", 1)[0])
    for key in _REDACTED_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, "[redacted]")
