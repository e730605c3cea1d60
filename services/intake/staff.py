"""Staff back-office of intake: bearer tokens with a role and a region.

Referents see and act only on their region; admins act everywhere (or on their region when
their token names one); analysts read the pseudonymous list only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text

from events.base import RegionCode
from events.geography import REGIONS
from events.intake import RegionSettingsChanged
from events.vocabulary import (
    CandidateDeclineReason,
    Departement,
    InterviewOutcome,
    MeetingFormat,
    RecruitmentChannel,
    ReroutingReason,
    Role,
    WithdrawalReason,
)
from services.common.api import french_error
from services.common.auth import (
    Principal,
    StaffRole,
    require_region,
    require_regions,
    staff,
    visible_regions,
)
from services.common.errors import DomainError
from services.common.runtime import runtime_of
from services.common.validation import (
    COHORT_MONTH_PATTERN,
    BirthDate,
    BoundedList,
    Count,
    Flag,
    Limit,
    Offset,
    ProgrammeDate,
    ProgrammeInstant,
)
from services.intake import domain
from services.intake.domain import STATUS_LABELS, Status
from services.intake.api import EmailStr, Name, Phone
from services.intake.workflow import Intake

router = APIRouter(prefix="/staff", tags=["back-office"])

Acting = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin))]
Reading = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin,
                                              StaffRole.analyst))]
Admin = Annotated[Principal, Depends(staff(StaffRole.admin))]


def _intake(request: Request) -> Intake:
    return runtime_of(request).state["intake"]  # type: ignore[return-value]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationRow(BaseModel):
    application_id: UUID
    person_id: UUID
    role: str
    status: str
    status_label: str
    region: str
    channel: str
    cohort: str
    departement: str
    submitted_at: datetime
    updated_at: datetime


def _row(row: Any) -> ApplicationRow:
    return ApplicationRow(**row._mapping, status_label=STATUS_LABELS[Status(row.status)])


@router.get("/applications", summary="Lister et filtrer les candidatures")
async def list_applications(
    request: Request, principal: Reading,
    status: Status | None = None, region: RegionCode | None = None,
    channel: RecruitmentChannel | None = None, role: Role | None = None,
    cohort: Annotated[str | None, Query(pattern=COHORT_MONTH_PATTERN)] = None,
    submitted_from: ProgrammeDate | None = None, submitted_to: ProgrammeDate | None = None,
    limit: Limit = 100, offset: Offset = 0,
) -> list[ApplicationRow]:
    if region is not None:
        require_region(principal, region)
    allowed = visible_regions(principal)
    clauses, params = ["true"], {"limit": limit, "offset": offset}
    for name, value in (("status", status), ("region", region), ("channel", channel),
                        ("role", role), ("cohort", cohort)):
        if value is not None:
            clauses.append(f"{name} = :{name}")
            params[name] = str(value.value if hasattr(value, "value") else value)
    if allowed is not None:
        clauses.append("region = ANY(:allowed)")
        params["allowed"] = sorted(allowed)
    # Staff type days of the programme's calendar: Paris days, whatever the server's zone.
    if submitted_from is not None:
        clauses.append("(submitted_at AT TIME ZONE 'Europe/Paris')::date >= :since")
        params["since"] = submitted_from
    if submitted_to is not None:
        clauses.append("(submitted_at AT TIME ZONE 'Europe/Paris')::date <= :until")
        params["until"] = submitted_to
    async with _intake(request).store.engine.connect() as conn:
        rows = await conn.execute(text(
            f"SELECT application_id, person_id, role, status, region, channel, cohort, departement, "
            f"submitted_at, updated_at FROM intake.applications WHERE {' AND '.join(clauses)} "
            "ORDER BY submitted_at DESC LIMIT :limit OFFSET :offset"), params)
        return [_row(r) for r in rows]


class ApplicationDetail(BaseModel):
    application: ApplicationRow
    history: list[dict[str, Any]]
    identity: dict[str, Any] | None = Field(
        None, description="données personnelles (coffre) : référent·es et admins seulement")


@router.get("/applications/{application_id}", summary="Une candidature, son historique et "
            "l'identité de la personne")
async def application_detail(application_id: UUID, request: Request,
                             principal: Reading) -> ApplicationDetail:
    intake = _intake(request)
    _state, row = await intake.load(application_id)
    require_region(principal, row.region)
    history = [{"type": e.type, "at": e.recorded_at, "actor": e.actor,
                "data": e.data.model_dump(mode="json")}
               for e in await intake.store.read_stream(f"application-{application_id}")]
    identity = None
    if principal.role is not StaffRole.analyst:
        async with intake.store.engine.connect() as conn:
            identity = await intake.vault.get(conn, row.person_id)
    return ApplicationDetail(application=_row(row), history=history, identity=identity)


async def _act(request: Request, principal: Principal, application_id: UUID, make) -> ApplicationRow:
    intake = _intake(request)
    await intake.act(application_id, principal.subject, make,
                     check=lambda row: require_region(principal, row.region))
    _state, row = await intake.load(application_id)
    return _row(row)


class InterviewRequest(_Body):
    scheduled_at: ProgrammeInstant
    format: MeetingFormat = MeetingFormat.in_person


class InterviewBooked(BaseModel):
    interview_id: UUID
    application: ApplicationRow


@router.post("/applications/{application_id}/interviews", status_code=201,
             summary="Programmer l'entretien (motivation pour un·e jeune, individuel pour un mentor)")
async def schedule_interview(application_id: UUID, body: InterviewRequest, request: Request,
                             principal: Acting) -> InterviewBooked:
    interview_id = uuid4()
    now = _intake(request).clock.now()
    row = await _act(request, principal, application_id, lambda s, _: domain.ScheduleInterview(
        interview_id, body.scheduled_at, body.format, principal.subject, now))
    return InterviewBooked(interview_id=interview_id, application=row)


class InterviewResult(_Body):
    outcome: InterviewOutcome


@router.post("/applications/{application_id}/interviews/{interview_id}/outcome",
             summary="Enregistrer l'avis après l'entretien")
async def record_interview(application_id: UUID, interview_id: UUID, body: InterviewResult,
                           request: Request, principal: Acting) -> ApplicationRow:
    now = _intake(request).clock.now()
    return await _act(request, principal, application_id, lambda s, _: domain.CompleteInterview(
        interview_id, body.outcome, principal.subject, now))


@router.post("/applications/{application_id}/admit", summary="Admettre la personne")
async def admit(application_id: UUID, request: Request, principal: Acting) -> ApplicationRow:
    return await _act(request, principal, application_id,
                      lambda s, _: domain.Admit(principal.subject))


class DeclineRequest(_Body):
    reason: CandidateDeclineReason


@router.post("/applications/{application_id}/decline", summary="Ne pas retenir la candidature")
async def decline(application_id: UUID, body: DeclineRequest, request: Request,
                  principal: Acting) -> ApplicationRow:
    return await _act(request, principal, application_id, lambda s, _: domain.Decline(body.reason))


class WithdrawalRequest(_Body):
    reason: WithdrawalReason


@router.post("/applications/{application_id}/withdrawal", summary="Enregistrer un retrait")
async def withdraw(application_id: UUID, body: WithdrawalRequest, request: Request,
                   principal: Acting) -> ApplicationRow:
    return await _act(request, principal, application_id, lambda s, _: domain.Withdraw(body.reason))


class RerouteRequest(_Body):
    to_region: RegionCode
    reason: ReroutingReason


@router.post("/applications/{application_id}/reroute",
             summary="Réorienter la candidature vers une autre région")
async def reroute(application_id: UUID, body: RerouteRequest, request: Request,
                  principal: Acting) -> ApplicationRow:
    intake = _intake(request)
    return await _act(request, principal, application_id, lambda s, settings: domain.Reroute(
        body.to_region, body.reason, intake.current_cohort(), settings))


class RegionView(BaseModel):
    region: str
    name: str
    served: bool
    departements: list[str]
    cohort: str
    objective_mentees: int
    objective_mentors: int


@router.get("/regions", summary="Critères et objectifs des régions")
async def regions(request: Request, principal: Reading) -> list[RegionView]:
    intake = _intake(request)
    async with intake.store.engine.connect() as conn:
        settings = await intake.region_settings(conn)
    return [RegionView(name=REGIONS[s.region], departements=list(s.departements),
                       **{k: getattr(s, k) for k in ("region", "served", "cohort",
                                                      "objective_mentees", "objective_mentors")})
            for s in settings.values()]


class RegionRequest(_Body):
    served: Flag
    departements: BoundedList(Departement, max_length=200, min_length=1)
    objective_mentees: Count(0, 10_000)
    objective_mentors: Count(0, 10_000)


class RegionChanged(BaseModel):
    region: RegionView
    routed_from_waiting_list: list[UUID]


@router.put("/regions/{region}", summary="Modifier les critères et objectifs d'une région "
            "(cohorte en cours)")
async def change_region(region: RegionCode, body: RegionRequest, request: Request,
                        principal: Acting) -> RegionChanged:
    if region not in REGIONS:
        raise DomainError("unknown_region", f"Région inconnue : {region}.", "region", status=404)
    require_region(principal, region)
    intake = _intake(request)
    change = RegionSettingsChanged(
        region=region, served=body.served, departements=tuple(dict.fromkeys(body.departements)),
        cohort=intake.current_cohort(), objective_mentees=body.objective_mentees,
        objective_mentors=body.objective_mentors)
    routed = await intake.change_region(change, principal.subject)
    view = next(r for r in await regions(request, principal) if r.region == region)
    return RegionChanged(region=view, routed_from_waiting_list=routed)


@router.delete("/persons/{person_id}", summary="Effacer une personne (droit à l'effacement)")
async def erase_person(person_id: UUID, request: Request, principal: Admin) -> dict[str, Any]:
    # A regional admin erases only people of their region: erasure is irreversible.
    if not await _intake(request).erase(person_id, principal.subject,
                                        check=lambda regions: require_regions(principal, regions)):
        raise DomainError("person_not_found", "Personne introuvable (déjà effacée ?).")
    return {"person_id": str(person_id), "erased": True,
            "message": "Les données personnelles ont été détruites ; PersonErased est publié."}


Searching = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin))]


@router.get("/persons", summary="Retrouver une personne : par e-mail, ou par nom, prénom et "
            "date de naissance (référent·es et admins)")
async def find_persons(
    request: Request, principal: Searching,
    email: Annotated[EmailStr | None, Query(description="e-mail exact")] = None,
    last_name: Annotated[Name | None, Query()] = None,
    first_name: Annotated[Name | None, Query()] = None,
    birth_date: Annotated[BirthDate | None, Query()] = None,
) -> list[ApplicationRow]:
    """Reveals who applied, so never to analysts; a regional token sees only the applications
    of its region (403 when the person is known elsewhere only)."""
    named = [v is not None for v in (last_name, first_name, birth_date)]
    if (email is not None and any(named)) or (email is None and not all(named)):
        raise DomainError("search_criteria", "Indiquez soit l'e-mail, soit le nom, le prénom "
                          "et la date de naissance.", "email", status=422)
    intake = _intake(request)
    if email is not None:
        rows = await intake.find_persons(email=email)
    else:
        rows = await intake.find_persons(identity=(first_name, last_name, birth_date))
    allowed = visible_regions(principal)
    visible = [r for r in rows if allowed is None or r.region in allowed]
    if rows and not visible:
        require_region(principal, rows[0].region)
    return [_row(r) for r in visible]


class ContactCorrection(_Body):
    email: EmailStr | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _something(self) -> ContactCorrection:
        if self.email is None and self.phone is None:
            raise french_error("nothing_to_correct", "Indiquez l'e-mail ou le téléphone à "
                               "corriger.")
        return self


class ContactCorrected(BaseModel):
    person_id: UUID
    corrected: list[str]
    message: str


@router.put("/persons/{person_id}/contact", summary="Corriger l'e-mail ou le téléphone d'une "
            "personne (référent·es et admins)")
async def correct_contact(person_id: UUID, body: ContactCorrection, request: Request,
                          principal: Acting) -> ContactCorrected:
    requested = body.model_dump(exclude_none=True)
    fields = await _intake(request).correct_contact(
        person_id, requested, principal.subject, check=lambda region: require_region(
            principal, region))
    message = ("Coordonnées corrigées." if fields else
               "Aucun changement : ces coordonnées sont déjà enregistrées.")
    return ContactCorrected(person_id=person_id, corrected=fields, message=message)


ServiceCall = Annotated[Principal, Depends(staff(StaffRole.service))]


class Contact(BaseModel):
    person_id: UUID
    first_name: str
    email: str


@router.get("/persons/{person_id}/contact", summary="Coordonnées d'une personne (services "
            "internes : rappels du suivi)")
async def person_contact(person_id: UUID, request: Request, principal: ServiceCall) -> Contact:
    """Read from the vault at the moment a reminder is sent, never copied elsewhere: an erased
    person has no contact any more (404). A service token naming a region reads only it."""
    intake = _intake(request)
    async with intake.store.engine.connect() as conn:
        record = await intake.vault.get(conn, person_id)
        regions = set((await conn.execute(text(
            "SELECT DISTINCT region FROM intake.applications WHERE person_id = :p"),
            {"p": person_id})).scalars())
    email = (record or {}).get("email")
    if not email:
        raise DomainError("person_not_found", "Personne inconnue ou effacée : aucun contact.",
                          field="person_id")
    require_regions(principal, regions)
    return Contact(person_id=person_id, first_name=record.get("first_name") or "", email=email)


class PersonApplication(BaseModel):
    application: ApplicationRow
    answers: dict[str, Any] = Field(description="les réponses codées de la candidature")
    history: list[dict[str, Any]] = Field(description="types et dates des évènements")


class PersonData(BaseModel):
    person_id: UUID
    identity: dict[str, Any] = Field(description="ce que le coffre garde de la personne")
    applications: list[PersonApplication]
    person_events: list[dict[str, Any]] = Field(
        description="évènements de la personne elle-même (coordonnées corrigées)")


def _history_entry(envelope: Any) -> dict[str, Any]:
    return {"type": envelope.type, "at": envelope.recorded_at}


@router.get("/persons/{person_id}/data", summary="Tout ce que le programme garde d'une "
            "personne (services internes : droit d'accès en libre-service)")
async def person_data(person_id: UUID, request: Request, principal: ServiceCall) -> PersonData:
    """The self-service access right: the vault record and the applications with the types
    and dates of their events. Only for the participants' pages, which call it after the
    person opened their own personal link; an erased person has nothing (404)."""
    intake = _intake(request)
    async with intake.store.engine.connect() as conn:
        record = await intake.vault.get(conn, person_id)
        rows = list(await conn.execute(text(
            "SELECT application_id, person_id, role, status, region, channel, cohort, "
            "departement, submitted_at, updated_at FROM intake.applications "
            "WHERE person_id = :p ORDER BY submitted_at"), {"p": person_id}))
    if record is None:
        raise DomainError("person_not_found", "Personne inconnue ou effacée.", "person_id")
    require_regions(principal, {row.region for row in rows})
    applications = []
    for row in rows:
        stream = await intake.store.read_stream(f"application-{row.application_id}")
        answers = stream[0].data.model_dump(mode="json", exclude={
            "application_id", "person_id"}) if stream else {}
        applications.append(PersonApplication(application=_row(row), answers=answers,
                                              history=[_history_entry(e) for e in stream]))
    person_events = [_history_entry(e) for e in await intake.store.read_stream(
        f"person-{person_id}")]
    return PersonData(person_id=person_id, identity=record, applications=applications,
                      person_events=person_events)
