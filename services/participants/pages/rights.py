"""Data rights without asking anyone (/mes-donnees): a person asks for a personal link by
e-mail, and behind it sees what the programme holds about them, downloads it, corrects their
contact details, withdraws their consent or has themselves erased.

The rules stay in intake: these pages call its staff API with a short token this service
issues itself, only after the person's sealed link was verified, and only for the person the
link names. The same answer is given whether or not an address is known.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text

from events.vocabulary import (
    AgeBand,
    AvailabilitySlot,
    EmploymentStatus,
    JobFamily,
    RecruitmentChannel,
    ReferrerKind,
    Role,
    Sector,
    WithdrawalReason,
    label,
)
from services.backoffice.pages.forms import form_values
from services.common.auth import StaffRole, issue_token
from services.common.clock import get_clock
from services.common.limits import TokenBuckets
from services.common.links import (
    DEFAULT_VALIDITY,
    ExpiredLink,
    InvalidLink,
    Link,
    LinkPurpose,
    open_link,
    seal,
)
from services.common.mail import MailError, build_message, send
from services.common.web import PageError, french_date, french_datetime

log = structlog.get_logger(__name__)
router = APIRouter()
HOME_LINKS = [("/mes-donnees", "Mes données : les consulter, les corriger, les faire effacer")]

# Who acts in intake's records for a participant on their own data (never a person's id).
SELF_SERVICE = "participant-self-service"
ACCESS_PATH, ERASURE_PATH = "/mes-donnees/acces/", "/mes-donnees/effacement/"
OPEN_STATUSES = {"waiting_list", "routed", "interview_scheduled", "interviewed", "admitted"}
CONTACT_FIELDS = ("email", "phone")

_MAILS = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates" / "courriels"),
    autoescape=select_autoescape(["html"]), keep_trailing_newline=True)

DONE = {
    "coordonnees": "Vos coordonnées sont corrigées.",
    "inchange": "Aucun changement : ces coordonnées étaient déjà enregistrées.",
    "consentement": "Votre consentement est retiré : vos candidatures en cours sont closes et "
                    "ne seront plus traitées.",
    "effacement": "Un lien de confirmation de l'effacement vient de vous être envoyé par "
                  "courriel. Il est valable deux heures.",
}
EVENT_LABELS = {
    "ApplicationReceived": "Candidature reçue", "ApplicationRejected": "Candidature refusée",
    "ApplicationRouted": "Candidature orientée vers une région",
    "InterviewScheduled": "Entretien programmé", "InterviewCompleted": "Entretien passé",
    "CandidateAdmitted": "Admission", "CandidateDeclined": "Candidature non retenue",
    "ApplicationWithdrawn": "Candidature retirée",
    "ContactDetailsCorrected": "Coordonnées corrigées", "PersonErased": "Effacement",
    # matching and followup: what the programme recorded of the journey
    "CandidateLeftPool": "Sortie du vivier",
    "MatchProposed": "Proposition de binôme", "MatchDeclined": "Proposition refusée",
    "ProposalWithdrawn": "Proposition retirée", "PairFormed": "Binôme formé",
    "PairEnded": "Fin du binôme", "RematchRequested": "Nouveau binôme demandé",
    "CohortLaunched": "Lancement de la cohorte",
    "FollowUpPlanned": "Parcours planifié", "SessionLogged": "Séance déclarée",
    "ReviewScheduled": "Bilan programmé", "ReviewDue": "Bilan à réaliser",
    "ReviewOverdue": "Bilan en retard", "ReviewCompleted": "Bilan réalisé",
    "ReferentAssigned": "Référent·e attribué·e",
    "FollowUpEnded": "Fin du parcours", "OutcomeRecorded": "Situation enregistrée",
    "QuestionnaireAnswered": "Questionnaire rempli", "ReminderSent": "Courriel envoyé",
    "NetworkingRegistrationRecorded": "Inscription à un évènement",
    "AttendanceRecorded": "Présence à un évènement",
}
SERVICE_LABELS = {"matching": "mise en binôme", "followup": "suivi du binôme",
                  "reporting": "statistiques"}
IDENTITY_LABELS = {
    "first_name": "Prénom", "last_name": "Nom", "email": "Adresse e-mail",
    "phone": "Téléphone", "birth_date": "Date de naissance", "postcode": "Code postal",
    "establishment": "Établissement", "career_goals": "Projet professionnel",
    "organisation": "Structure", "motivation": "Motivation", "referrer": "Prescripteur·rice",
    "channel_declared": "Canal indiqué", "kind": "Type", "years_in_ess": "Années dans l'ESS",
}


# --- calls to the services, for the person a verified link names ------------------------------

def _token(request: Request, role: StaffRole) -> dict[str, str]:
    secret = request.app.state.settings.auth_secret
    return {"Authorization": "Bearer " + issue_token(secret, SELF_SERVICE, role, None,
                                                     ttl=timedelta(minutes=5))}


async def _intake(request: Request, method: str, path: str, role: StaffRole,
                  **kwargs: Any) -> httpx.Response:
    base = request.app.state.settings.intake_url.rstrip("/")
    try:
        return await request.app.state.http.request(method, base + path,
                                                     headers=_token(request, role), **kwargs)
    except httpx.HTTPError as error:
        log.warning("intake_unreachable", error=type(error).__name__)
        raise _unavailable() from None


def _unavailable() -> PageError:
    return PageError(503, "Service momentanément indisponible", "Vos données ne sont pas "
                     "accessibles pour le moment : rien n'a été modifié. Réessayez dans "
                     "quelques instants avec le même lien.")


def _link(request: Request, token: str, purpose: LinkPurpose) -> Link:
    """The verified link, or a French page saying what to do."""
    try:
        link = open_link(request.app.state.settings.auth_secret, token, get_clock().now())
    except ExpiredLink:
        raise PageError(410, "Lien expiré", "Ce lien n'est plus valable (il l'est deux heures). "
                        "Demandez-en un nouveau sur la page « Mes données » : il vous sera "
                        "envoyé par courriel.") from None
    except InvalidLink:
        link = None
    if link is None or link.purpose is not purpose or str(link.person_id) != link.object_id:
        raise PageError(400, "Lien invalide", "Ce lien est incomplet ou a été modifié. Copiez "
                        "l'adresse complète depuis le courriel reçu, ou demandez un nouveau lien "
                        "sur la page « Mes données ».")
    return link


def _personal_url(request: Request, path: str, purpose: LinkPurpose, person_id: UUID) -> str:
    settings = request.app.state.settings
    token = seal(settings.auth_secret, purpose, person_id, person_id, get_clock().now())
    return f"{settings.participants_url.rstrip('/')}{path}{token}"


async def _mail(request: Request, to: str, subject: str, template: str,
                values: dict[str, Any]) -> None:
    settings = request.app.state.settings
    message = build_message(sender=settings.smtp_sender, to=[to], subject=subject,
                            body=_MAILS.get_template(f"{template}.txt").render(values),
                            key=f"{template}-{uuid4()}")
    message.add_alternative(_MAILS.get_template(f"{template}.html").render(values),
                            subtype="html")
    try:
        await send(settings, message)
    except MailError as error:
        log.warning("mail_not_sent", template=template, error=str(error))
        raise PageError(503, "Envoi du courriel impossible", "Le courriel n'a pas pu être "
                        "envoyé pour le moment. Réessayez dans quelques minutes.") from None


async def _contact(request: Request, person_id: UUID) -> dict[str, Any] | None:
    answer = await _intake(request, "GET", f"/staff/persons/{person_id}/contact",
                           StaffRole.service)
    return answer.json() if answer.status_code == 200 else None


def _expiry(purpose: LinkPurpose) -> str:
    return french_datetime(get_clock().now() + DEFAULT_VALIDITY[purpose])


# --- asking for the link ---------------------------------------------------------------------

def _page(request: Request, template: str, context: dict[str, Any],
          status_code: int = 200) -> Response:
    return request.app.state.pages.html(request, f"donnees/{template}", context,
                                        status_code=status_code)


@router.get("/mes-donnees")
async def ask_form(request: Request) -> Response:
    return _page(request, "demande.html", {"title": "Mes données", "values": {}, "errors": {}})


def _throttle(request: Request) -> None:
    """Each request may send an e-mail: the public forms' rate per address applies."""
    settings = request.app.state.settings
    if settings.public_rate_per_minute <= 0:
        return
    buckets = getattr(request.app.state, "data_request_buckets", None)
    if buckets is None:
        buckets = request.app.state.data_request_buckets = TokenBuckets(
            settings.public_rate_per_minute, settings.public_rate_burst)
    if buckets.take(request.client.host if request.client else "unknown") > 0:
        raise PageError(429, "Trop de demandes", "Trop de demandes depuis votre connexion en "
                        "peu de temps. Patientez quelques minutes puis réessayez.")


@router.post("/mes-donnees")
async def ask(request: Request) -> Response:
    _throttle(request)
    values = await form_values(request)
    email = values.get("email", "")
    if not email or "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        return _page(request, "demande.html", {
            "title": "Mes données", "values": values,
            "errors": {"email": "Indiquez une adresse e-mail valide, par exemple "
                                "prenom.nom@exemple.fr."}}, status_code=422)
    found = await _intake(request, "GET", "/staff/persons", StaffRole.admin,
                          params={"email": email})
    persons = {row["person_id"] for row in found.json()} if found.status_code == 200 else set()
    for person_id in sorted(persons):  # the same answer whether or not anyone was found
        contact = await _contact(request, UUID(person_id))
        if contact is not None:
            await _mail(request, contact["email"], "Accès à vos données Succ'ess",
                        "acces_donnees", {
                            "first_name": contact["first_name"],
                            "link": _personal_url(request, ACCESS_PATH, LinkPurpose.data_access,
                                                  UUID(person_id)),
                            "expires": _expiry(LinkPurpose.data_access)})
    return RedirectResponse("/mes-donnees/envoye", status_code=303)


@router.get("/mes-donnees/envoye")
async def asked(request: Request) -> Response:
    return _page(request, "envoye.html", {"title": "Demande envoyée"})


# --- behind the access link ------------------------------------------------------------------

async def _data(request: Request, link: Link) -> dict[str, Any]:
    answer = await _intake(request, "GET", f"/staff/persons/{link.person_id}/data",
                           StaffRole.service)
    if answer.status_code == 404:
        raise PageError(404, "Aucune donnée", "Le programme ne garde plus aucune donnée "
                        "personnelle vous concernant (elles ont peut-être été effacées).")
    if answer.status_code != 200:
        log.warning("person_data_refused", status=answer.status_code)
        raise _unavailable()
    return {**answer.json(), "programme_events": await _programme_events(request, link)}


async def _programme_events(request: Request, link: Link) -> list[dict[str, Any]] | None:
    """What every service recorded about the person (types and dates, from reporting's
    archive); None when reporting does not answer (the page says so)."""
    base = request.app.state.settings.reporting_url.rstrip("/")
    try:
        answer = await request.app.state.http.get(
            f"{base}/staff/persons/{link.person_id}/events",
            headers=_token(request, StaffRole.service))
    except httpx.HTTPError as error:
        log.warning("reporting_unreachable", error=type(error).__name__)
        return None
    if answer.status_code != 200:
        log.warning("person_events_refused", status=answer.status_code)
        return None
    return answer.json()


_ANSWER_ENUMS = {"channel": RecruitmentChannel, "sector_interests": Sector,
                 "aspirations": JobFamily, "availability": AvailabilitySlot,
                 "job_family": JobFamily, "employment_status": EmploymentStatus,
                 "role": Role, "age_band": AgeBand, "referrer_kind": ReferrerKind}


def _answer_label(field: str, value: Any) -> str:
    """An application answer in French (codes of the closed vocabularies by their label)."""
    enum = _ANSWER_ENUMS.get(field)
    shown = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, bool):
            shown.append("oui" if item else "non")
        elif enum is not None and item in enum.__members__.values():
            shown.append(label(enum(item)))
        else:
            shown.append(str(item))
    return ", ".join(shown) or "—"


ANSWER_LABELS = {"role": "Rôle", "channel": "Canal de recrutement", "departement": "Département",
                 "age_band": "Tranche d'âge", "sector_interests": "Secteurs",
                 "aspirations": "Métiers visés", "availability": "Disponibilités",
                 "remote_ok": "Mentorat à distance", "job_family": "Métier",
                 "years_in_ess": "Années dans l'ESS", "employment_status": "Statut",
                 "capacity": "Nombre de jeunes", "referrer_kind": "Inscrit·e par"}


def _identity_value(field: str, value: Any) -> str:
    if field == "birth_date":
        return french_date(value)
    if isinstance(value, dict):  # a referrer: kind, name, contact
        return ", ".join(f"{IDENTITY_LABELS.get(k, k)} : {v}" for k, v in value.items() if v)
    return str(value)


def _view(data: dict[str, Any]) -> dict[str, Any]:
    identity = [(IDENTITY_LABELS.get(k, k), _identity_value(k, v))
                for k, v in data["identity"].items() if v not in (None, "", [])]
    applications = []
    for entry in data["applications"]:
        answers = [(ANSWER_LABELS[k], _answer_label(k, v)) for k, v in
                   entry.get("answers", {}).items() if k in ANSWER_LABELS and v not in (None, [])]
        applications.append({**entry["application"], "answers": answers, "history": [
            {"label": EVENT_LABELS.get(e["type"], e["type"]), "at": e["at"]}
            for e in entry["history"]]})
    recorded = data.get("programme_events")
    return {"identity": identity, "applications": applications, "person_events": [
        {"label": EVENT_LABELS.get(e["type"], e["type"]), "at": e["at"]}
        for e in data["person_events"]],
        "programme_events": None if recorded is None else [
            {"label": EVENT_LABELS.get(e["type"], e["type"]),
             "service": SERVICE_LABELS.get(e["service"], e["service"]), "at": e["at"]}
            for e in recorded if e["service"] != "intake"]}


async def _access_page(request: Request, token: str, link: Link, values: dict[str, Any],
                       errors: dict[str, str], status_code: int = 200) -> Response:
    data = await _data(request, link)
    open_applications = [a for a in data["applications"]
                         if a["application"]["status"] in OPEN_STATUSES]
    current = dict(data["identity"])
    return _page(request, "acces.html", {
        "title": "Vos données", "token": token, "base": f"{ACCESS_PATH}{token}",
        "values": values or {k: current.get(k) or "" for k in CONTACT_FIELDS},
        "errors": errors, "flash": DONE.get(request.query_params.get("fait", "")),
        "consent_open": bool(open_applications), **_view(data)}, status_code=status_code)


@router.get(ACCESS_PATH + "{token}")
async def access(request: Request, token: str) -> Response:
    link = _link(request, token, LinkPurpose.data_access)
    return await _access_page(request, token, link, {}, {})


@router.get(ACCESS_PATH + "{token}/donnees.json")
async def download(request: Request, token: str) -> Response:
    link = _link(request, token, LinkPurpose.data_access)
    data = await _data(request, link)
    body = json.dumps({"programme": "Succ'ess", "exported_at": get_clock().now().isoformat(),
                       **data}, ensure_ascii=False, indent=2, default=str)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": 'attachment; filename="mes-donnees-succes.json"'})


def _back(token: str, code: str) -> RedirectResponse:
    return RedirectResponse(f"{ACCESS_PATH}{token}?fait={code}", status_code=303)


@router.post(ACCESS_PATH + "{token}/coordonnees")
async def correct(request: Request, token: str) -> Response:
    link = _link(request, token, LinkPurpose.data_access)
    values = await form_values(request)
    body = {k: values[k] for k in CONTACT_FIELDS if values.get(k)}
    if not body:
        return await _access_page(request, token, link, values, {
            "email": "Indiquez l'adresse e-mail ou le téléphone à corriger."}, 422)
    answer = await _intake(request, "PUT", f"/staff/persons/{link.person_id}/contact",
                           StaffRole.admin, json=body)
    if answer.status_code in (409, 422):
        errors = {}
        for error in answer.json().get("errors", []):
            field = (error.get("field") or "").split(".")[-1]
            errors.setdefault(field if field in CONTACT_FIELDS else "email", error["message"])
        return await _access_page(request, token, link, values, errors, answer.status_code)
    if answer.status_code != 200:
        raise _unavailable()
    return _back(token, "coordonnees" if answer.json().get("corrected") else "inchange")


@router.post(ACCESS_PATH + "{token}/consentement")
async def withdraw_consent(request: Request, token: str) -> Response:
    """Every open application of the person is withdrawn (``consent_withdrawn``), each by
    intake's own command; those already closed stay as they are, so a retry is harmless."""
    link = _link(request, token, LinkPurpose.data_access)
    data = await _data(request, link)
    for entry in data["applications"]:
        application = entry["application"]
        if application["status"] not in OPEN_STATUSES:
            continue
        answer = await _intake(
            request, "POST", f"/staff/applications/{application['application_id']}/withdrawal",
            StaffRole.admin, json={"reason": WithdrawalReason.consent_withdrawn.value})
        if answer.status_code not in (200, 409):  # 409: closed meanwhile
            raise _unavailable()
    return _back(token, "consentement")


@router.post(ACCESS_PATH + "{token}/effacement")
async def ask_erasure(request: Request, token: str) -> Response:
    link = _link(request, token, LinkPurpose.data_access)
    contact = await _contact(request, link.person_id)
    if contact is None:
        raise PageError(404, "Aucune donnée", "Le programme ne garde plus aucune donnée "
                        "personnelle vous concernant.")
    await _mail(request, contact["email"], "Confirmez l'effacement de vos données Succ'ess",
                "confirmation_effacement", {
                    "first_name": contact["first_name"],
                    "link": _personal_url(request, ERASURE_PATH, LinkPurpose.erasure,
                                          link.person_id),
                    "expires": _expiry(LinkPurpose.erasure)})
    return _back(token, "effacement")


# --- behind the erasure link (single use) ------------------------------------------------------

def _already_used() -> PageError:
    return PageError(410, "Lien déjà utilisé", "Ce lien de confirmation a déjà servi : "
                     "l'effacement de vos données a été fait. Si vous pensez que le programme "
                     "garde encore des données vous concernant, demandez un nouveau lien sur la "
                     "page « Mes données » ou écrivez à la CRESS de votre région.")


async def _spent(request: Request, link: Link) -> bool:
    async with request.app.state.engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT 1 FROM participants.used_links WHERE link_id = :id"),
            {"id": link.link_id})).first() is not None


@router.get(ERASURE_PATH + "{token}")
async def erasure_form(request: Request, token: str) -> Response:
    link = _link(request, token, LinkPurpose.erasure)
    if await _spent(request, link):
        raise _already_used()
    return _page(request, "effacement.html", {"title": "Effacer mes données",
                                              "action": f"{ERASURE_PATH}{token}"})


@router.post(ERASURE_PATH + "{token}")
async def erase(request: Request, token: str) -> Response:
    """The link is spent in the transaction that waits for intake's erasure: a second click
    waits, then finds it spent; a failed erasure leaves the link usable."""
    link = _link(request, token, LinkPurpose.erasure)
    async with request.app.state.engine.begin() as conn:
        claimed = (await conn.execute(text(
            "INSERT INTO participants.used_links (link_id, purpose, used_at) "
            "VALUES (:id, :purpose, :at) ON CONFLICT DO NOTHING RETURNING link_id"),
            {"id": link.link_id, "purpose": link.purpose.value,
             "at": get_clock().now()})).first()
        if claimed is None:
            raise _already_used()
        answer = await _intake(request, "DELETE", f"/staff/persons/{link.person_id}",
                               StaffRole.admin)
        if answer.status_code not in (200, 404):  # 404: nothing left to erase
            log.warning("erasure_refused", status=answer.status_code)
            raise _unavailable()
    return RedirectResponse("/mes-donnees/efface", status_code=303)


@router.get("/mes-donnees/efface")
async def erased(request: Request) -> Response:
    return _page(request, "efface.html", {"title": "Données effacées"})
