"""The reminders' French text. Only what the pseudonymous reminder row holds, plus the first
name read from the vault at send time, goes into a message."""

from __future__ import annotations

from datetime import date
from typing import Any

from events.vocabulary import REVIEW_KIND_LABELS, ReminderKind, Respondent, ReviewKind

SIGNATURE = "\n\nL'équipe Succ'ess — CRESS\n(message automatique, merci de ne pas y répondre)"


def _day(value: str | None) -> str:
    return date.fromisoformat(value).strftime("%d/%m/%Y") if value else "prochainement"


def render(kind: ReminderKind, recipient: Respondent, first_name: str,
           params: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a reminder."""
    hello = f"Bonjour {first_name}," if first_name else "Bonjour,"
    review = params.get("review_kind")
    review_label = REVIEW_KIND_LABELS[ReviewKind(review)].lower() if review else "bilan"
    pair = params.get("pair_label", "")
    if kind is ReminderKind.kickoff:
        other = "votre mentor" if recipient is Respondent.mentee else "votre mentoré·e"
        return ("Succ'ess : votre binôme démarre",
                f"{hello}\n\nVotre binôme Succ'ess démarre le {_day(params.get('starts_on'))}. "
                f"Prenez contact avec {other} pour fixer votre premier rendez-vous. "
                "Le guide du programme et les fiches de séance par thème sont à votre "
                "disposition." + SIGNATURE)
    if kind is ReminderKind.review_upcoming:
        return (f"Succ'ess : {review_label} à planifier ({pair})",
                f"{hello}\n\nLe {review_label} du binôme {pair} est attendu le "
                f"{_day(params.get('due_on'))}. Pensez à fixer le rendez-vous avec le binôme."
                + SIGNATURE)
    if kind is ReminderKind.review_due:
        return (f"Succ'ess : {review_label} à réaliser ({pair})",
                f"{hello}\n\nLe {review_label} du binôme {pair} est à réaliser à partir "
                f"d'aujourd'hui ({_day(params.get('due_on'))}). Enregistrez-le dans le "
                "back-office une fois tenu." + SIGNATURE)
    if kind is ReminderKind.review_overdue:
        return (f"Succ'ess : {review_label} en retard ({pair})",
                f"{hello}\n\nLe {review_label} du binôme {pair}, attendu le "
                f"{_day(params.get('due_on'))}, n'est toujours pas enregistré. Merci de le "
                "planifier rapidement, ou d'indiquer qu'il n'a pas pu avoir lieu." + SIGNATURE)
    if kind is ReminderKind.post_programme_survey:
        return ("Succ'ess : où en êtes-vous, six mois après ?",
                f"{hello}\n\nIl y a six mois se terminait votre parcours Succ'ess. Votre "
                "référent·e va vous contacter pour savoir où vous en êtes (emploi, formation…) "
                "et recueillir votre avis en quelques questions." + SIGNATURE)
    if kind is ReminderKind.annual_survey:
        return ("Succ'ess : le bilan annuel du programme",
                f"{hello}\n\nComme chaque été, nous faisons le bilan du programme Succ'ess avec "
                "toutes celles et ceux qui le font vivre. Votre avis compte : répondez au "
                "court questionnaire que votre référent·e vous transmet." + SIGNATURE)
    raise ValueError(f"no text for reminder {kind}")
