"""Pure domain, no I/O: given events, when a command or event, then events or a view."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from events import Metadata
from events.base import seal
from events.geography import REGION_OF_DEPARTEMENT, departement_of_postcode
from events.intake import ApplicationReceived, CandidateAdmitted
from events.vocabulary import AgeBand
from events.intake import (
    ApplicationRouted,
    ApplicationWithdrawn,
    CandidateDeclined,
    InterviewCompleted,
    InterviewScheduled,
)
from events.vocabulary import RoutingBasis
from services.common.errors import DomainError
from services.intake import domain
from services.intake.domain import age_band, age_on, decide, replay

PERSON = UUID("00000000-0000-0000-0000-000000000001")
MENTOR = UUID("00000000-0000-0000-0000-000000000002")


def received(person=PERSON, channel="website", role="mentee") -> ApplicationReceived:
    mentor = role == "mentor"
    return ApplicationReceived(
        application_id=uuid4(), person_id=person, role=role, channel=channel,
        departement="29", sector_interests=("culture",), remote_ok=False,
        availability=("weekend",), aspirations=(), age_band=None if mentor else "21-25",
        job_family="management" if mentor else None, years_in_ess=5 if mentor else None,
        employment_status="employee" if mentor else None, capacity=1 if mentor else None,
        consent_given=True,
    )


def admitted(person=PERSON) -> CandidateAdmitted:
    fields = received(person).model_dump(exclude={"consent_given", "referrer_kind"})
    return CandidateAdmitted(**fields)


def envelope(data, when=datetime(2025, 7, 10, 9, tzinfo=UTC), region="BRE", version=1):
    return seal(data, event_id=uuid4(), stream=f"s-{uuid4()}", stream_version=version,
                metadata=Metadata(region=region, actor="system", correlation_id=uuid4()),
                occurred_at=when, recorded_at=when)


# -- intake: given events, when a command, then events (or a refusal) ---------------------

INTERVIEW = UUID("00000000-0000-0000-0000-0000000000aa")
WHEN = datetime(2026, 1, 20, 9, tzinfo=UTC)


def routed_to(region="BRE", basis=RoutingBasis.departement, from_region=None):
    return ApplicationRouted(application_id=APPLICATION, person_id=PERSON, role="mentee",
                             to_region=region, from_region=from_region, basis=basis,
                             candidate_regions=(region,), cohort="2026-03", rerouting_reason=None)


APPLICATION = uuid4()
RECEIVED = received().model_copy(update={"application_id": APPLICATION})
SCHEDULED = InterviewScheduled(interview_id=INTERVIEW, application_id=APPLICATION, person_id=PERSON,
                               kind="motivation", scheduled_at=WHEN, format="remote",
                               referent_id="ref-1")


def completed(outcome="favourable"):
    return InterviewCompleted(interview_id=INTERVIEW, application_id=APPLICATION, person_id=PERSON,
                              kind="motivation", referent_id="ref-1", outcome=outcome)


SETTINGS = {"BRE": domain.RegionSettings("BRE", True, ("29",), "2026-03", 10, 10),
            "IDF": domain.RegionSettings("IDF", True, ("75",), "2026-03", 10, 10)}

LIFECYCLE = [
    # given, when, then (event types) or the refusal code
    ([], domain.Submit(RECEIVED, (), domain.RoutingDecision("BRE", RoutingBasis.departement,
                                                            ("BRE",)), "2026-03"),
     ["ApplicationReceived", "ApplicationRouted"]),
    ([], domain.Submit(RECEIVED, (domain.RejectionReason.mentee_too_old,),
                       domain.RoutingDecision("BRE", RoutingBasis.waiting_list, ()), "2026-03"),
     ["ApplicationReceived", "ApplicationRejected"]),
    ([RECEIVED, routed_to()], domain.Submit(RECEIVED, (), domain.RoutingDecision(
        "BRE", RoutingBasis.departement, ("BRE",)), "2026-03"), "already_submitted"),
    ([RECEIVED, routed_to()], domain.ScheduleInterview(INTERVIEW, WHEN, "remote", "ref-1", WHEN),
     ["InterviewScheduled"]),
    ([RECEIVED, routed_to()], domain.Admit("ref-1"), "invalid_transition"),  # no interview yet
    ([RECEIVED, routed_to(), SCHEDULED], domain.CompleteInterview(INTERVIEW, "favourable", "ref-1", WHEN),
     ["InterviewCompleted"]),
    ([RECEIVED, routed_to(), SCHEDULED, completed()],
     domain.CompleteInterview(INTERVIEW, "favourable", "ref-1", WHEN), "interview_already_completed"),
    ([RECEIVED, routed_to(), SCHEDULED], domain.CompleteInterview(uuid4(), "favourable", "ref-1", WHEN),
     "interview_not_found"),
    ([RECEIVED, routed_to(), SCHEDULED, completed()], domain.Admit("ref-1"), ["CandidateAdmitted"]),
    ([RECEIVED, routed_to(), SCHEDULED, completed("unfavourable")], domain.Admit("ref-1"),
     "interview_unfavourable"),
    ([RECEIVED, routed_to()], domain.Decline("project_not_aligned"), ["CandidateDeclined"]),
    ([RECEIVED, routed_to(), CandidateDeclined(application_id=APPLICATION, person_id=PERSON,
                                               role="mentee", reason="other")],
     domain.Withdraw("unavailable"), "invalid_transition"),
    ([RECEIVED, routed_to(), SCHEDULED, completed(), admitted()], domain.Withdraw("unavailable"),
     ["ApplicationWithdrawn"]),
    ([RECEIVED, routed_to()], domain.Reroute("IDF", "applicant_request", "2026-03", SETTINGS),
     ["ApplicationRouted"]),
    ([RECEIVED, routed_to()], domain.Reroute("BRE", "applicant_request", "2026-03", SETTINGS),
     "same_region"),
    ([RECEIVED, routed_to()], domain.Reroute("OCC", "applicant_request", "2026-03", SETTINGS),
     "region_not_served"),
    ([RECEIVED, routed_to("ARA", RoutingBasis.waiting_list)],
     domain.Reroute("BRE", None, "2026-03", SETTINGS), ["ApplicationRouted"]),
    ([RECEIVED, routed_to(), ApplicationWithdrawn(application_id=APPLICATION, person_id=PERSON,
                                                  role="mentee", reason="other")],
     domain.ScheduleInterview(INTERVIEW, WHEN, "remote", "ref-1", WHEN), "invalid_transition"),
]


@pytest.mark.parametrize(("given", "when", "then"), LIFECYCLE,
                         ids=[f"{type(c[1]).__name__}-{i}" for i, c in enumerate(LIFECYCLE)])
def test_application_lifecycle(given, when, then):
    state = replay(given)
    if isinstance(then, str):
        with pytest.raises(DomainError) as refused:
            decide(when, state)
        assert refused.value.code == then
        assert refused.value.message  # French, for the person
    else:
        events = decide(when, state)
        assert [type(e).event_type for e in events] == then
        replay([*given, *events])  # the new events evolve the state without error


def test_rerouting_records_where_from_and_why():
    [event] = decide(domain.Reroute("IDF", "closer_to_home", "2026-03", SETTINGS),
                     replay([RECEIVED, routed_to()]))
    assert (event.from_region, event.to_region, event.basis, event.rerouting_reason.value) == (
        "BRE", "IDF", RoutingBasis.manual, "closer_to_home")


ROUTING = [
    # département, remote_ok, served regions -> region, basis
    ("29", False, {"BRE", "IDF"}, "BRE", RoutingBasis.departement),
    ("75", True, {"BRE", "IDF"}, "IDF", RoutingBasis.fairness),  # tie: home region
    ("69", False, {"BRE", "IDF"}, "ARA", RoutingBasis.waiting_list),
    ("69", True, {"BRE"}, "BRE", RoutingBasis.departement),  # remote: the only served region
]


@pytest.mark.parametrize(("departement", "remote", "served", "region", "basis"), ROUTING)
def test_routing_decision_tree(departement, remote, served, region, basis):
    settings = domain.default_settings(sorted(served), "2026-03", 10, 10)
    decision = domain.route(departement, remote, domain.Role.mentee, settings, {})
    assert (decision.to_region, decision.basis) == (region, basis)


@pytest.mark.parametrize(
    ("role", "age", "years", "reasons"),
    [("mentee", 17, None, ["mentee_too_young"]), ("mentee", 18, None, []),
     ("mentee", 30, None, []), ("mentee", 31, None, ["mentee_too_old"]),
     ("mentor", None, 2, ["mentor_too_little_experience"]), ("mentor", None, 3, [])],
)
def test_eligibility(role, age, years, reasons):
    found = domain.ineligibility(domain.Role(role), age=age, years_in_ess=years)
    assert [r.value for r in found] == reasons


@pytest.mark.parametrize(
    ("birth", "day", "band"),
    [
        (date(2007, 7, 11), date(2025, 7, 10), AgeBand.under_18),  # 18 tomorrow
        (date(2007, 7, 10), date(2025, 7, 10), AgeBand.age_18_20),  # 18 today
        (date(2000, 1, 1), date(2025, 7, 10), AgeBand.age_21_25),
        (date(1995, 1, 1), date(2025, 7, 10), AgeBand.age_26_30),
        (date(1994, 7, 10), date(2025, 7, 10), AgeBand.over_30),  # 31 today
    ],
)
def test_age_band_on_the_day_of_application(birth, day, band):
    assert age_band(age_on(birth, day)) is band


@pytest.mark.parametrize(
    ("postcode", "departement", "region"),
    [("75011", "75", "IDF"), ("29200", "29", "BRE"), ("20000", "2A", "COR"),
     ("20200", "2B", "COR"), ("97400", "974", "LRE"), ("44000", "44", "PDL")],
)
def test_postcode_to_departement_to_region(postcode, departement, region):
    assert departement_of_postcode(postcode) == departement
    assert REGION_OF_DEPARTEMENT[departement] == region


@pytest.mark.parametrize("postcode", ["99999", "1234", "abcde", "96000", "97500"])
def test_unknown_postcodes(postcode):
    assert departement_of_postcode(postcode) is None


# (the reporting folds are tested in test_reporting_folds.py)


# -- matching: the recruitment simulation ---------------------------------------------------

from services.matching.simulation import PoolFigures, simulate  # noqa: E402

SIMULATIONS = [
    # target, active, free mentees, free places, mentors, places, accepted, declined -> mentors, mentees
    ((20, 0, 30, 10, 8, 12, 0, 0), (10, 0)),  # 25 proposals at 80 %: 15 places short, cap. 1.5
    ((20, 20, 0, 0, 10, 20, 20, 0), (0, 0)),  # reached
    ((10, 0, 10, 10, 10, 10, 5, 5), (10, 10)),  # half declined: 20 proposals needed
    ((10, 5, 20, 20, 10, 20, 9, 1), (0, 0)),  # enough in the pool
]


@pytest.mark.parametrize(("figures", "expected"), SIMULATIONS)
def test_how_many_more_mentors(figures, expected):
    estimate = simulate(PoolFigures(*figures))
    assert (estimate.mentors_needed, estimate.mentees_needed) == expected
    assert estimate.sentence()
