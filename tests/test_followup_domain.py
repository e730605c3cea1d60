"""The follow-up domain, pure: given events, when a command, then events (or a refusal)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from events.followup import (
    FollowUpEnded,
    FollowUpPlanned,
    NetworkingEventScheduled,
    NetworkingRegistrationRecorded,
    QuestionnaireAnswered,
    ReviewCompleted,
    ReviewDue,
    ReviewOverdue,
)
from events.matching import PairEnded, PairFormed
from events.vocabulary import (
    Audience,
    EarlyEndingReason,
    ImpactIndicator,
    MatchOrigin,
    MeetingFormat,
    NetworkingEventKind,
    OutcomeMoment,
    OutcomeSituation,
    Party,
    QuestionnaireKind,
    ReminderKind,
    Respondent,
    ReviewAssessment,
    ReviewKind,
    Role,
    SessionTheme,
)
from services.common.errors import DomainError
from services.followup import domain
from services.followup.domain import (
    Answers,
    CloseAfterMatching,
    CompleteReview,
    Durations,
    EndEarly,
    LogSession,
    Plan,
    RecordAttendance,
    RecordOutcome,
    Register,
    SignalReview,
    add_months,
    decide,
    journey_from,
    networking_event_from,
    on_timer,
    timers_after_end,
    timers_for_plan,
)

PAIR, MENTEE, MENTOR = UUID(int=1), UUID(int=2), UUID(int=3)
FORMED = PairFormed(pair_id=PAIR, match_id=UUID(int=9), cohort_id="BRE-2026-03",
                    mentee_id=MENTEE, mentor_id=MENTOR, origin=MatchOrigin.algorithm,
                    previous_pair_id=None)
PLANNED = FollowUpPlanned(pair_id=PAIR, cohort_id="BRE-2026-03", mentee_id=MENTEE,
                          mentor_id=MENTOR, referent_id="ref-1", starts_on=date(2026, 3, 1),
                          ends_on=date(2027, 3, 1), intermediate_review_due_on=date(2026, 9, 1),
                          final_review_due_on=date(2027, 3, 1))
TODAY = date(2026, 9, 10)


def review(kind: ReviewKind, held: bool = True) -> ReviewCompleted:
    return ReviewCompleted(pair_id=PAIR, kind=kind, held=held, held_on=date(2026, 9, 3),
                           referent_id="ref-1",
                           assessment=ReviewAssessment.on_track if held else None)


def complete(kind: ReviewKind, questionnaires=(), held: bool = True) -> CompleteReview:
    return CompleteReview(kind, held, date(2026, 9, 3), "ref-1",
                          ReviewAssessment.on_track if held else None, {}, (),
                          tuple(questionnaires), tuple(uuid4() for _ in questionnaires), TODAY)


ENDED_EARLY = FollowUpEnded(pair_id=PAIR, cohort_id="BRE-2026-03", mentee_id=MENTEE,
                            mentor_id=MENTOR, ended_on=date(2026, 6, 1), early=True,
                            reason=EarlyEndingReason.mismatch, ended_by=Party.referent)
MENTEE_ANSWERS = {ImpactIndicator(i): 4 for i in (
    "ess_knowledge", "career_clarity", "self_confidence", "professional_network",
    "job_search_skills", "satisfaction", "would_recommend")}
COMPLETED = FollowUpEnded(pair_id=PAIR, cohort_id="BRE-2026-03", mentee_id=MENTEE,
                          mentor_id=MENTOR, ended_on=date(2027, 3, 1), early=False, reason=None,
                          ended_by=None)
MENTEE_ANSWERED_AT_FINAL = QuestionnaireAnswered(
    response_id=UUID(int=5), respondent=Respondent.mentee, person_id=MENTEE, pair_id=PAIR,
    kind=QuestionnaireKind.end_of_programme, questionnaire_version=1, answers=MENTEE_ANSWERS)

START_ANSWERS = {ImpactIndicator(i): 2 for i in (
    "ess_knowledge", "career_clarity", "self_confidence", "professional_network",
    "job_search_skills")}
MENTEE_ANSWERED_AT_START = QuestionnaireAnswered(
    response_id=UUID(int=6), respondent=Respondent.mentee, person_id=MENTEE, pair_id=PAIR,
    kind=QuestionnaireKind.start_of_programme, questionnaire_version=1, answers=START_ANSWERS)


def start(today: date) -> domain.AnswerQuestionnaire:
    """The mentee answers the start of programme questionnaire on ``today``."""
    return domain.AnswerQuestionnaire(uuid4(), QuestionnaireKind.start_of_programme,
                                      Answers(Respondent.mentee, START_ANSWERS, 1), today)


def types(events) -> list[str]:
    return [e.event_type for e in events]


# given, when, then (event types, or the refusal's code)
JOURNEY_TABLE = [
    ("plan: the 12 months start with the cohort", [], Plan(FORMED, date(2026, 1, 20), "ref-1"),
     ["FollowUpPlanned"]),
    ("plan twice: nothing more", [PLANNED], Plan(FORMED, date(2026, 1, 20), "ref-1"), []),
    ("a session", [PLANNED], LogSession(uuid4(), date(2026, 4, 2), 60, MeetingFormat.remote,
                                        SessionTheme.job_search, True, Party.mentor, TODAY),
     ["SessionLogged"]),
    ("a session in the future", [PLANNED], LogSession(
        uuid4(), date(2026, 9, 11), 60, MeetingFormat.remote, SessionTheme.job_search, True,
        Party.mentor, TODAY), "date_in_future"),
    ("a session after the end", [PLANNED, ENDED_EARLY], LogSession(
        uuid4(), date(2026, 4, 2), 60, MeetingFormat.remote, SessionTheme.job_search, True,
        Party.mentor, TODAY), "pair_ended"),
    ("due", [PLANNED], SignalReview(ReviewKind.intermediate, False, 30), ["ReviewDue"]),
    ("due twice", [PLANNED, ReviewDue(pair_id=PAIR, kind=ReviewKind.intermediate,
                                      due_on=date(2026, 9, 1))],
     SignalReview(ReviewKind.intermediate, False, 30), []),
    ("overdue", [PLANNED], SignalReview(ReviewKind.intermediate, True, 30), ["ReviewOverdue"]),
    ("not due once held", [PLANNED, review(ReviewKind.intermediate)],
     SignalReview(ReviewKind.intermediate, False, 30), []),
    ("not due once ended", [PLANNED, ENDED_EARLY],
     SignalReview(ReviewKind.intermediate, True, 30), []),
    ("intermediate review", [PLANNED], complete(ReviewKind.intermediate), ["ReviewCompleted"]),
    ("a review that did not take place", [PLANNED], complete(ReviewKind.intermediate,
                                                             held=False), ["ReviewCompleted"]),
    ("the same review twice", [PLANNED, review(ReviewKind.intermediate)],
     complete(ReviewKind.intermediate), "review_already_completed"),
    ("final before intermediate", [PLANNED], complete(ReviewKind.final),
     "intermediate_review_missing"),
    ("final review completes the programme, with the questionnaire",
     [PLANNED, review(ReviewKind.intermediate)],
     complete(ReviewKind.final, [Answers(Respondent.mentee, MENTEE_ANSWERS, 1)]),
     ["ReviewCompleted", "QuestionnaireAnswered", "FollowUpEnded"]),
    ("a questionnaire missing answers", [PLANNED, review(ReviewKind.intermediate)],
     complete(ReviewKind.final, [Answers(Respondent.mentee, {ImpactIndicator.satisfaction: 5},
                                         1)]), "answers_mismatch"),
    ("the questionnaire at the intermediate review", [PLANNED],
     complete(ReviewKind.intermediate, [Answers(Respondent.mentee, MENTEE_ANSWERS, 1)]),
     "questionnaire_at_final_review"),
    ("early ending", [PLANNED], EndEarly(EarlyEndingReason.mismatch, Party.referent,
                                         date(2026, 6, 1), TODAY), ["FollowUpEnded"]),
    ("early ending twice", [PLANNED, ENDED_EARLY], EndEarly(
        EarlyEndingReason.mismatch, Party.referent, date(2026, 6, 1), TODAY), "pair_ended"),
    ("matching ended it", [PLANNED], CloseAfterMatching(PairEnded(
        pair_id=PAIR, cohort_id="BRE-2026-03", mentee_id=MENTEE, mentor_id=MENTOR,
        ended_on=date(2026, 6, 1), early=True, reason=EarlyEndingReason.moved_away,
        ended_by=Party.mentee)), ["FollowUpEnded"]),
    ("matching ended it after us", [PLANNED, ENDED_EARLY], CloseAfterMatching(PairEnded(
        pair_id=PAIR, cohort_id="BRE-2026-03", mentee_id=MENTEE, mentor_id=MENTOR,
        ended_on=date(2026, 6, 1), early=True, reason=EarlyEndingReason.mismatch,
        ended_by=Party.referent)), []),
    ("outcome before the end", [PLANNED], RecordOutcome(
        OutcomeMoment.end, OutcomeSituation.job_seeking, 3, TODAY), "pair_not_ended"),
    ("outcome at the end", [PLANNED, ENDED_EARLY], RecordOutcome(
        OutcomeMoment.end, OutcomeSituation.job_or_training_in_ess, 5, TODAY),
     ["OutcomeRecorded"]),
    ("six-month survey answered", [PLANNED, ENDED_EARLY], domain.AnswerQuestionnaire(
        uuid4(), QuestionnaireKind.post_programme, Answers(Respondent.mentee, MENTEE_ANSWERS, 1),
        date(2026, 12, 1)), ["QuestionnaireAnswered"]),
    ("annual survey of a mentor", [PLANNED], domain.AnswerQuestionnaire(
        uuid4(), QuestionnaireKind.annual, Answers(Respondent.mentor, {
            ImpactIndicator.satisfaction: 4, ImpactIndicator.would_recommend: 5}, 1), TODAY),
     ["QuestionnaireAnswered"]),
    ("end questionnaire from its link once completed", [PLANNED, COMPLETED],
     domain.AnswerQuestionnaire(uuid4(), QuestionnaireKind.end_of_programme, Answers(
         Respondent.mentee, MENTEE_ANSWERS, 1), date(2027, 3, 2)), ["QuestionnaireAnswered"]),
    ("end questionnaire answered at the final review already", [PLANNED,
     MENTEE_ANSWERED_AT_FINAL, COMPLETED], domain.AnswerQuestionnaire(
         uuid4(), QuestionnaireKind.end_of_programme, Answers(Respondent.mentee,
                                                              MENTEE_ANSWERS, 1),
         date(2027, 3, 2)), "questionnaire_already_answered"),
    ("end questionnaire before the end", [PLANNED], domain.AnswerQuestionnaire(
        uuid4(), QuestionnaireKind.end_of_programme, Answers(Respondent.mentee, MENTEE_ANSWERS,
                                                             1), TODAY),
     "questionnaire_at_final_review"),
    ("end questionnaire after an early ending", [PLANNED, ENDED_EARLY],
     domain.AnswerQuestionnaire(uuid4(), QuestionnaireKind.end_of_programme, Answers(
         Respondent.mentee, MENTEE_ANSWERS, 1), TODAY), "questionnaire_at_final_review"),
    ("start questionnaire at the kick-off", [PLANNED], start(date(2026, 3, 1)),
     ["QuestionnaireAnswered"]),
    ("start questionnaire the day before the intermediate review is due", [PLANNED],
     start(date(2026, 8, 31)), ["QuestionnaireAnswered"]),
    ("start questionnaire before the pair starts", [PLANNED], start(date(2026, 2, 28)),
     "questionnaire_too_early"),
    ("start questionnaire once the intermediate review is due", [PLANNED],
     start(date(2026, 9, 1)), "questionnaire_too_late"),
    ("start questionnaire after the intermediate review", [PLANNED,
     review(ReviewKind.intermediate)], start(date(2026, 8, 31)), "questionnaire_too_late"),
    ("start questionnaire after an early ending", [PLANNED, ENDED_EARLY],
     start(date(2026, 5, 1)), "pair_ended"),
    ("start questionnaire twice", [PLANNED, MENTEE_ANSWERED_AT_START],
     start(date(2026, 4, 1)), "questionnaire_already_answered"),
    ("start questionnaire by the mentor", [PLANNED], domain.AnswerQuestionnaire(
        uuid4(), QuestionnaireKind.start_of_programme, Answers(
            Respondent.mentor, START_ANSWERS, 1), date(2026, 4, 1)), "questionnaire_not_found"),
    ("start questionnaire rating the mentoring already", [PLANNED], domain.AnswerQuestionnaire(
        uuid4(), QuestionnaireKind.start_of_programme, Answers(
            Respondent.mentee, MENTEE_ANSWERS, 1), date(2026, 4, 1)), "answers_mismatch"),
    ("end questionnaire after the start one", [PLANNED, MENTEE_ANSWERED_AT_START, COMPLETED],
     domain.AnswerQuestionnaire(uuid4(), QuestionnaireKind.end_of_programme, Answers(
         Respondent.mentee, MENTEE_ANSWERS, 1), date(2027, 3, 2)), ["QuestionnaireAnswered"]),
    ("a pair unknown here", [], complete(ReviewKind.intermediate), "pair_not_found"),
]


@pytest.mark.parametrize(("given", "when", "then"), [row[1:] for row in JOURNEY_TABLE],
                         ids=[row[0] for row in JOURNEY_TABLE])
def test_journey(given, when, then) -> None:
    state = journey_from(given)
    if isinstance(then, str):
        with pytest.raises(DomainError) as refused:
            decide(when, state)
        assert refused.value.code == then
        assert refused.value.message  # French, for people
    else:
        assert types(decide(when, state)) == then


def test_the_plan_follows_the_cohort_and_the_calendar() -> None:
    [planned] = decide(Plan(FORMED, date(2026, 1, 20), "ref-1"), journey_from([]))
    assert (planned.starts_on, planned.intermediate_review_due_on, planned.final_review_due_on,
            planned.ends_on) == (date(2026, 3, 1), date(2026, 9, 1), date(2027, 3, 1),
                                 date(2027, 3, 1))
    # A rematch formed mid-cohort starts on the day; durations are settings.
    [late] = decide(Plan(FORMED, date(2026, 5, 31), None, Durations(3, 9)), journey_from([]))
    assert (late.starts_on, late.intermediate_review_due_on, late.final_review_due_on) == (
        date(2026, 5, 31), date(2026, 8, 31), date(2027, 2, 28))
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_timers_of_a_plan_and_of_an_ending() -> None:
    timers = timers_for_plan(PLANNED, Durations())
    assert [(t.kind, t.review_kind, t.due_at.date().isoformat()) for t in timers] == [
        (ReminderKind.kickoff, None, "2026-03-01"),
        (ReminderKind.review_upcoming, ReviewKind.intermediate, "2026-08-18"),
        (ReminderKind.review_due, ReviewKind.intermediate, "2026-09-01"),
        (ReminderKind.review_overdue, ReviewKind.intermediate, "2026-10-01"),
        (ReminderKind.review_upcoming, ReviewKind.final, "2027-02-15"),
        (ReminderKind.review_due, ReviewKind.final, "2027-03-01"),
        (ReminderKind.review_overdue, ReviewKind.final, "2027-03-31"),
        # each month of the journey, the mentor's reminder to declare sessions
        *((ReminderKind.declare_sessions, None, f"{2026 + (month + 2) // 12}-"
           f"{(month + 2) % 12 + 1:02d}-01") for month in range(1, 12))]
    assert all(t.due_at.hour == 9 and str(t.due_at.tzinfo) == "Europe/Paris" for t in timers)
    [survey] = timers_after_end(ENDED_EARLY, Durations())
    assert survey.due_at.date() == date(2026, 12, 1)
    survey, questionnaire = timers_after_end(COMPLETED, Durations())
    assert (questionnaire.kind, questionnaire.due_at.date()) == (
        ReminderKind.end_questionnaire, date(2027, 3, 1))


TIMER_TABLE = [
    ("kick-off", [PLANNED], "kickoff", None, [], ["mentee", "mentor"]),
    ("upcoming", [PLANNED], "review_upcoming", ReviewKind.intermediate, [], ["referent"]),
    ("due", [PLANNED], "review_due", ReviewKind.intermediate, [ReviewDue], ["referent"]),
    ("overdue", [PLANNED], "review_overdue", ReviewKind.intermediate, [ReviewOverdue],
     ["referent"]),
    ("held already", [PLANNED, review(ReviewKind.intermediate)], "review_due",
     ReviewKind.intermediate, [], []),
    ("ended already", [PLANNED, ENDED_EARLY], "review_overdue", ReviewKind.final, [], []),
    ("six months after the end", [PLANNED, ENDED_EARLY], "post_programme_survey", None, [],
     ["mentee"]),
    ("sessions to declare", [PLANNED], "declare_sessions", None, [], ["mentor"]),
    ("sessions to declare, ended", [PLANNED, ENDED_EARLY], "declare_sessions", None, [], []),
    ("end questionnaire", [PLANNED, COMPLETED], "end_questionnaire", None, [],
     ["mentee", "mentor"]),
    ("end questionnaire, the mentee answered at the final review",
     [PLANNED, MENTEE_ANSWERED_AT_FINAL, COMPLETED], "end_questionnaire", None, [], ["mentor"]),
    ("end questionnaire, ended early", [PLANNED, ENDED_EARLY], "end_questionnaire", None, [],
     []),
]


@pytest.mark.parametrize(("given", "kind", "review_kind", "events", "recipients"),
                         [row[1:] for row in TIMER_TABLE], ids=[row[0] for row in TIMER_TABLE])
def test_what_a_timer_does(given, kind, review_kind, events, recipients) -> None:
    timer = domain.Timer("k", kind, datetime(2026, 9, 1, tzinfo=UTC), review_kind)
    made, reminders = on_timer(timer, journey_from(given), Durations())
    assert [type(e) for e in made] == events
    assert [r.recipient.value for r in reminders] == recipients


EVENT_ID = UUID(int=77)
SCHEDULED = NetworkingEventScheduled(
    networking_event_id=EVENT_ID, kind=NetworkingEventKind.networking,
    audience=Audience.current_pairs, starts_at=datetime(2026, 6, 1, 18, tzinfo=UTC),
    format=MeetingFormat.in_person, departement="29")
BEFORE, AFTER = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, 20, tzinfo=UTC)
REGISTERED = NetworkingRegistrationRecorded(networking_event_id=EVENT_ID, person_id=MENTEE,
                                            role=Role.mentee)

NETWORKING_TABLE = [
    ("register a current mentee", [SCHEDULED], Register(MENTEE, Role.mentee, "current", BEFORE),
     ["NetworkingRegistrationRecorded"]),
    ("register an alumnus to a current-pairs event", [SCHEDULED],
     Register(MENTEE, Role.mentee, "alumnus", BEFORE), "not_in_audience"),
    ("register twice", [SCHEDULED, REGISTERED], Register(MENTEE, Role.mentee, "current", BEFORE),
     []),
    ("register once started", [SCHEDULED], Register(MENTEE, Role.mentee, "current", AFTER),
     "registration_closed"),
    ("attendance", [SCHEDULED, REGISTERED], RecordAttendance(MENTEE, True, AFTER),
     ["AttendanceRecorded"]),
    ("attendance of someone not registered", [SCHEDULED], RecordAttendance(MENTOR, True, AFTER),
     "not_registered"),
    ("attendance before the event", [SCHEDULED, REGISTERED],
     RecordAttendance(MENTEE, True, BEFORE), "event_not_started"),
]


@pytest.mark.parametrize(("given", "when", "then"), [row[1:] for row in NETWORKING_TABLE],
                         ids=[row[0] for row in NETWORKING_TABLE])
def test_networking_event(given, when, then) -> None:
    state = networking_event_from(given)
    if isinstance(then, str):
        with pytest.raises(DomainError) as refused:
            decide(when, state)
        assert refused.value.code == then
    else:
        assert types(decide(when, state)) == then


def test_questionnaire_answers_name_the_person_by_role() -> None:
    events = decide(complete(ReviewKind.final, [Answers(Respondent.mentee, MENTEE_ANSWERS, 1)]),
                    journey_from([PLANNED, review(ReviewKind.intermediate)]))
    answered = next(e for e in events if isinstance(e, QuestionnaireAnswered))
    assert answered.person_id == MENTEE and answered.respondent is Respondent.mentee
    ended = events[-1]
    assert isinstance(ended, FollowUpEnded) and not ended.early and ended.reason is None
