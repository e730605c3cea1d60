"""Where the funnel counts a person, as pure folds (given events, then the rows): the region
of their latest routing, the cohort they wait for until paired and then their latest pair's;
waiting lists, re-routing flows, proposals, departures from the pool and early endings for a
job or a training. Live (row by row, stored and reloaded), replayed and as of an instant, the
answers are the same."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from events.intake import ApplicationRouted
from events.matching import PairEnded
from events.vocabulary import EarlyEndingReason
from services.reporting import queries
from services.reporting.folds import FUNNEL_COUNTERS, View, apply, fold
from tests.reporting_history import (
    admitted,
    as_dict,
    at,
    envelope,
    erased,
    interviewed,
    outcome,
    pair_ended,
    pair_formed,
    received,
    rematch,
    withdrawn,
)

MENTEE, MENTOR, PAIR, OTHER_PAIR = (UUID(int=i) for i in (0x10, 0x20, 0x30, 0x31))
OTHER = UUID(int=0x11)
MATCH, OTHER_MATCH = UUID(int=0x40), UUID(int=0x41)
APPLIED_ON = "2026-10-05"  # waits for the cohort of 2026-12


def ev(data: Any, region: str = "IDF", day: str = APPLIED_ON) -> dict[str, Any]:
    """An event as the folds read it: a model of the contract, or a raw ``(type, data)``."""
    if isinstance(data, tuple):  # a type the contract of this branch does not know yet
        kind, payload = data
        return {"type": kind, "schema_version": 1, "region": region,
                "occurred_at": at(day).isoformat(), "data": orjson.loads(orjson.dumps(payload))}
    return as_dict(envelope(data, region=region, when=at(day)))


def routing(person: UUID, to: str, *, basis: str = "departement", from_region: str | None = None,
            reason: str | None = None) -> ApplicationRouted:
    return ApplicationRouted(application_id=uuid4(), person_id=person, role="mentee",
                             to_region=to, from_region=from_region, basis=basis,
                             candidate_regions=() if basis == "waiting_list" else (to,),
                             cohort="2026-12", rerouting_reason=reason)


def rerouted(person: UUID, from_region: str, to: str) -> ApplicationRouted:
    return routing(person, to, basis="manual", from_region=from_region, reason="closer_to_home")


def proposed(match: UUID, mentee: UUID = MENTEE, cohort: str = "IDF-2026-12") -> tuple:
    return ("MatchProposed", {"match_id": match, "cohort_id": cohort, "mentee_id": mentee,
                              "mentor_id": MENTOR, "origin": "algorithm", "score": {}})


def proposal_withdrawn(match: UUID, reason: str = "cancelled_by_referent") -> tuple:
    return ("ProposalWithdrawn", {"match_id": match, "cohort_id": "IDF-2026-12",
                                  "mentee_id": MENTEE, "mentor_id": MENTOR, "reason": reason})


def match_declined(match: UUID) -> tuple:
    return ("MatchDeclined", {"match_id": match, "cohort_id": "IDF-2026-12", "mentee_id": MENTEE,
                              "mentor_id": MENTOR, "declined_by": "mentee",
                              "reason": "mentee_unavailable"})


def left_pool(person: UUID, reason: str, role: str = "mentee") -> tuple:
    return ("CandidateLeftPool", {"person_id": person, "role": role, "reason": reason,
                                  "pair_id": None, "cohort_id": None, "left_on": "2026-11-02"})


def ended_v2(pair: UUID, reason: str, cohort: str = "IDF-2026-12") -> tuple:
    """PairEnded schema_version 2: the same fields, more early-ending reasons."""
    return ("PairEnded", {"pair_id": pair, "cohort_id": cohort, "mentee_id": MENTEE,
                          "mentor_id": MENTOR, "ended_on": "2027-02-01", "early": True,
                          "reason": reason, "ended_by": "mentee"})


def funnel(view: View) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every funnel row's non-zero counters and reasons, by (region, cohort, channel)."""
    return {(r["region"], r["cohort"], r["channel"]):
            {k: v for k, v in r.items() if k not in ("region", "cohort", "channel") and v}
            for r in view.funnel.values()}


def channels(view: View) -> dict[tuple[str, str, str], dict[str, int]]:
    return {(r["region"], r["channel"], r["role"]):
            {k: v for k, v in r.items() if k not in ("region", "channel", "role") and v}
            for r in view.channels.values()}


IDF, BRE = ("IDF", "2026-12", "website"), ("BRE", "2026-12", "website")
APPLIED = [ev(received(MENTEE, departement="93")), ev(routing(MENTEE, "IDF"))]
ADMITTED_IN_BRE = [*APPLIED, ev(rerouted(MENTEE, "IDF", "BRE"), "BRE"),
                   ev(interviewed(MENTEE), "BRE"), ev(admitted(MENTEE), "BRE")]
PAIRED_IN_BRE = [*ADMITTED_IN_BRE,
                 ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="BRE-2026-12"), "BRE", "2026-12-01")]

ATTRIBUTION_CASES = {
    "an application is counted in its region, waiting for its cohort": (
        APPLIED, {IDF: {"applications_mentees": 1, "routed": 1}}),
    "a re-routed application is counted in its new region, the move in both": (
        ADMITTED_IN_BRE,
        {IDF: {"rerouted_out": 1},
         BRE: {"applications_mentees": 1, "routed": 1, "rerouted_in": 1, "interviewed": 1,
               "admitted": 1, "admitted_mentees": 1, "waiting": 1}}),
    "and paired there, it is counted there": (
        PAIRED_IN_BRE,
        {IDF: {"rerouted_out": 1},
         BRE: {"applications_mentees": 1, "routed": 1, "rerouted_in": 1, "interviewed": 1,
               "admitted": 1, "admitted_mentees": 1, "paired": 1, "active": 1}}),
    "re-routed back and forth: each move is a flow, the person is counted once": (
        [*APPLIED, ev(rerouted(MENTEE, "IDF", "BRE"), "BRE"),
         ev(rerouted(MENTEE, "BRE", "IDF"))],
        {IDF: {"applications_mentees": 1, "routed": 1, "rerouted_out": 1, "rerouted_in": 1},
         BRE: {"rerouted_out": 1, "rerouted_in": 1}}),
    "a waiting-list application is on the waiting list, not routed": (
        [ev(received(MENTEE), "COR"), ev(routing(MENTEE, "COR", basis="waiting_list"), "COR")],
        {("COR", "2026-12", "website"): {"applications_mentees": 1, "waiting_list": 1}}),
    "off the waiting list when the region joins: routed": (
        [ev(received(MENTEE), "COR"), ev(routing(MENTEE, "COR", basis="waiting_list"), "COR"),
         ev(routing(MENTEE, "COR", basis="region_joined", from_region="COR"), "COR")],
        {("COR", "2026-12", "website"): {"applications_mentees": 1, "routed": 1}}),
    "off the waiting list to another region: a flow": (
        [ev(received(MENTEE), "COR"), ev(routing(MENTEE, "COR", basis="waiting_list"), "COR"),
         ev(rerouted(MENTEE, "COR", "PAC"), "PAC")],
        {("COR", "2026-12", "website"): {"rerouted_out": 1},
         ("PAC", "2026-12", "website"): {"applications_mentees": 1, "routed": 1,
                                         "rerouted_in": 1}}),
    "withdrawn from the waiting list": (
        [ev(received(MENTEE), "COR"), ev(routing(MENTEE, "COR", basis="waiting_list"), "COR"),
         ev(withdrawn(MENTEE), "COR")],
        {("COR", "2026-12", "website"): {"applications_mentees": 1, "withdrawn": 1}}),
    "paired in a later cohort: counted in the pair's cohort, not the application's": (
        [*APPLIED, ev(admitted(MENTEE)),
         ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2027-03"), day="2027-02-20")],
        {("IDF", "2027-03", "website"): {"applications_mentees": 1, "routed": 1,
                                         "admitted": 1,
"admitted_mentees": 1, "paired": 1, "active": 1}}),
    "re-paired after an early ending: counted in the latest pair's cohort": (
        [*APPLIED, ev(admitted(MENTEE)),
         ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2026-12"), day="2026-12-01"),
         ev(pair_ended(PAIR, MENTEE, MENTOR, early=True, cohort="IDF-2026-12"), day="2027-01-10"),
         ev(rematch(MENTEE, PAIR, cohort="IDF-2026-12"), day="2027-01-11"),
         ev(pair_formed(OTHER_PAIR, MENTEE, MENTOR, cohort="IDF-2027-03"), day="2027-03-01")],
        {("IDF", "2027-03", "website"): {"applications_mentees": 1, "routed": 1, "admitted": 1,
                                         "admitted_mentees": 1,
                                         "paired": 1, "active": 1, "ended_early": 1,
                                         "early_ending_reasons": {"moved_away": 1}}}),
    "waiting for a rematch: still in the ended pair's cohort": (
        [*APPLIED, ev(admitted(MENTEE)),
         ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2027-03"), day="2027-03-01"),
         ev(pair_ended(PAIR, MENTEE, MENTOR, early=True, cohort="IDF-2027-03"), day="2027-04-10"),
         ev(rematch(MENTEE, PAIR, cohort="IDF-2027-03"), day="2027-04-11")],
        {("IDF", "2027-03", "website"): {"applications_mentees": 1, "routed": 1, "admitted": 1,
                                         "admitted_mentees": 1,
                                         "paired": 1, "waiting": 1, "ended_early": 1,
                                         "early_ending_reasons": {"moved_away": 1}}}),
    "a mentor is counted in the cohort of their latest pair too": (
        [ev(received(MENTOR, role="mentor")), ev(admitted(MENTOR, role="mentor")),
         ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2027-03"), day="2027-03-01")],
        {("IDF", "2027-03", "website"): {"applications_mentors": 1, "admitted": 1,
                                         "admitted_mentors": 1, "paired_mentors": 1}}),
    "a proposal pending, then withdrawn: no longer proposed": (
        [*APPLIED, ev(admitted(MENTEE)), ev(proposed(MATCH)), ev(proposal_withdrawn(MATCH))],
        {IDF: {"applications_mentees": 1, "routed": 1, "admitted": 1,
               "admitted_mentees": 1, "waiting": 1}}),
    "two proposals, one withdrawn, a third made: the mentee counted once as proposed": (
        [*APPLIED, ev(admitted(MENTEE)), ev(proposed(MATCH)), ev(proposed(OTHER_MATCH)),
         ev(proposal_withdrawn(MATCH, "mentor_left_pool")), ev(proposed(UUID(int=0x42)))],
        {IDF: {"applications_mentees": 1, "routed": 1, "admitted": 1,
               "admitted_mentees": 1, "waiting": 1,
               "proposed": 1}}),
    "a declined proposal is no longer pending": (
        [*APPLIED, ev(admitted(MENTEE)), ev(proposed(MATCH)), ev(match_declined(MATCH))],
        {IDF: {"applications_mentees": 1, "routed": 1, "admitted": 1,
               "admitted_mentees": 1, "waiting": 1}}),
    "a confirmed proposal is a pair": (
        [*APPLIED, ev(admitted(MENTEE)), ev(proposed(MATCH)),
         ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2026-12").model_copy(
             update={"match_id": MATCH}), day="2026-12-01")],
        {IDF: {"applications_mentees": 1, "routed": 1, "admitted": 1,
               "admitted_mentees": 1, "paired": 1,
               "active": 1}}),
    "leaving the pool while waiting: left, by reason, no longer waiting": (
        [*APPLIED, ev(admitted(MENTEE)), ev(left_pool(MENTEE, "found_job"))],
        {IDF: {"applications_mentees": 1, "routed": 1, "admitted": 1,
               "admitted_mentees": 1, "left": 1,
               "left_reasons": {"found_job": 1}}}),
    "leaving the pool in a pair: still active until the pair ends": (
        [*APPLIED, ev(admitted(MENTEE)),
         ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2026-12"), day="2026-12-01"),
         ev(left_pool(MENTEE, "found_training"))],
        {IDF: {"applications_mentees": 1, "routed": 1, "admitted": 1,
               "admitted_mentees": 1, "paired": 1,
               "active": 1, "left": 1, "left_reasons": {"found_training": 1}}}),
    "an early ending of schema version 2 with a new reason": (
        [*APPLIED, ev(admitted(MENTEE)),
         ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2026-12"), day="2026-12-01"),
         ev(ended_v2(PAIR, "mentee_found_training"), day="2027-02-01")],
        {IDF: {"applications_mentees": 1, "routed": 1, "admitted": 1,
               "admitted_mentees": 1, "paired": 1,
               "ended_early": 1, "early_ending_reasons": {"mentee_found_training": 1}}}),
    "erased: the counts stay where the person was counted": (
        [*PAIRED_IN_BRE, ev(erased(MENTEE), "BRE")],
        {IDF: {"rerouted_out": 1},
         BRE: {"applications_mentees": 1, "routed": 1, "rerouted_in": 1, "interviewed": 1,
               "admitted": 1, "admitted_mentees": 1, "paired": 1, "active": 1}}),
}


@pytest.mark.parametrize(("given", "expected"), ATTRIBUTION_CASES.values(),
                         ids=ATTRIBUTION_CASES.keys())
def test_where_the_funnel_counts_a_person(given, expected):
    assert funnel(fold(given)) == expected


def test_a_re_routed_person_is_in_the_new_regions_channels_only():
    assert channels(fold(PAIRED_IN_BRE)) == {
        ("BRE", "website", "mentee"): {"applications": 1, "admitted": 1, "paired": 1}}


def test_the_cohort_report_shows_the_waiting_lists_by_region_and_the_flows():
    view = fold([*PAIRED_IN_BRE,
                 ev(received(OTHER, departement="2A"), "COR"),
                 ev(routing(OTHER, "COR", basis="waiting_list"), "COR")])
    report = queries.cohort_report(view)
    assert report.waiting_list_by_region == {"COR": 1}
    assert (report.totals["rerouted_out"], report.totals["rerouted_in"]) == (1, 1)
    only_idf = queries.cohort_report(view, region="IDF")
    assert only_idf.totals["applications_mentees"] == 0 and only_idf.totals["rerouted_out"] == 1
    assert queries.channel_report(view, region="IDF").rows == []



# --- live, replayed and as of an instant: the same answers --------------------------------------


def live(events: list[dict[str, Any]]) -> View:
    """As the live path folds: the stored rows reloaded before every event (as JSON), only the
    touched rows written back."""
    stored: dict[str, dict[str, Any]] = {}
    for event in events:
        view = View(orjson.loads(orjson.dumps(stored)))
        apply(view, event)
        for table, key in view.dirty:
            row = view.tables[table].get(key)
            if row is None:
                stored.get(table, {}).pop(key, None)
            else:
                stored.setdefault(table, {})[key] = orjson.loads(orjson.dumps(row))
    return View(stored)


LONG_HISTORY = [
    *PAIRED_IN_BRE,
    ev(received(OTHER), "COR"), ev(routing(OTHER, "COR", basis="waiting_list"), "COR"),
    ev(rerouted(OTHER, "COR", "BRE"), "BRE", "2026-10-20"),
    ev(admitted(OTHER), "BRE", "2026-11-01"), ev(proposed(MATCH, OTHER, "BRE-2027-03"), "BRE"),
    ev(pair_formed(OTHER_PAIR, OTHER, MENTOR, cohort="BRE-2027-03").model_copy(
        update={"match_id": MATCH}), "BRE", "2027-03-01"),
    ev(ended_v2(PAIR, "mentee_found_job", cohort="BRE-2026-12"), "BRE", "2027-04-01"),
    ev(left_pool(MENTEE, "found_job"), "BRE", "2027-04-02"),
    ev(erased(MENTEE), "BRE", "2027-05-01"),
]


def test_live_replay_and_time_travel_agree():
    replayed = fold(LONG_HISTORY)
    assert live(LONG_HISTORY).tables == replayed.tables
    # as of an instant: the events known then, folded the same way
    before_the_pair = [e for e in LONG_HISTORY if e["occurred_at"] < at("2027-03-01").isoformat()]
    view = fold(before_the_pair)
    assert funnel(view)[("BRE", "2026-12", "website")]["applications_mentees"] == 2
    assert funnel(view)[("BRE", "2026-12", "website")]["proposed"] == 1
    later = funnel(replayed)
    assert later[("BRE", "2026-12", "website")]["applications_mentees"] == 1
    assert later[("BRE", "2027-03", "website")] == {
        "applications_mentees": 1, "routed": 1, "admitted": 1,
"admitted_mentees": 1, "paired": 1, "active": 1}
    # the flows stay in the cohort waited for when the move happened
    assert later[("BRE", "2026-12", "website")]["rerouted_in"] == 2
    assert later[("COR", "2026-12", "website")] == {"rerouted_out": 1}


# --- early endings for a job or a training: positive outcomes -------------------------------------


def paired_then(*events: Any) -> View:
    return fold([ev(pair_formed(PAIR, MENTEE, MENTOR, cohort="IDF-2026-12"), day="2026-12-01"),
                 *(ev(e, day="2027-02-02") for e in events)])


def early(reason: str) -> Any:
    if reason in EarlyEndingReason.__members__:  # known to this branch's contract
        return PairEnded(pair_id=PAIR, cohort_id="IDF-2026-12", mentee_id=MENTEE,
                         mentor_id=MENTOR, ended_on=date(2027, 2, 1), early=True,
                         reason=reason, ended_by="mentee")
    return ended_v2(PAIR, reason)


OUTCOME_CASES = {
    "found a job: positive, in the ESS or not unknown": (
        [early("mentee_found_job")],
        {"outcomes_end": 1, "positive_end": 1, "positive_rate_end": 1.0, "in_ess_end": 0,
         "situations_end": {"job_ess_unknown": 1}}),
    "found a training (schema version 2)": (
        [early("mentee_found_training")],
        {"outcomes_end": 1, "positive_end": 1, "positive_rate_end": 1.0, "in_ess_end": 0,
         "situations_end": {"training_ess_unknown": 1}}),
    "then the situation recorded: it replaces the implied one": (
        [early("mentee_found_job"), outcome(MENTEE, PAIR, "job_or_training_in_ess")],
        {"outcomes_end": 1, "positive_end": 1, "positive_rate_end": 1.0, "in_ess_end": 1,
         "situations_end": {"job_or_training_in_ess": 1}}),
    "the situation recorded first: the ending adds nothing": (
        [outcome(MENTEE, PAIR, "job_seeking"), early("mentee_found_job")],
        {"outcomes_end": 1, "positive_end": 0, "positive_rate_end": 0.0, "in_ess_end": 0,
         "situations_end": {"job_seeking": 1}}),
    "another early reason is no outcome": (
        [early("mentee_withdrew")], None),
}


@pytest.mark.parametrize(("given", "expected"), OUTCOME_CASES.values(), ids=OUTCOME_CASES.keys())
def test_early_endings_for_a_job_or_training_are_positive_outcomes(given, expected):
    rows = queries.outcome_report(paired_then(*given)).rows
    if expected is None:
        assert rows == []
        return
    [row] = rows
    assert (row.region, row.cohort) == ("IDF", "2026-12")
    assert {k: getattr(row, k) for k in expected} == expected


def test_every_counter_has_a_field_in_the_report():
    assert set(FUNNEL_COUNTERS) <= set(queries.FunnelRow.model_fields)
