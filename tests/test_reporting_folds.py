"""The reporting read models as pure folds: given events, then the tables (no I/O)."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import orjson
import pytest

from events.followup import QuestionnaireAnswered
from events.vocabulary import cohort_for
from services.reporting import queries
from services.reporting.folds import View, cohort_of_day, fold
from tests.reporting_history import (
    EXPECTED_TOTALS,
    MENTEE_A,
    MENTOR_M,
    PAIR_A,
    admitted,
    answered,
    as_dict,
    attendance,
    envelope,
    erased,
    interviewed,
    networking_event,
    outcome,
    pair_ended,
    pair_formed,
    planned,
    received,
    rejected,
    rematch,
    review_done,
    review_due,
    review_overdue,
    routed,
    scripted_history,
    session,
    withdrawn,
)

PERSON, MENTOR, PAIR = uuid4(), uuid4(), uuid4()


def run(*events, region: str = "BRE") -> View:
    return fold(as_dict(envelope(e, region=region)) for e in events)


@pytest.mark.parametrize("day", [date(2025, m, d) for m in range(1, 13) for d in (1, 28)])
def test_the_cohort_of_an_application_follows_the_vocabulary_rule(day):
    assert cohort_of_day(day.isoformat()) == cohort_for(day)


FUNNEL_CASES = [
    # given events -> non-zero counters of the single (BRE, 2025-09, website) row
    ([received(PERSON)], {"applications_mentees": 1}),
    ([received(MENTOR, role="mentor")], {"applications_mentors": 1}),
    ([received(PERSON), rejected(PERSON, "mentee_too_old", "consent_missing")],
     {"applications_mentees": 1, "rejected": 1,
      "rejection_reasons": {"mentee_too_old": 1, "consent_missing": 1}}),
    ([received(PERSON), routed(PERSON), interviewed(PERSON), interviewed(PERSON)],
     {"applications_mentees": 1, "routed": 1, "interviewed": 1}),
    ([received(PERSON), admitted(PERSON)],
     {"applications_mentees": 1, "admitted": 1, "admitted_mentees": 1, "waiting": 1}),
    ([received(PERSON), admitted(PERSON), withdrawn(PERSON)],
     {"applications_mentees": 1, "admitted": 1, "admitted_mentees": 1, "withdrawn": 1}),
    ([received(PERSON), admitted(PERSON), pair_formed(PAIR, PERSON, MENTOR)],
     {"applications_mentees": 1, "admitted": 1, "admitted_mentees": 1, "paired": 1, "active": 1}),
    ([received(PERSON), admitted(PERSON), pair_formed(PAIR, PERSON, MENTOR),
      pair_ended(PAIR, PERSON, MENTOR, early=True)],
     {"applications_mentees": 1, "admitted": 1,
      "admitted_mentees": 1, "paired": 1, "ended_early": 1,
      "early_ending_reasons": {"moved_away": 1}}),
    # after an early ending the mentee waits again, then is paired again: paired once
    ([received(PERSON), admitted(PERSON), pair_formed(PAIR, PERSON, MENTOR),
      pair_ended(PAIR, PERSON, MENTOR, early=True), rematch(PERSON, PAIR)],
     {"applications_mentees": 1, "admitted": 1,
      "admitted_mentees": 1, "paired": 1, "ended_early": 1, "waiting": 1,
      "early_ending_reasons": {"moved_away": 1}}),
    ([received(PERSON), admitted(PERSON), pair_formed(PAIR, PERSON, MENTOR),
      pair_ended(PAIR, PERSON, MENTOR, early=True), rematch(PERSON, PAIR),
      pair_formed(uuid4(), PERSON, MENTOR)],
     {"applications_mentees": 1, "admitted": 1,
      "admitted_mentees": 1, "paired": 1, "ended_early": 1, "active": 1,
      "early_ending_reasons": {"moved_away": 1}}),
    ([received(PERSON), admitted(PERSON), pair_formed(PAIR, PERSON, MENTOR),
      pair_ended(PAIR, PERSON, MENTOR, early=False)],
     {"applications_mentees": 1, "admitted": 1,
      "admitted_mentees": 1, "paired": 1, "completed": 1}),
    # an event about someone the funnel never saw changes nothing
    ([admitted(PERSON)], {}),
]


@pytest.mark.parametrize(("given", "expected"), FUNNEL_CASES)
def test_cohort_funnel_fold(given, expected):
    rows = queries.cohort_report(run(*given)).rows
    if not expected:
        assert rows == []
        return
    [row] = rows
    assert (row.region, row.cohort, row.channel) == ("BRE", "2025-09", "website")
    counters = {k: v for k, v in row.model_dump().items()
                if k not in ("region", "cohort", "channel") and v}
    assert counters == expected


def test_channels_convert_applications_into_admissions_and_pairs():
    other = uuid4()
    view = run(received(PERSON), received(other), received(MENTOR, role="mentor"),
               admitted(PERSON), admitted(MENTOR, role="mentor"),
               pair_formed(PAIR, PERSON, MENTOR))
    rows = {(r.channel, r.role): r for r in queries.channel_report(view).rows}
    assert rows[("website", "mentee")].model_dump(exclude={"region", "channel", "role"}) == {
        "applications": 2, "rejected": 0, "admitted": 1, "paired": 1, "admission_rate": 0.5,
        "pairing_rate": 0.5}
    assert rows[("website", "mentor")].paired == 1


def test_a_pair_journey_counts_reviews_sessions_and_activity():
    view = run(received(PERSON), pair_formed(PAIR, PERSON, MENTOR), planned(PAIR, PERSON, MENTOR),
               session(PAIR, date(2025, 10, 1), "career_project"),
               session(PAIR, date(2025, 11, 3), "networking", toolkit=False),
               review_due(PAIR, "intermediate", date(2026, 3, 2)),
               review_overdue(PAIR, "intermediate", date(2026, 3, 2)),
               review_done(PAIR, "intermediate", date(2026, 3, 20)),
               review_overdue(PAIR, "intermediate", date(2026, 3, 2)),  # late timer: still done
               review_due(PAIR, "final", date(2026, 9, 1)))
    report = queries.journey_report(view)
    [journey] = report.journeys
    assert journey.sessions == 2 and journey.toolkit_sessions == 1
    assert journey.themes == {"career_project": 1, "networking": 1}
    assert journey.last_activity == date(2026, 3, 20)
    assert journey.reviews["intermediate"].status == "done"
    assert journey.reviews["final"].status == "due"
    assert journey.days_to_pair == 0  # applied and paired the same day in this table
    assert report.reviews == {"intermediate": {"done": 1}, "final": {"due": 1}}


def test_outcomes_rates_and_satisfaction():
    other, other_pair = uuid4(), uuid4()
    view = run(pair_formed(PAIR, PERSON, MENTOR), pair_formed(other_pair, other, MENTOR),
               outcome(PERSON, PAIR, "job_seeking"),
               outcome(PERSON, PAIR, "job_or_training_in_ess"),  # a correction replaces it
               outcome(other, other_pair, "job_or_training_outside_ess"),
               outcome(other, other_pair, "job_seeking", moment="six_months_after"),
               answered(PERSON, PAIR, satisfaction=5), answered(other, other_pair, satisfaction=2),
               answered(PERSON, PAIR, kind="post_programme", satisfaction=4))
    [row] = queries.outcome_report(view).rows
    assert (row.region, row.cohort) == ("BRE", "2025-09")
    assert row.outcomes_end == 2 and row.positive_rate_end == 1.0
    assert row.in_ess_rate_end == 0.5
    assert row.positive_rate_six_months == 0.0
    assert row.satisfaction_end == 3.5 and row.satisfaction_six_months == 4.0
    assert row.indicators["mentee:end_of_programme"] == {"satisfaction": 3.5,
                                                         "self_confidence": 3.0}


def ratings(person, pair, kind: str, **answers: int) -> QuestionnaireAnswered:
    return QuestionnaireAnswered(response_id=uuid4(), person_id=person, respondent="mentee",
                                 pair_id=pair, kind=kind, questionnaire_version=1,
                                 answers=answers)


def test_start_and_end_compare_the_mentees_who_answered_both():
    both, only_start, only_end = uuid4(), uuid4(), uuid4()
    pairs = {person: uuid4() for person in (both, only_start, only_end)}
    view = run(*(pair_formed(pairs[p], p, MENTOR) for p in pairs),
               ratings(both, pairs[both], "start_of_programme", ess_knowledge=2,
                       self_confidence=3),
               ratings(only_start, pairs[only_start], "start_of_programme", ess_knowledge=1,
                       self_confidence=1),
               ratings(both, pairs[both], "end_of_programme", ess_knowledge=5,
                       self_confidence=4, satisfaction=5),
               ratings(only_end, pairs[only_end], "end_of_programme", ess_knowledge=3,
                       self_confidence=3, satisfaction=4),
               # a second start answer (replayed) does not count twice
               ratings(both, pairs[both], "start_of_programme", ess_knowledge=1,
                       self_confidence=1))
    report = queries.outcome_report(view)
    [row] = report.rows
    # the plain means mix everyone who answered each questionnaire...
    assert row.indicators["mentee:start_of_programme"]["ess_knowledge"] == 1.33
    # ...the comparison only the mentee who answered both
    progress = {p.indicator: p for p in report.start_and_end}
    assert list(progress) == ["self_confidence", "ess_knowledge"]  # the vocabulary's order
    assert (progress["ess_knowledge"].mentees, progress["ess_knowledge"].start,
            progress["ess_knowledge"].end, progress["ess_knowledge"].change) == (1, 2.0, 5.0, 3.0)
    assert progress["self_confidence"].change == 1.0
    assert row.start_and_end == report.start_and_end


def test_start_and_end_add_up_over_cohorts_and_forget_an_erased_mentee():
    first, second = uuid4(), uuid4()
    pair_1, pair_2 = uuid4(), uuid4()
    history = [pair_formed(pair_1, first, MENTOR),
               pair_formed(pair_2, second, MENTOR, cohort="BRE-2025-12"),
               ratings(first, pair_1, "start_of_programme", career_clarity=2),
               ratings(second, pair_2, "start_of_programme", career_clarity=3),
               ratings(first, pair_1, "end_of_programme", career_clarity=4),
               ratings(second, pair_2, "end_of_programme", career_clarity=4),
               erased(first)]
    view = run(*history)
    report = queries.outcome_report(view)
    [overall] = report.start_and_end
    assert (overall.mentees, overall.start, overall.end, overall.change) == (2, 2.5, 4.0, 1.5)
    assert [r.start_and_end[0].change for r in report.rows] == [2.0, 1.0]
    assert str(first) not in orjson.dumps(view.public()).decode()


def test_progress_projects_the_current_pace_to_the_deadline():
    events = []
    for month in range(1, 13):  # one new mentee paired every month of 2026
        mentee = uuid4()
        events.append(envelope(pair_formed(uuid4(), mentee, MENTOR, cohort="IDF-2026-03"),
                               region="IDF", when=envelope(received(mentee)).occurred_at.replace(
                                   year=2026, month=month, day=15)))
    view = fold(as_dict(e) for e in events)
    report = queries.progress_report(view, today=date(2026, 12, 20))
    assert report.mentees_paired == 12 and report.monthly_pace == 1.0
    assert report.months_left == 24
    assert report.projected_by_deadline == 36.0 and not report.on_track
    assert report.by_region[0].region == "IDF"
    early = queries.progress_report(view, today=date(2026, 3, 1))
    assert early.mentees_paired == 3 and early.monthly_pace == 1.0


def test_networking_attendance_is_corrected_not_double_counted():
    event = uuid4()
    view = run(networking_event(event), attendance(event, PERSON, False),
               attendance(event, PERSON, True), attendance(event, MENTOR, True, role="mentor"))
    report = queries.networking_report(view)
    [row] = report.events
    assert (row.registered, row.attended, row.attended_mentees, row.attended_mentors) == (2, 2, 1, 1)
    assert row.attendance_rate == 1.0


def test_the_scripted_history_folds_to_the_known_answers():
    history = scripted_history()
    for instant, expected in EXPECTED_TOTALS.items():
        view = fold(as_dict(e) for e in history if e.recorded_at <= instant)
        totals = queries.cohort_report(view).totals
        assert {k: totals[k] for k in expected} == expected, instant


def test_erasure_drops_everything_about_the_person_but_keeps_the_counts():
    event = uuid4()
    history = [received(PERSON), admitted(PERSON), pair_formed(PAIR, PERSON, MENTOR),
               planned(PAIR, PERSON, MENTOR), outcome(PERSON, PAIR, "job_seeking"),
               networking_event(event), attendance(event, PERSON, True), erased(PERSON)]
    view = run(*history)
    dumped = orjson.dumps(view.tables).decode()
    assert str(PERSON) not in dumped
    assert queries.cohort_report(view).totals["applications_mentees"] == 1
    assert queries.journey_report(view).journeys[0].mentee_id is None
    assert queries.journey_report(view).journeys[0].mentor_id == str(MENTOR)
    assert ("people", str(PERSON)) in view.dirty  # the live path deletes its stored row


def test_the_fold_is_deterministic_and_ignores_unknown_types():
    history = [as_dict(e) for e in scripted_history()]
    first = fold(history)
    second = fold([*history[:3], {"type": "SomethingNew", "data": {}}, *history[3:]])
    assert first.tables == second.tables
    assert str(MENTEE_A) in first.people and str(PAIR_A) in first.journeys
    assert first.journeys[str(PAIR_A)]["mentor_id"] == str(MENTOR_M)


def test_registrations_count_before_attendance_is_known():
    from events.followup import NetworkingRegistrationRecorded

    event = uuid4()
    registered = [NetworkingRegistrationRecorded(networking_event_id=event, person_id=p,
                                                 role=role)
                  for p, role in ((PERSON, "mentee"), (MENTOR, "mentor"))]
    view = run(networking_event(event), *registered, registered[0])
    [row] = queries.networking_report(view).events
    assert (row.registered, row.attended) == (2, 0)
    view = run(networking_event(event), *registered, attendance(event, PERSON, True),
               attendance(event, MENTOR, False, role="mentor"))
    [row] = queries.networking_report(view).events
    assert (row.registered, row.attended, row.attended_mentees) == (2, 1, 1)


def test_satisfaction_recorded_with_the_outcome_counts():
    from events.followup import OutcomeRecorded

    view = run(pair_formed(PAIR, PERSON, MENTOR),
               OutcomeRecorded(person_id=PERSON, pair_id=PAIR, moment="end",
                               situation="job_seeking", satisfaction=2),
               answered(PERSON, PAIR, satisfaction=4),
               OutcomeRecorded(person_id=PERSON, pair_id=PAIR, moment="six_months_after",
                               situation="job_or_training_in_ess", satisfaction=5))
    [row] = queries.outcome_report(view).rows
    assert row.satisfaction_end == 3.0 and row.satisfaction_six_months == 5.0
