"""The page behind every personal link: ``/lien/<token>``.

The link is opened first (tampered, expired, already used: a French page that says what to
do); then the page shows what the link's purpose asks and records the answer by calling the
staff API that owns the rule, with a token this service issues only now, for the person and
object the link names. Single-use links are spent (``participants.used_links``) in the
transaction that lasts the API call: a double submit waits for the first, then finds the link
used; a refusal by the API rolls the spending back.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import text

from events.vocabulary import MEETING_FORMAT_LABELS, MeetingFormat
from services.backoffice.pages.forms import form_values, payload
from services.common import links
from services.common.auth import StaffRole, issue_token
from services.common.clock import get_clock
from services.common.web import PageError, form_errors, french_date, french_datetime

router = APIRouter()

SERVICE_SUBJECT = "participants"
ASK_AGAIN = "demandez un nouveau lien à votre référent·e"
QUESTIONNAIRE_KINDS = {
    links.LinkPurpose.kickoff: "start_of_programme",  # the mentee's; the mentor declares
    links.LinkPurpose.end_questionnaire: "end_of_programme",
    links.LinkPurpose.six_month_questionnaire: "post_programme",
    links.LinkPurpose.annual_review: "annual",
}
TITLES = {
    links.LinkPurpose.kickoff: "Votre binôme démarre",
    links.LinkPurpose.end_questionnaire: "Questionnaire de fin de programme",
    links.LinkPurpose.six_month_questionnaire: "Questionnaire six mois après",
    links.LinkPurpose.annual_review: "Questionnaire du bilan annuel",
    links.LinkPurpose.declare_sessions: "Déclarer une séance",
    links.LinkPurpose.networking: "Événement de réseautage",
}
THANKS = {
    "questionnaire": "Merci ! Vos réponses sont enregistrées.",
    "seance": "Merci ! Votre séance est enregistrée : votre référent·e la voit dans le suivi "
              "du binôme.",
    "inscription": "Vous êtes inscrit·e. Le jour venu, revenez sur ce lien pour confirmer "
                   "votre présence.",
    "presence": "Merci, votre réponse sur votre présence est enregistrée.",
}
RATINGS = [(str(n), str(n)) for n in range(1, 6)]
# Spent once answered: the mentee's kick-off link is, by its start questionnaire (the mentor's
# is not: their sessions are spent per form, never by the link's own id).
SPENT_ONCE_ANSWERED = links.SINGLE_USE | {links.LinkPurpose.kickoff}


# --- opening a link -----------------------------------------------------------------------

def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None) or get_clock()
    return clock.now()


def _open(request: Request, token: str) -> links.Link:
    secret = request.app.state.settings.auth_secret
    try:
        link = links.open_link(secret, token, _now(request))
    except links.InvalidLink:
        raise PageError(404, "Ce lien n'est pas valide",
                        "Ce lien n'est pas valide : il est peut-être incomplet ou a été "
                        "modifié. Copiez-le en entier depuis l'e-mail (parfois sur deux "
                        f"lignes), ou {ASK_AGAIN}.") from None
    except links.ExpiredLink as expired:
        raise PageError(410, "Ce lien a expiré",
                        f"Ce lien a expiré le {french_datetime(expired.expires_at)}. Pour "
                        f"répondre malgré tout, {ASK_AGAIN}.") from None
    if link.purpose not in TITLES:
        raise PageError(404, "Ce lien n'est pas valide",
                        f"Ce lien ne mène à aucune page de réponse : {ASK_AGAIN}.")
    return link


async def _used_at(request: Request, spent_id: UUID) -> datetime | None:
    async with request.app.state.engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT used_at FROM participants.used_links WHERE link_id = :id"),
            {"id": spent_id})).scalar()


def _already_answered(used_at: datetime) -> PageError:
    return PageError(410, "Vous avez déjà répondu",
                     f"Vous avez déjà répondu le {french_date(used_at)} : merci ! Ce lien ne "
                     "sert qu'une fois.")


def _kickoff_already_answered(used_at: datetime) -> PageError:
    return PageError(410, "Vous avez déjà répondu",
                     "Vous avez déjà répondu au questionnaire de début de programme le "
                     f"{french_date(used_at)} : merci ! Ce lien ne sert qu'une fois. Pour "
                     "organiser vos rendez-vous, contactez votre mentor ; pour toute question "
                     "sur votre parcours, votre référent·e. Le questionnaire de fin de "
                     "programme vous sera envoyé par e-mail à la fin du parcours.")


def _already_used_page(link: links.Link):
    if link.purpose is links.LinkPurpose.kickoff:
        return _kickoff_already_answered
    return _already_answered


async def _refuse_if_used(request: Request, link: links.Link) -> None:
    if link.purpose in SPENT_ONCE_ANSWERED:
        used = await _used_at(request, link.link_id)
        if used is not None:
            raise _already_used_page(link)(used)


def _form_sent_twice(used_at: datetime) -> PageError:
    return PageError(409, "Séance déjà enregistrée",
                     f"Ce formulaire a déjà été envoyé le {french_date(used_at)} : la séance "
                     "n'est enregistrée qu'une fois. Pour en déclarer une autre, rouvrez le "
                     "lien de l'e-mail.")


@asynccontextmanager
async def _spending(request: Request, spent_id: UUID, purpose: str,
                    already=_already_answered):
    """Spend ``spent_id`` for as long as the block records the answer: committed with it,
    rolled back if the block raises (a refusal, a service away)."""
    async with request.app.state.engine.begin() as conn:
        inserted = await conn.execute(text(
            "INSERT INTO participants.used_links (link_id, purpose, used_at) VALUES "
            "(:id, :purpose, :at) ON CONFLICT (link_id) DO NOTHING"),
            {"id": spent_id, "purpose": purpose, "at": _now(request)})
        if inserted.rowcount != 1:
            used = (await conn.execute(text(
                "SELECT used_at FROM participants.used_links WHERE link_id = :id"),
                {"id": spent_id})).scalar()
            raise already(used or _now(request))
        yield


class Refused(Exception):
    """The service refused the answer: show the form again with its messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("refused")
        self.errors = errors


# --- the staff APIs, on the link's behalf -------------------------------------------------

async def _call(request: Request, method: str, path: str, *, body: Any = None,
                as_mentor: UUID | None = None) -> Any:
    """Followup's answer (JSON); 4xx refusals raise :class:`Refused`, anything else a page
    saying the service is away."""
    settings = request.app.state.settings
    subject, role = ((str(as_mentor), StaffRole.mentor) if as_mentor
                     else (SERVICE_SUBJECT, StaffRole.service))
    headers = {"Authorization": f"Bearer {issue_token(settings.auth_secret, subject, role, None)}"}
    try:
        answer = await request.app.state.http.request(
            method, f"{settings.followup_url}{path}", json=body, headers=headers)
    except Exception:  # noqa: BLE001 - unreachable: nothing was recorded
        raise PageError(503, "Service momentanément indisponible", "Le suivi du programme ne "
                        "répond pas pour le moment ; rien n'a été enregistré. Réessayez dans "
                        "quelques instants.") from None
    if answer.status_code in (400, 403, 404, 409, 422):
        raise Refused(form_errors(answer.json()) or {"": "Réponse refusée."})
    if answer.status_code >= 300:
        raise PageError(503, "Service momentanément indisponible", "Le suivi du programme n'a "
                        "pas pu enregistrer votre réponse ; rien n'a été enregistré. "
                        "Réessayez dans quelques instants.")
    return answer.json()


async def _pair_of(request: Request, link: links.Link, pair_id: str) -> tuple[dict, str]:
    """The pair a link names and the person's role in it (mentee or mentor)."""
    try:
        pair = await _call(request, "GET", f"/staff/pairs/{UUID(pair_id)}")
    except (Refused, ValueError):
        raise PageError(404, "Binôme introuvable", "Le binôme de ce lien n'existe plus dans "
                        f"le suivi : {ASK_AGAIN}.") from None
    person = str(link.person_id)
    role = ("mentee" if pair["mentee_id"] == person else
            "mentor" if pair["mentor_id"] == person else None)
    if role is None:
        raise PageError(404, "Ce lien n'est pas valide", f"Ce lien ne vous concerne plus : "
                        f"{ASK_AGAIN}.")
    return pair, role


def _pair_id(link: links.Link) -> str:
    return link.object_id.split(":")[-1]  # an annual review's object is "<year>:<pair>"


def _page(request: Request, template: str, link: links.Link, context: Mapping[str, Any],
          status: int = 200) -> Response:
    return request.app.state.pages.html(request, template, {
        "title": TITLES[link.purpose], "action": request.url.path, "errors": {},
        "values": {}, "general": [], **context}, status_code=status)


def _general(errors: Mapping[str, str], fields: list[str]) -> list[str]:
    return [m for f, m in errors.items() if f not in fields]


def _thanks(token: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"/lien/{token}/merci?fait={what}", status_code=303)


# --- the routes ---------------------------------------------------------------------------

@router.get("/lien/{token}")
async def show(request: Request, token: str) -> Response:
    link = _open(request, token)
    await _refuse_if_used(request, link)
    return await PAGES[link.purpose](request, link, {}, {})


@router.post("/lien/{token}")
async def answer(request: Request, token: str) -> Response:
    link = _open(request, token)
    await _refuse_if_used(request, link)
    values = await form_values(request)
    try:
        return await ANSWERS[link.purpose](request, link, token, values)
    except Refused as refused:
        return await PAGES[link.purpose](request, link, values, refused.errors, 422)


@router.get("/lien/{token}/merci")
async def thanks(request: Request, token: str) -> Response:
    link = _open(request, token)
    done = request.query_params.get("fait", "")
    message = THANKS.get(done, "Merci, c'est enregistré.")
    spent = link.purpose in links.SINGLE_USE or done == "questionnaire"
    return _page(request, "liens/merci.html", link, {
        "message": message, "again": None if spent else f"/lien/{token}"})


# --- kick-off -----------------------------------------------------------------------------

async def _kickoff(request: Request, link: links.Link, values: dict, errors: dict,
                   status: int = 200) -> Response:
    pair, role = await _pair_of(request, link, link.object_id)
    toolkit = await _call(request, "GET", "/toolkit")
    context = {"pair": pair, "role": role, "resources": toolkit["resources"]}
    if role == "mentor":
        context.update(await _session_form(request, values, errors))
    else:
        context.update(await _start_form(request, link, pair, values, errors))
    return _page(request, "liens/lancement.html", link, context, status)


async def _start_form(request: Request, link: links.Link, pair: dict, values: dict,
                      errors: dict) -> dict[str, Any]:
    """The mentee's start of programme questionnaire, unless already recorded (by the
    back-office on their behalf: the link itself was not spent)."""
    answered = {"kind": QUESTIONNAIRE_KINDS[link.purpose], "respondent": "mentee"} in \
        pair.get("questionnaires", [])
    found = await _questions(request, link, "mentee")
    fields = [q["indicator"] for q in found["questions"]]
    window = pair.get("start_questionnaire") or {"open": True, "message": None}
    return {"start_answered": answered, "start_open": window["open"],
            "start_closed": window["message"], "questions": found["questions"], "ratings": RATINGS,
            "values": values, "errors": errors, "general": _general(errors, fields)}


async def _answer_kickoff(request: Request, link: links.Link, token: str,
                          values: dict) -> Response:
    """The mentor declares the first meeting; the mentee answers the start questionnaire."""
    _pair, role = await _pair_of(request, link, link.object_id)
    if role == "mentor":
        return await _declare_session(request, link, token, values)
    return await _answer_questionnaire(request, link, token, values)


# --- sessions -----------------------------------------------------------------------------

SESSION_FIELDS = ["held_on", "duration_minutes", "format", "theme", "used_toolkit"]


async def _session_form(request: Request, values: dict, errors: dict) -> dict[str, Any]:
    toolkit = await _call(request, "GET", "/toolkit")
    return {"themes": [(t["code"], t["label"]) for t in toolkit["themes"]],
            "formats": [(f.value, MEETING_FORMAT_LABELS[f]) for f in MeetingFormat],
            "values": {"held_on": _now(request).date().isoformat(), "duration_minutes": "60",
                       "submission": str(uuid4()), **values},
            "errors": errors, "general": _general(errors, SESSION_FIELDS)}


async def _sessions(request: Request, link: links.Link, values: dict, errors: dict,
                    status: int = 200) -> Response:
    pair, role = await _pair_of(request, link, link.object_id)
    if role != "mentor":
        raise PageError(403, "Réservé au mentor", "Seul le mentor du binôme déclare les "
                        "séances.")
    return _page(request, "liens/seances.html", link,
                 {"pair": pair, **await _session_form(request, values, errors)}, status)


async def _declare_session(request: Request, link: links.Link, token: str,
                           values: dict) -> Response:
    try:  # one declaration per form shown: a double submit finds its id spent
        submission = uuid5(link.link_id, values.get("submission", ""))
    except (TypeError, ValueError):
        submission = uuid4()
    async with _spending(request, submission, "declare_sessions", _form_sent_twice):
        await _call(request, "POST", f"/staff/pairs/{UUID(link.object_id)}/sessions",
                    as_mentor=link.person_id,
                    body=payload(values, *SESSION_FIELDS, integers=["duration_minutes"],
                                 booleans=["used_toolkit"]))
    return _thanks(token, "seance")


# --- questionnaires -----------------------------------------------------------------------

async def _questions(request: Request, link: links.Link, role: str) -> dict[str, Any]:
    catalogue = await _call(request, "GET", "/questionnaires")
    kind = QUESTIONNAIRE_KINDS[link.purpose]
    version = catalogue["current_version"]
    found = next((q for q in catalogue["questionnaires"] if q["kind"] == kind
                  and q["respondent"] == role and q["version"] == version), None)
    if found is None:
        raise PageError(404, "Questionnaire introuvable", "Ce questionnaire ne vous est pas "
                        f"destiné : {ASK_AGAIN}.")
    return found


async def _questionnaire(request: Request, link: links.Link, values: dict, errors: dict,
                         status: int = 200) -> Response:
    _pair, role = await _pair_of(request, link, _pair_id(link))
    found = await _questions(request, link, role)
    fields = [q["indicator"] for q in found["questions"]]
    return _page(request, "liens/questionnaire.html", link, {
        "questions": found["questions"], "ratings": RATINGS, "values": values,
        "errors": errors, "general": _general(errors, fields),
        "year": link.object_id.split(":")[0]
        if link.purpose is links.LinkPurpose.annual_review else None}, status)


async def _answer_questionnaire(request: Request, link: links.Link, token: str,
                                values: dict) -> Response:
    _pair, role = await _pair_of(request, link, _pair_id(link))
    found = await _questions(request, link, role)
    answers, missing = {}, {}
    for question in found["questions"]:
        rating = values.get(question["indicator"], "")
        if rating in {value for value, _ in RATINGS}:
            answers[question["indicator"]] = int(rating)
        else:
            missing[question["indicator"]] = "Choisissez une note de 1 à 5."
    if missing:
        raise Refused(missing)
    async with _spending(request, link.link_id, link.purpose.value, _already_used_page(link)):
        await _call(request, "POST", f"/staff/pairs/{UUID(_pair_id(link))}/questionnaires",
                    body={"respondent": role, "kind": QUESTIONNAIRE_KINDS[link.purpose],
                          "questionnaire_version": found["version"], "answers": answers})
    return _thanks(token, "questionnaire")


# --- networking ---------------------------------------------------------------------------

async def _event_of(request: Request, link: links.Link) -> tuple[dict, str]:
    event_id, _, role = link.object_id.partition(":")
    events = await _call(request, "GET", "/staff/networking-events")
    event = next((e for e in events if e["networking_event_id"] == event_id), None)
    if event is None or role not in ("mentee", "mentor"):
        raise PageError(404, "Événement introuvable", f"Cet événement n'existe plus : "
                        f"{ASK_AGAIN}.")
    return event, role


async def _networking(request: Request, link: links.Link, values: dict, errors: dict,
                      status: int = 200) -> Response:
    event, _role = await _event_of(request, link)
    started = datetime.fromisoformat(event["starts_at"]) <= _now(request)
    return _page(request, "liens/reseautage.html", link, {
        "event": event, "started": started, "errors": errors,
        "general": list(errors.values())}, status)


async def _answer_networking(request: Request, link: links.Link, token: str,
                             values: dict) -> Response:
    event, role = await _event_of(request, link)
    path = f"/staff/networking-events/{event['networking_event_id']}"
    if values.get("action") == "presence":  # idempotent: the same answer twice records once
        await _call(request, "POST", f"{path}/attendance", body={
            "person_id": str(link.person_id), "attended": values.get("present") == "oui"})
        return _thanks(token, "presence")
    await _call(request, "POST", f"{path}/registrations",  # registering twice: nothing new
                body={"person_id": str(link.person_id), "role": role})
    return _thanks(token, "inscription")


PAGES = {
    links.LinkPurpose.kickoff: _kickoff,
    links.LinkPurpose.declare_sessions: _sessions,
    links.LinkPurpose.end_questionnaire: _questionnaire,
    links.LinkPurpose.six_month_questionnaire: _questionnaire,
    links.LinkPurpose.annual_review: _questionnaire,
    links.LinkPurpose.networking: _networking,
}
ANSWERS = {
    links.LinkPurpose.kickoff: _answer_kickoff,
    links.LinkPurpose.declare_sessions: _declare_session,
    links.LinkPurpose.end_questionnaire: _answer_questionnaire,
    links.LinkPurpose.six_month_questionnaire: _answer_questionnaire,
    links.LinkPurpose.annual_review: _answer_questionnaire,
    links.LinkPurpose.networking: _answer_networking,
}
