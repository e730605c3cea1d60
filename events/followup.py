"""Events of the followup service: each pair's 12-month journey, reviews, questionnaires,
outcomes and networking events."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Field

from events.base import EventData, Service
from events.vocabulary import (
    Audience,
    CohortId,
    Departement,
    ImpactIndicator,
    MeetingFormat,
    NetworkingEventKind,
    OutcomeMoment,
    OutcomeSituation,
    Party,
    QuestionnaireKind,
    Rating,
    ReviewAssessment,
    ReviewKind,
    Role,
    SessionTheme,
    StaffId,
)


class FollowUpPlanned(EventData, service=Service.followup):
    """A pair's 12-month journey was planned, with the due dates of its two reviews."""

    pair_id: UUID
    cohort_id: CohortId
    mentee_id: UUID
    mentor_id: UUID
    referent_id: StaffId | None  # the staff referent following the pair, once assigned
    starts_on: date
    ends_on: date
    intermediate_review_due_on: date  # month 6
    final_review_due_on: date  # month 12


class SessionLogged(EventData, service=Service.followup):
    """A mentoring session took place and was declared."""

    session_id: UUID
    pair_id: UUID
    held_on: date
    duration_minutes: Annotated[int, Field(ge=5, le=480)]
    format: MeetingFormat
    theme: SessionTheme
    used_toolkit: bool  # one of the programme's session templates was used
    logged_by: Party


class ReviewScheduled(EventData, service=Service.followup):
    """A referent booked the intermediate or final review of a pair."""

    pair_id: UUID
    kind: ReviewKind
    scheduled_at: AwareDatetime
    format: MeetingFormat
    referent_id: StaffId


class ReviewDue(EventData, service=Service.followup):
    """A review's due date arrived (timer) and it has not been held yet."""

    pair_id: UUID
    kind: ReviewKind
    due_on: date


class ReviewOverdue(EventData, service=Service.followup):
    """A review is still not held after its grace period (timer)."""

    pair_id: UUID
    kind: ReviewKind
    due_on: date
    grace_days: Annotated[int, Field(ge=0)]


class ReviewCompleted(EventData, service=Service.followup):
    """A referent held a review with the pair and recorded their assessment."""

    pair_id: UUID
    kind: ReviewKind
    held_on: date
    referent_id: StaffId
    assessment: ReviewAssessment


class QuestionnaireAnswered(EventData, service=Service.followup):
    """A mentee or mentor answered a questionnaire of impact indicators."""

    response_id: UUID
    person_id: UUID
    role: Role
    pair_id: UUID | None  # None for an annual-review answer from someone no longer paired
    kind: QuestionnaireKind
    questionnaire_version: Annotated[int, Field(ge=1)]
    # Ratings only: the questionnaire has no free-text question, by the personal data rule.
    answers: Annotated[dict[ImpactIndicator, Rating], Field(min_length=1)]


class OutcomeRecorded(EventData, service=Service.followup):
    """A mentee's situation was recorded at the end of the programme or six months after."""

    person_id: UUID
    pair_id: UUID
    moment: OutcomeMoment
    situation: OutcomeSituation


class NetworkingEventScheduled(EventData, service=Service.followup):
    """A networking event (or the annual programme review) was scheduled."""

    networking_event_id: UUID
    kind: NetworkingEventKind
    audience: Audience
    starts_at: AwareDatetime
    format: MeetingFormat
    departement: Departement | None  # None when fully remote


class AttendanceRecorded(EventData, service=Service.followup):
    """Whether a registered mentee or mentor attended a networking event."""

    networking_event_id: UUID
    person_id: UUID
    role: Role
    attended: bool
