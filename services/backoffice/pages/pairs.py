"""Pairs and their journeys (followup): the list with each review's status, the overdue
reviews, and a pair's page with every follow-up action (sessions, start of programme and
six-month questionnaires, reviews, outcomes, early ending, referent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from events.vocabulary import ReviewCriterion, ReviewKind
from services.backoffice.pages.followup_labels import template_labels
from services.backoffice.pages.forms import (
    confirmation,
    confirmations,
    done,
    form_values,
    paris_instant,
    payload,
    prefixed,
    unprefixed,
)
from services.backoffice.session import Staff, require_actor, signed_in
from services.common.web import unbound_errors

router = APIRouter(dependencies=[Depends(signed_in)])

confirmations({
    "seance": "La séance est enregistrée.",
    "bilan-planifie": "Le rendez-vous du bilan est enregistré.",
    "bilan": "Le bilan est enregistré.",
    "situation": "La situation du ou de la mentoré·e est enregistrée.",
    "questionnaire": "Les réponses au questionnaire sont enregistrées.",
    "arret": "L'arrêt anticipé du binôme est enregistré.",
    "referent": "Le binôme est confié à son nouveau ou sa nouvelle référent·e.",
})

# Each form of the pair's page: its prefix (unique field ids) and the service's field names.
FORMS: dict[str, tuple[str, ...]] = {
    "seance-": ("held_on", "duration_minutes", "format", "theme", "used_toolkit"),
    **{f"rdv-{kind}-": ("scheduled_at", "format") for kind in ReviewKind},
    **{f"bilan-{kind}-": ("held", "held_on", "assessment", "ratings", "concerns",
                          "questionnaires") for kind in ReviewKind},
    "situation-": ("moment", "situation", "satisfaction"),
    "q0-": (),  # every refusal (window, missing answers) is said at the top
    "q6-": ("answers",),
    "arret-": ("ended_by", "reason", "ended_on"),
    "referent-": ("referent_id",),
}


def _page(request: Request, template: str, context: Mapping[str, Any],
          status: int = 200) -> Response:
    return request.app.state.pages.html(request, template, {**template_labels(), **context},
                                        status_code=status)


# --- lists ----------------------------------------------------------------------------------

@router.get("/binomes")
async def pairs(request: Request, cohorte: str = "", statut: str = "",
                staff: Staff = Depends(signed_in)) -> Response:
    backend = request.app.state.backend
    filters = {"cohorte": cohorte, "statut": statut if statut in ("active", "ended") else ""}
    rows = await backend.get(staff.account, "followup", "/staff/pairs",
                             cohort_id=filters["cohorte"] or None,
                             status=filters["statut"] or None)
    # The filter offers every cohort of the region, not only those of the filtered list.
    cohorts = sorted({row["cohort_id"] for row in await backend.get(
        staff.account, "followup", "/staff/pairs")})
    return _page(request, "pairs/list.html", {
        "title": "Binômes", "pairs": rows, "filters": filters, "cohorts": cohorts})


def overdue_reviews(pairs: list[dict]) -> list[dict]:
    """Every overdue review of the pairs, most late first."""
    found = [{"pair": pair, "kind": kind, **review} for pair in pairs
             for kind, review in pair["reviews"].items() if review["status"] == "overdue"]
    return sorted(found, key=lambda r: (-(r["days_late"] or 0), r["due_on"]))


@router.get("/bilans-en-retard")
async def late_reviews(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    rows = await request.app.state.backend.get(staff.account, "followup", "/staff/pairs",
                                               status="active")
    return _page(request, "pairs/overdue.html", {"title": "Bilans en retard",
                                                 "reviews": overdue_reviews(rows)})


# --- a pair's page --------------------------------------------------------------------------

async def pair_page(request: Request, pair_id: UUID, staff: Staff,
                    values: Mapping[str, Any] | None = None,
                    errors: Mapping[str, str] | None = None, failed: str = "",
                    status: int = 200) -> Response:
    backend = request.app.state.backend
    pair = await backend.get(staff.account, "followup", f"/staff/pairs/{pair_id}")
    catalogue = await backend.get(staff.account, "followup", "/questionnaires")
    errors = dict(errors or {})
    alerts = {failed: unbound_errors(errors, (f"{failed}{name}" for name in FORMS[failed]))
              } if failed else {}
    return _page(request, "pairs/pair.html", {
        "title": "Binôme", "pair": pair, "values": values or {}, "errors": errors,
        "alerts": alerts, "questionnaires": _questionnaires(catalogue),
        "referents": await _other_referents(request, pair),
        "flash": confirmation(request)}, status)


async def _other_referents(request: Request, pair: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(id, « Name (id) ») of the pair's region's referents other than its own, for the
    reassignment select: staff pick a person rather than type an identifier."""
    accounts = await request.app.state.accounts.referents(pair["region"])
    return [(a.subject, f"{a.display_name} ({a.subject})") for a in accounts
            if a.subject != pair.get("referent_id")]


def _questionnaires(catalogue: Mapping[str, Any]) -> dict[tuple[str, str], list[dict]]:
    """The current questionnaires by (kind, respondent): their questions, in French."""
    version = catalogue["current_version"]
    return {(q["kind"], q["respondent"]): q["questions"]
            for q in catalogue["questionnaires"] if q["version"] == version}


@router.get("/binomes/{pair_id}")
async def pair(request: Request, pair_id: UUID, staff: Staff = Depends(signed_in)) -> Response:
    return await pair_page(request, pair_id, staff)


async def _command(request: Request, pair_id: UUID, staff: Staff, prefix: str, path: str,
                   build, code: str, lists: tuple[str, ...] = ()) -> Response:
    """One form of the pair's page: post it to followup, then confirm or show the refusal
    next to the form's fields."""
    require_actor(staff)
    values = await form_values(request, lists=lists)
    body = build(unprefixed(values, prefix))
    answer = await request.app.state.backend.send(staff.account, "followup",
                                                  f"/staff/pairs/{pair_id}{path}", body)
    if not answer.ok:
        return await pair_page(request, pair_id, staff, values,
                               prefixed(answer.errors, prefix), prefix, answer.status)
    return done(f"/binomes/{pair_id}", code)


@router.post("/binomes/{pair_id}/seances")
async def log_session(request: Request, pair_id: UUID,
                      staff: Staff = Depends(signed_in)) -> Response:
    return await _command(request, pair_id, staff, "seance-", "/sessions", lambda v: payload(
        v, "held_on", "duration_minutes", "format", "theme", "used_toolkit",
        integers=["duration_minutes"], booleans=["used_toolkit"]), "seance")


@router.post("/binomes/{pair_id}/bilans/{kind}/rendez-vous")
async def schedule_review(request: Request, pair_id: UUID, kind: ReviewKind,
                          staff: Staff = Depends(signed_in)) -> Response:
    def build(values: dict) -> dict:
        body = payload(values, "scheduled_at", "format")
        if "scheduled_at" in body:
            body["scheduled_at"] = paris_instant(body["scheduled_at"])
        return body

    return await _command(request, pair_id, staff, f"rdv-{kind}-",
                          f"/reviews/{kind}/schedule", build, "bilan-planifie")


def _ratings(values: Mapping[str, Any], prefix: str) -> dict[str, int]:
    """The filled-in 1–5 selects named ``<prefix><code>``."""
    return {key[len(prefix):]: int(value) for key, value in values.items()
            if key.startswith(prefix) and isinstance(value, str) and value.isdigit()}


def review_body(values: Mapping[str, Any]) -> dict[str, Any]:
    body = payload(values, "held_on", "assessment", "concerns")
    body["held"] = values.get("held") == "oui"
    body["ratings"] = _ratings(values, "note-")
    body["questionnaires"] = [
        {"respondent": who, "answers": answers}
        for who in ("mentee", "mentor") if (answers := _ratings(values, f"{who}-"))]
    return body


@router.post("/binomes/{pair_id}/bilans/{kind}")
async def record_review(request: Request, pair_id: UUID, kind: ReviewKind,
                        staff: Staff = Depends(signed_in)) -> Response:
    return await _command(request, pair_id, staff, f"bilan-{kind}-", f"/reviews/{kind}",
                          review_body, "bilan", lists=(f"bilan-{kind}-concerns",))


@router.post("/binomes/{pair_id}/situation")
async def record_outcome(request: Request, pair_id: UUID,
                         staff: Staff = Depends(signed_in)) -> Response:
    return await _command(request, pair_id, staff, "situation-", "/outcomes", lambda v: payload(
        v, "moment", "situation", "satisfaction", integers=["satisfaction"]), "situation")


@router.post("/binomes/{pair_id}/questionnaire-debut")
async def answer_start_questionnaire(request: Request, pair_id: UUID,
                                     staff: Staff = Depends(signed_in)) -> Response:
    """The mentee's start of programme questionnaire, recorded on their behalf."""
    return await _command(request, pair_id, staff, "q0-", "/questionnaires", lambda v: {
        "kind": "start_of_programme", "respondent": "mentee",
        "answers": _ratings(v, "reponse-")}, "questionnaire")


@router.post("/binomes/{pair_id}/questionnaire")
async def answer_questionnaire(request: Request, pair_id: UUID,
                               staff: Staff = Depends(signed_in)) -> Response:
    return await _command(request, pair_id, staff, "q6-", "/questionnaires", lambda v: {
        "kind": "post_programme", "respondent": "mentee", "answers": _ratings(v, "reponse-")},
        "questionnaire")


@router.post("/binomes/{pair_id}/arret")
async def end_early(request: Request, pair_id: UUID,
                    staff: Staff = Depends(signed_in)) -> Response:
    return await _command(request, pair_id, staff, "arret-", "/end", lambda v: payload(
        v, "ended_by", "reason", "ended_on"), "arret")


@router.post("/binomes/{pair_id}/referent")
async def reassign(request: Request, pair_id: UUID,
                   staff: Staff = Depends(signed_in)) -> Response:
    return await _command(request, pair_id, staff, "referent-", "/referent",
                          lambda v: payload(v, "referent_id"), "referent")


