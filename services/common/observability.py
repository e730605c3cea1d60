"""Structured logs (structlog): JSON lines by default, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys

import structlog
from opentelemetry import trace

from services.common import tracing


def configure_logging(level: str = "INFO", json: bool = True, service: str | None = None) -> None:
    processors: list = [
        structlog.contextvars.merge_contextvars,
        _trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if service:
        structlog.contextvars.bind_contextvars(service=service)
    # Plain tracebacks only (format_exc_info below, and the console renderer's own formatter
    # should an exception reach it): a rich traceback prints every frame's local variables,
    # which hold the personal data a request or a row carries.
    renderer = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries' standard logging (uvicorn, FastStream, alembic) in the same format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*processors, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    import faststream  # noqa: F401  (its import sets up its own coloured handler: undo it)

    for name in ("faststream", "faststream.access"):
        own = logging.getLogger(name)
        own.handlers.clear()
        own.propagate = True
    for chatty in ("httpx", "httpcore", "alembic", "mail.log"):  # one line per request or revision
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _trace_ids(_logger, _method, event_dict: dict) -> dict:
    """The trace and span a line was written in, when tracing is on: from a log line to its
    trace in the tracing backend."""
    if tracing.enabled():
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", f"{context.trace_id:032x}")
            event_dict.setdefault("span_id", f"{context.span_id:016x}")
    return event_dict


CORRELATION_HEADER = "X-Correlation-Id"


def current_correlation_id():
    """The correlation id of the request or event being handled (a new one outside any):
    commands put it in the metadata of the events they write."""
    from uuid import UUID, uuid4

    bound = structlog.contextvars.get_contextvars().get("correlation_id")
    try:
        return UUID(str(bound)) if bound else uuid4()
    except ValueError:
        return uuid4()


def install_correlation_middleware(app) -> None:
    """Each HTTP request gets a correlation id (the caller's ``X-Correlation-Id`` when it is a
    UUID, else a new one), bound to every log line of the request and sent back."""
    from uuid import UUID, uuid4

    @app.middleware("http")
    async def correlation(request, call_next):
        given = request.headers.get(CORRELATION_HEADER)
        try:
            correlation_id = str(UUID(given)) if given else str(uuid4())
        except ValueError:
            correlation_id = str(uuid4())
        with structlog.contextvars.bound_contextvars(
                correlation_id=correlation_id, http_method=request.method,
                http_path=request.url.path):
            response = await call_next(request)
            if request.url.path not in _PROBES:  # one JSON line per request (access log)
                structlog.get_logger("success.http").info(
                    "http request", status=response.status_code)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response


_PROBES = frozenset({"/healthz", "/readyz", "/metrics", "/metrics/"})
