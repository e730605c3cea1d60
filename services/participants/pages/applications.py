"""The application forms (/candidater/jeune, /candidater/orientation, /candidater/mentor): a
thin adapter over intake's public API, where every rule about an application lives.

Each form display carries its own Idempotency-Key (a hidden field), so a double submit gives
intake the same key and yields one application. The person's address is forwarded to intake
with our proof, so intake's per-address rate limit applies to them, not to this server. A
filled honeypot field gets the usual thanks without anything being sent to intake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from events.vocabulary import (
    AVAILABILITY_SLOT_LABELS,
    EMPLOYMENT_STATUS_LABELS,
    JOB_FAMILY_LABELS,
    RECRUITMENT_CHANNEL_LABELS,
    REFERRER_KIND_LABELS,
    REJECTION_REASON_LABELS,
    SECTOR_LABELS,
    RecruitmentChannel,
    RejectionReason,
)
from services.backoffice.pages.forms import form_values, payload
from services.common.limits import forwarded_client_headers
from services.common.web import PageError, unbound_errors

log = structlog.get_logger(__name__)
router = APIRouter()

HONEYPOT = "site_web"  # "Ne pas remplir": hidden from people, filled by bots
LISTS = ("availability", "sector_interests", "aspirations", "sector_expertise")
IDENTITY = ("first_name", "last_name", "email", "phone", "postcode", "channel",
            "availability", "remote_ok", "consent_data_processing")
YOUNG_PERSON = (*IDENTITY, "birth_date", "establishment", "sector_interests", "aspirations",
                "career_goals")
MENTOR = (*IDENTITY, "years_in_ess", "employment_status", "organisation", "sector_expertise",
          "job_family", "capacity", "motivation")
REFERRER = ("kind", "first_name", "last_name", "email", "phone", "organisation")
FLAGS = ("remote_ok", "consent_data_processing")


def _options(labels: dict) -> list[tuple[str, str]]:
    return [(member.value, text) for member, text in labels.items()]


# The referrer's channel is implied: the young person's own channel lists the others.
CHANNELS = [(c, t) for c, t in _options(RECRUITMENT_CHANNEL_LABELS)
            if c != RecruitmentChannel.referrer.value]
VOCABULARIES = {
    "channels": CHANNELS, "all_channels": _options(RECRUITMENT_CHANNEL_LABELS),
    "sectors": _options(SECTOR_LABELS), "job_families": _options(JOB_FAMILY_LABELS),
    "availability": _options(AVAILABILITY_SLOT_LABELS),
    "employment_status": _options(EMPLOYMENT_STATUS_LABELS),
    "referrer_kinds": _options(REFERRER_KIND_LABELS),
    "capacities": [("1", "1 jeune"), ("2", "2 jeunes"), ("3", "3 jeunes")],
}


@dataclass(frozen=True)
class ApplicationForm:
    slug: str        # /candidater/<slug>
    endpoint: str    # intake's public endpoint
    title: str
    fields: tuple[str, ...]

    def body(self, values: dict[str, Any]) -> dict[str, Any]:
        """Intake's JSON from the posted fields (bad values go as they are: intake's French
        refusal then lands next to the field)."""
        if self.slug == "orientation":
            referrer = payload({k: values.get(f"referrer_{k}") for k in REFERRER}, *REFERRER)
            return {"referrer": referrer, "young_person": _person(values, YOUNG_PERSON)}
        return _person(values, self.fields)


def _person(values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return payload(values, *fields, integers=("years_in_ess", "capacity"), booleans=FLAGS)


FORMS = {form.slug: form for form in (
    ApplicationForm("jeune", "/applications/mentee", "Candidater comme jeune mentoré·e",
                    YOUNG_PERSON),
    ApplicationForm("orientation", "/applications/referral",
                    "Inscrire un·e jeune (prescripteur·rice)",
                    (*(f"referrer_{k}" for k in REFERRER), *YOUNG_PERSON)),
    ApplicationForm("mentor", "/applications/mentor", "Devenir mentor", MENTOR),
)}
HOME_LINKS = [("/candidater/jeune", "Je suis jeune (18-30 ans) et je candidate"),
              ("/candidater/orientation", "J'inscris un·e jeune que j'accompagne"),
              ("/candidater/mentor", "Je suis professionnel·le de l'ESS et je deviens mentor")]


def form_field(api_field: str | None) -> str:
    """The form field an intake error names: ``young_person.email`` -> ``email``,
    ``referrer.kind`` -> ``referrer_kind``, ``availability.0`` -> ``availability``."""
    parts = [p for p in (api_field or "").split(".") if p and not p.isdigit()]
    if not parts:
        return ""
    if parts[0] == "referrer" and len(parts) > 1:
        return f"referrer_{parts[1]}"
    if parts[0] == "young_person":
        parts = parts[1:]
    return parts[0] if parts else ""


def errors_by_field(body: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in (body or {}).get("errors", []) if isinstance(body, dict) else []:
        found.setdefault(form_field(error.get("field")), error.get("message") or
                         "Valeur refusée.")
    return found


def _form(slug: str) -> ApplicationForm:
    form = FORMS.get(slug)
    if form is None:
        raise PageError(404, "Page introuvable", "Ce formulaire n'existe pas. Choisissez le "
                        "vôtre depuis l'accueil.")
    return form


def _render(request: Request, form: ApplicationForm, values: dict[str, Any],
            errors: dict[str, str], status_code: int = 200) -> Response:
    general = unbound_errors(errors, form.fields)
    return request.app.state.pages.html(request, f"candidature/{form.slug}.html", {
        "title": form.title, "form": form, "values": values, "errors": errors,
        "general": general, "honeypot": HONEYPOT, **VOCABULARIES}, status_code=status_code)


@router.get("/candidater/{slug}")
async def show_form(request: Request, slug: str) -> Response:
    form = _form(slug)
    return _render(request, form, {"idempotency_key": uuid4().hex}, {})


@router.post("/candidater/{slug}")
async def submit_form(request: Request, slug: str) -> Response:
    form = _form(slug)
    values = await form_values(request, lists=LISTS)
    key = values.get("idempotency_key") or uuid4().hex
    values["idempotency_key"] = key
    if values.get(HONEYPOT):
        log.warning("honeypot_filled", form=slug)  # a bot: thank it, record nothing
        return _thanks(slug, {"statut": "recue"})
    settings = request.app.state.settings
    client = request.client.host if request.client else None
    try:
        answer = await request.app.state.http.post(
            f"{settings.intake_url.rstrip('/')}{form.endpoint}", json=form.body(values),
            headers={"Idempotency-Key": f"participants-{key}"[:200],
                     **forwarded_client_headers(settings.auth_secret or "", client)})
    except httpx.HTTPError as error:
        log.warning("intake_unreachable", error=type(error).__name__)
        raise PageError(503, "Service momentanément indisponible", "Votre candidature n'a pas "
                        "pu être envoyée : rien n'a été enregistré. Réessayez dans quelques "
                        "instants.") from None
    if answer.status_code in (200, 201):
        return _thanks(slug, _outcome(answer.json()))
    if answer.status_code in (409, 422, 429):
        errors = errors_by_field(answer.json())
        if "Idempotency-Key" in errors:  # this display was already sent, then changed
            values["idempotency_key"] = uuid4().hex
            errors = {"": "Ce formulaire a déjà été envoyé une fois. Vérifiez vos réponses "
                          "puis envoyez-le à nouveau."}
        return _render(request, form, values, errors, status_code=answer.status_code)
    log.warning("intake_refused", status=answer.status_code)
    raise PageError(503, "Service momentanément indisponible", "Votre candidature n'a pas pu "
                    "être enregistrée. Réessayez dans quelques instants.")


def _outcome(answer: dict[str, Any]) -> dict[str, Any]:
    """What the confirmation page needs: codes only (nothing personal in the address)."""
    status = "duplicate" if answer.get("duplicate") else answer.get("status", "recue")
    return {"statut": status, "cohorte": answer.get("cohort", ""),
            "region": answer.get("region", ""),
            "motif": [r.get("code", "") for r in answer.get("reasons", [])]}


def _thanks(slug: str, outcome: dict[str, Any]) -> RedirectResponse:
    return RedirectResponse(f"/candidater/{slug}/merci?{urlencode(outcome, doseq=True)}",
                            status_code=303)


@router.get("/candidater/{slug}/merci")
async def thanks(request: Request, slug: str) -> Response:
    form = _form(slug)
    query = request.query_params
    reasons = [REJECTION_REASON_LABELS[RejectionReason(code)]
               for code in query.getlist("motif") if code in RejectionReason.__members__]
    cohort = query.get("cohorte", "")
    return request.app.state.pages.html(request, "candidature/merci.html", {
        "title": "Candidature envoyée", "form": form, "status": query.get("statut", "recue"),
        "cohort": cohort if _is_cohort(cohort) else "", "reasons": reasons})


def _is_cohort(text: str) -> bool:
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit()
