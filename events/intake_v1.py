"""Intake payloads as first published (schema_version 1), frozen: never edit them.

They keep their original class names so their published JSON Schemas stay identical; the
current versions and the upcasters from these live in :mod:`events.intake`."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from events.base import EventData, Service
from events.vocabulary import Role


class WithdrawalReason(StrEnum):
    """Why an applicant leaves before being paired."""

    found_job_or_training = "found_job_or_training"
    no_longer_interested = "no_longer_interested"
    unavailable = "unavailable"
    no_response = "no_response"
    other = "other"


class ApplicationWithdrawn(EventData, service=Service.intake, name="ApplicationWithdrawn",
                           version=1, current=False):
    """An applicant left the programme before being paired (or was withdrawn for no response)."""

    application_id: UUID
    person_id: UUID
    role: Role
    reason: WithdrawalReason
