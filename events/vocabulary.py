"""Closed vocabularies shared by the events, with the French label a person reads.

Codes travel in events and APIs (English); labels are for the dashboard, the digest and the
forms (French). Adding or removing a member changes the JSON Schema of every event using the
enum, so it is a schema change: new ``schema_version`` plus upcaster (the snapshot check says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

from events.base import RegionCode  # noqa: F401  (re-exported: every vocabulary in one import)

# --- constrained strings --------------------------------------------------------------------

Departement = Annotated[
    str,
    Field(
        # Mainland 01-95 without 20 (split into 2A/2B), Corsica, overseas 971-976.
        pattern=r"^(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5]|97[1-6])$",
        description="INSEE code of a département, e.g. 75, 29, 2A, 974",
    ),
]

CohortId = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}-\d{4}-(0[1-9]|1[0-2])$",
        description="region and start month of a cohort, e.g. IDF-2025-09",
    ),
]

CohortMonth = Annotated[
    str,
    Field(pattern=r"^\d{4}-(03|06|09|12)$",
          description="start month of a quarterly cohort, e.g. 2025-09"),
]

COHORT_START_MONTHS = (3, 6, 9, 12)


def cohort_for(day: date) -> str:
    """The cohort an application made on ``day`` is for: the next quarterly start after it
    (``2025-07-10`` -> ``2025-09``; ``2025-09-15`` -> ``2025-12``)."""
    for month in COHORT_START_MONTHS:
        if day.month < month:
            return f"{day.year}-{month:02d}"
    return f"{day.year + 1}-{COHORT_START_MONTHS[0]:02d}"


COHORT_CUT_OFF_DAYS = 14  # default admission cut-off: two weeks before a cohort starts


def cohort_start_day(cohort: str) -> date:
    """``2026-12`` starts on 2026-12-01."""
    year, month = cohort.split("-")
    return date(int(year), int(month), 1)


def joinable_cohort(day: date) -> str:
    """The cohort someone applying on ``day`` can still join: the first quarterly start whose
    default cut-off (start minus 14 days) is on or after ``day`` (``2026-11-17`` -> ``2026-12``,
    its cut-off day; ``2026-11-18`` -> ``2027-03``)."""
    cohort = cohort_for(day)
    if cohort_start_day(cohort) - timedelta(days=COHORT_CUT_OFF_DAYS) >= day:
        return cohort
    return cohort_for(cohort_start_day(cohort))


# Ids of staff and structures are opaque codes: the pattern keeps e-mails and names out.
StaffId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="opaque id of a staff referent or structure (never an e-mail or a name)",
    ),
]

Rating = Annotated[int, Field(ge=1, le=5, description="1 (not at all) to 5 (completely)")]


def cohort_id(region: str, year: int, month: int) -> str:
    """``cohort_id("IDF", 2025, 9) == "IDF-2025-09"``."""
    return f"{region}-{year:04d}-{month:02d}"


class _Distinct:
    """``Annotated`` marker: the members of a tuple are distinct (a set with a stable order).

    Put it after any ``Field(min_length=...)``: pydantic then keeps ``minItems`` in the schema.
    """

    @staticmethod
    def _check(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(set(values)) != len(values):
            raise ValueError("values must be distinct")
        return values

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return {**handler(schema), "uniqueItems": True}


DISTINCT = _Distinct()  # e.g. Annotated[tuple[Sector, ...], Field(min_length=1), DISTINCT]

# --- people and recruitment -----------------------------------------------------------------


class Role(StrEnum):
    mentee = "mentee"
    mentor = "mentor"


ROLE_LABELS = {Role.mentee: "Mentoré·e", Role.mentor: "Mentor"}


class Party(StrEnum):
    """Who took a step about a pair or a proposal."""

    mentee = "mentee"
    mentor = "mentor"
    referent = "referent"


EndedBy = Party  # the name the PairEnded payload reads best with

PARTY_LABELS = {
    Party.mentee: "Mentoré·e",
    Party.mentor: "Mentor",
    Party.referent: "Référent·e",
}


class RecruitmentChannel(StrEnum):
    university = "university"
    member_organisation = "member_organisation"
    mission_locale = "mission_locale"
    referrer = "referrer"
    recruitment_webinar = "recruitment_webinar"
    website = "website"
    other = "other"


RECRUITMENT_CHANNEL_LABELS = {
    RecruitmentChannel.university: "Université ou école",
    RecruitmentChannel.member_organisation: "Structure adhérente",
    RecruitmentChannel.mission_locale: "Mission locale",
    RecruitmentChannel.referrer: "Prescripteur",
    RecruitmentChannel.recruitment_webinar: "Webinaire de recrutement",
    RecruitmentChannel.website: "Site internet",
    RecruitmentChannel.other: "Autre",
}

SECTOR_VOCABULARY_VERSION = 1


class Sector(StrEnum):
    """ESS sectors of interest (vocabulary version ``SECTOR_VOCABULARY_VERSION``)."""

    social_action = "social_action"
    health_care = "health_care"
    environment_ecology = "environment_ecology"
    culture = "culture"
    sport_leisure = "sport_leisure"
    education_training = "education_training"
    employment_integration = "employment_integration"
    housing = "housing"
    finance_solidarity = "finance_solidarity"
    agriculture_food = "agriculture_food"
    tourism = "tourism"
    international_solidarity = "international_solidarity"


SECTOR_LABELS = {
    Sector.social_action: "Action sociale",
    Sector.health_care: "Santé et médico-social",
    Sector.environment_ecology: "Environnement et transition écologique",
    Sector.culture: "Culture",
    Sector.sport_leisure: "Sport et loisirs",
    Sector.education_training: "Éducation et formation",
    Sector.employment_integration: "Insertion et emploi",
    Sector.housing: "Logement",
    Sector.finance_solidarity: "Finance solidaire",
    Sector.agriculture_food: "Agriculture et alimentation",
    Sector.tourism: "Tourisme social et solidaire",
    Sector.international_solidarity: "Solidarité internationale",
}


class AgeBand(StrEnum):
    """Age of a mentee at application. The out-of-range bands let an ineligible application be
    recorded (and counted in the funnel) before it is rejected."""

    under_18 = "under-18"
    age_18_20 = "18-20"
    age_21_25 = "21-25"
    age_26_30 = "26-30"
    over_30 = "over-30"


AGE_BAND_LABELS = {
    AgeBand.under_18: "Moins de 18 ans",
    AgeBand.age_18_20: "18-20 ans",
    AgeBand.age_21_25: "21-25 ans",
    AgeBand.age_26_30: "26-30 ans",
    AgeBand.over_30: "Plus de 30 ans",
}


class JobFamily(StrEnum):
    """What a mentor does (and what a mentee aspires to)."""

    social_support = "social_support"
    care = "care"
    project_development = "project_development"
    management = "management"
    administration_finance = "administration_finance"
    human_resources_training = "human_resources_training"
    communication_advocacy = "communication_advocacy"
    technical_production = "technical_production"
    other = "other"


JOB_FAMILY_LABELS = {
    JobFamily.social_support: "Accompagnement social et éducatif",
    JobFamily.care: "Soin et aide à la personne",
    JobFamily.project_development: "Gestion de projet et développement",
    JobFamily.management: "Direction et management",
    JobFamily.administration_finance: "Administration, gestion et finance",
    JobFamily.human_resources_training: "Ressources humaines et formation",
    JobFamily.communication_advocacy: "Communication, plaidoyer et mobilisation",
    JobFamily.technical_production: "Métiers techniques et production",
    JobFamily.other: "Autre métier",
}


class EmploymentStatus(StrEnum):
    employee = "employee"
    volunteer = "volunteer"


EMPLOYMENT_STATUS_LABELS = {
    EmploymentStatus.employee: "Salarié·e",
    EmploymentStatus.volunteer: "Bénévole",
}


class AvailabilitySlot(StrEnum):
    weekday_daytime = "weekday_daytime"
    weekday_evening = "weekday_evening"
    weekend = "weekend"


AVAILABILITY_SLOT_LABELS = {
    AvailabilitySlot.weekday_daytime: "En semaine, en journée",
    AvailabilitySlot.weekday_evening: "En semaine, en soirée",
    AvailabilitySlot.weekend: "Le week-end",
}


class MeetingFormat(StrEnum):
    in_person = "in_person"
    remote = "remote"
    hybrid = "hybrid"


MEETING_FORMAT_LABELS = {
    MeetingFormat.in_person: "En présentiel",
    MeetingFormat.remote: "À distance",
    MeetingFormat.hybrid: "Hybride",
}

# --- intake ---------------------------------------------------------------------------------


class RejectionReason(StrEnum):
    """Why an application fails the eligibility screening (before any interview)."""

    mentee_too_young = "mentee_too_young"
    mentee_too_old = "mentee_too_old"
    mentor_too_little_experience = "mentor_too_little_experience"
    consent_missing = "consent_missing"
    region_not_served = "region_not_served"
    other = "other"


REJECTION_REASON_LABELS = {
    RejectionReason.mentee_too_young: "Moins de 18 ans",
    RejectionReason.mentee_too_old: "Plus de 30 ans",
    RejectionReason.mentor_too_little_experience: "Moins de 3 ans d'expérience dans l'ESS",
    RejectionReason.consent_missing: "Consentement manquant",
    RejectionReason.region_not_served: "Région non couverte par le programme",
    RejectionReason.other: "Autre motif",
}


class RoutingBasis(StrEnum):
    """How an application reached its structure (decision tree of the routing)."""

    departement = "departement"  # the only structure serving the applicant's département
    fairness = "fairness"  # several matched: the one furthest from its declared objective
    manual = "manual"  # re-orientation by a referent
    waiting_list = "waiting_list"  # the applicant's region is not served yet: kept for it
    region_joined = "region_joined"  # off the waiting list: their region now takes part


ROUTING_BASIS_LABELS = {
    RoutingBasis.departement: "Département de la candidature",
    RoutingBasis.fairness: "Répartition équitable entre structures",
    RoutingBasis.manual: "Réorientation manuelle",
    RoutingBasis.waiting_list: "Liste d'attente : région pas encore desservie",
    RoutingBasis.region_joined: "Sortie de liste d'attente : la région a rejoint le programme",
}


class ReroutingReason(StrEnum):
    """Why a referent re-oriented an application to another region by hand."""

    closer_to_home = "closer_to_home"
    applicant_request = "applicant_request"
    regional_capacity = "regional_capacity"
    better_match_available = "better_match_available"
    other = "other"


REROUTING_REASON_LABELS = {
    ReroutingReason.closer_to_home: "Plus proche du domicile",
    ReroutingReason.applicant_request: "À la demande de la personne",
    ReroutingReason.regional_capacity: "Capacité de la région d'origine",
    ReroutingReason.better_match_available: "Meilleures possibilités de binôme",
    ReroutingReason.other: "Autre",
}


class ReferrerKind(StrEnum):
    """Who registered a young person on their behalf (prescripteur)."""

    mission_locale_adviser = "mission_locale_adviser"
    teacher = "teacher"
    family = "family"
    social_worker = "social_worker"
    other = "other"


REFERRER_KIND_LABELS = {
    ReferrerKind.mission_locale_adviser: "Conseiller·ère de mission locale",
    ReferrerKind.teacher: "Enseignant·e",
    ReferrerKind.family: "Famille",
    ReferrerKind.social_worker: "Travailleur·euse social·e",
    ReferrerKind.other: "Autre",
}


class InterviewKind(StrEnum):
    motivation = "motivation"  # short interview of a mentee
    individual = "individual"  # individual interview of a mentor


INTERVIEW_KIND_LABELS = {
    InterviewKind.motivation: "Entretien de motivation",
    InterviewKind.individual: "Entretien individuel",
}


class InterviewOutcome(StrEnum):
    favourable = "favourable"
    reserved = "reserved"
    unfavourable = "unfavourable"


INTERVIEW_OUTCOME_LABELS = {
    InterviewOutcome.favourable: "Avis favorable",
    InterviewOutcome.reserved: "Avis réservé",
    InterviewOutcome.unfavourable: "Avis défavorable",
}


class CandidateDeclineReason(StrEnum):
    """Why the programme does not admit a candidate after the interview."""

    interview_unfavourable = "interview_unfavourable"
    project_not_aligned = "project_not_aligned"
    insufficient_availability = "insufficient_availability"
    interview_no_show = "interview_no_show"
    programme_full = "programme_full"
    other = "other"


CANDIDATE_DECLINE_REASON_LABELS = {
    CandidateDeclineReason.interview_unfavourable: "Entretien non concluant",
    CandidateDeclineReason.project_not_aligned: "Projet éloigné du programme",
    CandidateDeclineReason.insufficient_availability: "Disponibilité insuffisante",
    CandidateDeclineReason.interview_no_show: "Absence à l'entretien",
    CandidateDeclineReason.programme_full: "Programme complet",
    CandidateDeclineReason.other: "Autre motif",
}


class WithdrawalReason(StrEnum):
    """Why an applicant leaves before being paired."""

    found_job_or_training = "found_job_or_training"
    no_longer_interested = "no_longer_interested"
    unavailable = "unavailable"
    no_response = "no_response"
    other = "other"
    consent_withdrawn = "consent_withdrawn"  # the person withdrew their consent (self-service)


WITHDRAWAL_REASON_LABELS = {
    WithdrawalReason.found_job_or_training: "A trouvé un emploi ou une formation",
    WithdrawalReason.no_longer_interested: "N'est plus intéressé·e",
    WithdrawalReason.unavailable: "Indisponible",
    WithdrawalReason.no_response: "Sans nouvelles",
    WithdrawalReason.other: "Autre motif",
    WithdrawalReason.consent_withdrawn: "Consentement retiré par la personne",
}

# --- matching -------------------------------------------------------------------------------


class MatchOrigin(StrEnum):
    algorithm = "algorithm"
    referent_override = "referent_override"


MATCH_ORIGIN_LABELS = {
    MatchOrigin.algorithm: "Proposition automatique",
    MatchOrigin.referent_override: "Choix du ou de la référent·e",
}


class OverrideReason(StrEnum):
    """Why a referent paired two candidates by hand instead of following the algorithm."""

    known_affinity = "known_affinity"
    geography_exception = "geography_exception"
    candidate_request = "candidate_request"
    referent_judgement = "referent_judgement"
    other = "other"


OVERRIDE_REASON_LABELS = {
    OverrideReason.known_affinity: "Affinité connue entre les deux personnes",
    OverrideReason.geography_exception: "Exception géographique justifiée",
    OverrideReason.candidate_request: "À la demande d'un·e candidat·e",
    OverrideReason.referent_judgement: "Appréciation du ou de la référent·e",
    OverrideReason.other: "Autre",
}


class MatchDeclineReason(StrEnum):
    too_far = "too_far"
    sectors_mismatch = "sectors_mismatch"
    aspirations_mismatch = "aspirations_mismatch"
    availability_mismatch = "availability_mismatch"
    mentee_unavailable = "mentee_unavailable"
    mentor_unavailable = "mentor_unavailable"
    referent_judgement = "referent_judgement"
    other = "other"


MATCH_DECLINE_REASON_LABELS = {
    MatchDeclineReason.too_far: "Trop éloignés géographiquement",
    MatchDeclineReason.sectors_mismatch: "Secteurs d'intérêt différents",
    MatchDeclineReason.aspirations_mismatch: "Aspirations professionnelles différentes",
    MatchDeclineReason.availability_mismatch: "Disponibilités incompatibles",
    MatchDeclineReason.mentee_unavailable: "Mentoré·e indisponible",
    MatchDeclineReason.mentor_unavailable: "Mentor indisponible",
    MatchDeclineReason.referent_judgement: "Appréciation du ou de la référent·e",
    MatchDeclineReason.other: "Autre motif",
}


class EarlyEndingReason(StrEnum):
    mentee_found_job = "mentee_found_job"
    mentee_found_training = "mentee_found_training"
    mentee_withdrew = "mentee_withdrew"
    mentee_unavailable = "mentee_unavailable"
    mentor_unavailable = "mentor_unavailable"
    mismatch = "mismatch"
    moved_away = "moved_away"
    no_contact = "no_contact"
    other = "other"


EARLY_ENDING_REASON_LABELS = {
    EarlyEndingReason.mentee_found_job: "Le ou la mentoré·e a trouvé un emploi",
    EarlyEndingReason.mentee_found_training: "Le ou la mentoré·e a trouvé une formation",
    EarlyEndingReason.mentee_withdrew: "Le ou la mentoré·e a quitté le programme",
    EarlyEndingReason.mentee_unavailable: "Mentoré·e indisponible",
    EarlyEndingReason.mentor_unavailable: "Mentor indisponible",
    EarlyEndingReason.mismatch: "Binôme mal assorti",
    EarlyEndingReason.moved_away: "Déménagement",
    EarlyEndingReason.no_contact: "Plus de contact",
    EarlyEndingReason.other: "Autre motif",
}


class ProposalWithdrawalReason(StrEnum):
    """Why a pending proposal was withdrawn without being confirmed or declined."""

    cancelled_by_referent = "cancelled_by_referent"
    mentee_left_pool = "mentee_left_pool"
    mentor_left_pool = "mentor_left_pool"
    cohort_launched = "cohort_launched"


PROPOSAL_WITHDRAWAL_REASON_LABELS = {
    ProposalWithdrawalReason.cancelled_by_referent: "Annulée par le ou la référent·e",
    ProposalWithdrawalReason.mentee_left_pool: "Le ou la mentoré·e a quitté le vivier",
    ProposalWithdrawalReason.mentor_left_pool: "Le mentor a quitté le vivier",
    ProposalWithdrawalReason.cohort_launched: "Cohorte lancée avant confirmation",
}


class PoolExitReason(StrEnum):
    """Why a candidate left the matching pool for good, as decided by matching."""

    completed = "completed"
    found_job = "found_job"
    found_training = "found_training"
    unavailable = "unavailable"
    no_contact = "no_contact"
    withdrew = "withdrew"


POOL_EXIT_REASON_LABELS = {
    PoolExitReason.completed: "Programme terminé",
    PoolExitReason.found_job: "A trouvé un emploi",
    PoolExitReason.found_training: "A trouvé une formation",
    PoolExitReason.unavailable: "Indisponible",
    PoolExitReason.no_contact: "Plus de contact",
    PoolExitReason.withdrew: "A quitté le programme",
}

# --- followup -------------------------------------------------------------------------------


class ReviewKind(StrEnum):
    intermediate = "intermediate"
    final = "final"


REVIEW_KIND_LABELS = {
    ReviewKind.intermediate: "Bilan intermédiaire",
    ReviewKind.final: "Bilan final",
}


class ReviewAssessment(StrEnum):
    on_track = "on_track"
    needs_support = "needs_support"
    at_risk = "at_risk"


REVIEW_ASSESSMENT_LABELS = {
    ReviewAssessment.on_track: "Le binôme fonctionne bien",
    ReviewAssessment.needs_support: "Besoin d'accompagnement",
    ReviewAssessment.at_risk: "Risque d'arrêt",
}


class SessionTheme(StrEnum):
    """Themes of the toolkit's session templates."""

    getting_to_know = "getting_to_know"
    career_project = "career_project"
    ess_discovery = "ess_discovery"
    job_search = "job_search"
    networking = "networking"
    skills = "skills"
    other = "other"


SESSION_THEME_LABELS = {
    SessionTheme.getting_to_know: "Faire connaissance",
    SessionTheme.career_project: "Projet professionnel",
    SessionTheme.ess_discovery: "Découverte de l'ESS",
    SessionTheme.job_search: "Recherche d'emploi ou de formation",
    SessionTheme.networking: "Réseau professionnel",
    SessionTheme.skills: "Compétences",
    SessionTheme.other: "Autre thème",
}


class QuestionnaireKind(StrEnum):
    start_of_programme = "start_of_programme"  # the mentee's baseline, from the kick-off
    end_of_programme = "end_of_programme"
    post_programme = "post_programme"  # six months after the end
    annual = "annual"  # annual programme review, each summer


QUESTIONNAIRE_KIND_LABELS = {
    QuestionnaireKind.start_of_programme: "Questionnaire de début de programme",
    QuestionnaireKind.end_of_programme: "Questionnaire de fin de programme",
    QuestionnaireKind.post_programme: "Questionnaire à six mois",
    QuestionnaireKind.annual: "Bilan annuel",
}

QUESTIONNAIRE_VERSION = 1  # wording of the questions; the codes below are the schema


class ImpactIndicator(StrEnum):
    """Impact indicators shared by mentoring networks, each rated 1 to 5."""

    self_confidence = "self_confidence"
    career_clarity = "career_clarity"
    ess_knowledge = "ess_knowledge"
    professional_network = "professional_network"
    job_search_skills = "job_search_skills"
    professional_skills = "professional_skills"
    ess_commitment = "ess_commitment"
    satisfaction = "satisfaction"  # the mentee's satisfaction with the mentoring
    mentor_satisfaction = "mentor_satisfaction"  # the mentor's, asked of the mentor
    would_recommend = "would_recommend"


IMPACT_INDICATOR_LABELS = {
    ImpactIndicator.self_confidence: "Confiance en soi",
    ImpactIndicator.career_clarity: "Clarté du projet professionnel",
    ImpactIndicator.ess_knowledge: "Connaissance de l'ESS",
    ImpactIndicator.professional_network: "Réseau professionnel",
    ImpactIndicator.job_search_skills: "Méthodes de recherche d'emploi",
    ImpactIndicator.professional_skills: "Compétences professionnelles",
    ImpactIndicator.ess_commitment: "Envie de s'engager dans l'ESS",
    ImpactIndicator.satisfaction: "Satisfaction à l'égard du mentorat",
    ImpactIndicator.mentor_satisfaction: "Satisfaction du mentor",
    ImpactIndicator.would_recommend: "Recommanderait le programme",
}


class Respondent(StrEnum):
    """Who answers a questionnaire: the annual review also asks referents and partners."""

    mentee = "mentee"
    mentor = "mentor"
    referent = "referent"
    partner = "partner"  # member organisations, universities, missions locales


RESPONDENT_LABELS = {
    Respondent.mentee: "Mentoré·e",
    Respondent.mentor: "Mentor",
    Respondent.referent: "Référent·e",
    Respondent.partner: "Partenaire",
}


class ReviewCriterion(StrEnum):
    """What a referent rates (1 to 5) at a review."""

    relationship_quality = "relationship_quality"
    meeting_regularity = "meeting_regularity"
    mentee_progress = "mentee_progress"
    mentee_engagement = "mentee_engagement"
    mentor_engagement = "mentor_engagement"


REVIEW_CRITERION_LABELS = {
    ReviewCriterion.relationship_quality: "Qualité de la relation",
    ReviewCriterion.meeting_regularity: "Régularité des rencontres",
    ReviewCriterion.mentee_progress: "Progression du ou de la mentoré·e",
    ReviewCriterion.mentee_engagement: "Engagement du ou de la mentoré·e",
    ReviewCriterion.mentor_engagement: "Engagement du mentor",
}


class Concern(StrEnum):
    """A concern a referent flags at a review."""

    availability = "availability"
    motivation = "motivation"
    relationship = "relationship"
    personal_situation = "personal_situation"
    professional_situation = "professional_situation"
    mentor_practice = "mentor_practice"
    other = "other"


CONCERN_LABELS = {
    Concern.availability: "Disponibilité",
    Concern.motivation: "Motivation",
    Concern.relationship: "Relation dans le binôme",
    Concern.personal_situation: "Situation personnelle",
    Concern.professional_situation: "Situation professionnelle",
    Concern.mentor_practice: "Posture du mentor",
    Concern.other: "Autre",
}


class ReminderKind(StrEnum):
    kickoff = "kickoff"  # the pair's first meeting
    review_upcoming = "review_upcoming"  # a review to book, two weeks before it is due
    review_due = "review_due"
    review_overdue = "review_overdue"
    post_programme_survey = "post_programme_survey"  # six months after the end
    annual_survey = "annual_survey"  # the summer programme review
    end_questionnaire = "end_questionnaire"  # the journey completed: how was it?
    declare_sessions = "declare_sessions"  # monthly, to the mentor of an active pair
    networking_invitation = "networking_invitation"  # an event was scheduled for them


REMINDER_KIND_LABELS = {
    ReminderKind.kickoff: "Lancement du binôme",
    ReminderKind.review_upcoming: "Bilan à planifier",
    ReminderKind.review_due: "Bilan à réaliser",
    ReminderKind.review_overdue: "Bilan en retard",
    ReminderKind.post_programme_survey: "Questionnaire à six mois",
    ReminderKind.annual_survey: "Questionnaire du bilan annuel",
    ReminderKind.end_questionnaire: "Questionnaire de fin de programme",
    ReminderKind.declare_sessions: "Séances à déclarer",
    ReminderKind.networking_invitation: "Invitation à un événement de réseautage",
}


class OutcomeSituation(StrEnum):
    job_or_training_in_ess = "job_or_training_in_ess"
    job_or_training_outside_ess = "job_or_training_outside_ess"
    job_seeking = "job_seeking"
    other = "other"

    @property
    def positive(self) -> bool:
        """A "sortie positive": job or training, in the ESS or not."""
        return self in (OutcomeSituation.job_or_training_in_ess,
                        OutcomeSituation.job_or_training_outside_ess)


OUTCOME_SITUATION_LABELS = {
    OutcomeSituation.job_or_training_in_ess: "Emploi ou formation dans l'ESS",
    OutcomeSituation.job_or_training_outside_ess: "Emploi ou formation hors ESS",
    OutcomeSituation.job_seeking: "En recherche d'emploi",
    OutcomeSituation.other: "Autre situation",
}


class OutcomeMoment(StrEnum):
    end = "end"
    six_months_after = "six_months_after"


OUTCOME_MOMENT_LABELS = {
    OutcomeMoment.end: "Fin du programme",
    OutcomeMoment.six_months_after: "Six mois après la fin",
}


class NetworkingEventKind(StrEnum):
    networking = "networking"
    workshop = "workshop"
    annual_review = "annual_review"  # the summer programme review with every stakeholder


NETWORKING_EVENT_KIND_LABELS = {
    NetworkingEventKind.networking: "Rencontre de réseautage",
    NetworkingEventKind.workshop: "Atelier",
    NetworkingEventKind.annual_review: "Bilan annuel du programme",
}


class Audience(StrEnum):
    current_pairs = "current_pairs"
    alumni = "alumni"
    all = "all"


AUDIENCE_LABELS = {
    Audience.current_pairs: "Binômes en cours",
    Audience.alumni: "Anciens mentors et mentoré·es",
    Audience.all: "Tous",
}

# --- lookup ---------------------------------------------------------------------------------

LABELS: Mapping[type[StrEnum], Mapping[Any, str]] = {
    Role: ROLE_LABELS,
    Party: PARTY_LABELS,
    RecruitmentChannel: RECRUITMENT_CHANNEL_LABELS,
    Sector: SECTOR_LABELS,
    AgeBand: AGE_BAND_LABELS,
    JobFamily: JOB_FAMILY_LABELS,
    EmploymentStatus: EMPLOYMENT_STATUS_LABELS,
    AvailabilitySlot: AVAILABILITY_SLOT_LABELS,
    MeetingFormat: MEETING_FORMAT_LABELS,
    RejectionReason: REJECTION_REASON_LABELS,
    RoutingBasis: ROUTING_BASIS_LABELS,
    ReroutingReason: REROUTING_REASON_LABELS,
    ReferrerKind: REFERRER_KIND_LABELS,
    InterviewKind: INTERVIEW_KIND_LABELS,
    InterviewOutcome: INTERVIEW_OUTCOME_LABELS,
    CandidateDeclineReason: CANDIDATE_DECLINE_REASON_LABELS,
    WithdrawalReason: WITHDRAWAL_REASON_LABELS,
    MatchOrigin: MATCH_ORIGIN_LABELS,
    OverrideReason: OVERRIDE_REASON_LABELS,
    MatchDeclineReason: MATCH_DECLINE_REASON_LABELS,
    EarlyEndingReason: EARLY_ENDING_REASON_LABELS,
    ProposalWithdrawalReason: PROPOSAL_WITHDRAWAL_REASON_LABELS,
    PoolExitReason: POOL_EXIT_REASON_LABELS,
    ReviewKind: REVIEW_KIND_LABELS,
    ReviewAssessment: REVIEW_ASSESSMENT_LABELS,
    SessionTheme: SESSION_THEME_LABELS,
    QuestionnaireKind: QUESTIONNAIRE_KIND_LABELS,
    ImpactIndicator: IMPACT_INDICATOR_LABELS,
    Respondent: RESPONDENT_LABELS,
    ReviewCriterion: REVIEW_CRITERION_LABELS,
    Concern: CONCERN_LABELS,
    ReminderKind: REMINDER_KIND_LABELS,
    OutcomeSituation: OUTCOME_SITUATION_LABELS,
    OutcomeMoment: OUTCOME_MOMENT_LABELS,
    NetworkingEventKind: NETWORKING_EVENT_KIND_LABELS,
    Audience: AUDIENCE_LABELS,
}


def label(value: StrEnum) -> str:
    """French label of a vocabulary member, e.g. ``label(Sector.housing) == "Logement"``."""
    return LABELS[type(value)][value]
