"""Dates that cannot be before their time, as pure rules: the cohort an applicant can still
join, interviews and their outcome (intake), sessions, reviews, endings, outcomes and
networking events (followup). Given events, when a command, then events or the refusal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from events.followup import FollowUpEnded, FollowUpPlanned, ReviewCompleted
from events.intake import ApplicationReceived, ApplicationRouted, InterviewScheduled
from events.vocabulary import (
    Audience,
    EarlyEndingReason,
    MeetingFormat,
    NetworkingEventKind,
    OutcomeMoment,
    OutcomeSituation,
    Party,
    QuestionnaireKind,
    Respondent,
    ReviewAssessment,
    ReviewKind,
    RoutingBasis,
    SessionTheme,
    cohort_for,
    joinable_cohort,
)
from services.common.errors import DomainError
from services.followup import domain as followup
from services.intake import domain as intake

# -- the cohort an applicant can still join ---------------------------------------------------

JOINABLE = [
    # day, cohort: the first quarterly start whose cut-off (start - 14 days) is on or after it
    ("2026-01-12", "2026-03"),
    ("2026-02-15", "2026-03"),  # the cut-off day of 2026-03 itself
    ("2026-02-16", "2026-06"),  # the day after it
    ("2026-03-01", "2026-06"),  # the day a cohort starts
    ("2026-11-17", "2026-12"),  # the cut-off day of 2026-12
    ("2026-11-18", "2027-03"),
    ("2026-11-29", "2027-03"),  # the defect: was told 2026-12
    ("2026-12-31", "2027-03"),
    ("2027-02-15", "2027-03"),  # across the year
    ("2027-02-16", "2027-06"),
]


@pytest.mark.parametrize(("day", "cohort"), JOINABLE)
def test_the_cohort_an_applicant_can_still_join(day: str, cohort: str) -> None:
    assert joinable_cohort(date.fromisoformat(day)) == cohort


def test_joinable_is_the_next_start_or_the_one_after() -> None:
    day = date(2025, 1, 1)
    while day < date(2028, 1, 1):
        assert joinable_cohort(day) in (cohort_for(day), cohort_for(
            followup.cohort_start(f"XXX-{cohort_for(day)}")))
        day += timedelta(days=1)


# -- intake: an interview's date and its outcome ------------------------------------------------

APPLICATION, PERSON, INTERVIEW = uuid4(), uuid4(), uuid4()
SUBMITTED = datetime(2026, 1, 12, 9, tzinfo=UTC)
INTERVIEW_AT = datetime(2026, 1, 20, 9, tzinfo=UTC)
RECEIVED = ApplicationReceived(
    application_id=APPLICATION, person_id=PERSON, role="mentee", channel="website",
    departement="29", sector_interests=("culture",), remote_ok=False, availability=("weekend",),
    aspirations=(), age_band="21-25", job_family=None, years_in_ess=None,
    employment_status=None, capacity=None, consent_given=True)
ROUTED = ApplicationRouted(application_id=APPLICATION, person_id=PERSON, role="mentee",
                           to_region="BRE", from_region=None, basis=RoutingBasis.departement,
                           candidate_regions=("BRE",), cohort="2026-03", rerouting_reason=None)
SCHEDULED = InterviewScheduled(interview_id=INTERVIEW, application_id=APPLICATION,
                               person_id=PERSON, kind="motivation", scheduled_at=INTERVIEW_AT,
                               format="remote", referent_id="ref-1")


def schedule(at: datetime, now: datetime = SUBMITTED) -> intake.ScheduleInterview:
    return intake.ScheduleInterview(uuid4(), at, MeetingFormat.remote, "ref-1", now)


def outcome(now: datetime) -> intake.CompleteInterview:
    return intake.CompleteInterview(INTERVIEW, "favourable", "ref-1", now)


INTAKE_TABLE = [
    ("an interview ahead", [RECEIVED, ROUTED], schedule(INTERVIEW_AT), ["InterviewScheduled"]),
    ("an interview held earlier the day they applied, booked after the fact",
     [RECEIVED, ROUTED], schedule(datetime(2026, 1, 12, 7, tzinfo=UTC)), ["InterviewScheduled"]),
    ("an interview before they applied", [RECEIVED, ROUTED],
     schedule(datetime(2026, 1, 11, 9, tzinfo=UTC)), "interview_before_application"),
    ("an interview in 2062 (typo)", [RECEIVED, ROUTED],
     schedule(datetime(2062, 1, 20, 9, tzinfo=UTC)), "date_too_far"),
    ("an outcome before the interview", [RECEIVED, ROUTED, SCHEDULED],
     outcome(SUBMITTED), "outcome_before_interview"),
    ("an outcome a minute before the interview", [RECEIVED, ROUTED, SCHEDULED],
     outcome(INTERVIEW_AT - timedelta(minutes=1)), "outcome_before_interview"),
    ("an outcome at the interview's time", [RECEIVED, ROUTED, SCHEDULED],
     outcome(INTERVIEW_AT), ["InterviewCompleted"]),
    ("an outcome the day after", [RECEIVED, ROUTED, SCHEDULED],
     outcome(INTERVIEW_AT + timedelta(days=1)), ["InterviewCompleted"]),
]


@pytest.mark.parametrize(("given", "when", "then"), [row[1:] for row in INTAKE_TABLE],
                         ids=[row[0] for row in INTAKE_TABLE])
def test_intake_dates(given, when, then) -> None:
    state = intake.replay(given, SUBMITTED)
    if isinstance(then, str):
        with pytest.raises(DomainError) as refused:
            intake.decide(when, state)
        assert (refused.value.code, refused.value.status) == (then, 422)
        assert refused.value.message  # French, for people
    else:
        assert [e.event_type for e in intake.decide(when, state)] == then


# -- followup: a journey's dates --------------------------------------------------------------

PAIR, MENTEE, MENTOR = UUID(int=1), UUID(int=2), UUID(int=3)


def planned(starts_on: date, cohort: str = "BRE-2026-03") -> FollowUpPlanned:
    return FollowUpPlanned(
        pair_id=PAIR, cohort_id=cohort, mentee_id=MENTEE, mentor_id=MENTOR, referent_id="ref-1",
        starts_on=starts_on, ends_on=followup.add_months(starts_on, 12),
        intermediate_review_due_on=followup.add_months(starts_on, 6),
        final_review_due_on=followup.add_months(starts_on, 12))


WITH_COHORT = planned(date(2026, 3, 1))  # formed before its cohort started
LATE_PAIR = planned(date(2026, 4, 10))  # formed on 10 April (a rematch): starts that day
TODAY = date(2026, 9, 10)
NOW = datetime(2026, 1, 20, 9, tzinfo=UTC)


def review(kind: ReviewKind, held_on: date, today: date = TODAY) -> followup.CompleteReview:
    return followup.CompleteReview(kind, True, held_on, "ref-1", ReviewAssessment.on_track, {},
                                   (), (), (), today)


def intermediate_held(on: date) -> ReviewCompleted:
    return ReviewCompleted(pair_id=PAIR, kind=ReviewKind.intermediate, held=True, held_on=on,
                           referent_id="ref-1", assessment=ReviewAssessment.on_track)


def session(held_on: date, today: date = TODAY) -> followup.LogSession:
    return followup.LogSession(uuid4(), held_on, 60, MeetingFormat.remote,
                               SessionTheme.job_search, True, Party.mentor, today)


def end_early(on: date) -> followup.EndEarly:
    return followup.EndEarly(EarlyEndingReason.mismatch, Party.referent, on, TODAY)


def book(kind: ReviewKind, at: datetime, now: datetime = NOW) -> followup.ScheduleReview:
    return followup.ScheduleReview(kind, at, MeetingFormat.in_person, "ref-1", now)


ENDED = FollowUpEnded(pair_id=PAIR, cohort_id="BRE-2026-03", mentee_id=MENTEE, mentor_id=MENTOR,
                      ended_on=date(2026, 6, 1), early=True, reason=EarlyEndingReason.mismatch,
                      ended_by=Party.referent)


def six_months_outcome(today: date) -> followup.RecordOutcome:
    return followup.RecordOutcome(OutcomeMoment.six_months_after,
                                  OutcomeSituation.job_seeking, 4, today, 6)


def six_months_survey(today: date) -> followup.AnswerQuestionnaire:
    return followup.AnswerQuestionnaire(uuid4(), QuestionnaireKind.post_programme,
                                        followup.Answers(Respondent.mentee, MENTEE_ANSWERS, 1),
                                        today, 6)


MENTEE_ANSWERS = dict.fromkeys(
    ("ess_knowledge", "career_clarity", "self_confidence", "professional_network",
     "job_search_skills", "satisfaction", "would_recommend"), 4)


FOLLOWUP_TABLE = [
    # reviews look back on a journey that has started
    ("intermediate review before the cohort starts", [WITH_COHORT],
     review(ReviewKind.intermediate, date(2026, 2, 20), date(2026, 2, 20)),
     "review_before_start"),
    ("intermediate review the day the journey starts", [WITH_COHORT],
     review(ReviewKind.intermediate, date(2026, 3, 1)), ["ReviewCompleted"]),
    ("final review before the cohort starts (it would complete the journey)",
     [WITH_COHORT, intermediate_held(date(2026, 3, 1))],
     review(ReviewKind.final, date(2026, 2, 27)), "review_before_start"),
    ("final review before the intermediate one", [WITH_COHORT, intermediate_held(
        date(2026, 9, 1))], review(ReviewKind.final, date(2026, 8, 1)),
     "review_before_intermediate"),
    ("final review after the intermediate one", [WITH_COHORT, intermediate_held(
        date(2026, 9, 1))], review(ReviewKind.final, date(2026, 9, 1)),
     ["ReviewCompleted", "FollowUpEnded"]),
    ("booking a review before the journey starts", [WITH_COHORT],
     book(ReviewKind.intermediate, datetime(2026, 2, 20, 14, tzinfo=UTC)),
     "review_before_start"),
    ("booking a review after the start", [WITH_COHORT],
     book(ReviewKind.intermediate, datetime(2026, 9, 1, 14, tzinfo=UTC)), ["ReviewScheduled"]),
    ("booking a review in 2036 (typo)", [WITH_COHORT],
     book(ReviewKind.final, datetime(2036, 3, 1, 14, tzinfo=UTC)), "date_too_far"),
    # sessions and endings: not before the pair formed
    ("a session in the weeks before the cohort (pair formed then)", [WITH_COHORT],
     session(date(2026, 2, 10)), ["SessionLogged"]),
    ("a session months before the cohort", [WITH_COHORT], session(date(2026, 1, 10)),
     "before_journey"),
    ("a session the day a late pair formed", [LATE_PAIR], session(date(2026, 4, 10)),
     ["SessionLogged"]),
    ("a session before a late pair formed", [LATE_PAIR], session(date(2026, 4, 9)),
     "before_journey"),
    ("an early ending before a late pair formed", [LATE_PAIR], end_early(date(2026, 4, 1)),
     "before_journey"),
    ("an early ending after it formed", [LATE_PAIR], end_early(date(2026, 5, 1)),
     ["FollowUpEnded"]),
    # what is asked six months after the end
    ("six-month outcome before six months", [WITH_COHORT, ENDED],
     six_months_outcome(date(2026, 11, 30)), "outcome_too_early"),
    ("six-month outcome at six months", [WITH_COHORT, ENDED],
     six_months_outcome(date(2026, 12, 1)), ["OutcomeRecorded"]),
    ("six-month questionnaire before six months", [WITH_COHORT, ENDED],
     six_months_survey(date(2026, 7, 1)), "questionnaire_too_early"),
    ("six-month questionnaire at six months", [WITH_COHORT, ENDED],
     six_months_survey(date(2026, 12, 1)), ["QuestionnaireAnswered"]),
]


@pytest.mark.parametrize(("given", "when", "then"), [row[1:] for row in FOLLOWUP_TABLE],
                         ids=[row[0] for row in FOLLOWUP_TABLE])
def test_followup_dates(given, when, then) -> None:
    state = followup.journey_from(given)
    if isinstance(then, str):
        with pytest.raises(DomainError) as refused:
            followup.decide(when, state)
        assert (refused.value.code, refused.value.status) == (then, 422)
        assert refused.value.message
    else:
        assert [e.event_type for e in followup.decide(when, state)] == then


def test_a_networking_event_years_ahead_is_a_typo() -> None:
    def schedule(starts_at: datetime) -> followup.ScheduleNetworkingEvent:
        return followup.ScheduleNetworkingEvent(
            uuid4(), NetworkingEventKind.networking, Audience.all, starts_at,
            MeetingFormat.remote, None, NOW)

    state = followup.networking_event_from([])
    assert followup.decide(schedule(NOW + timedelta(days=90)), state)
    with pytest.raises(DomainError) as refused:
        followup.decide(schedule(NOW + timedelta(days=3650)), state)
    assert refused.value.code == "date_too_far"
