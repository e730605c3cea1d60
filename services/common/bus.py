"""JetStream set-up shared by every service: two streams that never share a subject.

- ``success``: what our services publish (``success.*.intake.>``, ``success.*.matching.>``,
  ``success.*.followup.>``) and the dead letters (``success.dlq.<service>``). Only our
  services' credential may publish there; our consumers read nothing else.
- ``success-partners``: what partner regions may publish (``success.<R>.partner.>``), an
  untrusted input nothing of ours folds, bounded (bytes, messages, message size; what
  happens when full is the discard policy) so that a region cannot fill our disk.
"""

from __future__ import annotations

import asyncio

import nats
import nats.errors
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from events import EVENT_STREAM_NAME
from events.base import DOMAIN_SUBJECTS, PARTNER_STREAM_NAME, SUBJECT_PREFIX, partner_subjects
from services.common.settings import Settings

STREAM_SUBJECTS = [*DOMAIN_SUBJECTS, f"{SUBJECT_PREFIX}.dlq.*"]
PARTNER_STREAM_SUBJECTS = [partner_subjects()]


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


def partner_stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=PARTNER_STREAM_NAME,
        subjects=PARTNER_STREAM_SUBJECTS,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy(settings.partner_stream_discard),
        max_bytes=settings.partner_stream_max_bytes,
        max_msgs=settings.partner_stream_max_msgs,
        max_msg_size=settings.partner_stream_max_msg_size,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.duplicate_window_s,
    )


async def ensure_stream(nc: Client, settings: Settings) -> None:
    """Create both streams, or bring their settings up to date (idempotent, safe in
    parallel). Ours first: a stream still taking ``success.>`` (before the partners' stream
    existed) gives up the partners' subjects before they are claimed."""
    for config in (stream_config(settings), partner_stream_config(settings)):
        await _ensure(nc.jetstream(), config)


async def _ensure(js, config: StreamConfig) -> None:
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except Exception:  # another replica created it first
            pass
    await js.update_stream(config)


async def ensure_consumers(nc: Client, configs: list[ConsumerConfig]) -> None:
    """Create our durable consumers, or update them (a filter narrowed since they were made:
    FastStream would bind to the old one as it is)."""
    js = nc.jetstream()
    for config in configs:
        await js.add_consumer(EVENT_STREAM_NAME, config)


def servers(url: str) -> list[str]:
    """``SUCCESS_NATS_URL`` may list several servers of a cluster, comma-separated."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str, name: str, **options) -> Client:
    """A nats-py connection that reconnects forever (outages must never lose the relay)."""
    settings = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.5, **options}
    return await nats.connect(servers(url), name=name, **settings)
