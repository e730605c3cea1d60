"""Public intake API: three ways in (mentee, referral by a referrer, mentor).

Identity, contacts, the exact birth date and free text go to the vault only; the events get an
age band, a département and codes. A malformed request is refused with 422 before anything is
stored; a well-formed but ineligible one is recorded (counted, nothing personal kept).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.geography import departement_of_postcode
from events.vocabulary import (
    AvailabilitySlot,
    EmploymentStatus,
    JobFamily,
    RecruitmentChannel,
    ReferrerKind,
    Role,
    Sector,
)
from services.common.api import error_body, french_error
from services.common.runtime import runtime_of
from services.common.validation import (
    POSTCODE_PATTERN,
    BirthDate,
    BoundedList,
    Count,
    Email,
    Flag,
    Line,
    Text,
)
from services.intake import domain
from services.intake.workflow import Identity, IdempotencyKeyReused, Intake

router = APIRouter(tags=["candidatures"])

Name = Line(100, min_length=1)
Phone = Annotated[Line(32), Field(pattern=r"^\+?[0-9 .()-]{6,20}$")]
FreeText = Text(2000)
Postcode = Annotated[Line(16), Field(pattern=POSTCODE_PATTERN, description="code postal, ex. 29200")]
EmailStr = Email
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=200,
    description="Rejouer la même requête avec la même clé renvoie la même réponse.")]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    first_name: Name
    last_name: Name
    email: EmailStr
    phone: Phone | None = None
    postcode: Postcode
    channel: RecruitmentChannel
    availability: BoundedList(AvailabilitySlot, min_length=1)
    remote_ok: Flag = Field(False, description="le mentorat à distance convient")
    consent_data_processing: Flag = Field(description="consentement au traitement des données")

    @field_validator("postcode")
    @classmethod
    def _known_postcode(cls, value: str) -> str:
        if departement_of_postcode(value) is None:
            raise french_error("unknown_postcode", "Code postal inconnu : indiquez un code "
                               "postal français à 5 chiffres.")
        return value

    @field_validator("consent_data_processing")
    @classmethod
    def _consent(cls, value: bool) -> bool:
        if not value:
            raise french_error("consent_required", "Le consentement au traitement des données "
                               "est obligatoire pour candidater.")
        return value


class MenteeApplication(_Form):
    """Un·e jeune de 18 à 30 ans qui candidate comme mentoré·e."""

    birth_date: BirthDate
    establishment: Line(200) | None = (
        Field(None, description="université, structure ou mission locale d'origine"))
    sector_interests: Annotated[BoundedList(Sector, min_length=1), Field(description=(
        "secteurs de l'ESS qui l'intéressent (vocabulaire fermé, version 1)"))]
    aspirations: BoundedList(JobFamily) = Field(default_factory=list, description="métiers visés")
    career_goals: FreeText | None = Field(None, description="projet professionnel, en clair")

    @field_validator("birth_date")
    @classmethod
    def _plausible(cls, value: date) -> date:
        if value.year < 1900 or value > date.today():
            raise french_error("implausible_date", "Date de naissance invraisemblable : "
                               "vérifiez-la (format AAAA-MM-JJ).")
        return value


class MentorApplication(_Form):
    """Un·e professionnel·le de l'ESS qui candidate comme mentor (questionnaire)."""

    years_in_ess: Annotated[Count(0, 60), Field(description="années d'expérience dans l'ESS")]
    employment_status: EmploymentStatus
    organisation: Name
    sector_expertise: BoundedList(Sector, min_length=1)
    job_family: JobFamily
    capacity: Annotated[Count(1, 3), Field(description="nombre de mentoré·es (1 à 3)")]
    motivation: FreeText


class Referrer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: ReferrerKind
    first_name: Name
    last_name: Name
    email: EmailStr
    phone: Phone | None = None
    organisation: Name | None = None


class ReferralApplication(BaseModel):
    """Un·e prescripteur·rice inscrit un·e jeune (avec le consentement de ce·tte jeune)."""

    model_config = ConfigDict(extra="forbid")

    referrer: Referrer
    young_person: MenteeApplication


class ApplicationAnswer(BaseModel):
    application_id: str
    status: str
    region: str
    cohort: str
    message: str
    duplicate: bool = False
    reasons: list[dict[str, str]] = Field(default_factory=list)


def _distinct(values: list[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def _common(form: _Form) -> dict[str, Any]:
    return {"channel": form.channel, "departement": departement_of_postcode(form.postcode),
            "availability": _distinct(form.availability), "remote_ok": form.remote_ok,
            "consent_given": form.consent_data_processing}


def _mentee_profile(form: MenteeApplication, today: date) -> dict[str, Any]:
    age = domain.age_on(form.birth_date, today)
    return {**_common(form), "role": Role.mentee, "age": age, "age_band": domain.age_band(age),
            "sector_interests": _distinct(form.sector_interests),
            "aspirations": _distinct(form.aspirations), "job_family": None,
            "years_in_ess": None, "employment_status": None, "capacity": None}


def _identity(form: _Form, extra: dict[str, Any]) -> Identity:
    record = form.model_dump(mode="json", exclude={
        "channel", "availability", "remote_ok", "consent_data_processing", "sector_interests",
        "aspirations", "sector_expertise", "job_family", "capacity", "years_in_ess",
        "employment_status"})
    return Identity(record={**record, **extra}, email=str(form.email), first_name=form.first_name,
                    last_name=form.last_name, birth_date=getattr(form, "birth_date", None))


async def _submit(request: Request, profile: dict[str, Any], identity: Identity,
                  key: str | None) -> JSONResponse:
    intake: Intake = runtime_of(request).state["intake"]
    try:
        outcome = await intake.submit(profile, identity, key)
    except IdempotencyKeyReused:
        return JSONResponse(status_code=422, content=error_body(
            "idempotency_key_reused", "Cette clé d'idempotence a déjà servi pour une autre "
            "requête : utilisez une nouvelle clé.", "Idempotency-Key"))
    return JSONResponse(status_code=outcome.status_code, content=outcome.body)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": ApplicationAnswer, "description": "Candidature enregistrée (ou refusée : "
          "voir `status` et `reasons`)."},
    200: {"model": ApplicationAnswer, "description": "Déjà candidat·e : la candidature existante."},
    422: {"description": "Requête invalide : rien n'est enregistré."},
}


@router.post("/applications/mentee", status_code=201, responses=_RESPONSES,
             summary="Candidater comme mentoré·e (18-30 ans)")
async def apply_as_mentee(form: MenteeApplication, request: Request,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    today = runtime_of(request).clock.now().date()
    return await _submit(request, _mentee_profile(form, today), _identity(form, {}),
                         idempotency_key)


@router.post("/applications/referral", status_code=201, responses=_RESPONSES,
             summary="Inscrire un·e jeune en tant que prescripteur·rice")
async def refer_a_young_person(form: ReferralApplication, request: Request,
                               idempotency_key: IdempotencyKey = None) -> JSONResponse:
    today = runtime_of(request).clock.now().date()
    profile = {**_mentee_profile(form.young_person, today), "channel": RecruitmentChannel.referrer,
               "referrer_kind": form.referrer.kind}
    identity = _identity(form.young_person, {
        "referrer": form.referrer.model_dump(mode="json"),
        "channel_declared": form.young_person.channel.value})
    return await _submit(request, profile, identity, idempotency_key)


@router.post("/applications/mentor", status_code=201, responses=_RESPONSES,
             summary="Candidater comme mentor (professionnel·le de l'ESS)")
async def apply_as_mentor(form: MentorApplication, request: Request,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    profile = {**_common(form), "role": Role.mentor, "age_band": None, "aspirations": (),
               "sector_interests": _distinct(form.sector_expertise),
               "job_family": form.job_family, "years_in_ess": form.years_in_ess,
               "employment_status": form.employment_status, "capacity": form.capacity}
    return await _submit(request, profile, _identity(form, {}), idempotency_key)


@router.get("/vocabularies", summary="Les listes fermées du formulaire, avec leurs libellés")
async def vocabularies() -> dict[str, Any]:
    """Codes and French labels a form shows (sectors are a versioned vocabulary)."""
    from events.vocabulary import SECTOR_VOCABULARY_VERSION, label

    def entries(enum) -> list[dict[str, str]]:
        return [{"code": member.value, "label": label(member)} for member in enum]

    return {
        "sector_vocabulary_version": SECTOR_VOCABULARY_VERSION,
        "sectors": entries(Sector), "channels": entries(RecruitmentChannel),
        "job_families": entries(JobFamily), "availability": entries(AvailabilitySlot),
        "employment_status": entries(EmploymentStatus), "referrer_kinds": entries(ReferrerKind),
    }
