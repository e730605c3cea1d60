"""Envelope, catalogue registry, subject scheme and upcasting.

Every event type is a frozen pydantic model subclassing :class:`EventData`; subclassing
registers it in the catalogue under its name and schema version. On the wire and in the
stores an event is an :class:`Envelope` whose ``data`` holds the payload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Union
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    TypeAdapter,
    ValidationError,
    create_model,
)

EVENT_STREAM_NAME = "success"
SUBJECT_PREFIX = "success"


class Service(StrEnum):
    intake = "intake"
    matching = "matching"
    followup = "followup"
    reporting = "reporting"


RegionCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-2:FR region code, e.g. IDF, BRE"),
]


class EventData(BaseModel):
    """Base of every event payload. Subclass with ``service=`` (and ``version=`` for a new shape).

    ``class PairFormed(EventData, service=Service.matching): ...`` registers version 1 of
    ``PairFormed``. An older shape kept for its schema and upcaster is declared with
    ``name=`` and ``version=`` and ``current=False``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    service: ClassVar[Service]

    def __init_subclass__(
        cls,
        *,
        service: Service | None = None,
        name: str | None = None,
        version: int = 1,
        current: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if service is None:  # an abstract helper base, not an event type
            return
        cls.event_type = name or cls.__name__
        cls.schema_version = version
        cls.service = Service(service)
        _register(cls, current=current)


_CATALOGUE: dict[tuple[str, int], type[EventData]] = {}
_CURRENT: dict[str, type[EventData]] = {}
_UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}
_ENVELOPES: dict[tuple[str, int], type["Envelope"]] = {}
_adapter: TypeAdapter[Any] | None = None


def _register(cls: type[EventData], *, current: bool) -> None:
    global _adapter
    key = (cls.event_type, cls.schema_version)
    if key in _CATALOGUE:
        raise TypeError(f"event {key} is declared twice")
    _CATALOGUE[key] = cls
    if current:
        if cls.event_type in _CURRENT:
            raise TypeError(f"{cls.event_type} has two current versions")
        _CURRENT[cls.event_type] = cls
    _adapter = None  # rebuilt lazily with the new member


def catalogue() -> dict[tuple[str, int], type[EventData]]:
    """Every registered (event type, schema version) and its payload model."""
    return dict(sorted(_CATALOGUE.items()))


def current_model(event_type: str) -> type[EventData]:
    return _CURRENT[event_type]


def current_types() -> dict[str, type[EventData]]:
    return dict(sorted(_CURRENT.items()))


def upcaster(event_type: str, *, from_version: int):
    """Register a function turning the ``data`` of version N into version N+1."""

    def register(fn: Callable[[dict[str, Any]], dict[str, Any]]):
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def subject_for(region: str, service: Service | str, event_type: str) -> str:
    """``success.<region>.<service>.<EventType>``, e.g. ``success.IDF.matching.PairFormed``."""
    name = service.value if isinstance(service, Service) else Service(service).value
    return f"{SUBJECT_PREFIX}.{region}.{name}.{event_type}"


def dead_letter_subject(service: Service | str) -> str:
    return f"{SUBJECT_PREFIX}.dlq.{Service(service).value}"


# The services whose events we trust: reporting publishes none.
PUBLISHING_SERVICES = (Service.intake, Service.matching, Service.followup)
_PUBLISHING_NAMES = frozenset(s.value for s in PUBLISHING_SERVICES)
_REGION_TOKEN = re.compile(r"^[A-Z]{3}$")


def service_subjects(service: Service | str) -> str:
    """Every subject of one of our services, all regions: ``success.*.<service>.>``."""
    return f"{SUBJECT_PREFIX}.*.{Service(service).value}.>"


# What our services publish, and all a consumer of ours may read (dead letters excepted).
DOMAIN_SUBJECTS = tuple(service_subjects(service) for service in PUBLISHING_SERVICES)

# Partner regions publish under their own token, in a stream of their own: never ours.
PARTNER_STREAM_NAME = "success-partners"
PARTNER_TOKEN = "partner"


def partner_subjects(region: str = "*") -> str:
    """Where a partner region publishes: ``success.<region>.partner.>``."""
    return f"{SUBJECT_PREFIX}.{region}.{PARTNER_TOKEN}.>"


def untrusted_subject(subject: str) -> str | None:
    """Why ``subject`` is not ``success.<region>.<one of our services>.<Type>``; None if it is."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != SUBJECT_PREFIX:
        return f"{subject!r} is not success.<region>.<service>.<Type>"
    _, region, service, _type = parts
    if not _REGION_TOKEN.match(region):
        return f"{subject!r}: {region!r} is not a region code"
    if service not in _PUBLISHING_NAMES:
        return f"{subject!r}: {service!r} is not one of our publishing services"
    return None


class Metadata(BaseModel):
    """Who and why, given by the command or handler that produces events."""

    model_config = ConfigDict(frozen=True)

    region: RegionCode
    actor: str = Field(min_length=1, description="referent id, 'applicant' or 'system'")
    correlation_id: UUID
    causation_id: UUID | None = None


class Envelope(BaseModel):
    """One recorded event as it travels on the bus and sits in the stores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(description="unique forever; also the NATS dedupe id (Nats-Msg-Id)")
    type: str
    schema_version: int = Field(ge=1)
    stream: str = Field(min_length=1, description="the aggregate, unit of optimistic concurrency")
    stream_version: int = Field(ge=1, description="position of the event in its stream")
    region: RegionCode
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    correlation_id: UUID
    causation_id: UUID | None = None
    actor: str
    data: SerializeAsAny[EventData]

    @property
    def service(self) -> Service:
        return type(self.data).service

    @property
    def subject(self) -> str:
        return subject_for(self.region, self.service, self.type)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def envelope_model(event_type: str, version: int | None = None) -> type[Envelope]:
    """The envelope model of one event type and version (current version by default)."""
    data_cls = _CURRENT[event_type] if version is None else _CATALOGUE[(event_type, version)]
    key = (data_cls.event_type, data_cls.schema_version)
    model = _ENVELOPES.get(key)
    if model is None:
        model = create_model(
            f"{data_cls.event_type}V{data_cls.schema_version}Envelope",
            __base__=Envelope,
            __doc__=f"{data_cls.event_type} v{data_cls.schema_version} ({data_cls.service}): "
            + (data_cls.__doc__ or "").strip(),
            type=(Literal[data_cls.event_type], ...),  # type: ignore[valid-type]
            schema_version=(Literal[data_cls.schema_version], ...),  # type: ignore[valid-type]
            data=(data_cls, ...),
        )
        _ENVELOPES[key] = model
    return model


def _any_event_adapter() -> TypeAdapter[Any]:
    global _adapter
    if _adapter is None:
        members = tuple(envelope_model(name) for name in sorted(_CURRENT))
        _adapter = TypeAdapter(Annotated[Union[members], Field(discriminator="type")])  # type: ignore[valid-type]
    return _adapter


class MalformedEvent(ValueError):
    """A message that cannot be read as an event: the reason says why (for dead letters)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored or received event up to the current schema version of its type."""
    event_type = raw.get("type")
    current = _CURRENT.get(event_type) if isinstance(event_type, str) else None
    if current is None:
        raise MalformedEvent("unknown_type", f"unknown event type {event_type!r}")
    version = raw.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= current.schema_version:
        raise MalformedEvent(
            "unknown_version", f"{event_type} has no schema_version {version!r}"
        )
    data = raw.get("data")
    while version < current.schema_version:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise MalformedEvent(
                "no_upcaster", f"no upcaster from {event_type} v{version} to v{version + 1}"
            )
        if not isinstance(data, dict):
            raise MalformedEvent("invalid", f"data of {event_type} v{version} is not an object")
        try:
            data = step(dict(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEvent(
                "invalid", f"cannot upcast {event_type} v{version}: {exc!r}"
            ) from None
        version += 1
    return {**raw, "schema_version": version, "data": data}


def load_event(raw: bytes | str | dict[str, Any]) -> Envelope:
    """Parse, upcast and validate one event. Raises :class:`MalformedEvent` with the reason."""
    if isinstance(raw, (bytes, str)):
        # Fast path, the common case: current version, parsed and validated in pydantic-core.
        # Anything else (an old version, a fault) takes the careful path below.
        try:
            return _any_event_adapter().validate_json(raw)
        except ValidationError:
            pass
    if not isinstance(raw, dict):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedEvent("not_json", f"not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise MalformedEvent("not_an_object", "an event must be a JSON object")
    try:
        return _any_event_adapter().validate_python(upcast(raw))
    except ValidationError as exc:
        raise MalformedEvent("invalid", _short_errors(exc)) from None


def expected_subject(region: str, event_type: str) -> str | None:
    """The subject an event of this region and type travels on (None: unknown type)."""
    model = _CURRENT.get(event_type)
    return None if model is None else subject_for(region, model.service, event_type)


def load_trusted_event(subject: str, raw: bytes | str) -> Envelope:
    """Load an event received on ``subject``, trusting it only when the subject is one of our
    services' and agrees with the envelope (region, owning service and type). Raises
    :class:`MalformedEvent`: ``untrusted_subject``, ``subject_mismatch`` or a parsing code."""
    distrust = untrusted_subject(subject)
    if distrust is not None:
        raise MalformedEvent("untrusted_subject", distrust)
    envelope = load_event(raw)
    if envelope.subject != subject:
        raise MalformedEvent(
            "subject_mismatch",
            f"{envelope.type} of region {envelope.region} belongs on {envelope.subject!r}, "
            f"received on {subject!r}")
    return envelope


def _short_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
    )


def seal(
    data: EventData,
    *,
    event_id: UUID,
    stream: str,
    stream_version: int,
    metadata: Metadata,
    occurred_at: datetime,
    recorded_at: datetime,
) -> Envelope:
    """Wrap a payload in its typed envelope (used by the event store when appending)."""
    return envelope_model(data.event_type, data.schema_version)(
        event_id=event_id,
        type=data.event_type,
        schema_version=data.schema_version,
        stream=stream,
        stream_version=stream_version,
        region=metadata.region,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        correlation_id=metadata.correlation_id,
        causation_id=metadata.causation_id,
        actor=metadata.actor,
        data=data,
    )
