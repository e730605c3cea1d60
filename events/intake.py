"""Events of the intake service: applications, screening, routing, interviews, admission, erasure.

Identity (names, contact details, birth date, free-text answers) stays in the intake vault;
these events carry the pseudonymous ``person_id`` and coarse attributes only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from events import intake_v1  # noqa: F401  (frozen v1 shapes, kept to read old events)
from events.base import EventData, Service, upcaster
from events.vocabulary import (
    DISTINCT,
    AgeBand,
    AvailabilitySlot,
    CandidateDeclineReason,
    Departement,
    EmploymentStatus,
    InterviewKind,
    InterviewOutcome,
    JobFamily,
    MeetingFormat,
    RecruitmentChannel,
    RegionCode,
    RejectionReason,
    ReferrerKind,
    ReroutingReason,
    Role,
    RoutingBasis,
    Sector,
    CohortMonth,
    StaffId,
    WithdrawalReason,
)

Sectors = Annotated[tuple[Sector, ...], Field(min_length=1), DISTINCT]
Availability = Annotated[tuple[AvailabilitySlot, ...], Field(min_length=1), DISTINCT]
Aspirations = Annotated[
    tuple[JobFamily, ...], Field(description="job families a mentee aspires to"), DISTINCT
]
YearsInEss = Annotated[int, Field(ge=0, le=60)]
Capacity = Annotated[int, Field(ge=1, le=3, description="mentees a mentor can take at once")]

_MENTOR_ONLY = ("job_family", "years_in_ess", "employment_status", "capacity")


class CandidateProfile(EventData):
    """The coarse profile matching and reporting need; role-specific fields are null otherwise.

    Abstract helper (no ``service=``): shared by ApplicationReceived and CandidateAdmitted so
    matching can build its pool from CandidateAdmitted alone, whatever order events arrive in.
    """

    application_id: UUID
    person_id: UUID
    role: Role
    channel: RecruitmentChannel
    departement: Departement
    sector_interests: Sectors
    remote_ok: bool
    availability: Availability
    aspirations: Aspirations  # mentees only; empty for mentors
    age_band: AgeBand | None  # mentees only
    job_family: JobFamily | None  # mentors only, like the three below
    years_in_ess: YearsInEss | None
    employment_status: EmploymentStatus | None
    capacity: Capacity | None

    @model_validator(mode="after")
    def _fields_match_role(self) -> Self:
        missing = [f for f in _MENTOR_ONLY if getattr(self, f) is None]
        if self.role is Role.mentor:
            if missing or self.age_band is not None or self.aspirations:
                raise ValueError(f"a mentor needs {', '.join(_MENTOR_ONLY)} "
                                 "and no age_band or aspirations")
        elif len(missing) != len(_MENTOR_ONLY) or self.age_band is None:
            raise ValueError(f"a mentee needs age_band and none of {', '.join(_MENTOR_ONLY)}")
        return self


class ApplicationReceivedV1(EventData, service=Service.intake, name="ApplicationReceived",
                            version=1, current=False):
    """An application was submitted (v1: a single sector, no remote preference)."""

    # Frozen as published: never edit, even when the current version changes.
    application_id: UUID
    person_id: UUID
    consent_given: bool
    role: Role
    channel: RecruitmentChannel
    departement: Departement
    sector: Sector
    availability: Availability
    aspirations: Aspirations
    age_band: AgeBand | None
    job_family: JobFamily | None
    years_in_ess: YearsInEss | None
    employment_status: EmploymentStatus | None
    capacity: Capacity | None


class ApplicationReceived(CandidateProfile, service=Service.intake, version=2):
    """A mentee or mentor application was submitted (identity went to the vault)."""

    consent_given: bool  # consent to the processing of their data; screening rejects without
    referrer_kind: ReferrerKind | None = None  # set when a referrer registered the young person


@upcaster("ApplicationReceived", from_version=1)
def _application_received_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 asked for one sector; remote pairing was not offered, so nobody had opted in.
    # A missing sector becomes an empty tuple, so validation reports it as an invalid event
    # (an exception raised here would escape load_event's MalformedEvent handling).
    data["sector_interests"] = [data.pop("sector")] if "sector" in data else []
    data["remote_ok"] = False
    return data


class ApplicationRejected(EventData, service=Service.intake):
    """An application failed the eligibility screening."""

    application_id: UUID
    person_id: UUID
    reasons: Annotated[tuple[RejectionReason, ...], Field(min_length=1), DISTINCT]


class ApplicationRouted(EventData, service=Service.intake):
    """An application was given to the region (its CRESS) that will handle it, and why."""

    application_id: UUID
    person_id: UUID
    role: Role
    to_region: RegionCode
    from_region: RegionCode | None  # the previous region, on a re-orientation
    basis: RoutingBasis
    candidate_regions: Annotated[tuple[RegionCode, ...], DISTINCT]  # every region that fitted
    cohort: CohortMonth  # the cohort whose objectives the fairness rule compared
    rerouting_reason: ReroutingReason | None  # set on a manual re-orientation


class RegionSettingsChanged(EventData, service=Service.intake):
    """A region's routing criteria or objectives were set (served départements, targets)."""

    region: RegionCode
    served: bool  # False: applicants from there wait until the region joins
    departements: Annotated[tuple[Departement, ...], Field(min_length=1), DISTINCT]
    cohort: CohortMonth  # the cohort the objectives are for
    objective_mentees: Annotated[int, Field(ge=0, le=10_000)]
    objective_mentors: Annotated[int, Field(ge=0, le=10_000)]


class InterviewScheduled(EventData, service=Service.intake):
    """A referent booked an interview with a candidate."""

    interview_id: UUID
    application_id: UUID
    person_id: UUID
    kind: InterviewKind
    scheduled_at: AwareDatetime
    format: MeetingFormat
    referent_id: StaffId


class InterviewCompleted(EventData, service=Service.intake):
    """An interview took place and the referent gave their opinion."""

    interview_id: UUID
    application_id: UUID
    person_id: UUID
    kind: InterviewKind
    referent_id: StaffId
    outcome: InterviewOutcome


class CandidateAdmitted(CandidateProfile, service=Service.intake):
    """A candidate was admitted to the programme and joins the matching pool."""


class CandidateDeclined(EventData, service=Service.intake):
    """The programme decided not to admit a candidate after screening or interview."""

    application_id: UUID
    person_id: UUID
    role: Role
    reason: CandidateDeclineReason


class ApplicationWithdrawn(EventData, service=Service.intake, version=2):
    """An applicant left the programme before being paired (or was withdrawn for no response;
    v2: or withdrew their consent themselves, reason ``consent_withdrawn``)."""

    application_id: UUID
    person_id: UUID
    role: Role
    reason: WithdrawalReason


@upcaster("ApplicationWithdrawn", from_version=1)
def _application_withdrawn_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return data  # v2 only adds a reason: every v1 payload is a valid v2 one


class PersonErased(EventData, service=Service.intake):
    """A person's vault key was destroyed: every read model must drop what it cached about them."""

    person_id: UUID


ContactField = Literal["email", "phone"]


class ContactDetailsCorrected(EventData, service=Service.intake):
    """Staff corrected a person's contact details in the vault: which fields, by whom. The
    values themselves stay in the vault."""

    person_id: UUID
    fields: Annotated[tuple[ContactField, ...], Field(min_length=1), DISTINCT]
    corrected_by: StaffId
