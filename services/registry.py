"""Which definition runs each service (imported lazily: a process loads only its own)."""

from importlib import import_module

from events import Service
from services.common.runtime import ServiceDefinition


def definition_of(service: Service | str) -> ServiceDefinition:
    return import_module(f"services.{Service(service).value}.service").definition
