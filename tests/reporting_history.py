"""Builders of real events (the contract's models) for the reporting tests, and a scripted
history with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson

from events import Envelope, EventData, Metadata
from events.base import seal
from events.followup import (
    AttendanceRecorded,
    FollowUpPlanned,
    NetworkingEventScheduled,
    OutcomeRecorded,
    QuestionnaireAnswered,
    ReviewCompleted,
    ReviewDue,
    ReviewOverdue,
    SessionLogged,
)
from events.intake import (
    ApplicationReceived,
    ApplicationRejected,
    ApplicationRouted,
    ApplicationWithdrawn,
    CandidateAdmitted,
    InterviewCompleted,
    PersonErased,
)
from events.matching import PairEnded, PairFormed, RematchRequested


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def envelope(data: EventData, region: str = "BRE", when: datetime | None = None,
             recorded: datetime | None = None, stream: str | None = None) -> Envelope:
    when = when or at("2025-07-10")
    return seal(data, event_id=uuid4(), stream=stream or f"s-{uuid4()}", stream_version=1,
                metadata=Metadata(region=region, actor="system", correlation_id=uuid4()),
                occurred_at=when, recorded_at=recorded or when)


def as_dict(env: Envelope) -> dict[str, Any]:
    return orjson.loads(env.model_dump_json())


def profile(person: UUID, role: str = "mentee", channel: str = "website",
            departement: str = "29", application: UUID | None = None) -> dict[str, Any]:
    common = dict(application_id=application or uuid4(), person_id=person, role=role,
                  channel=channel, departement=departement, sector_interests=("culture",),
                  remote_ok=True, availability=("weekend",))
    if role == "mentee":
        return {**common, "aspirations": ("care",), "age_band": "21-25", "job_family": None,
                "years_in_ess": None, "employment_status": None, "capacity": None}
    return {**common, "aspirations": (), "age_band": None, "job_family": "care",
            "years_in_ess": 5, "employment_status": "employee", "capacity": 2}


def received(person: UUID, role: str = "mentee", channel: str = "website",
             departement: str = "29") -> ApplicationReceived:
    return ApplicationReceived(**profile(person, role, channel, departement), consent_given=True)


def admitted(person: UUID, role: str = "mentee", channel: str = "website") -> CandidateAdmitted:
    return CandidateAdmitted(**profile(person, role, channel))


def rejected(person: UUID, *reasons: str) -> ApplicationRejected:
    return ApplicationRejected(application_id=uuid4(), person_id=person,
                               reasons=reasons or ("mentee_too_old",))


def routed(person: UUID, region: str = "BRE") -> ApplicationRouted:
    return ApplicationRouted(application_id=uuid4(), person_id=person, role="mentee",
                             to_region=region, from_region=None, basis="departement",
                             candidate_regions=(region,), cohort="2025-09", rerouting_reason=None)


def interviewed(person: UUID) -> InterviewCompleted:
    return InterviewCompleted(interview_id=uuid4(), application_id=uuid4(), person_id=person,
                              kind="motivation", referent_id="ref-1", outcome="favourable")


def withdrawn(person: UUID) -> ApplicationWithdrawn:
    return ApplicationWithdrawn(application_id=uuid4(), person_id=person, role="mentee",
                                reason="no_response")


def pair_formed(pair: UUID, mentee: UUID, mentor: UUID, cohort: str = "BRE-2025-09"
                ) -> PairFormed:
    return PairFormed(pair_id=pair, match_id=uuid4(), cohort_id=cohort, mentee_id=mentee,
                      mentor_id=mentor, origin="algorithm", previous_pair_id=None)


def pair_ended(pair: UUID, mentee: UUID, mentor: UUID, *, early: bool,
               ended_on: date = date(2026, 2, 1), cohort: str = "BRE-2025-09") -> PairEnded:
    return PairEnded(pair_id=pair, cohort_id=cohort, mentee_id=mentee, mentor_id=mentor,
                     ended_on=ended_on, early=early, reason="moved_away" if early else None,
                     ended_by="mentee" if early else None)


def rematch(person: UUID, pair: UUID, cohort: str = "BRE-2025-09") -> RematchRequested:
    return RematchRequested(person_id=person, role="mentee", previous_pair_id=pair,
                            cohort_id=cohort)


def planned(pair: UUID, mentee: UUID, mentor: UUID, starts: date = date(2025, 9, 1),
            cohort: str = "BRE-2025-09") -> FollowUpPlanned:
    return FollowUpPlanned(pair_id=pair, cohort_id=cohort, mentee_id=mentee, mentor_id=mentor,
                           referent_id="ref-1", starts_on=starts,
                           ends_on=starts + timedelta(days=365),
                           intermediate_review_due_on=starts + timedelta(days=182),
                           final_review_due_on=starts + timedelta(days=365))


def session(pair: UUID, held_on: date, theme: str = "career_project",
            toolkit: bool = True) -> SessionLogged:
    return SessionLogged(session_id=uuid4(), pair_id=pair, held_on=held_on,
                         duration_minutes=60, format="in_person", theme=theme,
                         used_toolkit=toolkit, logged_by="mentor")


def review_due(pair: UUID, kind: str, due_on: date) -> ReviewDue:
    return ReviewDue(pair_id=pair, kind=kind, due_on=due_on)


def review_overdue(pair: UUID, kind: str, due_on: date) -> ReviewOverdue:
    return ReviewOverdue(pair_id=pair, kind=kind, due_on=due_on, grace_days=14)


def review_done(pair: UUID, kind: str, held_on: date) -> ReviewCompleted:
    return ReviewCompleted(pair_id=pair, kind=kind, held=True, held_on=held_on,
                           referent_id="ref-1", assessment="on_track")


def answered(person: UUID, pair: UUID | None, kind: str = "end_of_programme",
             satisfaction: int = 4, role: str = "mentee") -> QuestionnaireAnswered:
    return QuestionnaireAnswered(response_id=uuid4(), person_id=person, respondent=role,
                                 pair_id=pair,
                                 kind=kind, questionnaire_version=1,
                                 answers={"satisfaction": satisfaction, "self_confidence": 3})


def outcome(person: UUID, pair: UUID, situation: str, moment: str = "end") -> OutcomeRecorded:
    return OutcomeRecorded(person_id=person, pair_id=pair, moment=moment, situation=situation)


def networking_event(event_id: UUID) -> NetworkingEventScheduled:
    return NetworkingEventScheduled(networking_event_id=event_id, kind="networking",
                                    audience="all", starts_at=at("2026-03-05", 18),
                                    format="in_person", departement="29")


def attendance(event_id: UUID, person: UUID, attended: bool, role: str = "mentee"
               ) -> AttendanceRecorded:
    return AttendanceRecorded(networking_event_id=event_id, person_id=person, role=role,
                              attended=attended)


def erased(person: UUID) -> PersonErased:
    return PersonErased(person_id=person)


# --- a scripted history with known answers at three instants ------------------------------------

MENTEE_A, MENTEE_B, MENTEE_C, MENTOR_M = (UUID(int=i) for i in (0xA, 0xB, 0xC, 0x1))
PAIR_A = UUID(int=0xAA)

T1 = at("2025-07-31", 23)  # two applications received, one rejected
T2 = at("2025-09-30", 23)  # A admitted and paired, B withdrawn, mentor admitted
T3 = at("2026-09-30", 23)  # A completed with a positive outcome


def scripted_history() -> list[Envelope]:
    """Who did what, in log order (recorded_at = occurred_at)."""
    steps: list[tuple[str, EventData]] = [
        ("2025-07-02", received(MENTEE_A, channel="mission_locale")),
        ("2025-07-03", received(MENTEE_B, channel="mission_locale")),
        ("2025-07-04", received(MENTEE_C, channel="university")),
        ("2025-07-05", rejected(MENTEE_C, "mentee_too_old")),
        ("2025-08-01", received(MENTOR_M, role="mentor", channel="recruitment_webinar")),
        ("2025-08-10", admitted(MENTEE_A, channel="mission_locale")),
        ("2025-08-11", admitted(MENTOR_M, role="mentor", channel="recruitment_webinar")),
        ("2025-08-20", withdrawn(MENTEE_B)),
        ("2025-09-01", pair_formed(PAIR_A, MENTEE_A, MENTOR_M)),
        ("2025-09-02", planned(PAIR_A, MENTEE_A, MENTOR_M)),
        ("2025-10-01", session(PAIR_A, date(2025, 10, 1))),
        ("2026-03-02", review_due(PAIR_A, "intermediate", date(2026, 3, 2))),
        ("2026-03-10", review_done(PAIR_A, "intermediate", date(2026, 3, 10))),
        ("2026-09-01", pair_ended(PAIR_A, MENTEE_A, MENTOR_M, early=False,
                                  ended_on=date(2026, 9, 1))),
        ("2026-09-02", outcome(MENTEE_A, PAIR_A, "job_or_training_in_ess")),
    ]
    return [envelope(data, when=at(day)) for day, data in steps]


# expected funnel totals at each instant
EXPECTED_TOTALS = {
    T1: {"applications_mentees": 3, "applications_mentors": 0, "rejected": 1, "admitted": 0,
         "withdrawn": 0, "paired": 0, "active": 0, "waiting": 0, "completed": 0},
    T2: {"applications_mentees": 3, "applications_mentors": 1, "rejected": 1, "admitted": 2,
         "withdrawn": 1, "paired": 1, "active": 1, "waiting": 0, "completed": 0},
    T3: {"applications_mentees": 3, "applications_mentors": 1, "rejected": 1, "admitted": 2,
         "withdrawn": 1, "paired": 1, "active": 0, "waiting": 0, "completed": 1},
}
