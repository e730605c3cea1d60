"""Dead letters: read them from JetStream, and replay them.

A consumer that gives up on a message publishes its original bytes on
``success.dlq.<service>`` (captured by the ``success`` stream, which takes ``success.>``) with
``Success-Dlq-*`` headers: code, reason, original subject, consumer, deliveries and the
original stream sequence (see :mod:`services.common.consumer`).

**Replay** publishes the original bytes again on the original subject, then deletes the dead
letter from the stream, so a second replay finds nothing. The new message's ``Nats-Msg-Id``
is ``replay:<dead letter sequence>``, not the event id: the event id was already seen by
JetStream when the event was first published, and within the duplicate window (an hour) the
replay would be silently dropped. The id is stable for one dead letter, so a replay
interrupted between publish and delete and run again is still published once.

Dead letters refused for trust (``untrusted_subject``, ``subject_mismatch``) are never
replayed: they would only come back, and they stay listed for inspection.

Every consumer of the subject receives the replayed message; those that handled it the first
time recognise its event id (``processed_events``) and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from events import EVENT_STREAM_NAME, Service
from events.base import SUBJECT_PREFIX, dead_letter_subject

# Refused for where they came from, not for a fault a fix or a retry could cure.
UNTRUSTED_CODES = frozenset({"untrusted_subject", "subject_mismatch"})


@dataclass(frozen=True)
class DeadLetter:
    sequence: int  # of the dead letter in the stream
    service: str
    consumer: str
    code: str
    reason: str
    subject: str  # the original one
    deliveries: int
    original_sequence: int
    event_id: str | None
    event_type: str | None
    dead_lettered_at: datetime | None
    data: bytes

    def as_json(self) -> dict:
        out = asdict(self)
        out.pop("data")
        out["dead_lettered_at"] = self.dead_lettered_at.isoformat() if self.dead_lettered_at \
            else None
        return out


def _subject(service: Service | str | None) -> str:
    return dead_letter_subject(service) if service else f"{SUBJECT_PREFIX}.dlq.*"


def _letter(msg) -> DeadLetter:
    headers = msg.headers or {}
    try:
        body = json.loads(msg.data)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    meta = msg.metadata
    return DeadLetter(
        sequence=meta.sequence.stream,
        service=msg.subject.rsplit(".", 1)[-1],
        consumer=headers.get("Success-Dlq-Consumer", ""),
        code=headers.get("Success-Dlq-Code", ""),
        reason=headers.get("Success-Dlq-Reason", ""),
        subject=headers.get("Success-Dlq-Subject", ""),
        deliveries=int(headers.get("Success-Dlq-Deliveries", "0") or 0),
        original_sequence=int(headers.get("Success-Dlq-Stream-Seq", "0") or 0),
        event_id=str(body["event_id"]) if "event_id" in body else None,
        event_type=str(body["type"]) if "type" in body else None,
        dead_lettered_at=meta.timestamp,
        data=msg.data,
    )


async def list_dead_letters(nc: Client, service: Service | str | None = None) -> list[DeadLetter]:
    """Every dead letter waiting (of one service, or all), oldest first. Reads through an
    ephemeral consumer that acknowledges nothing: listing changes nothing."""
    js = nc.jetstream()
    subject = _subject(service)
    try:
        info = await js.stream_info(EVENT_STREAM_NAME, subjects_filter=subject)
    except NotFoundError:
        return []
    waiting = sum((info.state.subjects or {}).values())
    if not waiting:
        return []
    sub = await js.pull_subscribe(
        subject, stream=EVENT_STREAM_NAME,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                              inactive_threshold=30.0))
    letters: list[DeadLetter] = []
    try:
        while len(letters) < waiting:
            try:
                batch = await sub.fetch(min(256, waiting - len(letters)), timeout=2.0)
            except NatsTimeout:
                break  # some were replayed meanwhile
            letters.extend(_letter(msg) for msg in batch)
    finally:
        await sub.unsubscribe()
    return letters


async def replay(nc: Client, letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """Publish each dead letter on its original subject, then remove it from the stream."""
    js = nc.jetstream()
    done: list[DeadLetter] = []
    for letter in letters:
        if not letter.subject or letter.code in UNTRUSTED_CODES:
            continue  # not one of ours, or not trusted: nowhere to go back to
        await js.publish(letter.subject, letter.data, stream=EVENT_STREAM_NAME,
                         headers={"Nats-Msg-Id": f"replay:{letter.sequence}"})
        try:
            await js.delete_msg(EVENT_STREAM_NAME, letter.sequence)
        except NotFoundError:
            pass  # removed by a concurrent replay
        done.append(letter)
    return done
