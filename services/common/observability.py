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
    app.add_middleware(CorrelationMiddleware)


class CorrelationMiddleware:
    """Pure ASGI (what :func:`install_correlation_middleware` installs): Starlette's
    ``@app.middleware("http")`` would run every request in a task of its own with memory
    streams, a cost paid by every public application."""

    _HEADER = CORRELATION_HEADER.lower().encode()

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _correlation_id(_header(scope, self._HEADER))
        status: list[int] = []

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = [(name, value) for name, value in message.get("headers", ())
                           if name.lower() != self._HEADER]
                headers.append((self._HEADER, correlation_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        path = scope["path"]
        with structlog.contextvars.bound_contextvars(
                correlation_id=correlation_id, http_method=scope["method"], http_path=path):
            await self.app(scope, receive, send_with_id)
            if status and path not in _PROBES:  # one JSON line per request (access log)
                # Looked up each time: a logger cached here would miss a later configure().
                structlog.get_logger("success.http").info("http request", status=status[0])


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


def _correlation_id(given: str | None) -> str:
    """The caller's id when it is a UUID (written canonically), else a new one."""
    from uuid import UUID, uuid4

    try:
        return str(UUID(given)) if given else str(uuid4())
    except ValueError:
        return str(uuid4())


_PROBES = frozenset({"/healthz", "/readyz", "/metrics", "/metrics/"})
