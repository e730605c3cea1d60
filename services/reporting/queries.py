"""What the API, the CLI and the dashboard show: pure functions from the folded tables to
pydantic answers (filters by region and cohort, totals, rates, the projection to the goal)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.vocabulary import ImpactIndicator
from services.reporting.folds import (
    FUNNEL_COUNTERS,
    POSITIVE_SITUATIONS,
    REVIEW_KINDS,
    UNKNOWN_COHORT,
    Row,
    View,
)

GOAL_MENTEES = 500
GOAL_DEADLINE = date(2028, 12, 31)


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


def _visible(row: dict[str, Any], regions: set[str] | None, region: str | None) -> bool:
    value = row.get("region")
    return (regions is None or value in regions) and (region is None or value == region)


# --- funnel -------------------------------------------------------------------------------------


class FunnelRow(_Answer):
    region: str
    cohort: str = Field(description="cohorte visée (mois de démarrage, ex. 2026-03)")
    channel: str
    applications_mentees: int = 0
    applications_mentors: int = 0
    rejected: int = 0
    rejection_reasons: dict[str, int] = Field(default_factory=dict)
    waiting_list: int = Field(0, description="en liste d'attente maintenant : région pas encore "
                              "desservie")
    routed: int = 0
    rerouted_out: int = Field(0, description="réorientations vers une autre région (départs)")
    rerouted_in: int = Field(0, description="réorientations depuis une autre région (arrivées)")
    interviewed: int = 0
    admitted: int = 0
    declined: int = 0
    withdrawn: int = 0
    proposed: int = Field(0, description="jeunes avec une proposition de binôme en attente")
    paired: int = 0
    active: int = 0
    waiting: int = 0
    completed: int = 0
    ended_early: int = 0
    early_ending_reasons: dict[str, int] = Field(default_factory=dict)
    left: int = Field(0, description="sorties du vivier")
    left_reasons: dict[str, int] = Field(default_factory=dict)
    admitted_mentees: int = Field(0, description="jeunes admis·es (part de ``admitted``)")
    admitted_mentors: int = Field(0, description="mentors admis·es (part de ``admitted``)")
    paired_mentors: int = Field(0, description="mentors mis·es en binôme au moins une fois")


class CohortTotals(_Answer):
    """One region's cohort, every recruitment channel together."""

    region: str
    cohort: str
    counts: dict[str, int] = Field(description="chaque étape de l'entonnoir, tous canaux "
                                   "confondus")
    rejection_reasons: dict[str, int]
    early_ending_reasons: dict[str, int]
    left_reasons: dict[str, int]


class CohortReport(_Answer):
    as_of: datetime | None = Field(None, description="instant du calcul (absent : maintenant)")
    rows: list[FunnelRow]
    totals: dict[str, int]
    rejection_reasons: dict[str, int]
    early_ending_reasons: dict[str, int]
    left_reasons: dict[str, int] = Field(default_factory=dict)
    waiting_list_by_region: dict[str, int] = Field(
        default_factory=dict, description="personnes en liste d'attente par région non desservie")
    by_cohort: list[CohortTotals] = Field(
        default_factory=list, description="totaux par région et cohorte, tous canaux confondus")


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value


def cohort_report(view: View, *, regions: set[str] | None = None, region: str | None = None,
                  cohort: str | None = None, channel: str | None = None,
                  as_of: datetime | None = None) -> CohortReport:
    rows = sorted(
        (FunnelRow.model_validate(r) for r in view.funnel.values()
         if _visible(r, regions, region) and (cohort is None or r["cohort"] == cohort)
         and (channel is None or r["channel"] == channel)),
        key=lambda r: (r.region, r.cohort, r.channel))
    totals = {c: sum(getattr(r, c) for r in rows) for c in FUNNEL_COUNTERS}
    rejections: dict[str, int] = {}
    endings: dict[str, int] = {}
    leaving: dict[str, int] = {}
    waiting_list: dict[str, int] = {}
    for r in rows:
        _add(rejections, r.rejection_reasons)
        _add(endings, r.early_ending_reasons)
        _add(leaving, r.left_reasons)
        if r.waiting_list:
            _add(waiting_list, {r.region: r.waiting_list})
    return CohortReport(as_of=as_of, rows=rows, totals=totals, rejection_reasons=rejections,
                        early_ending_reasons=endings, left_reasons=leaving,
                        waiting_list_by_region=waiting_list, by_cohort=_by_cohort(rows))


def _by_cohort(rows: list[FunnelRow]) -> list[CohortTotals]:
    """The channels' rows of each region and cohort added up (rows come sorted)."""
    grouped: dict[tuple[str, str], list[FunnelRow]] = {}
    for r in rows:
        grouped.setdefault((r.region, r.cohort), []).append(r)
    out = []
    for (region, cohort), group in grouped.items():
        reasons: dict[str, dict[str, int]] = {
            "rejection_reasons": {}, "early_ending_reasons": {}, "left_reasons": {}}
        for r in group:
            for name, counts in reasons.items():
                _add(counts, getattr(r, name))
        out.append(CohortTotals(
            region=region, cohort=cohort,
            counts={c: sum(getattr(r, c) for r in group) for c in FUNNEL_COUNTERS}, **reasons))
    return out


# --- recruitment channels ---------------------------------------------------------------------


class ChannelRow(_Answer):
    region: str
    channel: str
    role: str
    applications: int
    rejected: int
    admitted: int
    paired: int
    admission_rate: float | None = Field(description="admis / candidatures")
    pairing_rate: float | None = Field(description="en binôme / candidatures")


class ChannelReport(_Answer):
    as_of: datetime | None = None
    rows: list[ChannelRow]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def channel_report(view: View, *, regions: set[str] | None = None, region: str | None = None,
                   as_of: datetime | None = None) -> ChannelReport:
    rows = [ChannelRow(**r, admission_rate=_rate(r["admitted"], r["applications"]),
                       pairing_rate=_rate(r["paired"], r["applications"]))
            for r in view.channels.values() if _visible(r, regions, region)]
    return ChannelReport(as_of=as_of, rows=sorted(rows, key=lambda r: (r.region, r.channel, r.role)))


# --- pair journeys ------------------------------------------------------------------------------


class Review(_Answer):
    status: str = Field(description="planned, scheduled, due, overdue ou done")
    due_on: date | None
    scheduled_at: datetime | None
    held_on: date | None
    assessment: str | None


class Journey(_Answer):
    pair_id: str
    region: str | None
    cohort_id: str | None
    mentee_id: str | None
    mentor_id: str | None
    origin: str | None
    formed_on: date | None
    days_to_pair: int | None = Field(description="jours entre la candidature et le binôme")
    status: str
    starts_on: date | None
    ends_on: date | None
    ended_on: date | None
    early: bool | None
    end_reason: str | None
    referent_id: str | None
    reviews: dict[str, Review]
    sessions: int
    session_minutes: int
    toolkit_sessions: int
    themes: dict[str, int]
    last_activity: date | None


class JourneyReport(_Answer):
    as_of: datetime | None = None
    journeys: list[Journey]
    reviews: dict[str, dict[str, int]] = Field(
        description="par bilan (intermediate, final) : nombre par statut")
    average_days_to_pair: float | None


def journey_report(view: View, *, regions: set[str] | None = None, region: str | None = None,
                   cohort_id: str | None = None, status: str | None = None,
                   as_of: datetime | None = None) -> JourneyReport:
    rows = [j for j in view.journeys.values() if _visible(j, regions, region)
            and (cohort_id is None or j["cohort_id"] == cohort_id)
            and (status is None or j["status"] == status)]
    rows.sort(key=lambda j: (j["region"] or "", j["cohort_id"] or "", j["pair_id"]))
    reviews: dict[str, dict[str, int]] = {"intermediate": {}, "final": {}}
    days = [j["days_to_pair"] for j in rows if j["days_to_pair"] is not None]
    for j in rows:
        for kind, review in j["reviews"].items():
            reviews[kind][review["status"]] = reviews[kind].get(review["status"], 0) + 1
    return JourneyReport(as_of=as_of, journeys=[Journey.model_validate(j) for j in rows],
                         reviews=reviews,
                         average_days_to_pair=round(sum(days) / len(days), 1) if days else None)


# --- outcomes and impact ------------------------------------------------------------------------


class IndicatorProgress(_Answer):
    indicator: str
    mentees: int = Field(description="mentoré·es ayant répondu au questionnaire de début et à "
                         "celui de fin de programme (dans le même binôme)")
    start: float = Field(description="moyenne au début du programme (1 à 5), sur ces mentoré·es")
    end: float = Field(description="moyenne à la fin du programme (1 à 5), sur ces mêmes "
                       "mentoré·es")
    change: float = Field(description="évolution : fin moins début")


def _progress(cells: list[dict[str, list[int]]]) -> list[IndicatorProgress]:
    """Start and end means per indicator over the same mentees, from the folds' sums."""
    totals: dict[str, list[int]] = {}
    for by_indicator in cells:
        for indicator, (start, end, mentees) in by_indicator.items():
            total = totals.setdefault(indicator, [0, 0, 0])
            total[0], total[1], total[2] = total[0] + start, total[1] + end, total[2] + mentees
    out = []
    order = {indicator.value: rank for rank, indicator in enumerate(ImpactIndicator)}
    for indicator, (start, end, mentees) in sorted(
            totals.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        if mentees:
            out.append(IndicatorProgress(
                indicator=indicator, mentees=mentees, start=round(start / mentees, 2),
                end=round(end / mentees, 2), change=round((end - start) / mentees, 2)))
    return out


class OutcomeRow(_Answer):
    region: str
    cohort: str
    outcomes_end: int
    positive_end: int
    positive_rate_end: float | None = Field(
        description="sorties positives (emploi ou formation, y compris les fins anticipées "
        "pour un emploi ou une formation)")
    in_ess_end: int
    in_ess_rate_end: float | None = Field(description="dont dans l'ESS")
    outcomes_six_months: int
    positive_rate_six_months: float | None
    in_ess_rate_six_months: float | None
    situations_end: dict[str, int]
    situations_six_months: dict[str, int]
    satisfaction_end: float | None = Field(description="satisfaction moyenne (1 à 5) en fin de programme")
    satisfaction_six_months: float | None = Field(description="satisfaction moyenne à +6 mois")
    indicators: dict[str, dict[str, float]] = Field(
        description="moyenne par questionnaire (rôle:type) et par indicateur")
    start_and_end: list[IndicatorProgress] = Field(
        [], description="indicateurs de progression au début et à la fin du programme, sur "
        "les mentoré·es ayant répondu aux deux questionnaires")


class OutcomeReport(_Answer):
    as_of: datetime | None = None
    rows: list[OutcomeRow]
    start_and_end: list[IndicatorProgress] = Field(
        [], description="les mêmes indicateurs sur toutes les lignes du rapport réunies")


def _mean(cells: list[list[int]]) -> float | None:
    count = sum(c[1] for c in cells)
    return round(sum(c[0] for c in cells) / count, 2) if count else None


def outcome_report(view: View, *, regions: set[str] | None = None, region: str | None = None,
                   cohort: str | None = None, as_of: datetime | None = None) -> OutcomeReport:
    out, start_and_end = [], []
    for r in sorted(view.outcomes.values(), key=lambda r: (r["region"], r["cohort"])):
        if not _visible(r, regions, region) or (cohort is not None and r["cohort"] != cohort):
            continue
        start_and_end.append(r.get("start_and_end", {}))
        end, later = r["situations_end"], r["situations_six_months"]
        n_end, n_later = sum(end.values()), sum(later.values())
        positive_end = sum(end.get(s, 0) for s in POSITIVE_SITUATIONS)
        ratings = r["ratings"]

        def satisfaction(kind: str) -> float | None:
            return _mean([cells["satisfaction"] for key, cells in ratings.items()
                          if key.endswith(f":{kind}") and "satisfaction" in cells])

        out.append(OutcomeRow(
            region=r["region"], cohort=r["cohort"], outcomes_end=n_end, positive_end=positive_end,
            positive_rate_end=_rate(positive_end, n_end),
            in_ess_end=end.get("job_or_training_in_ess", 0),
            in_ess_rate_end=_rate(end.get("job_or_training_in_ess", 0), n_end),
            outcomes_six_months=n_later,
            positive_rate_six_months=_rate(sum(later.get(s, 0) for s in POSITIVE_SITUATIONS),
                                           n_later),
            in_ess_rate_six_months=_rate(later.get("job_or_training_in_ess", 0), n_later),
            situations_end={k: v for k, v in end.items() if v},
            situations_six_months={k: v for k, v in later.items() if v},
            satisfaction_end=satisfaction("end_of_programme"),
            satisfaction_six_months=satisfaction("post_programme"),
            indicators={kind: {ind: round(c[0] / c[1], 2) for ind, c in cells.items() if c[1]}
                        for kind, cells in sorted(ratings.items())},
            start_and_end=_progress([r.get("start_and_end", {})]),
        ))
    return OutcomeReport(as_of=as_of, rows=out, start_and_end=_progress(start_and_end))


# --- progress toward the goal -------------------------------------------------------------------


class RegionProgress(_Answer):
    region: str
    mentees_paired: int
    last_12_months: int
    projected_by_deadline: float


class MonthProgress(_Answer):
    month: str = Field(description="mois, ex. 2026-11")
    paired: int | None = Field(description="jeunes mis·es en binôme pour la première fois ce "
                               "mois-là (null : mois à venir)")
    cumulative: int | None = Field(description="total à la fin du mois (null : mois à venir)")


class ProgressReport(_Answer):
    as_of: datetime | None = None
    goal: int = GOAL_MENTEES
    deadline: date = GOAL_DEADLINE
    goal_date: date = Field(GOAL_DEADLINE, description="échéance de l'objectif")
    mentees_paired: int = Field(description="jeunes mis en binôme au moins une fois")
    monthly_pace: float = Field(description="rythme actuel : moyenne mensuelle des 12 derniers mois")
    months_left: int
    projected_by_deadline: float = Field(description="projection à l'échéance au rythme actuel")
    on_track: bool
    by_region: list[RegionProgress]
    by_month: dict[str, int] = Field(description="nouveaux jeunes en binôme par mois")
    months: list[MonthProgress] = Field(
        description="chaque mois du premier binôme jusqu'à décembre 2028 : les mois passés "
        "avec leurs chiffres, les mois à venir à null (les deux axes d'un graphique)")
    pace_so_far_per_month: float = Field(
        description="rythme depuis le début : jeunes en binôme par mois, en moyenne, du mois "
        "du premier binôme au mois en cours inclus")
    pace_needed_per_month: float | None = Field(
        description="rythme nécessaire : ce qui reste à atteindre divisé par les mois restants "
        "jusqu'à fin 2028 (null une fois l'échéance passée)")


def _months(a: str, b: str) -> int:
    """Months from month ``a`` to month ``b`` (``YYYY-MM``)."""
    return (int(b[:4]) - int(a[:4])) * 12 + int(b[5:7]) - int(a[5:7])


def progress_report(view: View, *, today: date, regions: set[str] | None = None,
                    region: str | None = None, as_of: datetime | None = None) -> ProgressReport:
    """The current pace is the mean over the 12 months up to ``today``'s month (or since the
    first pair, when the programme is younger); the projection extends it to the deadline."""
    this_month = today.isoformat()[:7]
    months_left = max(0, _months(this_month, GOAL_DEADLINE.isoformat()[:7]))
    rows = [r for r in view.progress.values() if _visible(r, regions, region)
            and r["month"] <= this_month]
    by_month: dict[str, int] = {}
    by_region: dict[str, list[int]] = {}
    first = min((r["month"] for r in rows), default=this_month)
    span = min(12, _months(first, this_month) + 1)
    for r in rows:
        by_month[r["month"]] = by_month.get(r["month"], 0) + r["mentees_paired"]
        recent = r["mentees_paired"] if _months(r["month"], this_month) < 12 else 0
        totals = by_region.setdefault(r["region"], [0, 0])
        totals[0] += r["mentees_paired"]
        totals[1] += recent

    def project(total: int, recent: int) -> float:
        return round(total + recent / span * months_left, 1)

    total = sum(v[0] for v in by_region.values())
    recent = sum(v[1] for v in by_region.values())
    projected = project(total, recent)
    remaining = max(0, GOAL_MENTEES - total)
    return ProgressReport(
        as_of=as_of, mentees_paired=total, monthly_pace=round(recent / span, 2),
        months_left=months_left, projected_by_deadline=projected,
        on_track=projected >= GOAL_MENTEES,
        by_region=[RegionProgress(region=k, mentees_paired=v[0], last_12_months=v[1],
                                  projected_by_deadline=project(*v))
                   for k, v in sorted(by_region.items())],
        by_month=dict(sorted(by_month.items())),
        months=_month_axis(by_month, first, this_month),
        pace_so_far_per_month=round(total / (_months(first, this_month) + 1), 2),
        pace_needed_per_month=round(remaining / months_left, 2) if months_left else None)


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def _month_axis(by_month: dict[str, int], first: str, this_month: str) -> list[MonthProgress]:
    """Every month from ``first`` to the deadline's (or to this one, once it is passed)."""
    last = max(GOAL_DEADLINE.isoformat()[:7], this_month)
    out, month, cumulative = [], first, 0
    while month <= last:
        if month <= this_month:
            cumulative += by_month.get(month, 0)
            out.append(MonthProgress(month=month, paired=by_month.get(month, 0),
                                     cumulative=cumulative))
        else:
            out.append(MonthProgress(month=month, paired=None, cumulative=None))
        month = _next_month(month)
    return out


# --- networking events --------------------------------------------------------------------------


class NetworkingRow(_Answer):
    networking_event_id: str
    region: str | None
    kind: str | None
    audience: str | None
    starts_at: datetime | None
    format: str | None
    departement: str | None
    registered: int
    attended: int
    attended_mentees: int
    attended_mentors: int
    attendance_rate: float | None


class NetworkingReport(_Answer):
    as_of: datetime | None = None
    events: list[NetworkingRow]
    registered: int
    attended: int


def networking_report(view: View, *, regions: set[str] | None = None,
                      region: str | None = None, as_of: datetime | None = None
                      ) -> NetworkingReport:
    rows = [NetworkingRow(**r, attendance_rate=_rate(r["attended"], r["registered"]))
            for r in view.networking.values() if _visible(r, regions, region)]
    rows.sort(key=lambda r: (r.starts_at is None, r.starts_at, r.networking_event_id))
    return NetworkingReport(as_of=as_of, events=rows, registered=sum(r.registered for r in rows),
                            attended=sum(r.attended for r in rows))


# --- regions against their objectives -----------------------------------------------------------


class Objective(_Answer):
    objective: int = Field(description="objectif de la région pour la cohorte")
    admitted: int = Field(description="admis·es, comptés dans cette région et cette cohorte")
    paired: int = Field(description="mis·es en binôme au moins une fois")
    admitted_share: float | None = Field(description="admis·es / objectif (null : objectif 0)")
    paired_share: float | None = Field(description="en binôme / objectif (null : objectif 0)")


class RegionObjectives(_Answer):
    region: str
    cohort: str = Field(description="cohorte (mois de démarrage), ex. 2027-03")
    objectives_set: bool = Field(description="false : objectifs par défaut (configuration), "
                                 "la région n'en a pas fixé")
    mentees: Objective
    mentors: Objective


class ObjectivesReport(_Answer):
    as_of: datetime | None = None
    rows: list[RegionObjectives] = Field(description="par cohorte puis par région : les "
                                         "régions côte à côte")


def _reached(objective: int, admitted: int, paired: int) -> Objective:
    return Objective(objective=objective, admitted=admitted, paired=paired,
                     admitted_share=_rate(admitted, objective),
                     paired_share=_rate(paired, objective))


def objectives_report(view: View, *, default_mentees: int, default_mentors: int,
                      served: Iterable[str] = (), current: str | None = None,
                      regions: set[str] | None = None, region: str | None = None,
                      cohort: str | None = None, as_of: datetime | None = None
                      ) -> ObjectivesReport:
    """Each visible region (served, or with objectives set or people admitted) for each cohort
    seen in the scope and the ``current`` one (recruiting now). A region's objectives for a cohort are the last ones set for that cohort or, failing
    that, for the latest earlier one (they stay until changed, as in intake's routing); none:
    the configured defaults. Reached: the funnel's admitted and paired, all channels."""
    reached: dict[tuple[str, str], dict[str, int]] = {}
    for r in view.funnel.values():
        counts = {c: r.get(c, 0) for c in ("admitted_mentees", "admitted_mentors", "paired",
                                           "paired_mentors")}
        # a row of applications only (e.g. a waiting list) reaches nothing: not a participant
        if _visible(r, regions, region) and r["cohort"] != UNKNOWN_COHORT and any(
                counts.values()):
            _add(reached.setdefault((r["region"], r["cohort"]), {}), counts)
    set_for: dict[str, list[Row]] = {}
    for o in view.objectives.values():
        if _visible(o, regions, region):
            set_for.setdefault(o["region"], []).append(o)
    shown_regions = ({r for r in served if (regions is None or r in regions)
                      and (region is None or r == region)}
                     | {k[0] for k in reached} | set(set_for))
    cohorts = ({cohort} if cohort is not None else
               {k[1] for k in reached} | {o["cohort"] for os in set_for.values() for o in os}
               | ({current} if current else set()))
    rows = []
    for month in sorted(cohorts):
        for code in sorted(shown_regions):
            earlier = [o for o in set_for.get(code, ()) if o["cohort"] <= month]
            latest = max(earlier, key=lambda o: o["cohort"], default=None)
            counts = reached.get((code, month), {})
            rows.append(RegionObjectives(
                region=code, cohort=month, objectives_set=latest is not None,
                mentees=_reached(latest["objective_mentees"] if latest else default_mentees,
                                 counts.get("admitted_mentees", 0), counts.get("paired", 0)),
                mentors=_reached(latest["objective_mentors"] if latest else default_mentors,
                                 counts.get("admitted_mentors", 0),
                                 counts.get("paired_mentors", 0))))
    return ObjectivesReport(as_of=as_of, rows=rows)


# --- overdue reviews ------------------------------------------------------------------------------


class OverdueReview(_Answer):
    pair_id: str
    region: str | None
    cohort: str | None = Field(description="cohorte du binôme (mois de démarrage), ex. 2026-03")
    cohort_id: str | None = Field(description="identifiant de la cohorte, ex. IDF-2026-03")
    review: str = Field(description="intermediate (bilan intermédiaire) ou final")
    due_on: date
    days_late: int = Field(description="jours écoulés depuis l'échéance du bilan")
    referent: str | None = Field(description="identifiant (sujet du jeton) du ou de la "
                                 "référent·e qui suit le binôme maintenant (null : aucun·e)")


class OverdueReport(_Answer):
    as_of: datetime | None = None
    reviews: list[OverdueReview] = Field(description="les plus en retard d'abord")


def overdue_report(view: View, *, today: date, regions: set[str] | None = None,
                   region: str | None = None, as_of: datetime | None = None) -> OverdueReport:
    """The reviews of active pairs still not held after their grace period (followup's
    ``ReviewOverdue``), most late first. A review booked since is no longer listed."""
    out = []
    for j in view.journeys.values():
        if j["status"] != "active" or not _visible(j, regions, region):
            continue
        for kind in REVIEW_KINDS:
            review = j["reviews"][kind]
            if review["status"] == "overdue" and review["due_on"]:
                due_on = date.fromisoformat(review["due_on"])
                out.append(OverdueReview(
                    pair_id=j["pair_id"], region=j["region"],
                    cohort=j["cohort_id"][4:] if j["cohort_id"] else None,
                    cohort_id=j["cohort_id"], review=kind, due_on=due_on,
                    days_late=(today - due_on).days, referent=j["referent_id"]))
    out.sort(key=lambda r: (-r.days_late, r.pair_id, r.review))
    return OverdueReport(as_of=as_of, reviews=out)
