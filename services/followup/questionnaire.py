"""The programme's questionnaires, versioned: which impact indicators each respondent rates
(1 to 5), and their French wording. A new wording or question set is a new version; answers
always name the version they were given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from events.vocabulary import ImpactIndicator as I
from events.vocabulary import QuestionnaireKind, Respondent
from services.common.errors import DomainError

CURRENT_VERSION = 1


@dataclass(frozen=True)
class Question:
    indicator: I
    text: str  # French, as asked


_MENTEE_V1 = (
    Question(I.ess_knowledge, "Je connais l'économie sociale et solidaire et ses métiers."),
    Question(I.career_clarity, "Mon projet professionnel est clair."),
    Question(I.self_confidence, "J'ai confiance en moi pour la suite de mon parcours."),
    Question(I.professional_network, "J'ai un réseau professionnel sur lequel m'appuyer."),
    Question(I.job_search_skills, "Je sais chercher un emploi ou une formation."),
    Question(I.satisfaction, "Je suis satisfait·e du mentorat."),
    Question(I.would_recommend, "Je recommanderais le programme Succ'ess."),
)
# The mentee's baseline at the kick-off: the progress indicators of the end questionnaire, in
# the same words so start and end compare; nothing to rate about the mentoring yet.
_MENTEE_START_V1 = tuple(q for q in _MENTEE_V1
                         if q.indicator not in (I.satisfaction, I.would_recommend))
PROGRESS_INDICATORS = tuple(q.indicator for q in _MENTEE_START_V1)
_MENTOR_V1 = (
    Question(I.mentor_satisfaction, "Je suis satisfait·e de mon expérience de mentor."),
    Question(I.would_recommend, "Je recommanderais le programme Succ'ess."),
)
_ANNUAL_V1 = (  # each summer, every stakeholder: the programme as a whole
    Question(I.satisfaction, "Je suis satisfait·e du programme cette année."),
    Question(I.would_recommend, "Je recommanderais le programme Succ'ess."),
)

QUESTIONNAIRES: Mapping[tuple[int, QuestionnaireKind, Respondent], tuple[Question, ...]] = {
    (1, QuestionnaireKind.start_of_programme, Respondent.mentee): _MENTEE_START_V1,
    (1, QuestionnaireKind.end_of_programme, Respondent.mentee): _MENTEE_V1,
    (1, QuestionnaireKind.end_of_programme, Respondent.mentor): _MENTOR_V1,
    (1, QuestionnaireKind.post_programme, Respondent.mentee): _MENTEE_V1,
    **{(1, QuestionnaireKind.annual, who): _ANNUAL_V1 for who in Respondent},
}


def questions(kind: QuestionnaireKind, respondent: Respondent,
              version: int = CURRENT_VERSION) -> tuple[Question, ...]:
    try:
        return QUESTIONNAIRES[(version, kind, respondent)]
    except KeyError:
        raise DomainError("questionnaire_not_found", f"Pas de questionnaire « {kind} » "
                          f"(version {version}) pour ce public.", field="respondent",
                          status=422) from None


def check_answers(kind: QuestionnaireKind, respondent: Respondent, version: int,
                  answers: Mapping[I, int]) -> None:
    """Every question answered, nothing else, each rating 1 to 5."""
    expected = {q.indicator for q in questions(kind, respondent, version)}
    missing, extra = expected - set(answers), set(answers) - expected
    if missing or extra:
        raise DomainError(
            "answers_mismatch", "Réponses attendues pour : "
            + ", ".join(sorted(i.value for i in expected))
            + (f" ; manquantes : {', '.join(sorted(i.value for i in missing))}" if missing else "")
            + (f" ; en trop : {', '.join(sorted(i.value for i in extra))}" if extra else "")
            + ".", field="answers", status=422)
    if any(not 1 <= rating <= 5 for rating in answers.values()):
        raise DomainError("rating_out_of_range", "Chaque réponse est une note de 1 à 5.",
                          field="answers", status=422)


def catalogue() -> list[dict]:
    """The questionnaires as the API shows them."""
    return [{"version": version, "kind": kind.value, "respondent": respondent.value,
             "questions": [{"indicator": q.indicator.value, "text": q.text} for q in qs]}
            for (version, kind, respondent), qs in QUESTIONNAIRES.items()]
