"""Builders of matching events for the pure rule tests (tables and the stateful machine)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import UUID, uuid4

from events.intake import CandidateAdmitted
from events.matching import (
    CohortOpened,
    MatchProposed,
    PairEnded,
    PairFormed,
    ScoreBreakdown,
)
from events.vocabulary import (
    AgeBand,
    AvailabilitySlot,
    EarlyEndingReason,
    EmploymentStatus,
    JobFamily,
    MatchOrigin,
    Party,
    RecruitmentChannel,
    Role,
    Sector,
)
from services.matching import domain

UTC = timezone.utc
REGION = "BRE"
COHORT = "BRE-2026-03"
NEXT_COHORT = "BRE-2026-06"
BEFORE_CUT_OFF = datetime(2026, 1, 12, 9, tzinfo=UTC)
AFTER_CUT_OFF = datetime(2026, 2, 20, 9, tzinfo=UTC)
HERE = domain.Context(REGION, BEFORE_CUT_OFF)
SCORE = ScoreBreakdown(geography=1, sectors=1, aspirations=0, availability=1, total=0.8)


def admission(person_id: UUID, role: Role, capacity: int | None = None,
              at: datetime = BEFORE_CUT_OFF) -> tuple[CandidateAdmitted, domain.Context]:
    mentor = role is Role.mentor
    return CandidateAdmitted(
        application_id=uuid4(), person_id=person_id, role=role,
        channel=RecruitmentChannel.website, departement="29",
        sector_interests=(Sector.culture,), remote_ok=False,
        availability=(AvailabilitySlot.weekend,),
        aspirations=() if mentor else (JobFamily.management,),
        age_band=None if mentor else AgeBand.age_21_25,
        job_family=JobFamily.management if mentor else None,
        years_in_ess=10 if mentor else None,
        employment_status=EmploymentStatus.employee if mentor else None,
        capacity=(capacity or 1) if mentor else None,
    ), domain.Context(REGION, at)


def opened(cohort_id: str = COHORT) -> CohortOpened:
    month = int(cohort_id[-2:])
    return CohortOpened(cohort_id=cohort_id, starts_on=date(2026, month, 1), target_pairs=20,
                        cut_off_on=date(2026, month - 1, 15))


def proposed(match_id: UUID, mentee_id: UUID, mentor_id: UUID,
             cohort_id: str = COHORT) -> MatchProposed:
    return MatchProposed(match_id=match_id, cohort_id=cohort_id, mentee_id=mentee_id,
                         mentor_id=mentor_id, origin=MatchOrigin.algorithm, score=SCORE)


def formed(pair_id: UUID, match_id: UUID, mentee_id: UUID, mentor_id: UUID,
           cohort_id: str = COHORT) -> PairFormed:
    return PairFormed(pair_id=pair_id, match_id=match_id, cohort_id=cohort_id,
                      mentee_id=mentee_id, mentor_id=mentor_id, origin=MatchOrigin.algorithm,
                      previous_pair_id=None)


def ended(pair_id: UUID, mentee_id: UUID, mentor_id: UUID,
          reason: EarlyEndingReason | None = None, cohort_id: str = COHORT) -> PairEnded:
    return PairEnded(pair_id=pair_id, cohort_id=cohort_id, mentee_id=mentee_id,
                     mentor_id=mentor_id, ended_on=date(2026, 6, 1), early=reason is not None,
                     reason=reason, ended_by=Party.referent if reason else None)


def given(*events) -> domain.Programme:
    """Fold events (an admission comes with its context; the others happen ``HERE``)."""
    return domain.programme_from(e if isinstance(e, tuple) else (e, HERE) for e in events)
