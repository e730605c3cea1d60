"""JetStream set-up shared by every service: the one ``success`` stream capturing ``success.>``."""

from __future__ import annotations

import asyncio

import nats
import nats.errors
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from events import EVENT_STREAM_NAME
from events.base import SUBJECT_PREFIX
from services.common.settings import Settings

STREAM_SUBJECTS = [f"{SUBJECT_PREFIX}.>"]


def _fetch_times_out_as_nats_does() -> None:
    """nats-py 2.16's ``PullSubscription.fetch`` can raise a plain ``asyncio.TimeoutError``
    (when its deadline runs out before the lingering pull request, nats.py PR #934), while
    FastStream's pull loop only expects ``nats.errors.TimeoutError``. The escaping error kills
    FastStream's consume task, which its supervisor restarts with growing delays: an idle
    consumer then stalls for many seconds. Raise the error FastStream expects instead."""
    from nats.js.client import JetStreamContext

    original = JetStreamContext.PullSubscription.fetch
    if getattr(original, "_success_patched", False):
        return

    async def fetch(self, *args, **kwargs):
        try:
            return await original(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except asyncio.TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    fetch._success_patched = True  # type: ignore[attr-defined]
    JetStreamContext.PullSubscription.fetch = fetch  # type: ignore[method-assign]


_fetch_times_out_as_nats_does()


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=EVENT_STREAM_NAME,
        subjects=STREAM_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.duplicate_window_s,
    )


async def ensure_stream(nc: Client, settings: Settings) -> None:
    """Create the stream, or bring its settings up to date (idempotent, safe in parallel)."""
    js = nc.jetstream()
    config = stream_config(settings)
    try:
        await js.stream_info(EVENT_STREAM_NAME)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except Exception:  # another replica created it first
            pass
    await js.update_stream(config)


def servers(url: str) -> list[str]:
    """``SUCCESS_NATS_URL`` may list several servers of a cluster, comma-separated."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str, name: str, **options) -> Client:
    """A nats-py connection that reconnects forever (outages must never lose the relay)."""
    settings = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.5, **options}
    return await nats.connect(servers(url), name=name, **settings)
