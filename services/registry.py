"""Which definition runs each service (imported lazily: a process loads only its own), and
every process `success up` runs."""

from __future__ import annotations

from enum import StrEnum
from importlib import import_module
from typing import TYPE_CHECKING

from events import Service

if TYPE_CHECKING:  # the runtime is heavy: the command line loads it only to serve
    from services.common.runtime import ServiceDefinition

# The event-sourced services, then the web fronts for staff and for participants (no events
# of their own).
Component = StrEnum("Component", [*(s.value for s in Service), "backoffice", "participants"])


def definition_of(service: Service | str) -> ServiceDefinition:
    return import_module(f"services.{Service(service).value}.service").definition
