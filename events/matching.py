"""Events of the matching service: cohorts, proposals with their score, pairs and rematches."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from events import matching_v1  # noqa: F401  (frozen v1 shapes, kept to read old events)
from events.base import EventData, Service, upcaster
from events.vocabulary import (
    CohortId,
    EarlyEndingReason,
    EndedBy,
    MatchDeclineReason,
    MatchOrigin,
    OverrideReason,
    Party,
    PoolExitReason,
    ProposalWithdrawalReason,
    Role,
)

Score = Annotated[float, Field(ge=0.0, le=1.0)]


class ScoreBreakdown(BaseModel):
    """Why the algorithm likes a pair: each criterion normalised to 0..1, total their weighted sum.

    Kept even for a referent override, so reporting can compare overrides with the algorithm.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    geography: Score
    sectors: Score
    aspirations: Score
    availability: Score
    total: Score


class CohortOpened(EventData, service=Service.matching):
    """A referent opened a cohort: admitted candidates can now be matched into it."""

    cohort_id: CohortId
    starts_on: date
    target_pairs: Annotated[int, Field(ge=1, le=500)]
    cut_off_on: date  # candidates admitted after this day wait for the next cohort


class CohortLaunched(EventData, service=Service.matching):
    """A cohort started: its pairs' 12-month journeys begin on ``launched_on``."""

    cohort_id: CohortId
    launched_on: date
    pair_count: Annotated[int, Field(ge=0)]


class MatchProposed(EventData, service=Service.matching):
    """A mentee-mentor pair was proposed, by the algorithm or by a referent overriding it."""

    match_id: UUID
    cohort_id: CohortId
    mentee_id: UUID
    mentor_id: UUID
    origin: MatchOrigin
    score: ScoreBreakdown
    override_reason: OverrideReason | None = None  # set when a referent paired them by hand


class MatchDeclined(EventData, service=Service.matching):
    """A proposed match was turned down; both people return to the pool."""

    match_id: UUID
    cohort_id: CohortId
    mentee_id: UUID
    mentor_id: UUID
    declined_by: Party
    reason: MatchDeclineReason


class PairFormed(EventData, service=Service.matching):
    """A proposed match was confirmed: mentee and mentor form a pair (binôme) in a cohort."""

    pair_id: UUID
    match_id: UUID
    cohort_id: CohortId
    mentee_id: UUID
    mentor_id: UUID
    origin: MatchOrigin
    previous_pair_id: UUID | None  # the pair this one replaces, after a rematch


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


class PairEnded(PairEnding, service=Service.matching, version=2):
    """A pair ended: at the end of its 12 months, or early with a reason (v2: the reasons
    mentee_found_training and mentee_withdrew)."""


@upcaster("PairEnded", from_version=1)
def _pair_ended_v1_to_v2(data: dict) -> dict:
    return data  # v2 only adds reasons: every v1 payload is a valid v2 one


class RematchRequested(EventData, service=Service.matching):
    """After an early ending, a person goes back to the pool to be paired again."""

    person_id: UUID
    role: Role
    previous_pair_id: UUID
    cohort_id: CohortId  # the cohort to pair them in again (usually the ended pair's)


class ProposalWithdrawn(EventData, service=Service.matching):
    """A pending proposal was withdrawn: cancelled by a referent, one of the two people left
    the pool, or its cohort was launched before it was confirmed. Both places are free again."""

    match_id: UUID
    cohort_id: CohortId
    mentee_id: UUID
    mentor_id: UUID
    reason: ProposalWithdrawalReason


class CandidateLeftPool(EventData, service=Service.matching):
    """A candidate left the matching pool for good: a mentee who completed the programme, or
    whose pair ended early for a reason that takes them out (found a job or training,
    unavailable, no contact, withdrew). Never proposed again."""

    person_id: UUID
    role: Role
    reason: PoolExitReason
    pair_id: UUID | None  # the pair whose ending took them out
    cohort_id: CohortId | None
    left_on: date
