"""Events of the followup service: each pair's 12-month journey, reviews, questionnaires,
outcomes and networking events."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from events import followup_v1  # noqa: F401  (frozen v1 shapes, kept to read old events)
from events import followup_v2  # noqa: F401  (frozen v2 shapes, kept to read old events)
from events.base import EventData, Service, upcaster
from events.matching import PairEnding
from events.vocabulary import (
    Audience,
    CohortId,
    Concern,
    Departement,
    ImpactIndicator,
    MeetingFormat,
    NetworkingEventKind,
    OutcomeMoment,
    OutcomeSituation,
    Party,
    QuestionnaireKind,
    Rating,
    ReminderKind,
    Respondent,
    ReviewAssessment,
    ReviewCriterion,
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


class ReviewCompleted(EventData, service=Service.followup, version=2):
    """A referent recorded a review: held or not, their assessment, ratings and concerns."""

    pair_id: UUID
    kind: ReviewKind
    held: bool  # False: the pair did not come (the review is recorded all the same)
    held_on: date  # the day of the review (or of the recording when it was not held)
    referent_id: StaffId
    assessment: ReviewAssessment | None  # None when not held
    ratings: dict[ReviewCriterion, Rating] = {}
    concerns: tuple[Concern, ...] = ()

    @model_validator(mode="after")
    def _assessed_iff_held(self) -> Self:
        if self.held != (self.assessment is not None):
            raise ValueError("a held review has an assessment, and only a held one")
        return self


@upcaster("ReviewCompleted", from_version=1)
def _review_completed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 only recorded reviews that took place, without ratings or concerns.
    return {**data, "held": True, "ratings": {}, "concerns": []}


class QuestionnaireAnswered(EventData, service=Service.followup, version=3):
    """Someone answered a questionnaire of impact indicators (the mentee's start of programme
    baseline, end of programme, six months after, or the annual review, which also asks
    referents and partners). v3: the start_of_programme kind."""

    response_id: UUID
    respondent: Respondent
    person_id: UUID | None  # mentees and mentors; referents and partners answer anonymously
    pair_id: UUID | None  # None for an annual-review answer from someone not paired
    kind: QuestionnaireKind
    questionnaire_version: Annotated[int, Field(ge=1)]
    # Ratings only: the questionnaire has no free-text question, by the personal data rule.
    answers: Annotated[dict[ImpactIndicator, Rating], Field(min_length=1)]

    @model_validator(mode="after")
    def _person_iff_participant(self) -> Self:
        participant = self.respondent in (Respondent.mentee, Respondent.mentor)
        if participant != (self.person_id is not None):
            raise ValueError("mentees and mentors answer with their person_id, others without")
        return self


@upcaster("QuestionnaireAnswered", from_version=1)
def _questionnaire_answered_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 only asked mentees and mentors; its role becomes the respondent.
    data = dict(data)
    data["respondent"] = data.pop("role", None)
    return data


@upcaster("QuestionnaireAnswered", from_version=2)
def _questionnaire_answered_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return data  # v3 only adds the start_of_programme kind: every v2 payload is a valid v3 one


class OutcomeRecorded(EventData, service=Service.followup, version=2):
    """A mentee's situation, and their satisfaction, at the end of the programme or six months
    after."""

    person_id: UUID
    pair_id: UUID
    moment: OutcomeMoment
    situation: OutcomeSituation
    satisfaction: Rating | None = None  # None when the mentee did not say


@upcaster("OutcomeRecorded", from_version=1)
def _outcome_recorded_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "satisfaction": None}  # v1 did not ask


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


class NetworkingRegistrationRecorded(EventData, service=Service.followup):
    """A mentee or mentor registered for a networking event."""

    networking_event_id: UUID
    person_id: UUID
    role: Role


class ReferentAssigned(EventData, service=Service.followup):
    """A staff referent now follows the pair (reviews and reminders go to them)."""

    pair_id: UUID
    referent_id: StaffId


class FollowUpEnded(PairEnding, service=Service.followup, version=2):
    """The pair's journey ended: completed after the final review, or early with a reason.
    Matching ends the pair (PairEnded) and may rematch the mentee (v2: more reasons)."""


@upcaster("FollowUpEnded", from_version=1)
def _follow_up_ended_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return data  # v2 only adds early-ending reasons: every v1 payload is a valid v2 one


class ReminderSent(EventData, service=Service.followup, version=2):
    """A reminder e-mail was accepted by the mail server (the address never leaves the vault)."""

    reminder_id: UUID
    kind: ReminderKind
    pair_id: UUID | None  # None for the annual survey of someone no longer paired
    recipient: Respondent
    person_id: UUID | None  # the mentee or mentor written to; None for a referent
    referent_id: StaffId | None


@upcaster("ReminderSent", from_version=1)
def _reminder_sent_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return data  # v2 only adds reminder kinds: every v1 payload is a valid v2 one
