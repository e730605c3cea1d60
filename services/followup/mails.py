"""The reminders' French e-mails, rendered from Jinja2 templates that staff can read and change
without touching code: ``templates/courriels/<kind>.txt`` (first line: the subject; then the
plain-text body) and ``<kind>.html`` (the same message in HTML). A file of the same name in
``SUCCESS_EMAIL_TEMPLATES_DIR`` replaces the built-in one.

Only what the pseudonymous reminder row holds, the first name read from the vault at send time
and the personal link sealed at send time go into a message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from events.vocabulary import (
    MEETING_FORMAT_LABELS,
    NETWORKING_EVENT_KIND_LABELS,
    REVIEW_KIND_LABELS,
    MeetingFormat,
    NetworkingEventKind,
    ReminderKind,
    Respondent,
    ReviewKind,
)
from services.common.web import french_date, french_datetime

BUILT_IN = Path(__file__).parent / "templates" / "courriels"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Mails:
    """The e-mail templates, the override directory first."""

    def __init__(self, override_dir: str | Path | None = None) -> None:
        loaders = [FileSystemLoader(override_dir)] if override_dir else []
        self.env = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(BUILT_IN)]),
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True)
        self.env.filters.update(date_fr=french_date, date_heure=french_datetime)

    def render(self, kind: ReminderKind, recipient: Respondent, first_name: str,
               params: dict[str, Any], link: str | None = None) -> Rendered:
        context = _context(recipient, first_name, params, link)
        subject, _, text = self.env.get_template(f"{kind.value}.txt").render(
            context).partition("\n")
        html = self.env.get_template(f"{kind.value}.html").render(context)
        text = re.sub(r"\n{3,}", "\n\n", text.strip())  # blank lines left by template tags
        return Rendered(" ".join(subject.split()), text + "\n", html)


def _label(labels: dict, enum, value: str | None) -> str:
    try:
        return labels[enum(value)]
    except (ValueError, KeyError):
        return ""


def _context(recipient: Respondent, first_name: str, params: dict[str, Any],
             link: str | None) -> dict[str, Any]:
    """What templates may use; the names are French, as staff read them."""
    review = params.get("review_kind")
    return {
        "prenom": first_name,
        "destinataire": recipient.value,  # mentee, mentor or referent
        "lien": link,
        "bilan": REVIEW_KIND_LABELS[ReviewKind(review)].lower() if review else "bilan",
        "binome": params.get("pair_label", ""),
        "debut": _day(params.get("starts_on")),
        "echeance": _day(params.get("due_on")),
        "annee": params.get("year", ""),
        "evenement": {
            "type": _label(NETWORKING_EVENT_KIND_LABELS, NetworkingEventKind,
                           params.get("event_kind")),
            "format": _label(MEETING_FORMAT_LABELS, MeetingFormat, params.get("format")),
            "departement": params.get("departement") or "",
            "debut": french_datetime(params["starts_at"]) if params.get("starts_at") else "",
        },
    }


def _day(value: str | None) -> str:
    return french_date(date.fromisoformat(value)) if value else "prochainement"

