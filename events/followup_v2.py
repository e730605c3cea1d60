"""Followup payloads of schema_version 2 that have since changed shape, frozen: never edit them.

They keep their original class names so their published JSON Schemas stay identical; the
current versions and the upcasters from these live in :mod:`events.followup`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from events.base import EventData, Service
from events.vocabulary import Rating, Respondent


class QuestionnaireKind(StrEnum):
    # QuestionnaireAnswered v1 and v2 knew these kinds; v3 adds start_of_programme.
    end_of_programme = "end_of_programme"
    post_programme = "post_programme"
    annual = "annual"


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
    mentor_satisfaction = "mentor_satisfaction"
    would_recommend = "would_recommend"


class QuestionnaireAnswered(EventData, service=Service.followup, name="QuestionnaireAnswered",
                            version=2, current=False):
    """Someone answered a questionnaire of impact indicators (end of programme, six months
    after, or the annual review, which also asks referents and partners)."""

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
