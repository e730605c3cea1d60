"""Pure domain, no I/O: given events, when a command or event, then events or a view."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from events import Metadata
from events.base import seal
from events.geography import REGION_OF_DEPARTEMENT, departement_of_postcode
from events.intake import ApplicationReceived, ApplicationRejected, CandidateAdmitted, PersonErased
from events.matching import PairEnded, PairFormed
from events.vocabulary import AgeBand
from services.intake.domain import DomainError, SubmitApplication, age_band, age_on, decide, replay
from services.reporting.views import CohortFunnel, cohort_for, fold, funnel_rows

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


# -- intake: decide -------------------------------------------------------------------------

def test_a_new_application_is_received():
    profile = received()
    assert decide(replay([]), SubmitApplication(profile)) == [profile]


def test_an_application_cannot_be_submitted_twice():
    with pytest.raises(DomainError) as refused:
        decide(replay([received()]), SubmitApplication(received()))
    assert refused.value.code == "already_submitted"


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


# -- reporting: the cohort funnel fold ------------------------------------------------------

@pytest.mark.parametrize(
    ("day", "cohort"),
    [(date(2025, 7, 10), "2025-09"), (date(2025, 9, 1), "2025-12"), (date(2025, 12, 31), "2026-03"),
     (date(2026, 2, 28), "2026-03")],
)
def test_an_application_counts_in_the_next_cohort(day, cohort):
    assert cohort_for(day) == cohort


FUNNEL_CASES = [
    # given events -> expected counters of the single (BRE, 2025-09, website) row
    ([received()], {"applications_mentees": 1}),
    ([received(role="mentor", person=MENTOR)], {"applications_mentors": 1}),
    ([received(), ApplicationRejected(application_id=uuid4(), person_id=PERSON,
                                      reasons=("mentee_too_old",))],
     {"applications_mentees": 1, "rejected": 1, "rejection_reasons": {"mentee_too_old": 1}}),
    ([received(), admitted()], {"applications_mentees": 1, "admitted": 1}),
    ([received(), admitted(),
      PairFormed(pair_id=uuid4(), match_id=uuid4(), cohort_id="BRE-2025-09", mentee_id=PERSON,
                 mentor_id=MENTOR, origin="algorithm", previous_pair_id=None),
      PairEnded(pair_id=uuid4(), cohort_id="BRE-2025-09", mentee_id=PERSON, mentor_id=MENTOR,
                ended_on=date(2026, 2, 1), early=True, reason="moved_away", ended_by="mentee")],
     {"applications_mentees": 1, "admitted": 1, "paired": 1, "ended_early": 1}),
    # an event about someone the funnel never saw changes nothing
    ([admitted()], {}),
]


@pytest.mark.parametrize(("given", "expected"), FUNNEL_CASES)
def test_cohort_funnel_fold(given, expected):
    view = fold(envelope(e) for e in given)
    rows = funnel_rows(view)
    if not expected:
        assert rows == []
        return
    [row] = rows
    assert (row.region, row.cohort, row.channel) == ("BRE", "2025-09", "website")
    counters = {k: v for k, v in row.model_dump().items()
                if k not in ("region", "cohort", "channel") and v}
    assert counters == expected


def test_erasure_drops_the_person_but_keeps_the_counts():
    view = fold(envelope(e) for e in [received(), PersonErased(person_id=PERSON)])
    assert view.people == {}
    assert funnel_rows(view)[0].applications_mentees == 1
    assert str(PERSON) not in CohortFunnel.model_validate(view.model_dump()).model_dump_json()
