"""Follow-up API: the journey of each pair (sessions, reviews, endings, outcomes,
questionnaires), networking events, the referents' directory, and the toolkit and
questionnaire catalogues. Region-scoped staff tokens as in intake; a mentor's token
(``success token --role mentor --subject <person id>``) declares their own pair's sessions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from events.base import RegionCode
from events.vocabulary import (
    SESSION_THEME_LABELS,
    Audience,
    Concern,
    Departement,
    EarlyEndingReason,
    ImpactIndicator,
    MeetingFormat,
    NetworkingEventKind,
    OutcomeMoment,
    OutcomeSituation,
    Party,
    QuestionnaireKind,
    Respondent,
    ReviewAssessment,
    ReviewCriterion,
    ReviewKind,
    Role,
    SessionTheme,
    StaffId,
    label,
)
from services.common.auth import Principal, StaffRole, require_region, staff, visible_regions
from services.common.errors import DomainError
from services.common.runtime import runtime_of
from services.common.validation import (
    COHORT_ID_PATTERN,
    BoundedList,
    Count,
    Email,
    Flag,
    Line,
    ProgrammeDate,
    ProgrammeInstant,
)
from services.followup import domain, questionnaire
from services.followup.workflow import Followup

router = APIRouter(tags=["suivi"])

Acting = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin))]
Reading = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin,
                                              StaffRole.analyst))]
SessionAuthor = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin,
                                                    StaffRole.mentor))]
# The participants service, once it has verified a personal link, acts for the person and
# object the link names (answers, registrations) with a token of role ``service``.
ForParticipant = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin,
                                                     StaffRole.service))]
ReadingForParticipant = Annotated[Principal, Depends(staff(
    StaffRole.referent, StaffRole.admin, StaffRole.analyst, StaffRole.service))]
Rating = Count(1, 5)
Version = Annotated[Count(1, 1000), Field(description="version du questionnaire")]


def _followup(request: Request) -> Followup:
    return runtime_of(request).state["followup"]  # type: ignore[return-value]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def _pair(request: Request, principal: Principal, pair_id: UUID) -> Any:
    row = await _followup(request).journey_row(pair_id)
    if principal.role is StaffRole.mentor:
        if principal.subject != str(row.mentor_id):
            raise DomainError("not_your_pair", "Vous n'êtes pas le mentor de ce binôme.",
                              field="pair_id", status=403)
    else:
        require_region(principal, row.region)
    return row


# --- catalogues ---------------------------------------------------------------------------

TOOLKIT = [
    {"resource": "mentee_guide", "label": "Guide du ou de la mentoré·e"},
    {"resource": "mentor_guide", "label": "Guide du mentor"},
    *({"resource": f"session_template:{theme.value}", "theme": theme.value,
       "label": f"Fiche de séance : {SESSION_THEME_LABELS[theme]}"}
      for theme in SessionTheme if theme is not SessionTheme.other),
]


@router.get("/toolkit", summary="La boîte à outils du programme (guides, fiches par thème)")
async def toolkit() -> dict[str, Any]:
    return {"resources": TOOLKIT,
            "themes": [{"code": t.value, "label": label(t)} for t in SessionTheme]}


@router.get("/questionnaires", summary="Les questionnaires d'impact, versionnés")
async def questionnaires() -> dict[str, Any]:
    return {"current_version": questionnaire.CURRENT_VERSION,
            "questionnaires": questionnaire.catalogue(),
            "indicators": [{"code": i.value, "label": label(i)} for i in ImpactIndicator]}


# --- referents' directory -------------------------------------------------------------------

class ReferentContact(_Body):
    region: RegionCode
    email: Email
    display_name: Line(120, min_length=1)


@router.put("/staff/referents/{referent_id}", summary="Où envoyer les rappels d'un·e référent·e")
async def put_referent(referent_id: StaffId, body: ReferentContact, request: Request,
                       principal: Acting) -> dict[str, str]:
    require_region(principal, body.region)
    if principal.role is StaffRole.referent and principal.subject != referent_id:
        raise DomainError("not_yourself", "Un·e référent·e ne renseigne que ses propres "
                          "coordonnées.", field="referent_id", status=403)
    async with _followup(request).store.transaction() as tx:
        # The record's current region too: a regional admin may not take over, or redirect
        # the reminders of, a referent of another region.
        current = (await tx.connection.execute(text(
            "SELECT region FROM followup.referents WHERE referent_id = :r FOR UPDATE"),
            {"r": referent_id})).scalar()
        if current is not None:
            require_region(principal, current)
        await tx.connection.execute(text(
            "INSERT INTO followup.referents (referent_id, region, email, display_name) VALUES "
            "(:r, :region, :email, :name) ON CONFLICT (referent_id) DO UPDATE SET region = "
            "EXCLUDED.region, email = EXCLUDED.email, display_name = EXCLUDED.display_name"),
            {"r": referent_id, "region": body.region, "email": str(body.email),
             "name": body.display_name})
    return {"referent_id": referent_id}


# --- journeys -------------------------------------------------------------------------------

def _review_view(review: domain.Review, today: date) -> dict[str, Any]:
    completed = review.completed
    status = ("completed" if completed else "overdue" if review.overdue_signalled
              else "due" if review.due_signalled else "scheduled" if review.scheduled_at
              else "upcoming")
    # Days past the due date on the business clock, for the lists of overdue reviews.
    days_late = (today - review.due_on).days if status == "overdue" else None
    return {"due_on": review.due_on, "status": status, "scheduled_at": review.scheduled_at,
            "held": completed.held if completed else None,
            "assessment": completed.assessment if completed else None,
            "days_late": days_late}


def _journey_view(row: Any, state: domain.Journey, today: date) -> dict[str, Any]:
    return {"pair_id": row.pair_id, "region": row.region, "cohort_id": row.cohort_id,
            "mentee_id": row.mentee_id, "mentor_id": row.mentor_id,
            "referent_id": state.referent_id, "starts_on": row.starts_on,
            "ends_on": row.ends_on, "status": "ended" if state.ended else "active",
            "ended_on": state.ended.ended_on if state.ended else None,
            "ended_early": state.ended.early if state.ended else None,
            "sessions": state.sessions, "last_session_on": state.last_session_on,
            "reviews": {kind.value: _review_view(review, today)
                        for kind, review in state.reviews.items()},
            "outcomes": sorted(m.value for m in state.outcomes),
            "questionnaires": [{"kind": kind.value, "respondent": who.value}
                               for kind, who in sorted(state.answered)],
            "start_questionnaire": _start_questionnaire_view(state, today)}


def _start_questionnaire_view(state: domain.Journey, today: date) -> dict[str, Any]:
    """Whether the mentee's start questionnaire can be answered today, and if not why (in
    French): the pages offer its form only while it can."""
    refusal = domain.start_window_refusal(state, today)
    return {"open": refusal is None, "code": refusal and refusal.code,
            "message": refusal and refusal.message}


@router.get("/staff/pairs", summary="Les binômes suivis et l'état de leurs bilans")
async def pairs(request: Request, principal: Reading,
                region: RegionCode | None = None,
                cohort_id: Annotated[str | None, Query(pattern=COHORT_ID_PATTERN)] = None,
                status: Literal["active", "ended"] | None = None) -> list[dict[str, Any]]:
    followup = _followup(request)
    allowed = visible_regions(principal)
    if region is not None and allowed is not None and region not in allowed:
        require_region(principal, region)
    async with followup.store.engine.connect() as conn:
        rows = list(await conn.execute(text(
            "SELECT * FROM followup.journeys WHERE (CAST(:region AS text) IS NULL OR region = "
            ":region) AND (CAST(:cohort AS text) IS NULL OR cohort_id = :cohort) AND "
            "(CAST(:status AS text) IS NULL OR (ended_on IS NULL) = (:status = 'active')) "
            "ORDER BY cohort_id, starts_on, pair_id"),
            {"region": region, "cohort": cohort_id, "status": status}))
    today = followup.today()
    out = []
    for row in rows:
        if allowed is not None and row.region not in allowed:
            continue
        out.append(_journey_view(row, await followup.journey(row.pair_id), today))
    return out


@router.get("/staff/pairs/{pair_id}", summary="Le parcours d'un binôme")
async def pair(pair_id: UUID, request: Request,
               principal: ReadingForParticipant) -> dict[str, Any]:
    row = await _pair(request, principal, pair_id)
    followup = _followup(request)
    state = await followup.journey(pair_id)
    log = [session.model_dump(mode="json", exclude={"pair_id"}) for session in state.session_log]
    return {**_journey_view(row, state, followup.today()), "session_log": log}


async def _act(request: Request, principal: Principal, pair_id: UUID, make) -> list[str]:
    row = await _pair(request, principal, pair_id)
    events = await _followup(request).act(pair_id, row.region, principal.subject, make)
    return [e.event_type for e in events]


class ReferentRequest(_Body):
    referent_id: StaffId


@router.post("/staff/pairs/{pair_id}/referent", summary="Confier le binôme à un·e référent·e")
async def assign_referent(pair_id: UUID, body: ReferentRequest, request: Request,
                          principal: Acting) -> dict[str, Any]:
    row = await _pair(request, principal, pair_id)
    async with _followup(request).store.engine.connect() as conn:
        home = (await conn.execute(text(
            "SELECT region FROM followup.referents WHERE referent_id = :r"),
            {"r": body.referent_id})).scalar()
    if home is not None and home != row.region:
        raise DomainError("referent_other_region", f"Ce·tte référent·e est rattaché·e à la "
                          f"région {home} : un binôme de la région {row.region} ne peut pas lui "
                          "être confié.", field="referent_id", status=422)
    events = await _act(request, principal, pair_id,
                        lambda _: domain.AssignReferent(body.referent_id))
    return {"pair_id": pair_id, "events": events}


class SessionRequest(_Body):
    held_on: ProgrammeDate
    duration_minutes: Count(5, 480)
    format: MeetingFormat
    theme: SessionTheme = Field(description="thème de la boîte à outils (GET /toolkit)")
    used_toolkit: Flag = Field(description="une ressource de la boîte à outils a servi")


@router.post("/staff/pairs/{pair_id}/sessions", status_code=201,
             summary="Déclarer une séance (mentor ou référent·e)")
async def log_session(pair_id: UUID, body: SessionRequest, request: Request,
                      principal: SessionAuthor) -> dict[str, Any]:
    session_id = uuid4()
    by = Party.mentor if principal.role is StaffRole.mentor else Party.referent
    today = _followup(request).today()
    await _act(request, principal, pair_id, lambda _: domain.LogSession(
        session_id, body.held_on, body.duration_minutes, body.format, body.theme,
        body.used_toolkit, by, today))
    return {"session_id": session_id, "pair_id": pair_id}


class ScheduleRequest(_Body):
    scheduled_at: ProgrammeInstant
    format: MeetingFormat


@router.post("/staff/pairs/{pair_id}/reviews/{kind}/schedule",
             summary="Fixer la date d'un bilan")
async def schedule_review(pair_id: UUID, kind: ReviewKind, body: ScheduleRequest,
                          request: Request, principal: Acting) -> dict[str, Any]:
    now = _followup(request).clock.now()
    events = await _act(request, principal, pair_id, lambda _: domain.ScheduleReview(
        kind, body.scheduled_at, body.format, principal.subject, now))
    return {"pair_id": pair_id, "events": events}


class QuestionnaireAnswers(_Body):
    respondent: Literal[Respondent.mentee, Respondent.mentor]
    questionnaire_version: Version = questionnaire.CURRENT_VERSION
    answers: Annotated[dict[ImpactIndicator, Rating], Field(min_length=1)]

    def to_domain(self) -> domain.Answers:
        return domain.Answers(self.respondent, self.answers, self.questionnaire_version)


class ReviewRequest(_Body):
    held: Flag
    held_on: ProgrammeDate
    assessment: ReviewAssessment | None = Field(None, description="requise si le bilan a eu "
                                                "lieu")
    ratings: dict[ReviewCriterion, Rating] = {}
    concerns: BoundedList(Concern, max_length=len(Concern)) = []
    questionnaires: Annotated[list[QuestionnaireAnswers], Field(max_length=2)] = Field(
        [], description="bilan final : le questionnaire de fin de programme (mentoré·e, mentor)")


@router.post("/staff/pairs/{pair_id}/reviews/{kind}", status_code=201,
             summary="Enregistrer un bilan (le bilan final termine le parcours)")
async def complete_review(pair_id: UUID, kind: ReviewKind, body: ReviewRequest,
                          request: Request, principal: Acting) -> dict[str, Any]:
    today = _followup(request).today()
    answers = tuple(q.to_domain() for q in body.questionnaires)
    events = await _act(request, principal, pair_id, lambda _: domain.CompleteReview(
        kind, body.held, body.held_on, principal.subject, body.assessment, body.ratings,
        tuple(dict.fromkeys(body.concerns)), answers, tuple(uuid4() for _ in answers), today))
    return {"pair_id": pair_id, "events": events}


class EndRequest(_Body):
    reason: EarlyEndingReason
    ended_by: Party
    ended_on: ProgrammeDate | None = Field(None, description="défaut : aujourd'hui")


@router.post("/staff/pairs/{pair_id}/end", summary="Arrêt anticipé du binôme (matching "
             "propose alors un nouveau binôme au ou à la mentoré·e)")
async def end_early(pair_id: UUID, body: EndRequest, request: Request,
                    principal: Acting) -> dict[str, Any]:
    today = _followup(request).today()
    events = await _act(request, principal, pair_id, lambda _: domain.EndEarly(
        body.reason, body.ended_by, body.ended_on or today, today))
    return {"pair_id": pair_id, "events": events}


class OutcomeRequest(_Body):
    moment: OutcomeMoment
    situation: OutcomeSituation
    satisfaction: Rating | None = None


@router.post("/staff/pairs/{pair_id}/outcomes", status_code=201,
             summary="Situation du ou de la mentoré·e (fin de parcours, puis six mois après)")
async def record_outcome(pair_id: UUID, body: OutcomeRequest, request: Request,
                         principal: Acting) -> dict[str, Any]:
    followup = _followup(request)
    today, months = followup.today(), followup.durations.post_programme_months
    events = await _act(request, principal, pair_id, lambda _: domain.RecordOutcome(
        body.moment, body.situation, body.satisfaction, today, months))
    return {"pair_id": pair_id, "events": events}


class PairQuestionnaireRequest(QuestionnaireAnswers):
    kind: Literal[QuestionnaireKind.start_of_programme, QuestionnaireKind.post_programme,
                  QuestionnaireKind.annual, QuestionnaireKind.end_of_programme] = Field(
        description="début de programme : le ou la mentoré·e, du lancement au bilan "
                    "intermédiaire ; fin de programme : une fois le parcours terminé, si le "
                    "bilan final ne l'a pas recueilli")


@router.post("/staff/pairs/{pair_id}/questionnaires", status_code=201,
             summary="Réponses d'un·e mentoré·e ou d'un mentor (début de programme, six mois "
                     "après, bilan annuel)")
async def answer_for_pair(pair_id: UUID, body: PairQuestionnaireRequest, request: Request,
                          principal: ForParticipant) -> dict[str, Any]:
    response_id = uuid4()
    followup = _followup(request)
    today, months = followup.today(), followup.durations.post_programme_months
    await _act(request, principal, pair_id, lambda _: domain.AnswerQuestionnaire(
        response_id, body.kind, body.to_domain(), today, months))
    return {"response_id": response_id}


class AnnualRequest(_Body):
    region: RegionCode
    respondent: Literal[Respondent.referent, Respondent.partner]
    questionnaire_version: Version = questionnaire.CURRENT_VERSION
    answers: Annotated[dict[ImpactIndicator, Rating], Field(min_length=1)]


@router.post("/staff/questionnaires/annual", status_code=201,
             summary="Réponse anonyme d'un·e référent·e ou d'un partenaire au bilan annuel")
async def answer_annual(body: AnnualRequest, request: Request,
                        principal: Acting) -> dict[str, Any]:
    require_region(principal, body.region)
    event = await _followup(request).answer_annual(
        body.region, body.respondent, body.questionnaire_version, body.answers,
        principal.subject)
    return {"response_id": event.response_id}


# --- networking events ----------------------------------------------------------------------

class NetworkingEventRequest(_Body):
    region: RegionCode
    kind: NetworkingEventKind
    audience: Audience
    starts_at: ProgrammeInstant
    format: MeetingFormat
    departement: Departement | None = Field(None, description="lieu (sauf à distance)")


@router.post("/staff/networking-events", status_code=201,
             summary="Programmer un événement de réseautage")
async def schedule_networking_event(body: NetworkingEventRequest, request: Request,
                                    principal: Acting) -> dict[str, Any]:
    require_region(principal, body.region)
    followup = _followup(request)
    event_id = uuid4()
    command = domain.ScheduleNetworkingEvent(event_id, body.kind, body.audience, body.starts_at,
                                             body.format, body.departement, followup.clock.now())
    await followup.schedule_networking_event(body.region, principal.subject, command)
    return {"networking_event_id": event_id}


@router.get("/staff/networking-events", summary="Les événements de réseautage")
async def networking_events(request: Request, principal: ReadingForParticipant,
                            region: RegionCode | None = Query(None)) -> list[dict[str, Any]]:
    if region is not None:
        require_region(principal, region)
    allowed = visible_regions(principal)
    async with _followup(request).store.engine.connect() as conn:
        rows = list(await conn.execute(text(
            "SELECT * FROM followup.networking_events WHERE CAST(:r AS text) IS NULL OR "
            "region = :r ORDER BY starts_at"), {"r": region}))
    return [dict(row._mapping) for row in rows if allowed is None or row.region in allowed]


@router.get("/staff/networking-events/{networking_event_id}",
            summary="Un événement de réseautage, ses inscrit·es et leur présence")
async def networking_event(networking_event_id: UUID, request: Request,
                           principal: Reading) -> dict[str, Any]:
    followup = _followup(request)
    async with followup.store.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT * FROM followup.networking_events WHERE networking_event_id = :id"),
            {"id": networking_event_id})).first()
    if row is None:
        raise DomainError("networking_event_not_found", "Événement introuvable.",
                          field="networking_event_id", status=404)
    require_region(principal, row.region)
    state = domain.networking_event_from(
        e.data for e in await followup.store.read_stream(f"networking-{networking_event_id}"))
    registrations = [{"person_id": person_id, "role": role,
                      "attended": state.attendance.get(person_id)}
                     for person_id, role in state.registered.items()]
    return {**dict(row._mapping), "registrations": registrations}


class RegistrationRequest(_Body):
    person_id: UUID
    role: Role


@router.post("/staff/networking-events/{networking_event_id}/registrations", status_code=201,
             summary="Inscrire un·e mentoré·e ou un mentor")
async def register(networking_event_id: UUID, body: RegistrationRequest, request: Request,
                   principal: ForParticipant) -> dict[str, Any]:
    events = await _followup(request).networking_act(
        networking_event_id, principal, lambda status, now: domain.Register(
            body.person_id, body.role, status, now), person=(body.person_id, body.role))
    return {"networking_event_id": networking_event_id, "events": events}


class AttendanceRequest(_Body):
    person_id: UUID
    attended: Flag


@router.post("/staff/networking-events/{networking_event_id}/attendance",
             summary="Noter la présence d'une personne inscrite")
async def attendance(networking_event_id: UUID, body: AttendanceRequest, request: Request,
                     principal: ForParticipant) -> dict[str, Any]:
    events = await _followup(request).networking_act(
        networking_event_id, principal, lambda _status, now: domain.RecordAttendance(
            body.person_id, body.attended, now))
    return {"networking_event_id": networking_event_id, "events": events}
