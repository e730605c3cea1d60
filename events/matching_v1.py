"""Matching payloads as first published (schema_version 1), frozen: never edit them.

They keep their original class names so their published JSON Schemas stay identical; the
current versions and the upcasters from these live in :mod:`events.matching` (and
:mod:`events.followup` for FollowUpEnded, which shares the pair ending's shape)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Self
from uuid import UUID

from pydantic import model_validator

from events.base import EventData, Service
from events.vocabulary import CohortId, EndedBy


class EarlyEndingReason(StrEnum):
    mentee_found_job = "mentee_found_job"
    mentee_unavailable = "mentee_unavailable"
    mentor_unavailable = "mentor_unavailable"
    mismatch = "mismatch"
    moved_away = "moved_away"
    no_contact = "no_contact"
    other = "other"


class PairEnding(EventData):
    """What ends a pair, early or not (shared by matching's PairEnded and followup's
    FollowUpEnded; not an event type itself)."""

    pair_id: UUID
    cohort_id: CohortId
    mentee_id: UUID
    mentor_id: UUID
    ended_on: date
    early: bool
    reason: EarlyEndingReason | None  # required when early, absent otherwise (same for ended_by)
    ended_by: EndedBy | None

    @model_validator(mode="after")
    def _reason_iff_early(self) -> Self:
        if self.early != (self.reason is not None) or self.early != (self.ended_by is not None):
            raise ValueError("reason and ended_by are required for an early ending, and only then")
        return self


class PairEnded(PairEnding, service=Service.matching, name="PairEnded", version=1,
                current=False):
    """A pair ended: at the end of its 12 months, or early with a reason."""
