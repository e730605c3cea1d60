"""Public intake API. The exact birth date and postcode are reduced to an age band and a
département here and never stored (personal data stays out of events)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from events import Metadata
from events.geography import REGION_OF_DEPARTEMENT, departement_of_postcode
from events.intake import ApplicationReceived
from events.vocabulary import (
    AvailabilitySlot,
    EmploymentStatus,
    JobFamily,
    RecruitmentChannel,
    Role,
    Sector,
)
from services.common.runtime import runtime_of
from services.intake.domain import SubmitApplication, age_band, age_on, decide, replay

router = APIRouter(tags=["candidatures"])


class ApplicationRequest(BaseModel):
    """A mentee or mentor application (the walking-skeleton subset of the intake form)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    postcode: Annotated[str, Field(pattern=r"^\d{5}$", description="code postal, ex. 75011")]
    channel: RecruitmentChannel
    sector_interests: Annotated[list[Sector], Field(min_length=1)]
    availability: Annotated[list[AvailabilitySlot], Field(min_length=1)]
    remote_ok: bool = False
    consent_given: bool
    birth_date: date | None = Field(default=None, description="mentoré·e : date de naissance")
    aspirations: list[JobFamily] = Field(default_factory=list)
    job_family: JobFamily | None = None
    years_in_ess: Annotated[int, Field(ge=0, le=60)] | None = None
    employment_status: EmploymentStatus | None = None
    capacity: Annotated[int, Field(ge=1, le=3)] | None = None

    @field_validator("postcode")
    @classmethod
    def _known_postcode(cls, value: str) -> str:
        if departement_of_postcode(value) is None:
            raise ValueError("Code postal inconnu : indiquez un code postal français à 5 chiffres.")
        return value


_MENTEE_FIELDS = ("birth_date",)
_MENTOR_FIELDS = ("job_family", "years_in_ess", "employment_status", "capacity")


def _require(body: ApplicationRequest, fields: tuple[str, ...]) -> None:
    """Fields required for the applicant's role: a 422 naming each missing one."""
    missing = [f for f in fields if getattr(body, f) is None]
    if missing:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body", f), "msg": "required", "input": None}
             for f in missing])


class ApplicationAccepted(BaseModel):
    application_id: UUID
    region: str
    status: str = "received"


@router.post("/applications", status_code=status.HTTP_201_CREATED,
             summary="Déposer une candidature (mentoré·e ou mentor)")
async def submit_application(body: ApplicationRequest, request: Request) -> ApplicationAccepted:
    runtime = runtime_of(request)
    departement = departement_of_postcode(body.postcode)
    assert departement is not None  # validated above
    today = runtime.clock.now().date()
    is_mentee = body.role is Role.mentee
    _require(body, _MENTEE_FIELDS if is_mentee else _MENTOR_FIELDS)
    application_id, person_id = uuid4(), uuid4()
    profile = ApplicationReceived(
        application_id=application_id,
        person_id=person_id,
        role=body.role,
        channel=body.channel,
        departement=departement,
        sector_interests=tuple(dict.fromkeys(body.sector_interests)),
        remote_ok=body.remote_ok,
        availability=tuple(dict.fromkeys(body.availability)),
        aspirations=tuple(dict.fromkeys(body.aspirations)) if is_mentee else (),
        age_band=age_band(age_on(body.birth_date, today)) if is_mentee else None,
        job_family=None if is_mentee else body.job_family,
        years_in_ess=None if is_mentee else body.years_in_ess,
        employment_status=None if is_mentee else body.employment_status,
        capacity=None if is_mentee else body.capacity,
        consent_given=body.consent_given,
    )
    region = REGION_OF_DEPARTEMENT[departement]
    stream = f"application-{application_id}"
    assert runtime.store is not None
    async with runtime.store.transaction() as tx:
        history = [e.data for e in await tx.read_stream(stream)]
        events = decide(replay(history), SubmitApplication(profile))
        await tx.append(stream, len(history), events,
                        Metadata(region=region, actor="applicant", correlation_id=uuid4()))
    return ApplicationAccepted(application_id=application_id, region=region)
