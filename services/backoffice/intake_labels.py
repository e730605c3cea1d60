"""French words of the applications, persons and regions pages: the closed vocabularies as
form options, an application's history as a timeline, the vault record's field names.

Labels come from ``events.vocabulary`` and intake's statuses; only the sentences of the
timeline are written here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from events.geography import REGIONS
from events.vocabulary import (
    CandidateDeclineReason,
    InterviewOutcome,
    MeetingFormat,
    RecruitmentChannel,
    RejectionReason,
    ReroutingReason,
    Role,
    RoutingBasis,
    WithdrawalReason,
    label,
)
from services.common.web import french_datetime, french_month
from services.intake.domain import STATUS_LABELS, Status


def options(enum: type[StrEnum]) -> list[tuple[str, str]]:
    """(code, French label) of every member: the options of a ``<select>``."""
    return [(member.value, label(member)) for member in enum]


STATUS_OPTIONS = [(status.value, STATUS_LABELS[status]) for status in Status]
ROLE_OPTIONS = options(Role)
CHANNEL_OPTIONS = options(RecruitmentChannel)
MEETING_FORMAT_OPTIONS = options(MeetingFormat)
OUTCOME_OPTIONS = options(InterviewOutcome)
DECLINE_OPTIONS = options(CandidateDeclineReason)
WITHDRAWAL_OPTIONS = options(WithdrawalReason)
REROUTING_OPTIONS = options(ReroutingReason)
REGION_OPTIONS = sorted(REGIONS.items(), key=lambda item: item[1])
ROLE_NAMES, CHANNEL_NAMES = dict(ROLE_OPTIONS), dict(CHANNEL_OPTIONS)

# The vault record's fields, in the order they are shown; others are not shown.
IDENTITY_LABELS = {
    "first_name": "Prénom", "last_name": "Nom", "email": "Adresse e-mail",
    "phone": "Téléphone", "birth_date": "Date de naissance", "postcode": "Code postal",
    "establishment": "Établissement", "organisation": "Structure",
    "career_goals": "Projet professionnel", "motivation": "Motivation",
}
REFERRER_LABELS = {"first_name": "Prénom", "last_name": "Nom", "email": "Adresse e-mail",
                   "phone": "Téléphone", "organisation": "Structure"}


def region_name(code: str | None) -> str:
    return REGIONS.get(code or "", code or "—")


def _word(enum: type[StrEnum], code: Any) -> str:
    try:
        return label(enum(code))
    except ValueError:
        return str(code)


def _received(data: Mapping[str, Any]) -> str:
    who = "mentoré·e" if data.get("role") == Role.mentee else "mentor"
    text = (f"Candidature reçue ({who}, canal : "
            f"{_word(RecruitmentChannel, data.get('channel')).lower()}, département "
            f"{data.get('departement')})")
    if data.get("referrer_kind"):
        text += ", inscrite par un·e prescripteur·rice"
    return text + "."


def _rejected(data: Mapping[str, Any]) -> str:
    reasons = ", ".join(_word(RejectionReason, r).lower() for r in data.get("reasons", []))
    return f"Candidature refusée : conditions non remplies ({reasons})."


def _routed(data: Mapping[str, Any]) -> str:
    to = region_name(data.get("to_region"))
    basis = data.get("basis")
    if basis == RoutingBasis.waiting_list:
        return f"Mise en liste d'attente : la région {to} ne participe pas encore au programme."
    if basis == RoutingBasis.manual:
        reason = _word(ReroutingReason, data.get("rerouting_reason")).lower()
        return (f"Réorientée à la main vers la région {to} (venant de la région "
                f"{region_name(data.get('from_region'))} ; motif : {reason}).")
    if basis == RoutingBasis.region_joined:
        return (f"Sortie de la liste d'attente : orientée vers la région {to}, qui rejoint le "
                "programme.")
    why = _word(RoutingBasis, basis).lower()
    return (f"Orientée vers la région {to} ({why}), pour la cohorte de "
            f"{french_month(data.get('cohort'))}.")


def _interview_kind(data: Mapping[str, Any]) -> str:
    return "Entretien de motivation" if data.get("kind") == "motivation" else \
        "Entretien individuel"


def _scheduled(data: Mapping[str, Any]) -> str:
    return (f"{_interview_kind(data)} programmé le {french_datetime(data.get('scheduled_at'))} "
            f"({_word(MeetingFormat, data.get('format')).lower()}).")


def _completed(data: Mapping[str, Any]) -> str:
    return (f"{_interview_kind(data)} passé : "
            f"{_word(InterviewOutcome, data.get('outcome')).lower()}.")


def _declined(data: Mapping[str, Any]) -> str:
    return f"Candidature non retenue (motif : {_word(CandidateDeclineReason, data.get('reason')).lower()})."


def _withdrawn(data: Mapping[str, Any]) -> str:
    return f"Retrait enregistré (motif : {_word(WithdrawalReason, data.get('reason')).lower()})."


_SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "ApplicationReceived": _received,
    "ApplicationRejected": _rejected,
    "ApplicationRouted": _routed,
    "InterviewScheduled": _scheduled,
    "InterviewCompleted": _completed,
    "CandidateAdmitted": lambda data: "Admis·e dans le programme : rejoint le vivier de "
                                      "sa région.",
    "CandidateDeclined": _declined,
    "ApplicationWithdrawn": _withdrawn,
}


def timeline(history: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each event of an application's history as {at, text}, in French, oldest first."""
    return [{"at": event.get("at"),
             "text": _SENTENCES.get(event.get("type", ""), lambda _: "Évènement enregistré.")(
                 event.get("data") or {})}
            for event in history]


def pending_interviews(history: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The interviews booked whose opinion is not recorded yet: {interview_id, kind, at}."""
    completed = {e["data"].get("interview_id") for e in history
                 if e.get("type") == "InterviewCompleted"}
    return [{"interview_id": e["data"]["interview_id"], "title": _interview_kind(e["data"]),
             "at": e["data"].get("scheduled_at")}
            for e in history
            if e.get("type") == "InterviewScheduled" and e["data"].get("interview_id")
            not in completed]
