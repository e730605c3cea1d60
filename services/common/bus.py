"""JetStream set-up shared by every service: the one ``success`` stream capturing ``success.>``."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from events import EVENT_STREAM_NAME
from events.base import SUBJECT_PREFIX
from services.common.settings import Settings

STREAM_SUBJECTS = [f"{SUBJECT_PREFIX}.>"]


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


async def connect(url: str, name: str, **options) -> Client:
    """A nats-py connection that reconnects forever (outages must never lose the relay)."""
    settings = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.5, **options}
    return await nats.connect(url, name=name, **settings)
