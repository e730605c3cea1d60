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


def _next_msg_takes_a_queued_message_at_once() -> None:
    """nats-py's ``Subscription.next_msg`` wraps every wait in a new task with ``wait_for``,
    even when the message is already queued: ``fetch`` pays that for each message of a
    batch, more than the rest of our consumer's work. A queued message is returned at once,
    exactly as the slow path would; otherwise nats-py's own ``next_msg`` waits for one."""
    from nats.aio.subscription import Subscription

    original = Subscription.next_msg
    if getattr(original, "_success_patched", False):
        return

    async def next_msg(self, timeout: float | None = 1.0):
        queue = self._pending_queue
        if queue.qsize() and self._cb is None and not self._conn.is_closed:
            msg = queue.get_nowait()
            self._pending_size -= len(msg.data)
            queue.task_done()
            return msg
        return await original(self, timeout)

    next_msg._success_patched = True  # type: ignore[attr-defined]
    Subscription.next_msg = next_msg  # type: ignore[method-assign]


_fetch_times_out_as_nats_does()
_next_msg_takes_a_queued_message_at_once()


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=EVENT_STREAM_NAME,
        subjects=STREAM_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.duplicate_window_s,
        allow_atomic=True,  # the relay publishes each batch atomically (nats-server >= 2.12)
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
