"""The follow-up domain, pure: each pair's journey (plan, sessions, reviews, ending, outcomes),
networking events, and what each durable timer does when it fires.

``decide(command, state) -> events`` checks the rules; ``evolve(state, event) -> state`` folds
the journey's own stream. No I/O, no clock: the shell passes ``today``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import singledispatch
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from events import EventData
from events.followup import (
    AttendanceRecorded,
    FollowUpEnded,
    FollowUpPlanned,
    NetworkingEventScheduled,
    NetworkingRegistrationRecorded,
    OutcomeRecorded,
    QuestionnaireAnswered,
    ReferentAssigned,
    ReviewCompleted,
    ReviewDue,
    ReviewOverdue,
    ReviewScheduled,
    SessionLogged,
)
from events.matching import PairEnded, PairFormed
from events.vocabulary import (
    Audience,
    Concern,
    EarlyEndingReason,
    ImpactIndicator,
    MeetingFormat,
    OutcomeMoment,
    OutcomeSituation,
    Party,
    QuestionnaireKind,
    ReminderKind,
    Respondent,
    ReviewAssessment,
    ReviewCriterion,
    ReviewKind,
    Role,
    SessionTheme,
)
from services.common.errors import DomainError
from services.followup.questionnaire import check_answers

PARIS = ZoneInfo("Europe/Paris")
REMINDER_HOUR = time(9, 0)  # reminders and review timers fire at 09:00, Paris time
# A pair formed before its cohort starts may meet during the weeks before: the cut-off is two
# weeks before the start, proposals are confirmed around it.
PRE_START_MEETINGS = timedelta(days=31)
# Reviews and networking events are booked at most this far ahead: a later date is a typo.
BOOKING_HORIZON = timedelta(days=550)


@dataclass(frozen=True)
class Durations:
    """The journey's calendar (settings ``SUCCESS_FOLLOWUP_*``)."""

    intermediate_review_months: int = 6
    final_review_months: int = 12
    post_programme_months: int = 6  # the +6 months survey and outcome
    overdue_grace_days: int = 30
    upcoming_notice_days: int = 14  # a reminder to book a review, this long before it is due


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def cohort_start(cohort_id: str) -> date:
    """``IDF-2026-03`` starts on 2026-03-01."""
    _, year, month = cohort_id.split("-")
    return date(int(year), int(month), 1)


def at_paris(day: date, hour: time = REMINDER_HOUR) -> datetime:
    return datetime.combine(day, hour, tzinfo=PARIS)


# --- the journey ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    due_on: date
    scheduled_at: datetime | None = None
    due_signalled: bool = False
    overdue_signalled: bool = False
    completed: ReviewCompleted | None = None


@dataclass(frozen=True)
class Journey:
    planned: FollowUpPlanned | None = None
    referent_id: str | None = None
    reviews: Mapping[ReviewKind, Review] = field(default_factory=dict)
    ended: FollowUpEnded | None = None
    sessions: int = 0
    last_session_on: date | None = None
    session_log: tuple[SessionLogged, ...] = ()  # shown on the pair's page
    outcomes: frozenset[OutcomeMoment] = frozenset()
    answered: frozenset[tuple[QuestionnaireKind, Respondent]] = frozenset()

    @property
    def active(self) -> bool:
        return self.planned is not None and self.ended is None

    def party_id(self, party: Party | Role | Respondent) -> UUID | None:
        assert self.planned is not None
        if party.value == "mentee":
            return self.planned.mentee_id
        if party.value == "mentor":
            return self.planned.mentor_id
        return None


@singledispatch
def evolve(event: EventData, state: Journey) -> Journey:
    return state


@evolve.register
def _(event: FollowUpPlanned, state: Journey) -> Journey:
    return replace(state, planned=event, referent_id=event.referent_id, reviews={
        ReviewKind.intermediate: Review(event.intermediate_review_due_on),
        ReviewKind.final: Review(event.final_review_due_on)})


@evolve.register
def _(event: ReferentAssigned, state: Journey) -> Journey:
    return replace(state, referent_id=event.referent_id)


def _review(state: Journey, kind: ReviewKind, **changes) -> Journey:
    return replace(state, reviews={**state.reviews, kind: replace(state.reviews[kind], **changes)})


@evolve.register
def _(event: ReviewScheduled, state: Journey) -> Journey:
    return _review(state, event.kind, scheduled_at=event.scheduled_at)


@evolve.register
def _(event: ReviewDue, state: Journey) -> Journey:
    return _review(state, event.kind, due_signalled=True)


@evolve.register
def _(event: ReviewOverdue, state: Journey) -> Journey:
    return _review(state, event.kind, overdue_signalled=True)


@evolve.register
def _(event: ReviewCompleted, state: Journey) -> Journey:
    return _review(state, event.kind, completed=event)


@evolve.register
def _(event: SessionLogged, state: Journey) -> Journey:
    last = max(filter(None, (state.last_session_on, event.held_on)))
    return replace(state, sessions=state.sessions + 1, last_session_on=last,
                   session_log=(*state.session_log, event))


@evolve.register
def _(event: QuestionnaireAnswered, state: Journey) -> Journey:
    return replace(state, answered=state.answered | {(event.kind, event.respondent)})


@evolve.register
def _(event: OutcomeRecorded, state: Journey) -> Journey:
    return replace(state, outcomes=state.outcomes | {event.moment})


@evolve.register
def _(event: FollowUpEnded, state: Journey) -> Journey:
    return replace(state, ended=event)


def journey_from(events: Iterable[EventData]) -> Journey:
    state = Journey()
    for event in events:
        state = evolve(event, state)
    return state


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    pair: PairFormed
    formed_on: date
    referent_id: str | None
    durations: Durations = Durations()


@dataclass(frozen=True)
class AssignReferent:
    referent_id: str


@dataclass(frozen=True)
class LogSession:
    session_id: UUID
    held_on: date
    duration_minutes: int
    format: MeetingFormat
    theme: SessionTheme
    used_toolkit: bool
    logged_by: Party
    today: date


@dataclass(frozen=True)
class ScheduleReview:
    kind: ReviewKind
    scheduled_at: datetime
    format: MeetingFormat
    referent_id: str
    now: datetime


@dataclass(frozen=True)
class Answers:
    """One questionnaire filled in during the final review (or later, on its own)."""

    respondent: Respondent
    answers: Mapping[ImpactIndicator, int]
    version: int


@dataclass(frozen=True)
class CompleteReview:
    kind: ReviewKind
    held: bool
    held_on: date
    referent_id: str
    assessment: ReviewAssessment | None
    ratings: Mapping[ReviewCriterion, int]
    concerns: tuple[Concern, ...]
    questionnaires: tuple[Answers, ...]  # the final review's end-of-programme questionnaire
    response_ids: tuple[UUID, ...]  # one per questionnaire (the shell makes ids)
    today: date


@dataclass(frozen=True)
class EndEarly:
    reason: EarlyEndingReason
    ended_by: Party
    ended_on: date
    today: date


@dataclass(frozen=True)
class CloseAfterMatching:
    """Matching ended the pair on its own (its staff endpoint): the journey follows."""

    ended: PairEnded


@dataclass(frozen=True)
class RecordOutcome:
    moment: OutcomeMoment
    situation: OutcomeSituation
    satisfaction: int | None
    today: date
    post_programme_months: int = Durations.post_programme_months


@dataclass(frozen=True)
class AnswerQuestionnaire:
    response_id: UUID
    kind: QuestionnaireKind  # post_programme here; the annual one may have no pair
    answers: Answers
    today: date
    post_programme_months: int = Durations.post_programme_months


@dataclass(frozen=True)
class SignalReview:
    """A review timer fired: due (at its date) or overdue (after the grace period)."""

    kind: ReviewKind
    overdue: bool
    grace_days: int


class FollowupError(DomainError):
    """A follow-up command the rules refuse."""


def _planned(state: Journey) -> FollowUpPlanned:
    if state.planned is None:
        raise FollowupError("pair_not_found", "Binôme inconnu du suivi.", field="pair_id")
    return state.planned


def _active(state: Journey) -> FollowUpPlanned:
    planned = _planned(state)
    if state.ended is not None:
        raise FollowupError("pair_ended", "Ce binôme est terminé : son parcours ne peut plus "
                            "être modifié.")
    return planned


def _not_future(day: date, today: date, field: str) -> None:
    if day > today:
        raise FollowupError("date_in_future", "La date ne peut pas être dans le futur.",
                            field=field, status=422)


def _paris_day(instant: datetime) -> date:
    return instant.astimezone(PARIS).date()


def earliest_meeting_on(planned: FollowUpPlanned) -> date:
    """The first day the pair can have met. A journey starting after its cohort's start began
    the day the pair formed (a late pair, a rematch); one starting with its cohort may have
    formed in the weeks before."""
    if planned.starts_on > cohort_start(planned.cohort_id):
        return planned.starts_on
    return planned.starts_on - PRE_START_MEETINGS


def _not_before_pair(day: date, planned: FollowUpPlanned, field: str) -> None:
    earliest = earliest_meeting_on(planned)
    if day < earliest:
        raise FollowupError("before_journey", "Cette date précède la formation du binôme "
                            f"(au plus tôt le {earliest:%d/%m/%Y}).", field=field, status=422)


def _not_before_start(day: date, planned: FollowUpPlanned, field: str) -> None:
    """A review looks back on the journey: none before the journey has started."""
    if day < planned.starts_on:
        raise FollowupError("review_before_start", "Un bilan ne peut pas précéder le début du "
                            f"parcours du binôme ({planned.starts_on:%d/%m/%Y}).", field=field,
                            status=422)


def _within_horizon(instant: datetime, now: datetime, field: str) -> None:
    if instant > now + BOOKING_HORIZON:
        raise FollowupError("date_too_far", "La date est trop lointaine (plus de 18 mois) : "
                            "vérifiez-la.", field=field, status=422)


def _after_programme(ended: FollowUpEnded, today: date, months: int, code: str, what: str,
                     field: str) -> None:
    """What is asked six months after the end cannot be answered before then."""
    due_on = add_months(ended.ended_on, months)
    if today < due_on:
        raise FollowupError(code, f"{what} se renseigne six mois après la fin du parcours, à "
                            f"partir du {due_on:%d/%m/%Y}.", field=field, status=422)


@singledispatch
def decide(command: object, state: Journey) -> list[EventData]:
    raise TypeError(f"unknown command {command!r}")


@decide.register
def _(command: Plan, state: Journey) -> list[EventData]:
    if state.planned is not None:
        return []  # planned already: a redelivered PairFormed changes nothing
    pair, durations = command.pair, command.durations
    starts_on = max(command.formed_on, cohort_start(pair.cohort_id))
    return [FollowUpPlanned(
        pair_id=pair.pair_id, cohort_id=pair.cohort_id, mentee_id=pair.mentee_id,
        mentor_id=pair.mentor_id, referent_id=command.referent_id, starts_on=starts_on,
        ends_on=add_months(starts_on, durations.final_review_months),
        intermediate_review_due_on=add_months(starts_on, durations.intermediate_review_months),
        final_review_due_on=add_months(starts_on, durations.final_review_months))]


@decide.register
def _(command: AssignReferent, state: Journey) -> list[EventData]:
    planned = _active(state)
    if state.referent_id == command.referent_id:
        return []
    return [ReferentAssigned(pair_id=planned.pair_id, referent_id=command.referent_id)]


@decide.register
def _(command: LogSession, state: Journey) -> list[EventData]:
    planned = _active(state)
    _not_future(command.held_on, command.today, "held_on")
    _not_before_pair(command.held_on, planned, "held_on")
    return [SessionLogged(
        session_id=command.session_id, pair_id=planned.pair_id, held_on=command.held_on,
        duration_minutes=command.duration_minutes, format=command.format, theme=command.theme,
        used_toolkit=command.used_toolkit, logged_by=command.logged_by)]


@decide.register
def _(command: ScheduleReview, state: Journey) -> list[EventData]:
    planned = _active(state)
    if state.reviews[command.kind].completed is not None:
        raise FollowupError("review_already_completed", "Ce bilan a déjà été enregistré.",
                            field="kind")
    if command.scheduled_at < command.now:
        raise FollowupError("date_in_past", "Le rendez-vous doit être dans le futur.",
                            field="scheduled_at", status=422)
    _not_before_start(_paris_day(command.scheduled_at), planned, "scheduled_at")
    _within_horizon(command.scheduled_at, command.now, "scheduled_at")
    return [ReviewScheduled(pair_id=planned.pair_id, kind=command.kind,
                            scheduled_at=command.scheduled_at, format=command.format,
                            referent_id=command.referent_id)]


@decide.register
def _(command: CompleteReview, state: Journey) -> list[EventData]:
    planned = _active(state)
    _not_future(command.held_on, command.today, "held_on")
    _not_before_start(command.held_on, planned, "held_on")
    kind = command.kind
    if state.reviews[kind].completed is not None:
        raise FollowupError("review_already_completed", "Ce bilan a déjà été enregistré.",
                            field="kind")
    intermediate = state.reviews[ReviewKind.intermediate].completed
    if kind is ReviewKind.final and intermediate is None:
        raise FollowupError("intermediate_review_missing", "Enregistrez d'abord le bilan "
                            "intermédiaire (même s'il n'a pas pu avoir lieu).", field="kind")
    if kind is ReviewKind.final and command.held_on < intermediate.held_on:
        raise FollowupError("review_before_intermediate", "Le bilan final ne peut pas précéder "
                            f"le bilan intermédiaire ({intermediate.held_on:%d/%m/%Y}).",
                            field="held_on", status=422)
    if command.held != (command.assessment is not None):
        raise FollowupError("assessment_iff_held", "Une appréciation est requise quand le bilan "
                            "a eu lieu, et seulement alors.", field="assessment", status=422)
    if command.questionnaires and kind is not ReviewKind.final:
        raise FollowupError("questionnaire_at_final_review", "Le questionnaire de fin de "
                            "programme se remplit au bilan final.", field="questionnaires")
    events: list[EventData] = [ReviewCompleted(
        pair_id=planned.pair_id, kind=kind, held=command.held, held_on=command.held_on,
        referent_id=command.referent_id, assessment=command.assessment,
        ratings=dict(command.ratings), concerns=command.concerns)]
    seen: set[Respondent] = set()
    for answers, response_id in zip(command.questionnaires, command.response_ids, strict=True):
        if answers.respondent in seen or answers.respondent not in (Respondent.mentee,
                                                                    Respondent.mentor):
            raise FollowupError("invalid_respondent", "Un questionnaire par mentoré·e et par "
                                "mentor, au plus.", field="questionnaires", status=422)
        seen.add(answers.respondent)
        check_answers(QuestionnaireKind.end_of_programme, answers.respondent, answers.version,
                      answers.answers)
        events.append(QuestionnaireAnswered(
            response_id=response_id, respondent=answers.respondent,
            person_id=state.party_id(answers.respondent), pair_id=planned.pair_id,
            kind=QuestionnaireKind.end_of_programme, questionnaire_version=answers.version,
            answers=dict(answers.answers)))
    if kind is ReviewKind.final:  # the final review completes the programme
        events.append(_ended(planned, command.held_on, None, None))
    return events


def _ended(planned: FollowUpPlanned, on: date, reason: EarlyEndingReason | None,
           by: Party | None) -> FollowUpEnded:
    return FollowUpEnded(pair_id=planned.pair_id, cohort_id=planned.cohort_id,
                         mentee_id=planned.mentee_id, mentor_id=planned.mentor_id, ended_on=on,
                         early=reason is not None, reason=reason, ended_by=by)


@decide.register
def _(command: EndEarly, state: Journey) -> list[EventData]:
    planned = _active(state)
    _not_future(command.ended_on, command.today, "ended_on")
    _not_before_pair(command.ended_on, planned, "ended_on")
    return [_ended(planned, command.ended_on, command.reason, command.ended_by)]


@decide.register
def _(command: CloseAfterMatching, state: Journey) -> list[EventData]:
    planned = _planned(state)
    if state.ended is not None:
        return []  # ended here first: matching only followed
    ended = command.ended
    return [_ended(planned, ended.ended_on, ended.reason, ended.ended_by)]


@decide.register
def _(command: RecordOutcome, state: Journey) -> list[EventData]:
    planned = _planned(state)
    if state.ended is None:
        raise FollowupError("pair_not_ended", "La situation se renseigne à la fin du parcours "
                            "(ou six mois après).", field="moment")
    if command.moment in state.outcomes:
        raise FollowupError("outcome_already_recorded", "Cette situation a déjà été "
                            "renseignée.", field="moment")
    if command.moment is OutcomeMoment.six_months_after:
        _after_programme(state.ended, command.today, command.post_programme_months,
                         "outcome_too_early", "La situation à six mois", "moment")
    return [OutcomeRecorded(person_id=planned.mentee_id, pair_id=planned.pair_id,
                            moment=command.moment, situation=command.situation,
                            satisfaction=command.satisfaction)]


def _completed(state: Journey) -> bool:
    return state.ended is not None and not state.ended.early


def start_window_refusal(state: Journey, today: date) -> FollowupError | None:
    """Why the mentee's start of programme questionnaire cannot be answered today, or None.
    The start baseline is only a baseline before the mentoring had time to change anything:
    from the pair's start (the kick-off) until the intermediate review is due."""
    planned = _planned(state)
    if state.ended is not None:
        return FollowupError("pair_ended", "Le parcours est terminé : le questionnaire de début "
                             "de programme ne peut plus être rempli.", field="kind")
    if today < planned.starts_on:
        return FollowupError("questionnaire_too_early", "Le questionnaire de début de "
                             "programme se remplit à partir du lancement du binôme, le "
                             f"{planned.starts_on:%d/%m/%Y}.", field="kind", status=422)
    intermediate = state.reviews[ReviewKind.intermediate]
    if intermediate.completed is not None:
        return FollowupError("questionnaire_too_late", "Le bilan intermédiaire a eu lieu : le "
                             "questionnaire de début de programme ne peut plus être rempli.",
                             field="kind", status=422)
    if today >= intermediate.due_on:
        return FollowupError("questionnaire_too_late", "Le questionnaire de début de programme "
                             "se remplit avant le bilan intermédiaire (dû le "
                             f"{intermediate.due_on:%d/%m/%Y}).", field="kind", status=422)
    return None


def _in_start_window(state: Journey, today: date) -> None:
    refusal = start_window_refusal(state, today)
    if refusal is not None:
        raise refusal


@decide.register
def _(command: AnswerQuestionnaire, state: Journey) -> list[EventData]:
    planned = _planned(state)
    respondent = command.answers.respondent
    if command.kind is QuestionnaireKind.end_of_programme and not _completed(state):
        # Before the end, it is filled in with the referent at the final review; once the
        # journey completed, each participant may still answer it from the e-mail's link.
        raise FollowupError("questionnaire_at_final_review", "Le questionnaire de fin de "
                            "programme se remplit au bilan final, ou après la fin du "
                            "parcours.", field="kind")
    if command.kind is QuestionnaireKind.start_of_programme:
        _in_start_window(state, command.today)
    if command.kind is QuestionnaireKind.post_programme and state.ended is None:
        raise FollowupError("pair_not_ended", "Le questionnaire à six mois suit la fin du "
                            "parcours.", field="kind")
    if (command.kind, respondent) in state.answered and command.kind is not QuestionnaireKind.annual:
        raise FollowupError("questionnaire_already_answered", "Ce questionnaire a déjà été "
                            "rempli.", field="kind")
    if command.kind is QuestionnaireKind.post_programme:
        _after_programme(state.ended, command.today, command.post_programme_months,
                         "questionnaire_too_early", "Le questionnaire à six mois", "kind")
    check_answers(command.kind, respondent, command.answers.version, command.answers.answers)
    return [QuestionnaireAnswered(
        response_id=command.response_id, respondent=respondent,
        person_id=state.party_id(respondent), pair_id=planned.pair_id, kind=command.kind,
        questionnaire_version=command.answers.version, answers=dict(command.answers.answers))]


@decide.register
def _(command: SignalReview, state: Journey) -> list[EventData]:
    if not state.active:
        return []
    review = state.reviews[command.kind]
    if review.completed is not None:
        return []
    if command.overdue:
        if review.overdue_signalled:
            return []
        return [ReviewOverdue(pair_id=state.planned.pair_id, kind=command.kind,
                              due_on=review.due_on, grace_days=command.grace_days)]
    if review.due_signalled:
        return []
    return [ReviewDue(pair_id=state.planned.pair_id, kind=command.kind, due_on=review.due_on)]


# --- timers and reminders ---------------------------------------------------------------------


@dataclass(frozen=True)
class Timer:
    key: str  # unique: what it is for (so planning twice makes no second timer)
    kind: str
    due_at: datetime
    review_kind: ReviewKind | None = None


def timers_for_plan(planned: FollowUpPlanned, durations: Durations) -> list[Timer]:
    pair = planned.pair_id
    timers = [Timer(f"{pair}:kickoff", ReminderKind.kickoff, at_paris(planned.starts_on))]
    for kind, due_on in ((ReviewKind.intermediate, planned.intermediate_review_due_on),
                         (ReviewKind.final, planned.final_review_due_on)):
        upcoming = due_on - timedelta(days=durations.upcoming_notice_days)
        overdue = due_on + timedelta(days=durations.overdue_grace_days)
        timers += [
            Timer(f"{pair}:{kind}:upcoming", ReminderKind.review_upcoming, at_paris(upcoming),
                  kind),
            Timer(f"{pair}:{kind}:due", ReminderKind.review_due, at_paris(due_on), kind),
            Timer(f"{pair}:{kind}:overdue", ReminderKind.review_overdue, at_paris(overdue), kind),
        ]
    # Each month of the journey, the mentor is asked to declare the sessions held.
    timers += [Timer(f"{pair}:declare_sessions:{month}", ReminderKind.declare_sessions,
                     at_paris(add_months(planned.starts_on, month)))
               for month in range(1, durations.final_review_months)]
    return timers


def timers_after_end(ended: FollowUpEnded, durations: Durations) -> list[Timer]:
    """Six months after the end, the mentee is asked how things are (survey and outcome)."""
    survey_on = add_months(ended.ended_on, durations.post_programme_months)
    timers = [Timer(f"{ended.pair_id}:post_programme", ReminderKind.post_programme_survey,
                    at_paris(survey_on))]
    if not ended.early:  # a completed journey: the end-of-programme questionnaire
        timers.append(Timer(f"{ended.pair_id}:end_questionnaire",
                            ReminderKind.end_questionnaire, at_paris(ended.ended_on)))
    return timers


def annual_survey_timer(year: int, region: str, month: int = 6, day: int = 15) -> Timer:
    return Timer(f"annual:{region}:{year}", ReminderKind.annual_survey,
                 at_paris(date(year, month, day)))


@dataclass(frozen=True)
class Reminder:
    kind: ReminderKind
    recipient: Respondent
    person_id: UUID | None = None
    referent_id: str | None = None
    review_kind: ReviewKind | None = None


def on_timer(timer: Timer, state: Journey, durations: Durations,
             ) -> tuple[list[EventData], list[Reminder]]:
    """What a journey timer does when it fires: events for the journey and reminders to send.
    A timer whose reason is gone (review held, pair ended) does nothing."""
    kind = ReminderKind(timer.kind)
    if kind is ReminderKind.post_programme_survey:
        if state.planned is None or OutcomeMoment.six_months_after in state.outcomes:
            return [], []
        return [], [Reminder(kind, Respondent.mentee, person_id=state.planned.mentee_id)]
    if kind is ReminderKind.end_questionnaire:
        if state.planned is None or not _completed(state):
            return [], []
        return [], [Reminder(kind, who, person_id=state.party_id(who))
                    for who in (Respondent.mentee, Respondent.mentor)
                    if (QuestionnaireKind.end_of_programme, who) not in state.answered]
    if not state.active:
        return [], []
    planned = state.planned
    if kind is ReminderKind.kickoff:
        return [], [Reminder(kind, Respondent.mentee, person_id=planned.mentee_id),
                    Reminder(kind, Respondent.mentor, person_id=planned.mentor_id)]
    if kind is ReminderKind.declare_sessions:
        return [], [Reminder(kind, Respondent.mentor, person_id=planned.mentor_id)]
    review_kind = timer.review_kind
    assert review_kind is not None
    review = state.reviews[review_kind]
    if review.completed is not None:
        return [], []
    to_referent = [Reminder(kind, Respondent.referent, referent_id=state.referent_id,
                            review_kind=review_kind)] if state.referent_id else []
    if kind is ReminderKind.review_upcoming:
        return [], ([] if review.scheduled_at else to_referent)
    events = decide(SignalReview(review_kind, kind is ReminderKind.review_overdue,
                                 durations.overdue_grace_days), state)
    return events, (to_referent if events else [])


def reminder_key(timer_key: str, reminder: Reminder) -> str:
    return f"{timer_key}:{reminder.recipient}:{reminder.person_id or reminder.referent_id}"


def reminder_id(key: str) -> UUID:
    """A reminder's id follows from its key: the same reminder always has the same id (and
    e-mail Message-ID)."""
    return uuid5(UUID("6f1c0e52-3c52-4d4a-9a49-0c1f6b1b2d77"), key)


# --- networking events ------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkingEvent:
    scheduled: NetworkingEventScheduled | None = None
    registered: Mapping[UUID, Role] = field(default_factory=dict)
    attendance: Mapping[UUID, bool] = field(default_factory=dict)


@singledispatch
def evolve_networking(event: EventData, state: NetworkingEvent) -> NetworkingEvent:
    return state


@evolve_networking.register
def _(event: NetworkingEventScheduled, state: NetworkingEvent) -> NetworkingEvent:
    return replace(state, scheduled=event)


@evolve_networking.register
def _(event: NetworkingRegistrationRecorded, state: NetworkingEvent) -> NetworkingEvent:
    return replace(state, registered={**state.registered, event.person_id: event.role})


@evolve_networking.register
def _(event: AttendanceRecorded, state: NetworkingEvent) -> NetworkingEvent:
    return replace(state, attendance={**state.attendance, event.person_id: event.attended})


def networking_event_from(events: Iterable[EventData]) -> NetworkingEvent:
    state = NetworkingEvent()
    for event in events:
        state = evolve_networking(event, state)
    return state


@dataclass(frozen=True)
class ScheduleNetworkingEvent:
    networking_event_id: UUID
    kind: object
    audience: Audience
    starts_at: datetime
    format: MeetingFormat
    departement: str | None
    now: datetime


@dataclass(frozen=True)
class Register:
    person_id: UUID
    role: Role
    status: str | None  # "current" (in a pair now), "alumnus" (pair ended), None (unknown)
    now: datetime


@dataclass(frozen=True)
class RecordAttendance:
    person_id: UUID
    attended: bool
    now: datetime


def _scheduled(state: NetworkingEvent) -> NetworkingEventScheduled:
    if state.scheduled is None:
        raise FollowupError("networking_event_not_found", "Événement introuvable.",
                            field="networking_event_id")
    return state.scheduled


@decide.register
def _(command: ScheduleNetworkingEvent, state: NetworkingEvent) -> list[EventData]:
    if state.scheduled is not None:
        raise FollowupError("already_scheduled", "Cet événement est déjà programmé.")
    if command.starts_at < command.now:
        raise FollowupError("date_in_past", "L'événement doit avoir lieu dans le futur.",
                            field="starts_at", status=422)
    _within_horizon(command.starts_at, command.now, "starts_at")
    if command.format is not MeetingFormat.remote and command.departement is None:
        raise FollowupError("place_required", "Indiquez le département du lieu (ou un "
                            "événement à distance).", field="departement", status=422)
    return [NetworkingEventScheduled(
        networking_event_id=command.networking_event_id, kind=command.kind,
        audience=command.audience, starts_at=command.starts_at, format=command.format,
        departement=None if command.format is MeetingFormat.remote else command.departement)]


_AUDIENCE_STATUS = {Audience.current_pairs: {"current"}, Audience.alumni: {"alumnus"},
                    Audience.all: {"current", "alumnus"}}


def audience_statuses(audience: Audience) -> set[str]:
    """Who an event is for: "current" (in a pair now) and/or "alumnus" (pairs ended)."""
    return _AUDIENCE_STATUS[audience]


@decide.register
def _(command: Register, state: NetworkingEvent) -> list[EventData]:
    event = _scheduled(state)
    if command.now >= event.starts_at:
        raise FollowupError("registration_closed", "Les inscriptions sont closes : "
                            "l'événement a commencé.")
    if command.status not in _AUDIENCE_STATUS[event.audience]:
        raise FollowupError("not_in_audience", "Cette personne ne fait pas partie du public "
                            "de l'événement.", field="person_id")
    if command.person_id in state.registered:
        return []  # registering twice changes nothing
    return [NetworkingRegistrationRecorded(networking_event_id=event.networking_event_id,
                                           person_id=command.person_id, role=command.role)]


@decide.register
def _(command: RecordAttendance, state: NetworkingEvent) -> list[EventData]:
    event = _scheduled(state)
    role = state.registered.get(command.person_id)
    if role is None:
        raise FollowupError("not_registered", "Cette personne n'est pas inscrite à "
                            "l'événement.", field="person_id")
    if command.now < event.starts_at:
        raise FollowupError("event_not_started", "La présence se note une fois l'événement "
                            "commencé.")
    if state.attendance.get(command.person_id) == command.attended:
        return []
    return [AttendanceRecorded(networking_event_id=event.networking_event_id,
                               person_id=command.person_id, role=role,
                               attended=command.attended)]
