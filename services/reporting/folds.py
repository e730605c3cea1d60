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

- ``funnel`` — per region (of the application), cohort (next quarterly start after the day
  of the application) and recruitment channel. ``applications_mentees``/``_mentors`` count
  applications; ``rejected`` (with ``rejection_reasons``), ``routed``, ``interviewed``,
  ``admitted``, ``declined``, ``withdrawn`` count people of both roles, each at most once;
  the pair stages count mentees (a pair is one mentee): ``paired`` (ever), ``active`` (in a
  pair now), ``waiting`` (admitted, not in a pair now), ``completed``, ``ended_early`` (each
  early ending, with ``early_ending_reasons``).
- ``channels`` — per region, channel and role: applications, rejected, admitted, paired.
- ``journeys`` — per pair: reviews (planned / scheduled / due / overdue / done), sessions,
  toolkit use and themes, last activity, days from application to pair, how it ended.
- ``outcomes`` — per region and cohort: situations at the end and six months after,
  questionnaire ratings (sum and count per questionnaire kind and indicator).
- ``progress`` — per region and month: mentees paired for the first time (the 500 goal).
- ``networking`` — per networking event: registrations and attendance by role.

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

PUBLIC_TABLES = ("funnel", "channels", "journeys", "outcomes", "progress", "networking")
PRIVATE_TABLES = ("people",)
TABLES = PUBLIC_TABLES + PRIVATE_TABLES

FUNNEL_COUNTERS = (
    "applications_mentees", "applications_mentors", "rejected", "routed", "interviewed",
    "admitted", "declined", "withdrawn", "paired", "active", "waiting", "completed",
    "ended_early",
)
POSITIVE_SITUATIONS = ("job_or_training_in_ess", "job_or_training_outside_ess")
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
            "situations_six_months": {}, "ratings": {}}


def _days_between(earlier: str | None, later: str) -> int | None:
    if not earlier:
        return None
    return (date.fromisoformat(later[:10]) - date.fromisoformat(earlier[:10])).days


def _later(a: str | None, b: str) -> str:
    return b if a is None or b > a else a


# --- handlers: (view, event, data) -> None ------------------------------------------------------


def _application_received(v: View, e: Event, d: Row) -> None:
    region, channel, role = e["region"], d["channel"], d["role"]
    fkey = f"{region}|{cohort_of_day(e['occurred_at'])}|{channel}"
    ckey = f"{region}|{channel}|{role}"
    funnel = v.funnel.get(fkey)
    if funnel is None:
        funnel = v.funnel[fkey] = _funnel_row(*fkey.split("|"))
    funnel["applications_mentees" if role == "mentee" else "applications_mentors"] += 1
    channel_row = v.channels.get(ckey)
    if channel_row is None:
        channel_row = v.channels[ckey] = {"region": region, "channel": channel, "role": role,
                                          "applications": 0, "rejected": 0, "admitted": 0,
                                          "paired": 0}
    channel_row["applications"] += 1
    pid = d["person_id"]
    person = v.people.get(pid)
    if person is None:
        v.people[pid] = {"f": fkey, "c": ckey, "role": role, "st": "applied",
                         "applied_on": e["occurred_at"][:10], "done": []}
    else:  # applying again: counted where the latest application is
        person.update(f=fkey, c=ckey, role=role, applied_on=e["occurred_at"][:10])
    dirty = v.dirty
    dirty.add(("funnel", fkey))
    dirty.add(("channels", ckey))
    dirty.add(("people", pid))


def _milestone(v: View, pid: str, milestone: str) -> Row | None:
    """The person's funnel row if they reach ``milestone`` for the first time, else None."""
    person = v.people.get(pid)
    if person is None or "f" not in person or milestone in person["done"]:
        return None
    person["done"].append(milestone)
    v.dirty.add(("people", pid))
    v.dirty.add(("funnel", person["f"]))
    row = v.funnel[person["f"]]
    row[milestone] += 1
    return row


def _channel_count(v: View, pid: str, counter: str) -> None:
    person = v.people[pid]
    v.channels[person["c"]][counter] += 1
    v.dirty.add(("channels", person["c"]))


def _application_rejected(v: View, e: Event, d: Row) -> None:
    pid = d["person_id"]
    row = _milestone(v, pid, "rejected")
    if row is None:
        return
    reasons = row["rejection_reasons"]
    for reason in d["reasons"]:
        reasons[reason] = reasons.get(reason, 0) + 1
    v.people[pid]["st"] = "rejected"
    _channel_count(v, pid, "rejected")


def _application_routed(v: View, e: Event, d: Row) -> None:
    _milestone(v, d["person_id"], "routed")


def _interview_completed(v: View, e: Event, d: Row) -> None:
    _milestone(v, d["person_id"], "interviewed")


def _candidate_admitted(v: View, e: Event, d: Row) -> None:
    pid = d["person_id"]
    row = _milestone(v, pid, "admitted")
    if row is None:
        return
    _channel_count(v, pid, "admitted")
    person = v.people[pid]
    if person["role"] == "mentee" and person["st"] not in ("active", "waiting"):
        person["st"] = "waiting"
        row["waiting"] += 1


def _candidate_declined(v: View, e: Event, d: Row) -> None:
    pid = d["person_id"]
    if _milestone(v, pid, "declined") is not None:
        v.people[pid]["st"] = "declined"


def _application_withdrawn(v: View, e: Event, d: Row) -> None:
    pid = d["person_id"]
    row = _milestone(v, pid, "withdrawn")
    if row is None:
        return
    person = v.people[pid]
    if person["st"] == "waiting":
        row["waiting"] -= 1
    person["st"] = "withdrawn"


def _person(v: View, pid: str) -> Row:
    """The person's private entry, created bare for someone whose application we never saw."""
    person = v.people.get(pid)
    if person is None:
        person = v.people[pid] = {"done": []}
    v.dirty.add(("people", pid))
    return person


def _pair_formed(v: View, e: Event, d: Row) -> None:
    pair_id, mentee_id, mentor_id = d["pair_id"], d["mentee_id"], d["mentor_id"]
    journey = v.journeys.get(pair_id) or _journey(pair_id)
    cohort_id = d["cohort_id"]
    region = cohort_id[:3]
    formed_on = e["occurred_at"][:10]
    mentee = _person(v, mentee_id)
    journey.update(region=region, cohort_id=cohort_id, mentee_id=mentee_id, mentor_id=mentor_id,
                   origin=d["origin"], formed_on=formed_on,
                   days_to_pair=_days_between(mentee.get("applied_on"), formed_on))
    journey["last_activity"] = _later(journey["last_activity"], formed_on)
    v.journeys[pair_id] = journey
    v.dirty.add(("journeys", pair_id))
    mentee.setdefault("pairs", []).append(pair_id)
    if "f" in mentee:
        row = v.funnel[mentee["f"]]
        v.dirty.add(("funnel", mentee["f"]))
        if "paired" not in mentee["done"]:
            mentee["done"].append("paired")
            row["paired"] += 1
            _channel_count(v, mentee_id, "paired")
        if mentee["st"] == "waiting":
            row["waiting"] -= 1
        if mentee["st"] != "active":
            row["active"] += 1
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
    if "c" in mentor and "paired" not in mentor["done"]:
        mentor["done"].append("paired")
        _channel_count(v, mentor_id, "paired")


def _pair_ended(v: View, e: Event, d: Row) -> None:
    pair_id = d["pair_id"]
    journey = v.journeys.get(pair_id)
    if journey is not None:
        journey.update(status="ended_early" if d["early"] else "completed",
                       ended_on=d["ended_on"], early=d["early"], end_reason=d["reason"])
        journey["last_activity"] = _later(journey["last_activity"], d["ended_on"])
        v.dirty.add(("journeys", pair_id))
    mentee = v.people.get(d["mentee_id"])
    if mentee is None or "f" not in mentee:
        return
    row = v.funnel[mentee["f"]]
    v.dirty.add(("funnel", mentee["f"]))
    v.dirty.add(("people", d["mentee_id"]))
    if mentee["st"] == "active":
        row["active"] -= 1
    mentee["st"] = "ended"
    if d["early"]:
        row["ended_early"] += 1
        reasons = row["early_ending_reasons"]
        reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
    elif "completed" not in mentee["done"]:
        mentee["done"].append("completed")
        row["completed"] += 1


def _rematch_requested(v: View, e: Event, d: Row) -> None:
    person = v.people.get(d["person_id"])
    if person is None or "f" not in person or person.get("role") != "mentee":
        return
    if person["st"] == "ended":
        person["st"] = "waiting"
        v.funnel[person["f"]]["waiting"] += 1
        v.dirty.add(("funnel", person["f"]))
        v.dirty.add(("people", d["person_id"]))


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
    row = v.outcomes[_outcome_key(v, e, d["pair_id"])]
    _rate(row, f"{d['respondent']}:{d['kind']}", d["answers"])


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
    field = "situations_end" if d["moment"] == "end" else "situations_six_months"
    person = _person(v, d["person_id"])
    recorded = person.setdefault("outcomes", {})
    previous = recorded.get(d["moment"])
    if previous is not None:  # a correction replaces the earlier record
        old = v.outcomes[previous[0]][field]
        old[previous[1]] -= 1
        v.dirty.add(("outcomes", previous[0]))
    counts = v.outcomes[key][field]
    counts[d["situation"]] = counts.get(d["situation"], 0) + 1
    recorded[d["moment"]] = [key, d["situation"]]
    if previous is None and d.get("satisfaction") is not None:  # v2: asked with the situation
        _rate(v.outcomes[key], f"outcome:{_MOMENT_KIND[d['moment']]}",
              {"satisfaction": d["satisfaction"]})


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
    "PairFormed": _pair_formed,
    "PairEnded": _pair_ended,
    "RematchRequested": _rematch_requested,
    "FollowUpPlanned": _follow_up_planned,
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
