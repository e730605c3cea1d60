"""What the staff dashboard asks of reporting: a plain date wherever an instant is, the regions
against their own objectives, the overdue reviews as a list, the 500-by-2028 axis with the pace
so far and the pace needed, and the figures per cohort. Pure queries over folded events
(given/when/then tables), then the same over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest
from fastapi import HTTPException

from events.followup import ReferentAssigned, ReviewScheduled
from events.intake import RegionSettingsChanged
from services.common.clock import ManualClock
from services.reporting import queries
from services.reporting.api import parse_instant
from services.reporting.folds import fold
from tests.conftest import eventually
from tests.reporting_history import (
    admitted,
    envelope,
    at,
    pair_ended,
    pair_formed,
    planned,
    received,
    review_overdue,
)
from tests.services_client import running
from tests.test_reporting_attribution import ev
from tests.test_reporting_service import BRE, IDF, NATIONAL, archived, publish

MENTEE, MENTEE_2, MENTEE_3, MENTOR = (UUID(int=i) for i in (0x10, 0x11, 0x12, 0x20))
P1, P2, P3, P4, P5 = (UUID(int=0x100 + i) for i in range(1, 6))
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


# --- a plain date is an instant: the end of that day in Paris ------------------------------------

INSTANT_CASES = [
    # given as_of, now -> then the instant asked, or the refusal's code
    ("2026-11-20", NOW, datetime(2026, 11, 20, 22, 59, 59, 999999, tzinfo=UTC)),
    ("2026-07-14", NOW, datetime(2026, 7, 14, 21, 59, 59, 999999, tzinfo=UTC)),  # summer time
    ("2026-11-29", NOW, NOW),  # today: so far
    # 00:30 in Paris on the 30th: the 30th is today there, the 29th has ended
    ("2026-11-30", datetime(2026, 11, 29, 23, 30, tzinfo=UTC),
     datetime(2026, 11, 29, 23, 30, tzinfo=UTC)),
    ("2026-11-29", datetime(2026, 11, 29, 23, 30, tzinfo=UTC),
     datetime(2026, 11, 29, 22, 59, 59, 999999, tzinfo=UTC)),
    ("2026-11-30", NOW, "as_of_in_future"),
    ("2026-11-29T09:00:00Z", NOW, datetime(2026, 11, 29, 9, tzinfo=UTC)),
    ("2026-11-29T12:00:00+01:00", NOW, "as_of_in_future"),
    ("2026-02-30", NOW, "invalid_datetime"),
    ("2026-11-29T09:00:00", NOW, "invalid_datetime"),  # no time zone
    ("hier", NOW, "invalid_datetime"),
    ("0001-01-01", NOW, "datetime_out_of_range"),
]


@pytest.mark.parametrize(("given", "now", "then"), INSTANT_CASES)
def test_as_of_takes_an_instant_or_a_day(given, now, then):
    if isinstance(then, str):
        with pytest.raises(HTTPException) as refused:
            parse_instant(given, now)
        assert refused.value.status_code == 422
        [error] = refused.value.detail["errors"]
        assert (error["code"], error["field"]) == (then, "as_of")
        assert error["message"][0].isupper() and "." in error["message"]  # a French sentence
    else:
        assert parse_instant(given, now) == then


# --- regions against their own objectives --------------------------------------------------------


def objectives(region: str, cohort: str, mentees: int, mentors: int) -> RegionSettingsChanged:
    return RegionSettingsChanged(region=region, served=True, departements=("75",),
                                 cohort=cohort, objective_mentees=mentees,
                                 objective_mentors=mentors)


IN_IDF = [  # a mentee and a mentor admitted in Île-de-France and paired, for 2026-12
    ev(objectives("IDF", "2026-12", 10, 4)),
    ev(received(MENTEE), "IDF"), ev(admitted(MENTEE), "IDF"),
    ev(received(MENTOR, role="mentor"), "IDF"), ev(admitted(MENTOR, role="mentor"), "IDF"),
    ev(pair_formed(P1, MENTEE, MENTOR, cohort="IDF-2026-12"), "IDF", "2026-12-01"),
]
IN_BRE = [ev(received(MENTEE_2), "BRE"), ev(admitted(MENTEE_2), "BRE")]
LATER = [ev(objectives("IDF", "2027-03", 30, 8), day="2027-01-05"),
         ev(received(MENTEE_3), "IDF", "2027-01-10")]

# (region, cohort, objectives set, mentees (objective, admitted, paired), mentors (same))
OBJECTIVE_CASES = {
    "side by side; a region without objectives has the defaults": (
        [*IN_IDF, *IN_BRE], {},
        [("BRE", "2026-12", False, (20, 1, 0), (20, 0, 0)),
         ("IDF", "2026-12", True, (10, 1, 1), (4, 1, 1))]),
    "objectives stay for later cohorts until set again": (
        [*IN_IDF, *IN_BRE, *LATER], {},
        [("BRE", "2026-12", False, (20, 1, 0), (20, 0, 0)),
         ("IDF", "2026-12", True, (10, 1, 1), (4, 1, 1)),
         ("BRE", "2027-03", False, (20, 0, 0), (20, 0, 0)),
         ("IDF", "2027-03", True, (30, 0, 0), (8, 0, 0))]),
    "one cohort asked: every served region, even with nothing yet": (
        [*IN_IDF, *LATER], {"cohort": "2027-06"},
        [("BRE", "2027-06", False, (20, 0, 0), (20, 0, 0)),
         ("IDF", "2027-06", True, (30, 0, 0), (8, 0, 0))]),
    "a regional reader sees their region, and cohorts of their region, only": (
        [*IN_IDF, *IN_BRE, *LATER], {"regions": {"BRE"}},
        [("BRE", "2026-12", False, (20, 1, 0), (20, 0, 0))]),
    "a region asked": (
        [*IN_IDF, *IN_BRE], {"region": "IDF"},
        [("IDF", "2026-12", True, (10, 1, 1), (4, 1, 1))]),
    "the cohort recruiting now is shown too": (
        [*IN_IDF], {"current": "2027-03"},
        [("BRE", "2026-12", False, (20, 0, 0), (20, 0, 0)),
         ("IDF", "2026-12", True, (10, 1, 1), (4, 1, 1)),
         ("BRE", "2027-03", False, (20, 0, 0), (20, 0, 0)),
         ("IDF", "2027-03", True, (10, 0, 0), (4, 0, 0))]),
    "applications alone (a region not served yet) are no participation": (
        [*IN_IDF, ev(received(MENTEE_3), "COR")], {},
        [("BRE", "2026-12", False, (20, 0, 0), (20, 0, 0)),
         ("IDF", "2026-12", True, (10, 1, 1), (4, 1, 1))]),
}


def _reached(o: queries.Objective) -> tuple[int, int, int]:
    return o.objective, o.admitted, o.paired


@pytest.mark.parametrize(("given", "asked", "expected"), OBJECTIVE_CASES.values(),
                         ids=OBJECTIVE_CASES.keys())
def test_regions_against_their_objectives(given, asked, expected):
    report = queries.objectives_report(fold(given), default_mentees=20, default_mentors=20,
                                       served=("IDF", "BRE"), **asked)
    assert [(r.region, r.cohort, r.objectives_set, _reached(r.mentees), _reached(r.mentors))
            for r in report.rows] == expected


def test_shares_of_the_objectives():
    [_, idf] = queries.objectives_report(fold([*IN_IDF, *IN_BRE]), default_mentees=20,
                                         default_mentors=20, served=("IDF", "BRE")).rows
    assert (idf.mentees.admitted_share, idf.mentors.paired_share) == (0.1, 0.25)
    none = queries.objectives_report(fold([ev(objectives("IDF", "2026-12", 0, 0))]),
                                     default_mentees=20, default_mentors=20).rows
    assert none[0].mentees.admitted_share is None  # an objective of 0: no share


# --- overdue reviews --------------------------------------------------------------------------


def overdue_in(region: str, pair: UUID, due: date) -> list[dict[str, Any]]:
    return [ev(planned(pair, MENTEE, MENTOR, starts=date(2026, 3, 1),
                       cohort=f"{region}-2026-03"), region, "2026-03-01"),
            ev(review_overdue(pair, "intermediate", due), region, "2026-11-01")]


OVERDUE = [
    *overdue_in("IDF", P1, date(2026, 9, 1)),
    *overdue_in("IDF", P2, date(2026, 6, 1)),
    ev(ReferentAssigned(pair_id=P2, referent_id="ref-idf-9"), "IDF", "2026-11-02"),
    *overdue_in("IDF", P3, date(2026, 5, 1)),  # booked since: no longer late
    ev(ReviewScheduled(pair_id=P3, kind="intermediate", scheduled_at=at("2026-12-03"),
                       format="remote", referent_id="ref-1"), "IDF", "2026-11-03"),
    *overdue_in("IDF", P4, date(2026, 4, 1)),  # ended: nothing to review
    ev(pair_ended(P4, MENTEE, MENTOR, early=True, cohort="IDF-2026-03"), "IDF", "2026-11-04"),
    *overdue_in("BRE", P5, date(2026, 10, 1)),
]

OVERDUE_CASES = {
    "most late first, with the referent following the pair now": (
        {}, [(str(P2), "IDF", "IDF-2026-03", "intermediate", date(2026, 6, 1), 181, "ref-idf-9"),
             (str(P1), "IDF", "IDF-2026-03", "intermediate", date(2026, 9, 1), 89, "ref-1"),
             (str(P5), "BRE", "BRE-2026-03", "intermediate", date(2026, 10, 1), 59, "ref-1")]),
    "a regional reader sees their region only": (
        {"regions": {"BRE"}},
        [(str(P5), "BRE", "BRE-2026-03", "intermediate", date(2026, 10, 1), 59, "ref-1")]),
    "a region asked": (
        {"region": "IDF"}, [(str(P2), "IDF", "IDF-2026-03", "intermediate", date(2026, 6, 1),
                             181, "ref-idf-9"),
                            (str(P1), "IDF", "IDF-2026-03", "intermediate", date(2026, 9, 1),
                             89, "ref-1")]),
}


@pytest.mark.parametrize(("asked", "expected"), OVERDUE_CASES.values(), ids=OVERDUE_CASES.keys())
def test_overdue_reviews_as_a_list(asked, expected):
    report = queries.overdue_report(fold(OVERDUE), today=date(2026, 11, 29), **asked)
    assert [(r.pair_id, r.region, r.cohort_id, r.review, r.due_on, r.days_late, r.referent)
            for r in report.reviews] == expected
    assert all(r.cohort == "2026-03" for r in report.reviews)


# --- toward 500 by the end of 2028 ---------------------------------------------------------------

PAIRS = [ev(pair_formed(P1, MENTEE, MENTOR, cohort="IDF-2025-09"), "IDF", "2025-09-03"),
         ev(pair_formed(P2, MENTEE_2, MENTOR, cohort="IDF-2026-03"), "IDF", "2026-03-02"),
         ev(pair_formed(P3, MENTEE_3, MENTOR, cohort="IDF-2026-03"), "IDF", "2026-03-04"),
         ev(pair_formed(P4, UUID(int=0x13), MENTOR, cohort="BRE-2026-12"), "BRE", "2026-11-20")]


def test_the_axis_runs_to_the_end_of_2028_with_both_paces():
    report = queries.progress_report(fold(PAIRS), today=date(2026, 11, 29))
    assert (report.goal, report.goal_date) == (500, date(2028, 12, 31))
    months = {m.month: (m.paired, m.cumulative) for m in report.months}
    assert report.months[0].month == "2025-09" and report.months[-1].month == "2028-12"
    assert len(report.months) == 40
    assert months["2025-09"] == (1, 1) and months["2025-10"] == (0, 1)
    assert months["2026-03"] == (2, 3) and months["2026-11"] == (1, 4)
    assert all(v == (None, None) for k, v in months.items() if k > "2026-11")
    assert report.pace_so_far_per_month == round(4 / 15, 2)  # 15 months, Sept. 2025 included
    assert report.pace_needed_per_month == round(496 / 25, 2)  # Dec. 2026 to Dec. 2028
    # existing fields unchanged
    assert report.mentees_paired == 4 and report.months_left == 25


def test_a_regional_axis_starts_with_its_first_pair():
    report = queries.progress_report(fold(PAIRS), today=date(2026, 11, 29), regions={"BRE"})
    assert report.months[0].month == "2026-11" and len(report.months) == 26
    assert (report.pace_so_far_per_month, report.pace_needed_per_month) == (1.0, 19.96)


def test_after_the_deadline_no_pace_is_needed():
    report = queries.progress_report(fold(PAIRS), today=date(2029, 2, 1))
    assert report.pace_needed_per_month is None and report.months[-1].month == "2029-02"
    assert report.months[-1].cumulative == 4


# --- figures per cohort ------------------------------------------------------------------------


def test_each_cohort_adds_up_its_channels():
    view = fold([ev(received(MENTEE), "IDF"), ev(admitted(MENTEE), "IDF"),
                 ev(received(MENTEE_2, channel="mission_locale"), "IDF"),
                 ev(received(MENTEE_3), "IDF", "2027-01-10"), ev(received(MENTOR), "BRE")])
    report = queries.cohort_report(view)
    assert len(report.rows) == 4
    by_cohort = {(c.region, c.cohort): c.counts for c in report.by_cohort}
    assert list(by_cohort) == [("BRE", "2026-12"), ("IDF", "2026-12"), ("IDF", "2027-03")]
    assert by_cohort[("IDF", "2026-12")]["applications_mentees"] == 2
    assert by_cohort[("IDF", "2026-12")]["admitted"] == 1
    assert by_cohort[("IDF", "2027-03")]["applications_mentees"] == 1
    for name in ("applications_mentees", "admitted", "paired", "active", "completed",
                 "ended_early"):
        assert sum(c[name] for c in by_cohort.values()) == report.totals[name]


# --- over HTTP ---------------------------------------------------------------------------------


async def test_the_staff_views_over_http(settings, nats_url):
    clock = ManualClock(NOW)
    history = [envelope(objectives("IDF", "2026-12", 10, 4), region="IDF"),
               envelope(received(MENTEE), region="IDF", when=at("2026-10-05")),
               envelope(admitted(MENTEE), region="IDF", when=at("2026-10-20")),
               envelope(received(MENTEE_2), region="BRE", when=at("2026-10-06")),
               *(envelope(planned(pair, MENTEE, MENTOR, starts=date(2026, 3, 1),
                                  cohort=f"{region}-2026-03"), region=region,
                          when=at("2026-03-01"))
                 for pair, region in ((P1, "IDF"), (P5, "BRE"))),
               envelope(review_overdue(P1, "intermediate", date(2026, 9, 1)), region="IDF",
                        when=at("2026-10-01")),
               envelope(review_overdue(P5, "intermediate", date(2026, 10, 1)), region="BRE",
                        when=at("2026-11-28"))]
    async with running(settings, "reporting", clock=clock) as svc:
        client, runtime = svc["reporting"]
        await publish(nats_url, history)

        async def all_archived() -> bool:
            return await archived(runtime) == len(history)
        await eventually(all_archived)

        answer = await client.get("/reports/objectives", headers=NATIONAL,
                                  params={"cohort": "2026-12"})
        assert answer.status_code == 200, answer.text
        rows = {r["region"]: r for r in answer.json()["rows"]}
        assert set(rows) == {"IDF", "BRE"}  # the served regions, side by side
        assert rows["IDF"]["mentees"] == {"objective": 10, "admitted": 1, "paired": 0,
                                          "admitted_share": 0.1, "paired_share": 0.0}
        assert rows["BRE"]["objectives_set"] is False
        assert rows["BRE"]["mentees"]["objective"] == settings.objective_mentees
        mine = await client.get("/reports/objectives", headers=BRE)
        # nothing admitted in BRE yet: the cohort recruiting now, with the defaults
        assert [(r["region"], r["cohort"]) for r in mine.json()["rows"]] == [("BRE", "2027-03")]
        every = await client.get("/reports/objectives", headers=NATIONAL)
        assert [(r["region"], r["cohort"]) for r in every.json()["rows"]] == [
            ("BRE", "2026-12"), ("IDF", "2026-12"), ("BRE", "2027-03"), ("IDF", "2027-03")]

        overdue = await client.get("/reports/reviews/overdue", headers=NATIONAL)
        assert [(r["pair_id"], r["days_late"], r["review"], r["referent"])
                for r in overdue.json()["reviews"]] == [(str(P1), 89, "intermediate", "ref-1"),
                                                       (str(P5), 59, "intermediate", "ref-1")]
        # As of a day: the end of that day in Paris; BRE's review was not late yet.
        before = await client.get("/reports/reviews/overdue", headers=NATIONAL,
                                  params={"as_of": "2026-11-27"})
        assert before.status_code == 200, before.text
        assert before.json()["as_of"] == "2026-11-27T23:59:59.999999+01:00"
        assert [(r["pair_id"], r["days_late"]) for r in before.json()["reviews"]] == [
            (str(P1), 87)]
        today = await client.get("/reports/progress", headers=IDF,
                                 params={"as_of": "2026-11-29"})
        assert today.status_code == 200, today.text
        assert today.json()["months"][-1] == {"month": "2028-12", "paired": None,
                                              "cumulative": None}
        for path in ("/reports/cohorts", "/reports/channels", "/reports/journeys",
                     "/reports/outcomes", "/reports/networking", "/reports/objectives",
                     "/reports/reviews/overdue", "/dashboard"):
            day = await client.get(path, headers=NATIONAL, params={"as_of": "2026-11-01"})
            assert day.status_code == 200, (path, day.text)
            future = await client.get(path, headers=NATIONAL, params={"as_of": "2026-11-30"})
            assert future.status_code == 422, (path, future.text)
            assert future.json()["errors"][0]["code"] == "as_of_in_future"

        for path in ("/reports/objectives", "/reports/reviews/overdue"):
            other = await client.get(path, headers=BRE, params={"region": "IDF"})
            assert other.status_code == 403, other.text
            assert other.json()["errors"][0]["code"] == "forbidden_region"
            assert (await client.get(path)).status_code == 401
            for params, field in (({"region": "idf"}, "region"),
                                  ({"as_of": "2026-02-30"}, "as_of"),
                                  ({"as_of": "x" * 65}, "as_of")):
                bad = await client.get(path, headers=NATIONAL, params=params)
                assert bad.status_code == 422, bad.text
                assert bad.json()["errors"][0]["field"] == field
        bad_cohort = await client.get("/reports/objectives", headers=NATIONAL,
                                      params={"cohort": "2026-04"})
        assert bad_cohort.status_code == 422
        assert bad_cohort.json()["errors"][0]["code"] == "invalid_format"
