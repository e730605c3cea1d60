"""The event contract: every event round-trips, old versions upcast, bad input is named,
the committed JSON Schema snapshot is in sync, and no payload can carry personal data."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from events import base, followup, followup_v1, followup_v2, intake, matching, matching_v1, vocabulary
from events.base import (
    EventData,
    MalformedEvent,
    Metadata,
    Service,
    catalogue,
    current_model,
    load_event,
    seal,
    subject_for,
)
from events.schemas import check_against_snapshot, json_schemas, write_json_schemas
from events.vocabulary import (
    AgeBand,
    AvailabilitySlot,
    EmploymentStatus,
    ImpactIndicator,
    JobFamily,
    RecruitmentChannel,
    Role,
    Sector,
)

UTC = timezone.utc
NOW = datetime(2025, 9, 15, 10, 0, tzinfo=UTC)
APPLICATION, PERSON, MENTOR, PAIR, MATCH = (uuid4() for _ in range(5))
COHORT = "IDF-2025-09"

MENTEE_PROFILE: dict[str, Any] = dict(
    application_id=APPLICATION,
    person_id=PERSON,
    role=Role.mentee,
    channel=RecruitmentChannel.mission_locale,
    departement="93",
    sector_interests=(Sector.social_action, Sector.housing),
    remote_ok=True,
    availability=(AvailabilitySlot.weekday_evening,),
    aspirations=(JobFamily.social_support,),
    age_band=AgeBand.age_21_25,
    job_family=None,
    years_in_ess=None,
    employment_status=None,
    capacity=None,
)
MENTOR_PROFILE: dict[str, Any] = {
    **MENTEE_PROFILE,
    "person_id": MENTOR,
    "role": Role.mentor,
    "channel": RecruitmentChannel.recruitment_webinar,
    "aspirations": (),
    "age_band": None,
    "job_family": JobFamily.management,
    "years_in_ess": 8,
    "employment_status": EmploymentStatus.volunteer,
    "capacity": 2,
}
SCORE = matching.ScoreBreakdown(
    geography=1.0, sectors=0.5, aspirations=1.0, availability=0.5, total=0.78
)
EVENT = uuid4()

# One example of every current event type (test_examples_cover_the_catalogue keeps it whole).
EXAMPLES: list[EventData] = [
    intake.ApplicationReceived(**MENTEE_PROFILE, consent_given=True),
    intake.ApplicationRejected(
        application_id=APPLICATION, person_id=PERSON,
        reasons=(vocabulary.RejectionReason.mentee_too_old,),
    ),
    intake.ApplicationRouted(
        application_id=APPLICATION, person_id=PERSON, role=vocabulary.Role.mentee,
        to_region="IDF", from_region=None, basis=vocabulary.RoutingBasis.departement,
        candidate_regions=("IDF",), cohort="2025-09", rerouting_reason=None,
    ),
    intake.RegionSettingsChanged(
        region="BRE", served=True, departements=("22", "29", "35", "56"), cohort="2025-09",
        objective_mentees=20, objective_mentors=20,
    ),
    intake.InterviewScheduled(
        interview_id=EVENT, application_id=APPLICATION, person_id=PERSON,
        kind=vocabulary.InterviewKind.motivation, scheduled_at=NOW,
        format=vocabulary.MeetingFormat.remote, referent_id="ref-042",
    ),
    intake.InterviewCompleted(
        interview_id=EVENT, application_id=APPLICATION, person_id=PERSON,
        kind=vocabulary.InterviewKind.motivation, referent_id="ref-042",
        outcome=vocabulary.InterviewOutcome.favourable,
    ),
    intake.CandidateAdmitted(**MENTOR_PROFILE),
    intake.CandidateDeclined(
        application_id=APPLICATION, person_id=PERSON, role=Role.mentee,
        reason=vocabulary.CandidateDeclineReason.project_not_aligned,
    ),
    intake.ApplicationWithdrawn(
        application_id=APPLICATION, person_id=PERSON, role=Role.mentee,
        reason=vocabulary.WithdrawalReason.found_job_or_training,
    ),
    intake.PersonErased(person_id=PERSON),
    intake.ContactDetailsCorrected(person_id=PERSON, fields=("email",), corrected_by="ref-042"),
    matching.CohortOpened(cohort_id=COHORT, starts_on=date(2025, 9, 1), target_pairs=20,
                          cut_off_on=date(2025, 8, 15)),
    matching.CohortLaunched(cohort_id=COHORT, launched_on=date(2025, 9, 15), pair_count=18),
    matching.MatchProposed(
        match_id=MATCH, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
        origin=vocabulary.MatchOrigin.algorithm, score=SCORE,
    ),
    matching.MatchDeclined(
        match_id=MATCH, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
        declined_by=vocabulary.Party.mentor,
        reason=vocabulary.MatchDeclineReason.availability_mismatch,
    ),
    matching.PairFormed(
        pair_id=PAIR, match_id=MATCH, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
        origin=vocabulary.MatchOrigin.referent_override, previous_pair_id=None,
    ),
    matching.PairEnded(
        pair_id=PAIR, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
        ended_on=date(2026, 2, 1), early=True,
        reason=vocabulary.EarlyEndingReason.mentee_found_job, ended_by=vocabulary.EndedBy.mentee,
    ),
    matching.RematchRequested(
        person_id=MENTOR, role=Role.mentor, previous_pair_id=PAIR, cohort_id=COHORT
    ),
    matching.ProposalWithdrawn(
        match_id=MATCH, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
        reason=vocabulary.ProposalWithdrawalReason.cohort_launched,
    ),
    matching.CandidateLeftPool(
        person_id=PERSON, role=Role.mentee, reason=vocabulary.PoolExitReason.completed,
        pair_id=PAIR, cohort_id=COHORT, left_on=date(2026, 9, 15),
    ),
    followup.FollowUpPlanned(
        pair_id=PAIR, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
        referent_id="ref-042", starts_on=date(2025, 9, 15), ends_on=date(2026, 9, 15),
        intermediate_review_due_on=date(2026, 3, 15), final_review_due_on=date(2026, 9, 15),
    ),
    followup.SessionLogged(
        session_id=EVENT, pair_id=PAIR, held_on=date(2025, 10, 2), duration_minutes=60,
        format=vocabulary.MeetingFormat.in_person, theme=vocabulary.SessionTheme.ess_discovery,
        used_toolkit=True, logged_by=vocabulary.Party.mentor,
    ),
    followup.ReviewScheduled(
        pair_id=PAIR, kind=vocabulary.ReviewKind.intermediate,
        scheduled_at=NOW + timedelta(days=180), format=vocabulary.MeetingFormat.hybrid,
        referent_id="ref-042",
    ),
    followup.ReviewDue(
        pair_id=PAIR, kind=vocabulary.ReviewKind.intermediate, due_on=date(2026, 3, 15)
    ),
    followup.ReviewOverdue(
        pair_id=PAIR, kind=vocabulary.ReviewKind.intermediate, due_on=date(2026, 3, 15),
        grace_days=14,
    ),
    followup.ReviewCompleted(
        pair_id=PAIR, kind=vocabulary.ReviewKind.final, held=True, held_on=date(2026, 9, 10),
        referent_id="ref-042", assessment=vocabulary.ReviewAssessment.on_track,
        ratings={vocabulary.ReviewCriterion.relationship_quality: 5},
        concerns=(vocabulary.Concern.availability,),
    ),
    followup.QuestionnaireAnswered(
        response_id=EVENT, respondent=vocabulary.Respondent.mentee, person_id=PERSON,
        pair_id=PAIR,
        kind=vocabulary.QuestionnaireKind.start_of_programme,
        questionnaire_version=vocabulary.QUESTIONNAIRE_VERSION,
        answers={ImpactIndicator.self_confidence: 4, ImpactIndicator.ess_knowledge: 5},
    ),
    followup.OutcomeRecorded(
        person_id=PERSON, pair_id=PAIR, moment=vocabulary.OutcomeMoment.six_months_after,
        situation=vocabulary.OutcomeSituation.job_or_training_in_ess, satisfaction=4,
    ),
    followup.NetworkingEventScheduled(
        networking_event_id=EVENT, kind=vocabulary.NetworkingEventKind.annual_review,
        audience=vocabulary.Audience.all, starts_at=NOW, format=vocabulary.MeetingFormat.in_person,
        departement="2A",
    ),
    followup.AttendanceRecorded(
        networking_event_id=EVENT, person_id=PERSON, role=Role.mentee, attended=True
    ),
    followup.NetworkingRegistrationRecorded(
        networking_event_id=EVENT, person_id=PERSON, role=Role.mentor
    ),
    followup.ReferentAssigned(pair_id=PAIR, referent_id="ref-042"),
    followup.FollowUpEnded(
        pair_id=PAIR, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
        ended_on=date(2026, 9, 15), early=False, reason=None, ended_by=None,
    ),
    followup.ReminderSent(
        reminder_id=EVENT, kind=vocabulary.ReminderKind.review_due, pair_id=PAIR,
        recipient=vocabulary.Respondent.referent, person_id=None, referent_id="ref-042",
    ),
]


def example(model: type[EventData]) -> Any:
    return next(e for e in EXAMPLES if isinstance(e, model))


def sealed(data: EventData, region: str = "IDF") -> base.Envelope:
    return seal(
        data,
        event_id=uuid4(),
        stream=f"test-{uuid4()}",
        stream_version=1,
        metadata=Metadata(region=region, actor="ref-042", correlation_id=uuid4()),
        occurred_at=NOW,
        recorded_at=NOW + timedelta(seconds=1),
    )


def test_examples_cover_the_catalogue() -> None:
    assert sorted(type(e).event_type for e in EXAMPLES) == sorted(base.current_types())


@pytest.mark.parametrize("data", EXAMPLES, ids=lambda e: type(e).event_type)
def test_every_event_round_trips(data: EventData) -> None:
    envelope = sealed(data)
    loaded = load_event(envelope.to_json())
    assert loaded == envelope
    assert type(loaded.data) is current_model(data.event_type)
    assert loaded.subject == f"success.IDF.{data.service}.{data.event_type}"


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        EXAMPLES[0].remote_ok = False  # type: ignore[misc]


def test_each_event_lives_in_its_service_module() -> None:
    for (event_type, version), model in catalogue().items():
        # Frozen older versions may live beside it, in events.<service>_v<N>.
        assert model.__module__.startswith(f"events.{model.service}"), event_type
        assert (model.__doc__ or "").strip(), f"{event_type} v{version} needs a docstring"


def test_stored_v1_application_received_loads_as_v2() -> None:
    v1 = intake.ApplicationReceivedV1(
        **{k: v for k, v in MENTEE_PROFILE.items() if k not in ("sector_interests", "remote_ok")},
        consent_given=True,
        sector=Sector.culture,
    )
    stored = json.loads(sealed(v1, region="BRE").to_json())
    assert stored["schema_version"] == 1 and stored["data"]["sector"] == "culture"

    loaded = load_event(stored)

    assert loaded.schema_version == 2
    assert isinstance(loaded.data, intake.ApplicationReceived)
    assert loaded.data.sector_interests == (Sector.culture,)
    assert loaded.data.remote_ok is False
    assert loaded.data.age_band is AgeBand.age_21_25 and loaded.event_id == UUID(stored["event_id"])


def test_every_old_version_has_an_upcaster() -> None:
    for event_type, version in catalogue():
        if version < current_model(event_type).schema_version:
            assert (event_type, version) in base._UPCASTERS, (event_type, version)


def _valid_raw() -> dict[str, Any]:
    return json.loads(sealed(EXAMPLES[0]).to_json())


def _v1_raw_without_sector() -> dict[str, Any]:
    raw = _valid_raw()
    del raw["data"]["sector_interests"], raw["data"]["remote_ok"]
    return {**raw, "schema_version": 1}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        ({**_valid_raw(), "type": "PairMarried"}, "unknown_type"),
        ({k: v for k, v in _valid_raw().items() if k != "type"}, "unknown_type"),
        ({**_valid_raw(), "schema_version": 3}, "unknown_version"),
        ({**_valid_raw(), "schema_version": 0}, "unknown_version"),
        ({**_valid_raw(), "schema_version": "2"}, "unknown_version"),
        ({**_valid_raw(), "region": "Île-de-France"}, "invalid"),
        ({**_valid_raw(), "data": {**_valid_raw()["data"], "departement": "20"}}, "invalid"),
        ({**_valid_raw(), "data": {**_valid_raw()["data"], "first_name": "Ada"}}, "invalid"),
        ({**_valid_raw(), "occurred_at": "2025-09-15T10:00:00"}, "invalid"),  # naive time
        (_v1_raw_without_sector(), "invalid"),  # the upcaster must not raise
    ],
)
def test_bad_input_is_named(raw: Any, code: str) -> None:
    if isinstance(raw, dict):
        raw = json.dumps(raw)
    with pytest.raises(MalformedEvent) as caught:
        load_event(raw)
    assert caught.value.code == code


def test_non_object_data_of_an_old_version_is_named() -> None:
    with pytest.raises(MalformedEvent):
        load_event({**_v1_raw_without_sector(), "data": "not an object"})


@pytest.mark.parametrize(
    "change",
    [
        {"role": "mentor"},  # a mentor without job family, experience, status, capacity
        {"capacity": 2},  # a mentee with a mentor-only field
        {"age_band": None},
        {"sector_interests": ()},
        {"sector_interests": ("housing", "housing")},
        {"departement": "96"},
    ],
)
def test_profile_rules(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        intake.ApplicationReceived(**{**MENTEE_PROFILE, "consent_given": True, **change})


def test_pair_ended_needs_a_reason_only_when_early() -> None:
    ended = dict(pair_id=PAIR, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
                 ended_on=date(2026, 9, 15))
    matching.PairEnded(**ended, early=False, reason=None, ended_by=None)
    with pytest.raises(ValidationError):
        matching.PairEnded(**ended, early=True, reason=None, ended_by=None)
    with pytest.raises(ValidationError):
        matching.PairEnded(**ended, early=False, reason="mismatch", ended_by="mentor")


def test_subject_scheme() -> None:
    assert subject_for("IDF", Service.matching, "PairFormed") == "success.IDF.matching.PairFormed"
    pair_formed = sealed(example(matching.PairFormed), region="BRE")
    assert pair_formed.subject == "success.BRE.matching.PairFormed"


def test_snapshot_is_in_sync() -> None:
    assert check_against_snapshot() == []


def test_snapshot_check_names_each_problem(tmp_path) -> None:
    write_json_schemas(tmp_path)
    changed = tmp_path / "matching/PairFormed.v1.json"
    schema = json.loads(changed.read_text())
    schema["$defs"]["PairFormed"]["required"].remove("previous_pair_id")
    changed.write_text(json.dumps(schema))
    documented = tmp_path / "matching/CohortOpened.v1.json"
    schema = json.loads(documented.read_text())
    schema["description"] = "reworded"
    documented.write_text(json.dumps(schema))
    (tmp_path / "intake/ApplicationReceived.v2.json").unlink()
    (tmp_path / "intake/Retired.v1.json").write_text("{}")

    problems = check_against_snapshot(tmp_path)

    assert len(problems) == 4
    assert any("PairFormed.v1" in p and "bump schema_version" in p for p in problems)
    assert any("CohortOpened.v1" in p and "documentation changed" in p for p in problems)
    assert any("ApplicationReceived.v2" in p and "success schemas --out" in p for p in problems)
    assert any("Retired.v1" in p and "removed" in p for p in problems)


# --- personal data rule ---------------------------------------------------------------------

# Whole "_"-separated words that betray identity, contact details or free text.
DENYLIST = {
    "name", "names", "firstname", "lastname", "surname", "email", "mail", "phone", "telephone",
    "mobile", "address", "street", "postcode", "zipcode", "city", "birth", "birthday", "dob",
    "comment", "comments", "note", "notes", "motivation", "text", "message", "remarks",
    "feedback", "description", "explanation", "ip", "ssn", "nir",
}


def _field_names(schema: dict[str, Any]) -> set[str]:
    """Every property name in a schema, nested models and definitions included."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties":
                    names.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return names


def test_denylist_catches_what_it_should() -> None:
    flagged = {n for n in ["mentor_first_name", "email", "date_of_birth", "free_text",
                           "referrer_phone", "notes", "age_band", "pair_id"]
               if set(n.split("_")) & DENYLIST}
    assert flagged == {"mentor_first_name", "email", "date_of_birth", "free_text",
                       "referrer_phone", "notes"}


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_no_payload_field_carries_personal_data(name: str) -> None:
    data_schema = json_schemas()[name]["$defs"]  # the payload and every model nested in it
    suspicious = {f for f in _field_names(data_schema) if set(f.lower().split("_")) & DENYLIST}
    assert not suspicious, f"{name}: personal data field(s) {sorted(suspicious)}"


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_no_payload_string_is_free_text(name: str) -> None:
    """Every string in a payload is a code: an enum, a pattern, a uuid, a date or a time."""

    def free_strings(node: Any, path: str) -> list[str]:
        if isinstance(node, list):
            return [p for i, item in enumerate(node) for p in free_strings(item, f"{path}[{i}]")]
        if not isinstance(node, dict):
            return []
        found = []
        constrained = {"enum", "const", "pattern", "format"} & node.keys()
        if node.get("type") == "string" and not constrained:
            found.append(path)
        for key, value in node.items():
            found += free_strings(value, f"{path}.{key}")
        return found

    assert free_strings(json_schemas()[name]["$defs"], name) == []


# --- vocabulary -----------------------------------------------------------------------------


def test_every_vocabulary_has_a_complete_french_label() -> None:
    enums = {v for v in vars(vocabulary).values()
             if isinstance(v, type) and issubclass(v, StrEnum) and v is not StrEnum}
    assert enums == set(vocabulary.LABELS)
    for enum, labels in vocabulary.LABELS.items():
        assert set(labels) == set(enum), enum.__name__
        assert all(label.strip() for label in labels.values()), enum.__name__
    assert vocabulary.label(Sector.employment_integration) == "Insertion et emploi"


@pytest.mark.parametrize("code", ["01", "19", "21", "2A", "2B", "75", "95", "971", "976"])
def test_departement_accepts_insee_codes(code: str) -> None:
    intake.ApplicationReceived(**{**MENTEE_PROFILE, "consent_given": True, "departement": code})


@pytest.mark.parametrize("code", ["00", "20", "96", "2C", "970", "977", "7", "750", "2a"])
def test_departement_rejects_others(code: str) -> None:
    with pytest.raises(ValidationError):
        intake.ApplicationReceived(**{**MENTEE_PROFILE, "consent_given": True, "departement": code})


def test_staff_ids_cannot_be_emails_or_names() -> None:
    for bad in ["jeanne.dupont@cress-idf.org", "Jeanne Dupont", ""]:
        with pytest.raises(ValidationError):
            followup.ReviewCompleted(
                **{**example(followup.ReviewCompleted).model_dump(), "referent_id": bad}
            )


def test_cohort_ids() -> None:
    assert vocabulary.cohort_id("IDF", 2025, 9) == COHORT
    with pytest.raises(ValidationError):
        matching.CohortOpened(cohort_id="2025-09", starts_on=date(2025, 9, 1), target_pairs=20,
                              cut_off_on=date(2025, 8, 15))


@pytest.mark.parametrize(("v1", "expected"), [
    (followup_v1.ReviewCompleted(pair_id=PAIR, kind=vocabulary.ReviewKind.intermediate,
                                 held_on=date(2026, 3, 2), referent_id="ref-042",
                                 assessment=vocabulary.ReviewAssessment.at_risk),
     {"held": True, "ratings": {}, "concerns": (),
      "assessment": vocabulary.ReviewAssessment.at_risk}),
    (followup_v1.QuestionnaireAnswered(
        response_id=EVENT, person_id=PERSON, role=Role.mentor, pair_id=PAIR,
        kind=vocabulary.QuestionnaireKind.end_of_programme, questionnaire_version=1,
        answers={"satisfaction": 5}),
     {"respondent": vocabulary.Respondent.mentor, "person_id": PERSON,
      "answers": {ImpactIndicator.satisfaction: 5}}),
    (followup_v1.OutcomeRecorded(person_id=PERSON, pair_id=PAIR,
                                 moment=vocabulary.OutcomeMoment.end,
                                 situation=vocabulary.OutcomeSituation.job_seeking),
     {"satisfaction": None, "situation": vocabulary.OutcomeSituation.job_seeking}),
], ids=lambda v: type(v).__name__ if isinstance(v, EventData) else "")
def test_stored_v1_followup_events_load_as_current(v1: EventData, expected: dict) -> None:
    loaded = load_event(sealed(v1).to_json())
    current = current_model(v1.event_type)
    assert loaded.schema_version == current.schema_version and type(loaded.data) is current
    for field, value in expected.items():
        assert getattr(loaded.data, field) == value


def test_stored_v2_questionnaire_answers_load_as_v3_unchanged() -> None:
    v2 = followup_v2.QuestionnaireAnswered(
        response_id=EVENT, respondent=vocabulary.Respondent.mentee, person_id=PERSON,
        pair_id=PAIR, kind=followup_v2.QuestionnaireKind.end_of_programme,
        questionnaire_version=1, answers={"ess_knowledge": 4})
    loaded = load_event(sealed(v2).to_json())
    assert loaded.schema_version == 3 and type(loaded.data) is followup.QuestionnaireAnswered
    assert loaded.data.model_dump(mode="json") == v2.model_dump(mode="json")


def test_start_of_programme_answers_are_refused_by_the_v2_shape() -> None:
    with pytest.raises(ValidationError):
        followup_v2.QuestionnaireAnswered(
            response_id=EVENT, respondent=vocabulary.Respondent.mentee, person_id=PERSON,
            pair_id=PAIR, kind="start_of_programme", questionnaire_version=1,
            answers={"ess_knowledge": 2})


@pytest.mark.parametrize("v1", [
    matching_v1.PairEnded(pair_id=PAIR, cohort_id=COHORT, mentee_id=PERSON, mentor_id=MENTOR,
                          ended_on=date(2026, 2, 1), early=True,
                          reason=matching_v1.EarlyEndingReason.mentee_found_job,
                          ended_by=vocabulary.Party.mentee),
    followup_v1.FollowUpEnded(pair_id=PAIR, cohort_id=COHORT, mentee_id=PERSON,
                              mentor_id=MENTOR, ended_on=date(2026, 9, 15), early=False,
                              reason=None, ended_by=None),
], ids=lambda v: v.event_type)
def test_stored_v1_pair_endings_load_as_v2(v1: EventData) -> None:
    loaded = load_event(sealed(v1).to_json())
    assert loaded.schema_version == 2 and type(loaded.data) is current_model(v1.event_type)
    assert loaded.data.model_dump(mode="json") == v1.model_dump(mode="json")
