"""Reading back what JetStream stored, to check relays and consumers."""

from __future__ import annotations

import json

import nats
from nats.js.errors import NotFoundError

from events import EVENT_STREAM_NAME


async def stored_messages(nats_url: str, subject_prefix: str = "success.") -> list[tuple[str, dict, dict]]:
    """Every message in the ``success`` stream, in stream order: (subject, headers, body)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(EVENT_STREAM_NAME)
        except NotFoundError:
            return []
        out = []
        if not info.state.messages:
            return out
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(EVENT_STREAM_NAME, seq)
            except NotFoundError:
                continue
            if msg.subject.startswith(subject_prefix):
                try:
                    body = json.loads(msg.data)
                except ValueError:
                    body = {"raw": msg.data.decode(errors="replace")}
                out.append((msg.subject, msg.headers or {}, body))
        return out
    finally:
        await nc.close()


async def stored_events(nats_url: str) -> list[dict]:
    """Domain events only (four-token subjects), in stream order."""
    return [body for subject, _h, body in await stored_messages(nats_url)
            if subject.count(".") == 3 and not subject.startswith("success.dlq.")]
