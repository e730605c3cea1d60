"""The reminders' e-mails from their templates: subject, text and HTML; the personal link in
both parts when there is one; a staff-edited template in SUCCESS_EMAIL_TEMPLATES_DIR replaces
the built-in one of the same name, the others stay."""

from __future__ import annotations

import pytest

from events.vocabulary import ReminderKind, Respondent
from services.common import mail
from services.followup.mails import BUILT_IN, Mails

PARAMS = {"starts_on": "2026-03-01", "pair_label": "BRE-2026-03 · 1234abcd",
          "review_kind": "final", "due_on": "2027-03-01", "year": 2027,
          "networking_event_id": "00000000-0000-0000-0000-000000000077",
          "starts_at": "2026-03-20T17:00:00+00:00", "event_kind": "networking",
          "format": "remote", "departement": None}
LINK = "https://participer.succes.example/lien/AbC-123_x"


@pytest.mark.parametrize("kind", list(ReminderKind))
def test_every_reminder_has_a_french_subject_text_and_html(kind) -> None:
    recipient = Respondent.referent if kind.value.startswith("review") else Respondent.mentor
    link = None if recipient is Respondent.referent else LINK
    rendered = Mails().render(kind, recipient, "Zoé", PARAMS, link)
    assert rendered.subject.startswith("Succ'ess : ") and "\n" not in rendered.subject
    assert rendered.text.startswith("Bonjour Zoé,\n\n")
    assert '<html lang="fr">' in rendered.html and "Bonjour Zoé," in rendered.html
    assert "{{" not in rendered.text + rendered.html
    if link:
        assert link in rendered.text and f'href="{link}"' in rendered.html
    assert (BUILT_IN / f"{kind.value}.txt").exists() and (BUILT_IN / f"{kind.value}.html").exists()


def test_the_kick_off_keeps_its_wording() -> None:
    rendered = Mails().render(ReminderKind.kickoff, Respondent.mentee, "", PARAMS, None)
    assert rendered.subject == "Succ'ess : votre binôme démarre"
    assert rendered.text.startswith("Bonjour,\n\nVotre binôme Succ'ess démarre le 1er mars 2026.")
    assert "votre mentor" in rendered.text and "/lien/" not in rendered.text


def test_an_override_replaces_only_its_own_template(tmp_path) -> None:
    (tmp_path / "kickoff.txt").write_text(
        "Succ'ess : c'est parti, {{ prenom }} !\nBonjour {{ prenom }}, à vous de jouer : "
        "{{ lien }}\n", encoding="utf-8")
    mails = Mails(tmp_path)
    changed = mails.render(ReminderKind.kickoff, Respondent.mentee, "Zoé", PARAMS, LINK)
    assert changed.subject == "Succ'ess : c'est parti, Zoé !"
    assert changed.text == f"Bonjour Zoé, à vous de jouer : {LINK}\n"
    assert "Votre binôme Succ'ess démarre" in changed.html  # the built-in HTML still
    same = mails.render(ReminderKind.annual_survey, Respondent.mentee, "Zoé", PARAMS, LINK)
    assert same.subject == "Succ'ess : le bilan annuel du programme"


def test_first_names_are_escaped_in_html_only() -> None:
    rendered = Mails().render(ReminderKind.kickoff, Respondent.mentee, "<b>Zoé</b>", PARAMS,
                              None)
    assert "Bonjour <b>Zoé</b>," in rendered.text
    assert "&lt;b&gt;Zoé&lt;/b&gt;" in rendered.html


def test_a_message_is_multipart_alternative() -> None:
    rendered = Mails().render(ReminderKind.kickoff, Respondent.mentee, "Zoé", PARAMS, LINK)
    message = mail.build_message(sender="Succ'ess <noreply@succes.cress.fr>",
                                 to=["zoe@example.org"], subject=rendered.subject,
                                 body=rendered.text, html=rendered.html, key="k")
    assert message.get_content_type() == "multipart/alternative"
    assert LINK in message.get_body(("plain",)).get_content()
    assert LINK in message.get_body(("html",)).get_content()
    assert message["Message-ID"] == "<k@succes.cress.fr>"
