# One image for every service and command: `docker run IMAGE serve intake`, `... migrate`,
# `... dlq list`, `... republish` (the entry point is the `success` command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY services ./services
RUN pip install . && useradd --system --uid 10001 success
USER success
EXPOSE 8000
# SIGTERM: uvicorn stops taking requests, consumers ack what they committed, the relay
# finishes its batch (compose gives 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["success"]
CMD ["--help"]
