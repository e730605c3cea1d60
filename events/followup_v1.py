"""Followup payloads as first published (schema_version 1), frozen: never edit them.

They keep their original class names so their published JSON Schemas stay identical; the
current versions and the upcasters from these live in :mod:`events.followup`."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field

from events.base import EventData, Service
from events.followup_v2 import QuestionnaireKind  # the kinds v1 knew
from events.matching_v1 import PairEnding
from events.vocabulary import (
    OutcomeMoment,
    OutcomeSituation,
    Rating,
    Respondent,
    ReviewAssessment,
    ReviewKind,
    Role,
    StaffId,
)


class ImpactIndicator(StrEnum):
    """Impact indicators shared by mentoring networks, each rated 1 to 5."""

    self_confidence = "self_confidence"
    career_clarity = "career_clarity"
    ess_knowledge = "ess_knowledge"
    professional_network = "professional_network"
    job_search_skills = "job_search_skills"
    professional_skills = "professional_skills"
    ess_commitment = "ess_commitment"
    satisfaction = "satisfaction"


class ReviewCompleted(EventData, service=Service.followup, name="ReviewCompleted", version=1,
                      current=False):
    """A referent held a review with the pair and recorded their assessment."""

    pair_id: UUID
    kind: ReviewKind
    held_on: date
    referent_id: StaffId
    assessment: ReviewAssessment


class QuestionnaireAnswered(EventData, service=Service.followup, name="QuestionnaireAnswered",
                            version=1, current=False):
    """A mentee or mentor answered a questionnaire of impact indicators."""

    response_id: UUID
    person_id: UUID
    role: Role
    pair_id: UUID | None  # None for an annual-review answer from someone no longer paired
    kind: QuestionnaireKind
    questionnaire_version: Annotated[int, Field(ge=1)]
    # Ratings only: the questionnaire has no free-text question, by the personal data rule.
    answers: Annotated[dict[ImpactIndicator, Rating], Field(min_length=1)]


class OutcomeRecorded(EventData, service=Service.followup, name="OutcomeRecorded", version=1,
                      current=False):
    """A mentee's situation was recorded at the end of the programme or six months after."""

    person_id: UUID
    pair_id: UUID
    moment: OutcomeMoment
    situation: OutcomeSituation


class FollowUpEnded(PairEnding, service=Service.followup, name="FollowUpEnded", version=1,
                    current=False):
    """The pair's journey ended: completed after the final review, or early with a reason.
    Matching ends the pair (PairEnded) and may rematch the mentee."""


class ReminderKind(StrEnum):
    kickoff = "kickoff"
    review_upcoming = "review_upcoming"
    review_due = "review_due"
    review_overdue = "review_overdue"
    post_programme_survey = "post_programme_survey"
    annual_survey = "annual_survey"


class ReminderSent(EventData, service=Service.followup, name="ReminderSent", version=1,
                   current=False):
    """A reminder e-mail was accepted by the mail server (the address never leaves the vault)."""

    reminder_id: UUID
    kind: ReminderKind
    pair_id: UUID | None  # None for the annual survey of someone no longer paired
    recipient: Respondent
    person_id: UUID | None  # the mentee or mentor written to; None for a referent
    referent_id: StaffId | None
