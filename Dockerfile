# syntax=docker/dockerfile:1
# One image for every service and command: `docker run IMAGE serve intake`, `... migrate`,
# `... dlq list`, `... republish` (the entry point is the `success` command).
#
# Two stages: the builder makes wheels of the pinned dependencies (requirements.lock) and of
# our package; the runtime installs them and nothing else. No embedded NATS or PostgreSQL
# binaries (the `embedded` extra of `success up` and the tests): compose runs those servers
# as images of the same versions (see tests/test_ops_compose.py).

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN pip wheel --wheel-dir /wheels -r requirements.lock
COPY pyproject.toml README.md ./
COPY events ./events
COPY services ./services
RUN pip wheel --no-deps --wheel-dir /wheels . && cp requirements.lock /wheels/

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are mounted for this step only: they leave no layer behind. --no-index: only
# the pinned versions the builder fetched can be installed.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels -r /wheels/requirements.lock success-platform \
    && pip check \
    && useradd --system --uid 10001 success
USER success
WORKDIR /app
EXPOSE 8000
# SIGTERM: uvicorn stops taking requests, consumers ack what they committed, the relay
# finishes its batch (compose gives 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["success"]
CMD ["--help"]
