"""Read models as pure folds: ``apply(view, event) -> view``. No I/O here.

An event is anything with ``event["type"]``, ``event["region"]`` and ``event["occurred_at"]``
(an ISO string), plus its decoded payload: the live path passes the orjson-decoded envelope,
the replay the archive's row itself (an asyncpg record of those columns) and the decoded
``data`` — no pydantic model per event, so a replay folds over 100,000 events a second. The same
function serves the live path, the replay and time travel, so they cannot disagree.

A :class:`View` is a set of tables, each a dict ``key -> row`` (a JSON-able dict). Every table
is stored as rows per key (``reporting.view_rows``), never as one document. ``apply`` mutates
the view it is given and returns it (a fold owns its accumulator: copying a million-row view
per event would make the replay quadratic); it reads nothing but its arguments and writes
nothing else, and records the keys it touched in ``view.dirty`` so the live path writes back
only those rows.

Public tables (API, dashboard, exports):

- ``funnel`` — per region, cohort and recruitment channel, where each person is counted now:
  the region of their latest routing (a re-routed application moves there with everything
  counted for it) and the cohort they wait for — the next quarterly start after the day of
  their application — until paired, then the cohort (and region) of their latest pair.
  ``applications_mentees``/``_mentors`` count applications; ``rejected`` (with
  ``rejection_reasons``), ``routed`` (to a served region), ``interviewed``, ``admitted``,
  ``declined``, ``withdrawn`` count people of both roles, each at most once;
  ``waiting_list`` counts the people waiting now on the waiting list of a region not served
  yet; ``rerouted_out``/``rerouted_in`` count re-routings from / to the row's region (moves,
  not people: they stay in the cohort the person waited for when moved); ``left`` counts the
  departures from the pool (with ``left_reasons``). The pair stages count mentees (a pair is
  one mentee): ``proposed`` (a proposal pending now), ``paired`` (ever), ``active`` (in a pair
  now), ``waiting`` (admitted, not in a pair now), ``completed``, ``ended_early`` (each early
  ending, with ``early_ending_reasons``). ``admitted_mentees``/``admitted_mentors`` split
  ``admitted`` by role and ``paired_mentors`` counts mentors paired at least once (where each
  region stands against its objectives).
- ``channels`` — per region, channel and role: applications, rejected, admitted, paired.
- ``journeys`` — per pair: reviews (planned / scheduled / due / overdue / done), sessions,
  toolkit use and themes, last activity, days from application to pair, how it ended.
- ``outcomes`` — per region and cohort: situations at the end and six months after (an early
  ending because the mentee found a job or a training counts as the end situation
  ``job_ess_unknown`` / ``training_ess_unknown`` unless one is recorded), questionnaire ratings (sum and count per questionnaire kind and indicator), and
  ``start_and_end``: per progress indicator, the sums at the start and at the end and the
  count of mentees who answered both questionnaires in the same pair.
- ``progress`` — per region and month: mentees paired for the first time (the 500 goal).
- ``networking`` — per networking event: registrations and attendance by role.
- ``objectives`` — per region and cohort: the objectives of mentees and mentors staff set for
  that cohort (``RegionSettingsChanged``; a later cohort keeps them until set again).

Private table ``people`` (person id -> where their application is counted, their status and
the pairs, attendances and outcomes recorded for them) lets later events be attributed; it is
never exported nor served, and ``PersonErased`` removes the person's entry and their ids from
the journeys: afterwards no table holds anything about them (counts stay, anonymous).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

Row = dict[str, Any]
Event = dict[str, Any]

PUBLIC_TABLES = ("funnel", "channels", "journeys", "outcomes", "progress", "networking",
                 "objectives")
PRIVATE_TABLES = ("people",)
TABLES = PUBLIC_TABLES + PRIVATE_TABLES

FUNNEL_COUNTERS = (
    "applications_mentees", "applications_mentors", "rejected", "waiting_list", "routed",
    "rerouted_out", "rerouted_in", "interviewed", "admitted", "declined", "withdrawn",
    "proposed", "paired", "active", "waiting", "completed", "ended_early", "left",
    "admitted_mentees", "admitted_mentors", "paired_mentors",
)
CHANNEL_COUNTERS = ("applications", "rejected", "admitted", "paired")
# end situations counted as positive outcomes; the last two come from early endings for a job
# or a training, whether in the ESS is unknown
POSITIVE_SITUATIONS = ("job_or_training_in_ess", "job_or_training_outside_ess",
                       "job_ess_unknown", "training_ess_unknown")
REVIEW_KINDS = ("intermediate", "final")
UNKNOWN_COHORT = "inconnue"

# month of the application -> (year offset, cohort month): the next quarterly start after it
_NEXT_START = {m: (0, next(s for s in (3, 6, 9, 12) if m < s)) if m < 12 else (1, 3)
               for m in range(1, 13)}


def cohort_of_day(iso: str) -> str:
    """``2025-07-10...`` -> ``2025-09`` (same rule as ``events.vocabulary.cohort_for``)."""
    offset, month = _NEXT_START[int(iso[5:7])]
    return f"{int(iso[0:4]) + offset}-{month:02d}"


class _Untracked:
    """``dirty`` of a view nobody writes back row by row (a replay): forgets every key."""

    add = deque(maxlen=0).append  # a C no-op: cheaper than growing a set

    def clear(self) -> None:
        pass

    def __contains__(self, item: object) -> bool:
        return False

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(())


class View:
    """The tables of every read model, and the keys touched since ``dirty`` was last cleared
    (``track=False``: not recorded, for folds written back whole)."""

    __slots__ = ("tables", "dirty", *TABLES)

    def __init__(self, tables: dict[str, dict[str, Row]] | None = None, *,
                 track: bool = True) -> None:
        tables = tables or {}
        self.tables = {name: tables.get(name, {}) for name in TABLES}
        for name, table in self.tables.items():
            setattr(self, name, table)
        self.dirty: set[tuple[str, str]] = set() if track else _Untracked()  # type: ignore[assignment]

    def public(self) -> dict[str, dict[str, Row]]:
        return {name: self.tables[name] for name in PUBLIC_TABLES}


# --- rows -------------------------------------------------------------------------------------


def _funnel_row(region: str, cohort: str, channel: str) -> Row:
    row: Row = {"region": region, "cohort": cohort, "channel": channel}
    for counter in FUNNEL_COUNTERS:
        row[counter] = 0
    row["rejection_reasons"] = {}
    row["early_ending_reasons"] = {}
    row["left_reasons"] = {}
    return row


def _review() -> Row:
    return {"status": "planned", "due_on": None, "scheduled_at": None, "held_on": None,
            "assessment": None}


def _journey(pair_id: str) -> Row:
    return {"pair_id": pair_id, "region": None, "cohort_id": None, "mentee_id": None,
            "mentor_id": None, "origin": None, "formed_on": None, "days_to_pair": None,
            "status": "active", "starts_on": None, "ends_on": None, "ended_on": None,
            "early": None, "end_reason": None, "referent_id": None,
            "reviews": {"intermediate": _review(), "final": _review()},
            "sessions": 0, "session_minutes": 0, "toolkit_sessions": 0, "themes": {},
            "last_activity": None}


def _outcome_row(region: str, cohort: str) -> Row:
    return {"region": region, "cohort": cohort, "situations_end": {},
            "situations_six_months": {}, "ratings": {}, "start_and_end": {}}


def _days_between(earlier: str | None, later: str) -> int | None:
    if not earlier:
        return None
    return (date.fromisoformat(later[:10]) - date.fromisoformat(earlier[:10])).days


def _later(a: str | None, b: str) -> str:
    return b if a is None or b > a else a


# --- handlers: (view, event, data) -> None ------------------------------------------------------
# --- the funnel: where a person is counted ------------------------------------------------------
#
# A person's funnel counts live in exactly one row, the one of their current place (see
# _place_of); ``person["n"]`` / ``person["nc"]`` hold what they added to their funnel and
# channel rows, so that when their place changes (a re-routing, a pair in another cohort) the
# same amounts move from the old rows to the new ones: the fold stays exact whatever the order
# of moves, live, on replay and as of any instant. Re-routing flows are counts of moves, not of
# people: they stay in the rows where the moves happened.

_REASONS = ("rejection_reasons", "early_ending_reasons", "left_reasons")


def _place_of(person: Row) -> tuple[str, str]:
    """(funnel key, channel key): the region of the latest routing and the cohort the person
    waits for (of their application) until paired, then the cohort of their latest pair."""
    pair_cohort = person.get("pc")
    region, cohort = ((pair_cohort[:3], pair_cohort[4:]) if pair_cohort
                      else (person["r"], person["ac"]))
    return f"{region}|{cohort}|{person['ch']}", f"{region}|{person['ch']}|{person['role']}"


def _funnel_at(v: View, fkey: str) -> Row:
    row = v.funnel.get(fkey)
    if row is None:
        row = v.funnel[fkey] = _funnel_row(*fkey.split("|"))
    v.dirty.add(("funnel", fkey))
    return row


def _channel_at(v: View, ckey: str) -> Row:
    row = v.channels.get(ckey)
    if row is None:
        region, channel, role = ckey.split("|")
        row = v.channels[ckey] = {"region": region, "channel": channel, "role": role,
                                  "applications": 0, "rejected": 0, "admitted": 0, "paired": 0}
    v.dirty.add(("channels", ckey))
    return row


def _shift(row: Row, amounts: Row, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) a person's contribution to a row."""
    for name, amount in amounts.items():
        if isinstance(amount, dict):
            reasons = row[name]
            for reason, count in amount.items():
                left = reasons.get(reason, 0) + sign * count
                if left:
                    reasons[reason] = left
                else:
                    reasons.pop(reason, None)
        else:
            row[name] += sign * amount


def _is_empty(row: Row, counters: Iterable[str]) -> bool:
    return not any(row[c] for c in counters) and not any(row.get(r) for r in _REASONS)


def _settle(v: View, person: Row) -> None:
    """Move the person's counts to the rows of their current place, if it changed; a row left
    with nothing is dropped."""
    fkey, ckey = _place_of(person)
    if fkey != person["f"]:
        old = _funnel_at(v, person["f"])
        _shift(old, person["n"], -1)
        if _is_empty(old, FUNNEL_COUNTERS):
            del v.funnel[person["f"]]
        _shift(_funnel_at(v, fkey), person["n"], 1)
        person["f"] = fkey
    if ckey != person["c"]:
        old = _channel_at(v, person["c"])
        _shift(old, person["nc"], -1)
        if _is_empty(old, CHANNEL_COUNTERS):
            del v.channels[person["c"]]
        _shift(_channel_at(v, ckey), person["nc"], 1)
        person["c"] = ckey


def _count(v: View, person: Row, counter: str, delta: int = 1) -> Row:
    """Count ``delta`` for the person in their funnel row (and remember it as theirs)."""
    row = _funnel_at(v, person["f"])
    row[counter] += delta
    mine = person["n"]
    mine[counter] = mine.get(counter, 0) + delta
    return row


def _count_reason(v: View, person: Row, field: str, reason: str) -> None:
    reasons = _funnel_at(v, person["f"])[field]
    reasons[reason] = reasons.get(reason, 0) + 1
    mine = person["n"].setdefault(field, {})
    mine[reason] = mine.get(reason, 0) + 1


def _channel_count(v: View, person: Row, counter: str) -> None:
    _channel_at(v, person["c"])[counter] += 1
    mine = person["nc"]
    mine[counter] = mine.get(counter, 0) + 1


def _counted(v: View, pid: str) -> Row | None:
    """The person's entry if the funnel counts them (their application was seen), else None."""
    person = v.people.get(pid)
    if person is None or "f" not in person:
        return None
    v.dirty.add(("people", pid))
    return person


def _application_received(v: View, e: Event, d: Row) -> None:
    pid, role = d["person_id"], d["role"]
    person = v.people.get(pid)
    if person is None:
        person = v.people[pid] = {"st": "applied", "done": []}
    place = {"r": e["region"], "ac": cohort_of_day(e["occurred_at"]), "ch": d["channel"],
             "role": role, "applied_on": e["occurred_at"][:10]}
    if "f" not in person:  # first application seen: counted from here
        person.update(place, n={}, nc={})
        person["f"], person["c"] = _place_of(person)
    else:  # applying again: counted where the latest application is, waiting for its cohort
        person.update(place)
        person.pop("pc", None)
        _settle(v, person)
    v.dirty.add(("people", pid))
    _count(v, person, "applications_mentees" if role == "mentee" else "applications_mentors")
    _channel_count(v, person, "applications")


def _milestone(v: View, pid: str, milestone: str) -> Row | None:
    """The person's entry if they reach ``milestone`` for the first time (then counted), else
    None."""
    person = _counted(v, pid)
    if person is None or milestone in person["done"]:
        return None
    person["done"].append(milestone)
    _count(v, person, milestone)
    return person


def _leave_waiting(v: View, person: Row) -> None:
    """The person no longer waits (for a pair, or on a waiting list)."""
    if person["st"] == "waiting":
        _count(v, person, "waiting", -1)
    elif person["st"] == "waiting_list":
        _count(v, person, "waiting_list", -1)


def _application_rejected(v: View, e: Event, d: Row) -> None:
    person = _milestone(v, d["person_id"], "rejected")
    if person is None:
        return
    for reason in d["reasons"]:
        _count_reason(v, person, "rejection_reasons", reason)
    person["st"] = "rejected"
    _channel_count(v, person, "rejected")


def _application_routed(v: View, e: Event, d: Row) -> None:
    """Routed to a served region (counted ``routed`` once), or kept on the waiting list of a
    region not served yet (``waiting_list``, while they wait there). A routing to another
    region moves the person there, and counts the move as a flow in both regions."""
    pid = d["person_id"]
    person = _counted(v, pid)
    if person is None:
        return
    to_region = d["to_region"]
    if to_region != person["r"]:
        if "pc" not in person:  # once paired, the pair's region is where they are counted
            _funnel_at(v, person["f"])["rerouted_out"] += 1
        person["r"] = to_region
        _settle(v, person)
        if "pc" not in person:
            _funnel_at(v, person["f"])["rerouted_in"] += 1
    if d["basis"] == "waiting_list":
        if person["st"] in ("applied", "waiting_list"):
            if person["st"] != "waiting_list":
                _count(v, person, "waiting_list")
            person["st"] = "waiting_list"
        return
    if person["st"] == "waiting_list":
        _count(v, person, "waiting_list", -1)
        person["st"] = "applied"
    _milestone(v, pid, "routed")


def _interview_completed(v: View, e: Event, d: Row) -> None:
    _milestone(v, d["person_id"], "interviewed")


def _candidate_admitted(v: View, e: Event, d: Row) -> None:
    person = _milestone(v, d["person_id"], "admitted")
    if person is None:
        return
    _count(v, person, "admitted_mentees" if person["role"] == "mentee" else "admitted_mentors")
    _channel_count(v, person, "admitted")
    if person["role"] == "mentee" and person["st"] not in ("active", "waiting"):
        _leave_waiting(v, person)
        person["st"] = "waiting"
        _count(v, person, "waiting")


def _candidate_declined(v: View, e: Event, d: Row) -> None:
    person = _milestone(v, d["person_id"], "declined")
    if person is not None:
        _leave_waiting(v, person)
        person["st"] = "declined"


def _application_withdrawn(v: View, e: Event, d: Row) -> None:
    person = _milestone(v, d["person_id"], "withdrawn")
    if person is not None:
        _leave_waiting(v, person)
        person["st"] = "withdrawn"


def _person(v: View, pid: str) -> Row:
    """The person's private entry, created bare for someone whose application we never saw."""
    person = v.people.get(pid)
    if person is None:
        person = v.people[pid] = {"done": []}
    v.dirty.add(("people", pid))
    return person


# --- proposals: ``proposed`` counts the mentees with a proposal pending now ----------------------


def _proposal_made(v: View, e: Event, d: Row) -> None:
    person = _counted(v, d["mentee_id"])
    if person is None:
        return
    pending = person.setdefault("pp", [])
    if d["match_id"] not in pending:
        if not pending:
            _count(v, person, "proposed")
        pending.append(d["match_id"])


def _proposal_closed(v: View, mentee_id: str, match_id: str) -> None:
    """A proposal is no longer pending (declined, withdrawn or confirmed)."""
    person = _counted(v, mentee_id)
    if person is None or match_id not in person.get("pp", ()):
        return
    person["pp"].remove(match_id)
    if not person["pp"]:
        del person["pp"]
        _count(v, person, "proposed", -1)


def _proposal_ended(v: View, e: Event, d: Row) -> None:
    _proposal_closed(v, d["mentee_id"], d["match_id"])


# --- pairs ----------------------------------------------------------------------------------


def _pair_formed(v: View, e: Event, d: Row) -> None:
    pair_id, mentee_id, mentor_id = d["pair_id"], d["mentee_id"], d["mentor_id"]
    journey = v.journeys.get(pair_id) or _journey(pair_id)
    cohort_id = d["cohort_id"]
    region = cohort_id[:3]
    formed_on = e["occurred_at"][:10]
    _proposal_closed(v, mentee_id, d["match_id"])
    mentee = _person(v, mentee_id)
    journey.update(region=region, cohort_id=cohort_id, mentee_id=mentee_id, mentor_id=mentor_id,
                   origin=d["origin"], formed_on=formed_on,
                   days_to_pair=_days_between(mentee.get("applied_on"), formed_on))
    journey["last_activity"] = _later(journey["last_activity"], formed_on)
    v.journeys[pair_id] = journey
    v.dirty.add(("journeys", pair_id))
    mentee.setdefault("pairs", []).append(pair_id)
    mentee["pc"] = cohort_id
    if "f" in mentee:
        _settle(v, mentee)
        if "paired" not in mentee["done"]:
            mentee["done"].append("paired")
            _count(v, mentee, "paired")
            _channel_count(v, mentee, "paired")
        if mentee["st"] != "active":
            _leave_waiting(v, mentee)
            _count(v, mentee, "active")
        mentee["st"] = "active"
    if "first_pair" not in mentee["done"]:
        mentee["done"].append("first_pair")
        pkey = f"{region}|{formed_on[:7]}"
        progress = v.progress.get(pkey)
        if progress is None:
            progress = v.progress[pkey] = {"region": region, "month": formed_on[:7],
                                           "mentees_paired": 0}
        progress["mentees_paired"] += 1
        v.dirty.add(("progress", pkey))
    mentor = _person(v, mentor_id)
    mentor.setdefault("pairs", []).append(pair_id)
    mentor["pc"] = cohort_id
    if "f" in mentor:
        _settle(v, mentor)
        if "paired" not in mentor["done"]:
            mentor["done"].append("paired")
            _count(v, mentor, "paired_mentors")
            _channel_count(v, mentor, "paired")


# early endings that are a positive outcome (a job or a training, in the ESS or not: unknown)
EARLY_POSITIVE = {"mentee_found_job": "job_ess_unknown",
                  "mentee_found_training": "training_ess_unknown"}


def _pair_ended(v: View, e: Event, d: Row) -> None:
    pair_id = d["pair_id"]
    journey = v.journeys.get(pair_id)
    if journey is not None:
        journey.update(status="ended_early" if d["early"] else "completed",
                       ended_on=d["ended_on"], early=d["early"], end_reason=d["reason"])
        journey["last_activity"] = _later(journey["last_activity"], d["ended_on"])
        v.dirty.add(("journeys", pair_id))
    situation = EARLY_POSITIVE.get(d["reason"]) if d["early"] else None
    if situation is not None:
        _early_outcome(v, e, d["mentee_id"], pair_id, situation)
    mentee = _counted(v, d["mentee_id"])
    if mentee is None:
        return
    if mentee["st"] == "active":
        _count(v, mentee, "active", -1)
        mentee["st"] = "ended"
    if d["early"]:
        _count(v, mentee, "ended_early")
        _count_reason(v, mentee, "early_ending_reasons", d["reason"])
    elif "completed" not in mentee["done"]:
        mentee["done"].append("completed")
        _count(v, mentee, "completed")


def _rematch_requested(v: View, e: Event, d: Row) -> None:
    person = _counted(v, d["person_id"])
    if person is None or person.get("role") != "mentee":
        return
    if person["st"] == "ended":
        person["st"] = "waiting"
        _count(v, person, "waiting")


def _candidate_left_pool(v: View, e: Event, d: Row) -> None:
    """The person left the programme's pool (``left``, by reason): no longer waiting. In a
    pair, they stay ``active`` until the pair ends."""
    person = _counted(v, d["person_id"])
    if person is None:
        return
    _count(v, person, "left")
    _count_reason(v, person, "left_reasons", d["reason"])
    if person["st"] != "active":
        _leave_waiting(v, person)
        person["st"] = "left"

def _journey_of(v: View, pair_id: str) -> Row:
    journey = v.journeys.get(pair_id)
    if journey is None:  # followup heard of the pair before we did
        journey = v.journeys[pair_id] = _journey(pair_id)
    v.dirty.add(("journeys", pair_id))
    return journey


def _follow_up_planned(v: View, e: Event, d: Row) -> None:
    journey = _journey_of(v, d["pair_id"])
    journey.update(starts_on=d["starts_on"], ends_on=d["ends_on"],
                   referent_id=d["referent_id"], cohort_id=d["cohort_id"],
                   region=d["cohort_id"][:3])
    if journey["mentee_id"] is None:
        journey.update(mentee_id=d["mentee_id"], mentor_id=d["mentor_id"])
    reviews = journey["reviews"]
    reviews["intermediate"]["due_on"] = d["intermediate_review_due_on"]
    reviews["final"]["due_on"] = d["final_review_due_on"]


def _referent_assigned(v: View, e: Event, d: Row) -> None:
    _journey_of(v, d["pair_id"])["referent_id"] = d["referent_id"]


def _session_logged(v: View, e: Event, d: Row) -> None:  # the most frequent event: inlined
    pair_id = d["pair_id"]
    journey = v.journeys.get(pair_id)
    if journey is None:
        journey = v.journeys[pair_id] = _journey(pair_id)
    v.dirty.add(("journeys", pair_id))
    journey["sessions"] += 1
    journey["session_minutes"] += d["duration_minutes"]
    if d["used_toolkit"]:
        journey["toolkit_sessions"] += 1
    themes = journey["themes"]
    theme = d["theme"]
    themes[theme] = themes.get(theme, 0) + 1
    held_on, last = d["held_on"], journey["last_activity"]
    if last is None or held_on > last:
        journey["last_activity"] = held_on


def _review_step(status: str) -> Callable[[View, Event, Row], None]:
    def handle(v: View, e: Event, d: Row) -> None:
        review = _journey_of(v, d["pair_id"])["reviews"][d["kind"]]
        if review["status"] == "done":
            return
        review["status"] = status
        if "due_on" in d:
            review["due_on"] = d["due_on"]
        if "scheduled_at" in d:
            review["scheduled_at"] = d["scheduled_at"]
    return handle


def _review_completed(v: View, e: Event, d: Row) -> None:
    journey = _journey_of(v, d["pair_id"])
    review = journey["reviews"][d["kind"]]
    review.update(status="done", held_on=d["held_on"], assessment=d["assessment"],
                  held=d.get("held", True))
    journey["last_activity"] = _later(journey["last_activity"], d["held_on"])


def _outcome_key(v: View, e: Event, pair_id: str | None) -> str:
    journey = v.journeys.get(pair_id) if pair_id else None
    if journey is not None and journey["cohort_id"]:
        cohort_id = journey["cohort_id"]
        key = f"{cohort_id[:3]}|{cohort_id[4:]}"
    else:
        key = f"{e['region']}|{UNKNOWN_COHORT}"
    if key not in v.outcomes:
        v.outcomes[key] = _outcome_row(*key.split("|"))
    v.dirty.add(("outcomes", key))
    return key


def _questionnaire_answered(v: View, e: Event, d: Row) -> None:
    key = _outcome_key(v, e, d["pair_id"])
    _rate(v.outcomes[key], f"{d['respondent']}:{d['kind']}", d["answers"])
    moment = _START_AND_END.get(d["kind"])
    if moment and d["respondent"] == "mentee" and d["person_id"] and d["pair_id"]:
        _track_progress(v, key, d["person_id"], d["pair_id"], moment, d["answers"])


_START_AND_END = {"start_of_programme": "start", "end_of_programme": "end"}


def _track_progress(v: View, key: str, person_id: str, pair_id: str, moment: str,
                    answers: dict) -> None:
    """Count a mentee's start and end answers in the same pair once both are in, so that the
    change is measured on the same people, not on two different populations."""
    answered = _person(v, person_id).setdefault("start_and_end", {}).setdefault(pair_id, {})
    if moment in answered:
        return  # the first answer counts
    answered[moment] = answers
    if len(answered) < 2:
        return
    progress = v.outcomes[key].setdefault("start_and_end", {})
    for indicator, start in answered["start"].items():
        end = answered["end"].get(indicator)
        if end is not None:  # [sum at the start, sum at the end, mentees]
            cell = progress.setdefault(indicator, [0, 0, 0])
            cell[0], cell[1], cell[2] = cell[0] + start, cell[1] + end, cell[2] + 1


def _rate(row: Row, key: str, answers: dict) -> None:
    ratings = row["ratings"].setdefault(key, {})
    for indicator, rating in answers.items():
        cell = ratings.get(indicator)
        if cell is None:
            ratings[indicator] = [rating, 1]
        else:
            cell[0] += rating
            cell[1] += 1


_MOMENT_KIND = {"end": "end_of_programme", "six_months_after": "post_programme"}


def _outcome_recorded(v: View, e: Event, d: Row) -> None:
    key = _outcome_key(v, e, d["pair_id"])
    person = _person(v, d["person_id"])
    previous = person.setdefault("outcomes", {}).get(d["moment"])
    _record_situation(v, person, key, d["moment"], d["situation"])
    first = previous is None or len(previous) > 2  # none yet, or only the early ending's
    if first and d.get("satisfaction") is not None:  # v2: asked with the situation
        _rate(v.outcomes[key], f"outcome:{_MOMENT_KIND[d['moment']]}",
              {"satisfaction": d["satisfaction"]})


def _record_situation(v: View, person: Row, key: str, moment: str, situation: str,
                      *, implied: bool = False) -> None:
    """Count the person's situation at ``moment``, replacing what was recorded before (a
    correction, or the situation an early ending implied)."""
    field = "situations_end" if moment == "end" else "situations_six_months"
    recorded = person.setdefault("outcomes", {})
    previous = recorded.get(moment)
    if previous is not None:
        old = v.outcomes[previous[0]][field]
        old[previous[1]] -= 1
        v.dirty.add(("outcomes", previous[0]))
    counts = v.outcomes[key][field]
    counts[situation] = counts.get(situation, 0) + 1
    recorded[moment] = [key, situation, "implied"] if implied else [key, situation]


def _early_outcome(v: View, e: Event, mentee_id: str, pair_id: str, situation: str) -> None:
    """An early ending for a job or a training is the mentee's end situation, unless one was
    recorded (a recorded one later replaces it)."""
    person = _person(v, mentee_id)
    if "end" not in person.get("outcomes", {}):
        _record_situation(v, person, _outcome_key(v, e, pair_id), "end", situation,
                          implied=True)


def _networking_event_scheduled(v: View, e: Event, d: Row) -> None:
    nid = d["networking_event_id"]
    row = v.networking.get(nid)
    if row is None:
        row = v.networking[nid] = {"networking_event_id": nid, "registered": 0, "attended": 0,
                                   "attended_mentees": 0, "attended_mentors": 0}
    row.update(region=e["region"], kind=d["kind"], audience=d["audience"],
               starts_at=d["starts_at"], format=d["format"], departement=d["departement"])
    v.dirty.add(("networking", nid))


def _networking_row(v: View, e: Event, nid: str) -> Row:
    row = v.networking.get(nid)
    if row is None:
        row = v.networking[nid] = {"networking_event_id": nid, "region": e["region"],
                                   "kind": None, "audience": None, "starts_at": None,
                                   "format": None, "departement": None, "registered": 0,
                                   "attended": 0, "attended_mentees": 0, "attended_mentors": 0}
    v.dirty.add(("networking", nid))
    return row


_REGISTERED = "registered"  # in a person's attendances: registered, attendance not yet known


def _networking_registration_recorded(v: View, e: Event, d: Row) -> None:
    nid = d["networking_event_id"]
    row = _networking_row(v, e, nid)
    attendances = _person(v, d["person_id"]).setdefault("attendances", {})
    if nid not in attendances:
        row["registered"] += 1
        attendances[nid] = _REGISTERED


def _attendance_recorded(v: View, e: Event, d: Row) -> None:
    nid = d["networking_event_id"]
    row = _networking_row(v, e, nid)
    person = _person(v, d["person_id"])
    attendances = person.setdefault("attendances", {})
    by_role = "attended_mentees" if d["role"] == "mentee" else "attended_mentors"
    previous = attendances.get(nid)
    if previous is None:  # no registration seen: attending implies it
        row["registered"] += 1
    elif previous is True:
        row["attended"] -= 1
        row[by_role] -= 1
    if d["attended"]:
        row["attended"] += 1
        row[by_role] += 1
    attendances[nid] = d["attended"]


def _region_settings_changed(v: View, e: Event, d: Row) -> None:
    key = f"{d['region']}|{d['cohort']}"
    v.objectives[key] = {"region": d["region"], "cohort": d["cohort"], "served": d["served"],
                         "objective_mentees": d["objective_mentees"],
                         "objective_mentors": d["objective_mentors"]}
    v.dirty.add(("objectives", key))


def _person_erased(v: View, e: Event, d: Row) -> None:
    pid = d["person_id"]
    person = v.people.pop(pid, None)
    v.dirty.add(("people", pid))
    if person is None:
        return
    for pair_id in person.get("pairs", ()):
        journey = v.journeys.get(pair_id)
        if journey is None:
            continue
        for field in ("mentee_id", "mentor_id"):
            if journey[field] == pid:
                journey[field] = None
        v.dirty.add(("journeys", pair_id))


HANDLERS: dict[str, Callable[[View, Event, Row], None]] = {
    "ApplicationReceived": _application_received,
    "ApplicationRejected": _application_rejected,
    "ApplicationRouted": _application_routed,
    "InterviewCompleted": _interview_completed,
    "CandidateAdmitted": _candidate_admitted,
    "CandidateDeclined": _candidate_declined,
    "ApplicationWithdrawn": _application_withdrawn,
    "MatchProposed": _proposal_made,
    "MatchDeclined": _proposal_ended,
    "ProposalWithdrawn": _proposal_ended,
    "PairFormed": _pair_formed,
    "PairEnded": _pair_ended,
    "RematchRequested": _rematch_requested,
    "CandidateLeftPool": _candidate_left_pool,
    "FollowUpPlanned": _follow_up_planned,
    "ReferentAssigned": _referent_assigned,
    "SessionLogged": _session_logged,
    "ReviewScheduled": _review_step("scheduled"),
    "ReviewDue": _review_step("due"),
    "ReviewOverdue": _review_step("overdue"),
    "ReviewCompleted": _review_completed,
    "QuestionnaireAnswered": _questionnaire_answered,
    "OutcomeRecorded": _outcome_recorded,
    "NetworkingEventScheduled": _networking_event_scheduled,
    "NetworkingRegistrationRecorded": _networking_registration_recorded,
    "AttendanceRecorded": _attendance_recorded,
    "RegionSettingsChanged": _region_settings_changed,
    "PersonErased": _person_erased,
}


def apply(view: View, event: Event) -> View:
    handler = HANDLERS.get(event["type"])
    if handler is not None:
        handler(view, event, event["data"])
    return view


def fold(events: Iterable[Event], view: View | None = None) -> View:
    view = view if view is not None else View()
    handlers = HANDLERS
    for event in events:
        handler = handlers.get(event["type"])
        if handler is not None:
            handler(view, event, event["data"])
    return view
