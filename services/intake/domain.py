"""Pure intake domain: eligibility, routing between regions, and an application's lifecycle.

No I/O: the shell (``api.py``) loads the stream, calls :func:`decide`, appends the events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import singledispatch
from uuid import UUID
from zoneinfo import ZoneInfo

from events import EventData
from services.common.errors import DomainError
from events.geography import REGION_OF_DEPARTEMENT, departements_of
from events.intake import (
    ApplicationReceived,
    ApplicationRejected,
    ApplicationRouted,
    ApplicationWithdrawn,
    CandidateAdmitted,
    CandidateDeclined,
    ContactDetailsCorrected,
    InterviewCompleted,
    InterviewScheduled,
    RegionSettingsChanged,
)
from events.vocabulary import (
    AgeBand,
    CandidateDeclineReason,
    InterviewKind,
    InterviewOutcome,
    MeetingFormat,
    RejectionReason,
    ReroutingReason,
    Role,
    RoutingBasis,
    WithdrawalReason,
)
from services.intake.vault import normalise_email  # pure: the duplicate check's normaliser

MENTEE_MIN_AGE, MENTEE_MAX_AGE = 18, 30
MENTOR_MIN_YEARS_IN_ESS = 3
PARIS = ZoneInfo("Europe/Paris")
# An interview booked further ahead than this is a typo (2062 for 2026), not a plan.
INTERVIEW_HORIZON = timedelta(days=365)


# -- eligibility -----------------------------------------------------------------------------

def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def age_band(age: int) -> AgeBand:
    if age < 18:
        return AgeBand.under_18
    if age <= 20:
        return AgeBand.age_18_20
    if age <= 25:
        return AgeBand.age_21_25
    if age <= 30:
        return AgeBand.age_26_30
    return AgeBand.over_30


def ineligibility(role: Role, *, age: int | None = None,
                  years_in_ess: int | None = None) -> tuple[RejectionReason, ...]:
    """Why an application is refused (empty: eligible). Mentees are 18-30 on the day they
    apply; mentors have at least 3 years in the ESS."""
    if role is Role.mentee:
        assert age is not None
        if age < MENTEE_MIN_AGE:
            return (RejectionReason.mentee_too_young,)
        if age > MENTEE_MAX_AGE:
            return (RejectionReason.mentee_too_old,)
        return ()
    assert years_in_ess is not None
    if years_in_ess < MENTOR_MIN_YEARS_IN_ESS:
        return (RejectionReason.mentor_too_little_experience,)
    return ()


REJECTION_MESSAGES = {
    RejectionReason.mentee_too_young: "Le programme s'adresse aux jeunes de 18 à 30 ans : vous "
    "pourrez candidater à partir de vos 18 ans.",
    RejectionReason.mentee_too_old: "Le programme s'adresse aux jeunes de 18 à 30 ans le jour "
    "de la candidature.",
    RejectionReason.mentor_too_little_experience: "Les mentors doivent avoir au moins 3 ans "
    "d'expérience dans l'économie sociale et solidaire.",
    RejectionReason.consent_missing: "Le consentement au traitement des données est requis.",
    RejectionReason.region_not_served: "Votre région ne participe pas encore au programme.",
    RejectionReason.other: "Votre candidature ne remplit pas les conditions du programme.",
}


# -- routing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegionSettings:
    region: str
    served: bool
    departements: tuple[str, ...]
    cohort: str
    objective_mentees: int
    objective_mentors: int

    def objective(self, role: Role) -> int:
        return self.objective_mentees if role is Role.mentee else self.objective_mentors


def default_settings(served: Sequence[str], cohort: str, objective_mentees: int,
                     objective_mentors: int) -> dict[str, RegionSettings]:
    """Every region serves its own départements; only ``served`` ones take applicants."""
    from events.geography import REGIONS

    return {
        code: RegionSettings(code, code in served, departements_of(code), cohort,
                             objective_mentees, objective_mentors)
        for code in REGIONS
    }


def apply_settings(settings: Mapping[str, RegionSettings],
                   event: RegionSettingsChanged) -> dict[str, RegionSettings]:
    return {**settings, event.region: RegionSettings(
        event.region, event.served, tuple(event.departements), event.cohort,
        event.objective_mentees, event.objective_mentors)}


@dataclass(frozen=True)
class RoutingDecision:
    to_region: str
    basis: RoutingBasis
    candidates: tuple[str, ...]


def routing_candidates(departement: str, remote_ok: bool,
                       settings: Mapping[str, RegionSettings]) -> tuple[str, ...]:
    """The served regions covering the département (every served region for a
    remote-friendly candidate): the routed counts matter only when there are several."""
    served = [s for s in settings.values() if s.served]
    fitting = {s.region for s in served if departement in s.departements}
    if remote_ok:
        fitting |= {s.region for s in served}
    return tuple(sorted(fitting))


def route(departement: str, remote_ok: bool, role: Role,
          settings: Mapping[str, RegionSettings],
          routed: Mapping[str, int]) -> RoutingDecision:
    """The decision tree: the served regions covering the département (all served regions
    for a remote-friendly candidate); one fits -> it; several -> the one furthest from its
    objective for the current cohort (lowest share reached; home region first on a tie);
    none -> the home region's waiting list."""
    home = REGION_OF_DEPARTEMENT[departement]
    candidates = routing_candidates(departement, remote_ok, settings)
    if not candidates:
        return RoutingDecision(home, RoutingBasis.waiting_list, ())
    if len(candidates) == 1:
        return RoutingDecision(candidates[0], RoutingBasis.departement, candidates)

    def share_reached(region: str) -> tuple[float, bool, str]:
        objective = settings[region].objective(role)
        share = routed.get(region, 0) / objective if objective > 0 else math.inf
        return share, region != home, region

    return RoutingDecision(min(candidates, key=share_reached), RoutingBasis.fairness, candidates)


# -- the application aggregate ----------------------------------------------------------------

class Status(StrEnum):
    received = "received"
    rejected = "rejected"
    waiting_list = "waiting_list"
    routed = "routed"
    interview_scheduled = "interview_scheduled"
    interviewed = "interviewed"
    admitted = "admitted"
    declined = "declined"
    withdrawn = "withdrawn"


STATUS_LABELS = {
    Status.received: "Reçue", Status.rejected: "Refusée (conditions non remplies)",
    Status.waiting_list: "En liste d'attente", Status.routed: "Orientée vers une région",
    Status.interview_scheduled: "Entretien programmé", Status.interviewed: "Entretien passé",
    Status.admitted: "Admis·e", Status.declined: "Non retenue", Status.withdrawn: "Retirée",
}

FINAL = {Status.rejected, Status.declined, Status.withdrawn}


@dataclass(frozen=True)
class Interview:
    interview_id: UUID
    kind: InterviewKind
    scheduled_at: datetime
    outcome: InterviewOutcome | None = None


@dataclass(frozen=True)
class Application:
    status: Status | None = None  # None: not submitted yet
    profile: ApplicationReceived | None = None
    region: str | None = None
    interviews: tuple[Interview, ...] = ()
    submitted_at: datetime | None = None  # from the stream's first envelope (the shell sets it)

    def interview(self, interview_id: UUID) -> Interview | None:
        return next((i for i in self.interviews if i.interview_id == interview_id), None)


@dataclass(frozen=True)
class Submit:
    profile: ApplicationReceived
    rejection: tuple[RejectionReason, ...]
    routing: RoutingDecision
    cohort: str


@dataclass(frozen=True)
class ScheduleInterview:
    interview_id: UUID
    scheduled_at: datetime
    format: MeetingFormat
    referent_id: str
    now: datetime


@dataclass(frozen=True)
class CompleteInterview:
    interview_id: UUID
    outcome: InterviewOutcome
    referent_id: str
    now: datetime


@dataclass(frozen=True)
class Admit:
    referent_id: str


@dataclass(frozen=True)
class Decline:
    reason: CandidateDeclineReason


@dataclass(frozen=True)
class Withdraw:
    reason: WithdrawalReason


@dataclass(frozen=True)
class Reroute:
    to_region: str
    reason: ReroutingReason | None  # None: the region joined and takes its waiting list
    cohort: str
    settings: Mapping[str, RegionSettings]


def _refuse(code: str, message: str, field: str | None = None) -> DomainError:
    return DomainError(code, message, field)


def _require_status(state: Application, allowed: set[Status], action: str) -> ApplicationReceived:
    if state.status is None or state.profile is None:
        raise _refuse("not_found", "Candidature introuvable.")
    if state.status not in allowed:
        raise _refuse("invalid_transition",
                      f"Impossible de {action} : la candidature est « "
                      f"{STATUS_LABELS[state.status]} ».")
    return state.profile


@singledispatch
def decide(command: object, state: Application) -> list[EventData]:
    raise TypeError(f"unknown command {command!r}")


@decide.register
def _(command: Submit, state: Application) -> list[EventData]:
    if state.status is not None:
        raise _refuse("already_submitted", "Cette candidature a déjà été déposée.")
    profile = command.profile
    if command.rejection:
        return [profile, ApplicationRejected(application_id=profile.application_id,
                                             person_id=profile.person_id,
                                             reasons=command.rejection)]
    routing = command.routing
    return [profile, ApplicationRouted(
        application_id=profile.application_id, person_id=profile.person_id, role=profile.role,
        to_region=routing.to_region, from_region=None, basis=routing.basis,
        candidate_regions=routing.candidates, cohort=command.cohort, rerouting_reason=None)]


def _paris_day(instant: datetime) -> date:
    return instant.astimezone(PARIS).date()


def _check_interview_date(scheduled_at: datetime, submitted_at: datetime | None,
                          now: datetime) -> None:
    """An interview happens after the application (it may be booked after the fact, but not
    before the person applied) and within a year from now."""
    if submitted_at is not None and _paris_day(scheduled_at) < _paris_day(submitted_at):
        raise DomainError("interview_before_application", "L'entretien ne peut pas précéder "
                          f"la candidature (reçue le {_paris_day(submitted_at):%d/%m/%Y}).",
                          "scheduled_at", status=422)
    if scheduled_at > now + INTERVIEW_HORIZON:
        raise DomainError("date_too_far", "L'entretien doit avoir lieu dans l'année qui vient : "
                          "vérifiez la date.", "scheduled_at", status=422)


@decide.register
def _(command: ScheduleInterview, state: Application) -> list[EventData]:
    profile = _require_status(state, {Status.routed, Status.interview_scheduled,
                                      Status.interviewed}, "programmer un entretien")
    _check_interview_date(command.scheduled_at, state.submitted_at, command.now)
    kind = InterviewKind.motivation if profile.role is Role.mentee else InterviewKind.individual
    return [InterviewScheduled(
        interview_id=command.interview_id, application_id=profile.application_id,
        person_id=profile.person_id, kind=kind, scheduled_at=command.scheduled_at,
        format=command.format, referent_id=command.referent_id)]


@decide.register
def _(command: CompleteInterview, state: Application) -> list[EventData]:
    profile = _require_status(state, {Status.interview_scheduled, Status.interviewed},
                              "enregistrer le résultat de l'entretien")
    interview = state.interview(command.interview_id)
    if interview is None:
        raise _refuse("interview_not_found", "Cet entretien n'existe pas pour cette candidature.",
                      "interview_id")
    if interview.outcome is not None:
        raise _refuse("interview_already_completed",
                      "Le résultat de cet entretien est déjà enregistré.")
    if command.now < interview.scheduled_at:
        raise DomainError("outcome_before_interview", "L'avis se donne après l'entretien, prévu "
                          f"le {interview.scheduled_at.astimezone(PARIS):%d/%m/%Y à %H:%M}.",
                          "outcome", status=422)
    return [InterviewCompleted(
        interview_id=interview.interview_id, application_id=profile.application_id,
        person_id=profile.person_id, kind=interview.kind, referent_id=command.referent_id,
        outcome=command.outcome)]


@decide.register
def _(command: Admit, state: Application) -> list[EventData]:
    profile = _require_status(state, {Status.interviewed}, "admettre la personne (un entretien "
                              "doit d'abord avoir eu lieu)")
    if not any(i.outcome in (InterviewOutcome.favourable, InterviewOutcome.reserved)
               for i in state.interviews):
        raise _refuse("interview_unfavourable",
                      "Admission impossible : aucun entretien n'a reçu d'avis favorable ou réservé.")
    fields = profile.model_dump(exclude={"consent_given", "referrer_kind"})
    return [CandidateAdmitted(**fields)]


@decide.register
def _(command: Decline, state: Application) -> list[EventData]:
    profile = _require_status(state, {Status.routed, Status.interview_scheduled,
                                      Status.interviewed}, "refuser la candidature")
    return [CandidateDeclined(application_id=profile.application_id,
                              person_id=profile.person_id, role=profile.role,
                              reason=command.reason)]


@decide.register
def _(command: Withdraw, state: Application) -> list[EventData]:
    profile = _require_status(state, {Status.waiting_list, Status.routed,
                                      Status.interview_scheduled, Status.interviewed,
                                      Status.admitted}, "retirer la candidature")
    return [ApplicationWithdrawn(application_id=profile.application_id,
                                 person_id=profile.person_id, role=profile.role,
                                 reason=command.reason)]


@decide.register
def _(command: Reroute, state: Application) -> list[EventData]:
    profile = _require_status(state, {Status.waiting_list, Status.routed,
                                      Status.interview_scheduled, Status.interviewed},
                              "réorienter la candidature")
    target = command.settings.get(command.to_region)
    if target is None or not target.served:
        raise DomainError("region_not_served", f"La région {command.to_region} ne participe "
                          "pas au programme.", "to_region", status=422)
    if command.to_region == state.region and state.status is not Status.waiting_list:
        raise _refuse("same_region", "La candidature est déjà orientée vers cette région.",
                      "to_region")
    basis = RoutingBasis.manual if command.reason is not None else RoutingBasis.region_joined
    return [ApplicationRouted(
        application_id=profile.application_id, person_id=profile.person_id, role=profile.role,
        to_region=command.to_region, from_region=state.region, basis=basis,
        candidate_regions=(command.to_region,), cohort=command.cohort,
        rerouting_reason=command.reason)]


@singledispatch
def evolve(event: EventData, state: Application) -> Application:
    return state


@evolve.register
def _(event: ApplicationReceived, state: Application) -> Application:
    return Application(status=Status.received, profile=event)


@evolve.register
def _(event: ApplicationRejected, state: Application) -> Application:
    return replace(state, status=Status.rejected)


@evolve.register
def _(event: ApplicationRouted, state: Application) -> Application:
    status = Status.waiting_list if event.basis is RoutingBasis.waiting_list else (
        state.status if state.status in (Status.interview_scheduled, Status.interviewed)
        else Status.routed)
    return replace(state, status=status, region=event.to_region)


@evolve.register
def _(event: InterviewScheduled, state: Application) -> Application:
    interviews = (*state.interviews, Interview(event.interview_id, event.kind,
                                               event.scheduled_at))
    status = Status.interviewed if state.status is Status.interviewed else Status.interview_scheduled
    return replace(state, status=status, interviews=interviews)


@evolve.register
def _(event: InterviewCompleted, state: Application) -> Application:
    interviews = tuple(replace(i, outcome=event.outcome) if i.interview_id == event.interview_id
                       else i for i in state.interviews)
    return replace(state, status=Status.interviewed, interviews=interviews)


@evolve.register
def _(event: CandidateAdmitted, state: Application) -> Application:
    return replace(state, status=Status.admitted)


@evolve.register
def _(event: CandidateDeclined, state: Application) -> Application:
    return replace(state, status=Status.declined)


@evolve.register
def _(event: ApplicationWithdrawn, state: Application) -> Application:
    return replace(state, status=Status.withdrawn)


def replay(events: Sequence[EventData], submitted_at: datetime | None = None) -> Application:
    state = Application()
    for event in events:
        state = evolve(event, state)
    return replace(state, submitted_at=submitted_at)


# -- a person's contact details ---------------------------------------------------------------

CONTACT_FIELDS = ("email", "phone")


def _normalised_contact(field: str, value: str | None) -> str | None:
    # The same normalisation as the duplicate check: "Zoe@Example.org" is no correction.
    if value is None:
        return None
    return normalise_email(value) if field == "email" else value.strip()


def correct_contact(person_id: UUID, current: Mapping[str, object],
                    requested: Mapping[str, str], corrected_by: str) -> list[EventData]:
    """Which contact fields really change (none: nothing is recorded). The event names the
    fields only: the values stay in the vault."""
    changed = tuple(f for f in CONTACT_FIELDS if f in requested and _normalised_contact(
        f, requested[f]) != _normalised_contact(f, current.get(f)))  # type: ignore[arg-type]
    if not changed:
        return []
    return [ContactDetailsCorrected(person_id=person_id, fields=changed,
                                    corrected_by=corrected_by)]
