"""French labels of the follow-up pages (pairs, reviews, networking events), in one place.

The closed vocabularies' labels come from the event contract (``events.vocabulary``); only
what the contract does not name (a review's status, a journey's status) is written here.
"""

from __future__ import annotations

from enum import StrEnum

from events.vocabulary import (
    Audience,
    Concern,
    EarlyEndingReason,
    MeetingFormat,
    NetworkingEventKind,
    OutcomeMoment,
    OutcomeSituation,
    Party,
    ReviewAssessment,
    ReviewCriterion,
    ReviewKind,
    Role,
    SessionTheme,
    label,
)

REVIEW_STATUS_LABELS = {"upcoming": "à venir", "scheduled": "planifié", "due": "à réaliser",
                        "overdue": "en retard", "completed": "réalisé"}
PAIR_STATUS_LABELS = {"active": "en cours", "ended": "terminé"}
ANNUAL_RESPONDENTS = [("referent", "Référent·e"), ("partner", "Partenaire")]


def options(vocabulary: type[StrEnum]) -> list[tuple[str, str]]:
    """(code, French label) of every value of a closed vocabulary, for a select."""
    return [(item.value, label(item)) for item in vocabulary]


def french(vocabulary: type[StrEnum], code: str | None) -> str:
    """The French label of a code (the code itself if the contract does not know it)."""
    if code is None:
        return "—"
    try:
        return label(vocabulary(code))
    except ValueError:
        return code


VOCABULARIES = {
    "audience": Audience, "concern": Concern, "ending_reason": EarlyEndingReason,
    "format": MeetingFormat, "event_kind": NetworkingEventKind, "moment": OutcomeMoment,
    "situation": OutcomeSituation, "party": Party, "assessment": ReviewAssessment,
    "criterion": ReviewCriterion, "review_kind": ReviewKind, "role": Role,
    "theme": SessionTheme,
}


def template_labels() -> dict:
    """What the follow-up templates use: ``choices.theme`` (select options) and
    ``libelle('theme', code)`` (one label)."""
    return {"choices": {name: options(vocab) for name, vocab in VOCABULARIES.items()},
            "libelle": lambda name, code: french(VOCABULARIES[name], code),
            "review_status": REVIEW_STATUS_LABELS, "pair_status": PAIR_STATUS_LABELS,
            "notes": [(str(n), str(n)) for n in range(1, 6)]}
