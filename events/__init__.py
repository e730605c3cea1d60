"""The Succ'ess event contract: envelope, event catalogue, subjects and upcasters.

This package is the only domain code the services share, and what another region installs
to read our events. It depends on pydantic only, and installs alone: ``pip install ./events``
(distribution ``success-events``, see ``events/pyproject.toml`` and
``examples/region_subscriber.py``).
"""

from events.base import (
    EVENT_STREAM_NAME,
    Envelope,
    EventData,
    MalformedEvent,
    Metadata,
    Service,
    catalogue,
    current_model,
    envelope_model,
    load_event,
    subject_for,
    upcaster,
)
from events import intake, matching, followup  # noqa: F401  (registers the catalogue)

__all__ = [
    "EVENT_STREAM_NAME",
    "Envelope",
    "EventData",
    "MalformedEvent",
    "Metadata",
    "Service",
    "catalogue",
    "current_model",
    "envelope_model",
    "load_event",
    "subject_for",
    "upcaster",
]
